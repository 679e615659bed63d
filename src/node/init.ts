import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { OPERATOR, openAccounts } from './accounts.ts'
import { renderConfigToml } from './config.ts'
import { NodeConfigError } from './errors.ts'

/** What `initNode` created. */
export type InitResult = {
  readonly dataDir: string
  /** Hex Ed25519 key of the operator account. */
  readonly operatorKey: string
  readonly operatorAddress: string
  readonly tokenPath: string
  /** The port written to `[net] listen`, if one was given. */
  readonly p2pPort: number | undefined
}

/**
 * Creates a node's data dir: `config.toml` with commented defaults and the operator account
 * (Ed25519 key, Ethereum payout key, bearer token; secrets mode 0600). Refuses an existing node.
 * @example
 * initNode({ name: 'local', dataDir: resolveDataDir('local') })
 */
export function initNode({
  name,
  dataDir,
  ethKey,
  p2pPort,
}: {
  name: string
  dataDir: string
  /** An Ethereum private key to import as the operator's payout key; a fresh one otherwise. */
  ethKey?: `0x${string}` | undefined
  /**
   * The TCP port to listen for peers on, written to `[net] listen` (see `pickFreePort`); left
   * out, the node picks a new one on every start.
   */
  p2pPort?: number | undefined
}): InitResult {
  const config = join(dataDir, 'config.toml')
  if (existsSync(config))
    throw new NodeConfigError(
      `A node already exists at "${dataDir}"; it was left untouched. Start it with "rwa start ${name}", or choose another name or --data-dir.`,
    )
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const accounts = openAccounts(dataDir)
  const operator = accounts.get(OPERATOR) ?? accounts.create({ name: OPERATOR, ethKey }).account
  // config.toml last: its presence marks a complete node.
  writeFileSync(config, renderConfigToml(name, { p2pPort }), { flag: 'wx' })
  return {
    dataDir,
    operatorKey: operator.key,
    operatorAddress: operator.address,
    tokenPath: accounts.tokenPath(OPERATOR),
    p2pPort,
  }
}

/**
 * A TCP port free on `host` right now (the system picks it), for a node's `[net] listen`: kept
 * in config.toml, it gives the node the same peer address on every start.
 * @example
 * initNode({ name, dataDir, p2pPort: await pickFreePort() })
 */
export function pickFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
