import { execFile } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { expect } from 'vitest'
import { OPERATOR } from '../src/node/accounts.ts'
import { type ChainConfig, loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'

/** The `rwa` command. */
export const RWA_BIN = join(import.meta.dirname, '..', 'bin', 'rwa.js')

/** A real node on a temp data dir (SQLite), serving on a free loopback port. */
export class TestNode {
  node: RwaNode
  constructor(
    readonly dataDir: string,
    readonly root: string,
  ) {
    this.node = TestNode.create(dataDir)
  }

  /** A node on `dataDir`; without a chain unless `chain` says otherwise (anvil costs a start). */
  static create(dataDir: string, chain: ChainConfig = { mode: 'none' }): RwaNode {
    return createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain,
      net: { enabled: false },
    })
  }

  static async start(): Promise<TestNode> {
    const root = mkdtempSync(join(tmpdir(), 'rwa-node-test-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    const t = new TestNode(dataDir, root)
    await t.node.start()
    return t
  }

  /**
   * A started node on the embedded devnet (anvil, the contracts deployed), with `explorerUrl` as
   * its `[chain] explorer_url` and `publicUrl` as its `[http] public_url` when given.
   */
  static async startDevnet({
    explorerUrl,
    publicUrl,
    extraConfig,
  }: {
    explorerUrl?: string
    publicUrl?: string
    /** TOML appended to config.toml before the node starts (an `[xmpp]` section, say). */
    extraConfig?: string
  } = {}): Promise<TestNode> {
    const root = mkdtempSync(join(tmpdir(), 'rwa-node-test-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    if (extraConfig) appendFileSync(join(dataDir, 'config.toml'), `\n${extraConfig}\n`)
    const config = join(dataDir, 'config.toml')
    let text = readFileSync(config, 'utf8')
    if (explorerUrl)
      text = text.replace(/^# explorer_url = .*$/m, `explorer_url = "${explorerUrl}"`)
    if (publicUrl) text = text.replace(/^# public_url = .*$/m, `public_url = "${publicUrl}"`)
    writeFileSync(config, text)
    const t = new TestNode(dataDir, root)
    t.node = TestNode.create(dataDir, { mode: 'devnet' })
    await t.node.start()
    return t
  }

  get url(): string {
    return this.node.url
  }

  get operatorToken(): string {
    return readFileSync(join(this.dataDir, 'keys', `${OPERATOR}.token`), 'utf8').trim()
  }

  /** Runs the real `rwa` binary against this node; answers its exit code and output. */
  async rwa(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const all = [RWA_BIN, ...args, '--node', this.url, '--data-dir', this.dataDir]
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, all)
      return { code: 0, stdout, stderr }
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }

  /** Stops and starts the node again on the same data dir (a new port). */
  async restart(): Promise<void> {
    await this.node.stop()
    this.node = TestNode.create(this.dataDir)
    await this.node.start()
  }

  /**
   * Runs `work` while the node's chain RPC URL points at a socket on loopback that accepts
   * connections and never answers (viem would retry for about 40 s), then restores it.
   */
  async withSilentChain<T>(work: () => Promise<T>): Promise<T> {
    const silent = createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const info = this.node.chain!.info as { rpcUrl: string }
    const rpcUrl = info.rpcUrl
    info.rpcUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
    try {
      return await work()
    } finally {
      info.rpcUrl = rpcUrl
      silent.closeAllConnections()
      silent.close()
    }
  }

  /** A JSON request; answers the status and parsed body. */
  call(
    method: string,
    path: string,
    options: { token?: string | undefined; body?: unknown; raw?: string | undefined } = {},
  ): ReturnType<typeof callJson> {
    return callJson(this.url, method, path, options)
  }

  async stop(): Promise<void> {
    await this.node.stop()
    rmSync(this.root, { recursive: true, force: true })
  }
}

/**
 * An audit of one item, bond 900, run by three local accounts (a1–a3) who all answer yes, and
 * stopped: WAITING_FOR_CONTRACT, paying 300 each. `bond` and `token` change the audit's;
 * `tokens` runs it with those accounts instead of new ones (for a second audit on one node).
 */
export async function stoppedAudit(
  t: TestNode,
  name: string,
  { bond = '900', token, tokens: given }: { bond?: string; token?: string; tokens?: string[] } = {},
): Promise<{ id: string; tokens: string[] }> {
  const admin = t.operatorToken
  const tokens: string[] = given ?? []
  if (!given)
    for (const account of ['a1', 'a2', 'a3'])
      tokens.push(
        (await t.call('POST', '/accounts', { token: admin, body: { name: account } })).json.token,
      )
  const id = (
    await t.call('POST', '/audits', {
      token: admin,
      body: { name, bond, ...(token === undefined ? {} : { token }) },
    })
  ).json.audit as string
  await t.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'A' } })
  await t.call('POST', `/audits/${id}/open`, { token: admin })
  for (const token of tokens) await t.call('POST', `/audits/${id}/register`, { token })
  await t.call('POST', `/audits/${id}/close`, { token: admin })
  await t.call('POST', `/audits/${id}/start`, { token: admin })
  for (const token of tokens)
    await t.call('POST', `/audits/${id}/answer`, { token, body: { answer: 'yes' } })
  const stopped = await t.call('POST', `/audits/${id}/stop`, { token: admin })
  expect(stopped.json.state).toBe('WAITING_FOR_CONTRACT')
  return { id, tokens }
}

/** A JSON request to a node at `base` (a bearer token, a body as JSON or raw); answers the status and parsed body. */
export async function callJson(
  base: string,
  method: string,
  path: string,
  {
    token,
    body,
    raw,
  }: { token?: string | undefined; body?: unknown; raw?: string | undefined } = {},
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(raw !== undefined
      ? { body: raw }
      : body === undefined
        ? {}
        : { body: JSON.stringify(body) }),
  })
  return { status: response.status, json: await response.json() }
}
