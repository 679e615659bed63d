import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { toJson } from '../core/json.ts'
import { BaseError } from '../errors/base.ts'
import type { Signer } from '../ledger/keys.ts'
import { resolveDataDir } from '../node/data-dir.ts'
import { fileSaltStore } from '../node/salt-store.ts'
import { readEthKeyFile, readKeyFile } from '../store/key-file.ts'
import { localNodeUrl, NodeClient } from './client.ts'

/** Options every node-facing command accepts. */
export type GlobalOptions = {
  node?: string
  name: string
  dataDir?: string
  key?: string
  ethKey?: string
  json?: boolean
}

/** Adds the options shared by commands that talk to a node. */
export function withNodeOptions(command: Command): Command {
  return command
    .option('--node <url>', 'the node to talk to (default: the local node, from its run.json)')
    .option('--name <node>', 'the local node whose data dir holds the defaults', 'local')
    .option(
      '--data-dir <dir>',
      'data dir of the local node (default $RWA_HOME/<name> or ~/.rwa/<name>)',
    )
    .option(
      '--key <file>',
      "Ed25519 key file to sign with (default: the local node's operator key)",
    )
    .option(
      '--eth-key <file>',
      "Ethereum key file proving your payout address (default: the operator's)",
    )
    .option('--json', 'print machine-readable JSON')
}

/** What a command needs: the node client and, lazily, the signing keys. */
export function contextOf(options: GlobalOptions) {
  const dataDir = resolveDataDir(options.name, { dataDir: options.dataDir })
  if (options.node !== undefined && !/^https?:\/\/[^/]/.test(options.node))
    throw new BaseError(
      `--node "${options.node}" is not a node's URL; give one such as http://127.0.0.1:8720.`,
    )
  const client = new NodeClient(options.node ?? (() => localNodeUrl(dataDir)))
  return {
    dataDir,
    client,
    signer: (): Signer => readKeyFile(options.key ?? join(dataDir, 'keys', 'operator.key')),
    ethKey: () => readEthKeyFile(options.ethKey ?? join(dataDir, 'keys', 'operator.eth')),
    /** Commit–reveal salts of this data dir's CLI user, kept until revealed (mode 0600). */
    salts: () => fileSaltStore(join(dataDir, 'keys', 'cli-salts.json')),
    json: options.json === true,
  }
}

/** How `bearerClient` reads its token, and what it throws when it cannot. */
export type BearerOptions = {
  /** `--token <file>`; default the data dir's operator token. */
  readonly token?: string | undefined
  /** Whether the command needs a token (else it goes without when the default file is missing). */
  readonly required: boolean
  /** Whose token to pass, for the message: "the node operator's bearer token". */
  readonly whose: string
  /** The domain's CLI error for an unreadable token file. */
  readonly fail: (message: string, cause: unknown) => Error
}

/**
 * A client of the node's authenticated routes with the bearer token read from `--token <file>`,
 * else from the data dir's operator token. A file named with `--token` must be readable; the
 * default one only when `required`.
 */
export function bearerClient(options: GlobalOptions, bearer: BearerOptions): NodeClient {
  const { dataDir } = contextOf(options)
  const path = bearer.token ?? join(dataDir, 'keys', 'operator.token')
  let token: string | undefined
  try {
    token = readFileSync(path, 'utf8').trim()
  } catch (cause) {
    if (bearer.required || bearer.token !== undefined)
      throw bearer.fail(
        `The token file "${path}" cannot be read; pass --token <file> with ${bearer.whose}.`,
        cause,
      )
  }
  return new NodeClient(options.node ?? (() => localNodeUrl(dataDir)), token)
}

/** JSON with bigints as strings, for `--json` output. */
export function printJson(value: unknown): void {
  console.log(toJson(value, 2))
}
