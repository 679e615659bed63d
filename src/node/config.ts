import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { DEFAULT_NET_LIMITS, type NetLimits } from '../net/peer-scores.ts'
import { DEFAULT_PORT } from './data-dir.ts'
import { NodeConfigError } from './errors.ts'

export { assertNodeName, DEFAULT_PORT, resolveDataDir } from './data-dir.ts'

/** Default of `[xmpp] max_accounts`: custodial chat accounts a node creates before it refuses more. */
export const DEFAULT_MAX_ACCOUNTS = 100

/** The default of `[net] listen`: loopback, a port picked afresh on every start. */
export const DEFAULT_P2P_LISTEN = '/ip4/127.0.0.1/tcp/0'

/** Where a node listens for peers on `port` (loopback): what `rwa init` writes to `[net] listen`. */
export const p2pListenAddress = (port: number) => `/ip4/127.0.0.1/tcp/${port}`

/** A DNS name or IP literal as a `Host` header names it (no port, no scheme). */
const HOST_NAME = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/

const configSchema = z
  .object({
    name: z.string().min(1),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(DEFAULT_PORT),
        body_limit: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024),
        public_names: z
          .array(z.string().regex(HOST_NAME, 'a host name such as rwa.example.org, without port'))
          .default([]),
        public_url: z
          .string()
          .url()
          .regex(/^https?:\/\//, 'an http:// or https:// URL')
          .optional(),
      })
      .prefault({}),
    store: z.object({ path: z.string().min(1).default('rwa.sqlite') }).prefault({}),
    ledger: z
      .object({
        pending_ops: z.number().int().min(0).default(100_000),
        pending_bytes: z
          .number()
          .int()
          .min(0)
          .default(32 * 2 ** 20),
        pending_per_document: z.number().int().min(0).default(10_000),
        pending_per_author: z.number().int().min(0).default(2_000),
        pending_per_sender: z.number().int().min(0).default(20_000),
        pending_ttl_seconds: z.number().int().positive().default(600),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) })
      .partial()
      .prefault({}),
    chain: z
      .object({
        mode: z.enum(['devnet', 'rpc', 'none']).default('devnet'),
        rpc_url: z.string().url().optional(),
        escrow: z
          .string()
          .regex(/^0x[0-9a-fA-F]{40}$/, 'an address')
          .optional(),
        mpe: z
          .string()
          .regex(/^0x[0-9a-fA-F]{40}$/, 'an address')
          .optional(),
        explorer_url: z
          .string()
          .regex(
            /^https?:\/\/[^\s?#]+$/,
            'an http(s) URL without query, such as https://etherscan.io',
          )
          .optional(),
      })
      .strict()
      .prefault({}),
    net: z
      .object({
        enabled: z.boolean().default(true),
        listen: z.array(z.string()).default([DEFAULT_P2P_LISTEN]),
        peers: z.array(z.string()).default([]),
        max_peers_per_ip: z.number().int().min(1).default(DEFAULT_NET_LIMITS.maxPeersPerIp),
        ip_max_strikes: z.number().int().min(1).default(DEFAULT_NET_LIMITS.ipMaxStrikes),
        sync_ops_per_second: z.number().int().min(100).default(DEFAULT_NET_LIMITS.syncOpsPerSecond),
        sync_bytes_per_second: z
          .number()
          .int()
          .min(64 * 1024)
          .default(DEFAULT_NET_LIMITS.syncBytesPerSecond),
      })
      .strict()
      .prefault({}),
    xmpp: z
      .object({
        service: z
          .string()
          .regex(/^xmpps?:\/\/|^wss?:\/\//, 'an xmpp://, xmpps://, ws:// or wss:// URL'),
        domain: z.string().min(1),
        username: z.string().min(1),
        password: z.string().optional(),
        password_file: z.string().optional(),
        admins: z.array(z.string()).default([]),
        reminder_seconds: z.number().int().positive().default(60),
        max_accounts: z.number().int().min(0).default(DEFAULT_MAX_ACCOUNTS),
      })
      .strict()
      .optional(),
    /** `[domains.<name>]`: each domain's own settings, checked by its plug-in's schema. */
    domains: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  })
  .strict()

/** A node's configuration, with every default filled in and paths made absolute. */
export type NodeConfig = {
  readonly name: string
  readonly dataDir: string
  readonly http: {
    readonly host: string
    readonly port: number
    readonly bodyLimit: number
    /** Host names (besides loopback and `host`) that requests may name in their `Host` header. */
    readonly publicNames: readonly string[]
    /**
     * `[http] public_url`: where people reach this node's dashboard (behind a proxy, say); chat
     * messages link there. Absent: the URL the node listens on.
     */
    readonly publicUrl?: string | undefined
  }
  readonly store: { readonly path: string }
  /** The ledger's pending buffer: ops waiting for deps (absent: the defaults). */
  readonly ledger?: LedgerConfig | undefined
  readonly log: { readonly level: string }
  /** The chain: the embedded devnet (default), an RPC URL, or none. */
  readonly chain: ChainConfig
  /**
   * `[chain] explorer_url`: a block explorer whose `/tx/<hash>` and `/address/<address>` pages
   * the dashboard and CLI link to (none for the devnet, which no explorer knows).
   */
  readonly explorerUrl?: string | undefined
  /** Replication with peers (libp2p). */
  readonly net: {
    readonly enabled: boolean
    readonly listen: readonly string[]
    readonly peers: readonly string[]
    /** Per-IP limits and sync work budgets. */
    readonly limits: Omit<NetLimits, 'syncRequestCost'>
  }
  /** The chat bot, when `[xmpp]` is configured. */
  readonly xmpp: XmppConfig | undefined
  /**
   * Each domain's `[domains.<name>]` table, raw: the domain's plug-in reads it with its own
   * schema (`NodePart.settings`), so a new domain's settings need no edit here.
   */
  readonly domains?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined
}

/** The `[ledger]` section: bounds of the buffer of ops waiting for their deps. */
export type LedgerConfig = {
  readonly maxPendingTotal: number
  readonly maxPendingBytes: number
  readonly maxPending: number
  readonly maxPendingPerAuthor: number
  readonly maxPendingPerSource: number
  readonly pendingTtlMs: number
}

/** The `[chain]` section. */
export type ChainConfig =
  | { readonly mode: 'devnet' }
  | {
      readonly mode: 'rpc'
      readonly rpcUrl: string
      readonly escrow?: `0x${string}` | undefined
      readonly mpe?: `0x${string}` | undefined
    }
  | { readonly mode: 'none' }

/** The `[xmpp]` section: where the bot logs in, and who may create audits by chat. */
export type XmppConfig = {
  readonly service: string
  readonly domain: string
  readonly username: string
  readonly password: string
  /** Bare JIDs that may create audits by chat (others may still run audits bound to them). */
  readonly admins: readonly string[]
  readonly reminderSeconds: number
  /** Custodial accounts (one per chat address) the node creates at most. */
  readonly maxAccounts: number
}

/**
 * The `config.toml` that `rwa init` writes: every setting, commented, at its default, except
 * `[net] listen` on `p2pPort` when given (so the peer address stays the same across restarts).
 */
export function renderConfigToml(
  name: string,
  { p2pPort }: { p2pPort?: number | undefined } = {},
): string {
  const listen = p2pPort === undefined ? DEFAULT_P2P_LISTEN : p2pListenAddress(p2pPort)
  return `# rwa node configuration. Edit, then restart the node ("rwa start ${name}").
name = "${name}"

[http]
# The HTTP API and dashboard. Keep 127.0.0.1 unless a proxy in front of the node handles TLS
# and access control: convenience routes act for local accounts by bearer token.
host = "127.0.0.1"
# 0 picks a free port; the URL in use is written to run.json in the data dir.
port = ${DEFAULT_PORT}
# Largest request body accepted, in bytes.
body_limit = 1048576
# Host names this node answers to besides localhost, 127.0.0.1, [::1] and host above, e.g.
# ["rwa.example.org"] behind a proxy. Requests naming another Host are refused (DNS rebinding).
public_names = []
# Where people reach this node's pages, e.g. "https://rwa.example.org" behind a proxy: chat
# messages link there (default: the URL the node listens on). Add its host to public_names.
# public_url = "https://rwa.example.org"

[store]
# The SQLite file holding every op, relative to the data dir.
path = "rwa.sqlite"

[ledger]
# Ops whose deps have not arrived wait in a bounded buffer (kept across restarts). When it is
# full, the sender holding the most gives way; a sender is a peer or an HTTP client's address.
pending_ops = 100000            # across all documents
pending_bytes = 33554432        # their encoded size, across all documents
pending_per_document = 10000
pending_per_author = 2000       # keys are free: the per-sender share is what stops a flood
pending_per_sender = 20000
pending_ttl_seconds = 600       # a waiting op is dropped after this long

[log]
# fatal, error, warn, info, debug, trace or silent. Logs are JSON lines (pino) on stdout.
level = "info"

[net]
# Replication with other rwa nodes over libp2p (TCP, noise, yamux, gossipsub).
enabled = true
# Where to listen. rwa init picked a free port, kept across restarts so that the peer address
# other nodes saved (--peer) keeps working; port 0 picks a new one on every start. rwa status
# shows the addresses in use. To be reached from other machines, listen on /ip4/0.0.0.0/tcp/….
listen = ["${listen}"]
# Peers to connect to, e.g. "/ip4/127.0.0.1/tcp/9001/p2p/12D3KooW…" (or rwa start --peer …).
peers = []
# Connections one IP address may have open to this node at once (raise it for many nodes
# behind one NAT, or on one machine).
max_peers_per_ip = ${DEFAULT_NET_LIMITS.maxPeersPerIp}
# Strikes against the peers of one IP address, whatever their ids, after which the address is
# banned for 10 minutes (a peer id alone is banned at 5): fresh identities do not start afresh.
ip_max_strikes = ${DEFAULT_NET_LIMITS.ipMaxStrikes}
# Sync work served to one peer per second (bursts of twice that); past it the peer is told to
# wait, which is no strike. Keep above what a node ingests, so catching up runs at full speed.
sync_ops_per_second = ${DEFAULT_NET_LIMITS.syncOpsPerSecond}
sync_bytes_per_second = ${DEFAULT_NET_LIMITS.syncBytesPerSecond}

[chain]
# "devnet" (default): an anvil devnet started with the node, contracts deployed on it.
# "rpc": any EVM chain at rpc_url, paying from keys/operator.eth; escrow is the AuditEscrow
# address there (left out, one is deployed on first start and recorded in chain.json); mpe is
# the MultiPartyEscrow of payment channels there (left out, none; the devnet deploys its own).
# "none": no chain (settlement only through the Chainlink data_dump route).
mode = "devnet"
# rpc_url = "https://rpc.example.org"
# escrow = "0x…"
# mpe = "0x…"
# A block explorer of that chain: transactions and addresses link to <explorer_url>/tx/<hash>
# and <explorer_url>/address/<address> (Etherscan and Blockscout lay their pages out so).
# explorer_url = "https://etherscan.io"

# The chat bot: uncomment to let admins and auditors run audits over XMPP (see README, "Chat").
# [xmpp]
# service = "xmpp://127.0.0.1:5222"   # or xmpps://host:5223, wss://host/xmpp-websocket;
#                                      # a private CA is trusted with NODE_EXTRA_CA_CERTS
# domain = "example.org"
# username = "rwa"                     # the bot's account on that server
# password_file = "xmpp.password"      # relative to the data dir; keep it mode 0600
# admins = ["admin@example.org"]       # who may create audits by chat
# reminder_seconds = 60                # how often to check for inspections nearing their deadline
# max_accounts = 100                   # custodial accounts (one per admin_jid) created at most
`
}

function xmppPassword(
  xmpp: { password?: string | undefined; password_file?: string | undefined },
  inDataDir: (file: string) => string,
  configPath: string,
): string {
  if (xmpp.password_file) {
    try {
      return readFileSync(inDataDir(xmpp.password_file), 'utf8').trim()
    } catch (cause) {
      throw new NodeConfigError(
        `"${configPath}": xmpp.password_file "${xmpp.password_file}" cannot be read; create it (mode 0600) with the bot's password.`,
        { cause },
      )
    }
  }
  if (xmpp.password === undefined)
    throw new NodeConfigError(
      `"${configPath}": [xmpp] needs password_file (better) or password for the bot's account.`,
    )
  return xmpp.password
}

/** Reads and validates `<dataDir>/config.toml`. */
export function loadConfig(dataDir: string): NodeConfig {
  const path = join(dataDir, 'config.toml')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    throw new NodeConfigError(
      `No node at "${dataDir}" (cannot read config.toml); create one with "rwa init <name>".`,
      { cause },
    )
  }
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (cause) {
    throw new NodeConfigError(`"${path}" is not valid TOML: ${(cause as Error).message}`, {
      cause,
    })
  }
  const parsed = configSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new NodeConfigError(
      `"${path}": ${issue.path.join('.') || 'config'}: ${issue.message}; fix it or compare with a fresh "rwa init".`,
    )
  }
  const { name, http, store, ledger, log, xmpp, chain, net, domains } = parsed.data
  if (chain.mode === 'rpc' && !chain.rpc_url)
    throw new NodeConfigError(`"${path}": [chain] mode "rpc" needs rpc_url = "https://…".`)
  const inDataDir = (file: string) => (isAbsolute(file) ? file : join(dataDir, file))
  return {
    name,
    dataDir,
    http: {
      host: http.host,
      port: http.port,
      bodyLimit: http.body_limit,
      publicNames: http.public_names.map((n) => n.toLowerCase()),
      publicUrl: http.public_url?.replace(/\/+$/, ''),
    },
    store: { path: inDataDir(store.path) },
    ledger: {
      maxPendingTotal: ledger.pending_ops,
      maxPendingBytes: ledger.pending_bytes,
      maxPending: ledger.pending_per_document,
      maxPendingPerAuthor: ledger.pending_per_author,
      maxPendingPerSource: ledger.pending_per_sender,
      pendingTtlMs: ledger.pending_ttl_seconds * 1000,
    },
    log: { level: log.level ?? 'info' },
    chain:
      chain.mode === 'rpc'
        ? {
            mode: 'rpc',
            rpcUrl: chain.rpc_url!,
            escrow: chain.escrow as `0x${string}` | undefined,
            mpe: chain.mpe as `0x${string}` | undefined,
          }
        : { mode: chain.mode },
    explorerUrl: chain.explorer_url?.replace(/\/+$/, ''),
    net: {
      enabled: net.enabled,
      listen: net.listen,
      peers: net.peers,
      limits: {
        maxPeersPerIp: net.max_peers_per_ip,
        ipMaxStrikes: net.ip_max_strikes,
        syncOpsPerSecond: net.sync_ops_per_second,
        syncBytesPerSecond: net.sync_bytes_per_second,
      },
    },
    xmpp: xmpp && {
      service: xmpp.service,
      domain: xmpp.domain,
      username: xmpp.username,
      password: xmppPassword(xmpp, inDataDir, path),
      admins: xmpp.admins.map((jid) => jid.toLowerCase()),
      reminderSeconds: xmpp.reminder_seconds,
      maxAccounts: xmpp.max_accounts,
    },
    domains,
  }
}
