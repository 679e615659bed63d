import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { type Logger, pino } from 'pino'
import { type ChainService, startChain } from '../chain/chain-service.ts'
import { createHttpApp } from '../http/app.ts'
import { type Ledger, openLedger } from '../ledger/ledger.ts'
import { createReplicator, type Replicator } from '../net/replicator.ts'
import { readEthKeyFile } from '../store/key-file.ts'
import { sqliteStore } from '../store/sqlite-store.ts'
import { createXmppBot, type XmppBot } from '../xmpp/bot.ts'
import { type Chat, createChat } from '../xmpp/chat.ts'
import { type Accounts, openAccounts } from './accounts.ts'
import { type AuditActions, createAuditActions } from './audit-actions.ts'
import { type AuditIndex, createAuditIndex } from './audit-index.ts'
import type { ChainConfig, NodeConfig } from './config.ts'
import { NodeNotStartedError, PortInUseError } from './errors.ts'
import { lockDataDir } from './lock.ts'
import { fileSaltStore } from './salt-store.ts'
import { createSettler } from './settler.ts'
import { createVerifyPool, type VerifyPool } from './verify-pool.ts'

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }

/** The package version, as nodes report it. */
export const RWA_VERSION = version

/** A running node: its parts, and the URL its HTTP API listens on once started. */
export type RwaNode = {
  readonly config: NodeConfig
  readonly logger: Logger
  readonly accounts: Accounts
  /** Set by `start`. */
  readonly ledger: Ledger
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly url: string
  /** The chat, when `[xmpp]` is configured (after `start`). */
  readonly chat: Chat | undefined
  /** Replication, unless disabled (after `start`). */
  readonly replicator: Replicator | undefined
  /** The chain connection, unless running without one (after `start`). */
  readonly chain: ChainService | undefined
  start(): Promise<void>
  /** Stops serving, waits for in-flight writes, closes the store. Safe to call twice. */
  stop(): Promise<void>
}

/** Options of `createNode` beyond the config file. */
export type CreateNodeOptions = {
  /** Overrides `http.port` (0: a free port). */
  port?: number | undefined
  logger?: Logger | undefined
  /** Verify remote ops on worker threads (default true). */
  verifyPool?: boolean
  /** Verification worker threads (default: one per core). */
  verifyWorkers?: number | undefined
  /** Overrides the config's `[chain]` (`--rpc-url`, `--no-chain`). */
  chain?: ChainConfig | undefined
  /** An Ethereum key file to sign and pay on chain with, instead of keys/operator.eth. */
  chainKeyFile?: string | undefined
  /** Overrides the config's `[net]` (`--peer`, `--listen`, `--no-net`). */
  net?: Partial<NodeConfig['net']> | undefined
}

/**
 * Wires a node from its config: accounts (keys), SQLite store, ledger, audit index, actions and
 * the HTTP API. `start()` opens and serves; `stop()` undoes it in reverse.
 * @example
 * const node = createNode(loadConfig(resolveDataDir('local')))
 * await node.start()
 * console.log(node.url)
 */
export function createNode(config: NodeConfig, options: CreateNodeOptions = {}): RwaNode {
  const logger = options.logger ?? pino({ level: config.log.level, base: { node: config.name } })
  const accounts = openAccounts(config.dataDir)
  let ledger: Ledger | undefined
  let audits: AuditIndex | undefined
  let actions: AuditActions | undefined
  let pool: VerifyPool | undefined
  let server: ReturnType<typeof serve> | undefined
  let url = ''
  let bot: XmppBot | undefined
  let chain: ChainService | undefined
  let replicator: Replicator | undefined
  let settler: ReturnType<typeof createSettler> | undefined
  let chat: Chat | undefined
  let reminders: NodeJS.Timeout | undefined
  let stopping: Promise<void> | undefined
  let releaseLock: (() => void) | undefined
  const runFile = join(config.dataDir, 'run.json')
  const need = <T>(part: T | undefined): T => {
    if (part === undefined) throw new NodeNotStartedError()
    return part
  }

  const node: RwaNode = {
    config,
    logger,
    accounts,
    get ledger() {
      return need(ledger)
    },
    get audits() {
      return need(audits)
    },
    get actions() {
      return need(actions)
    },
    get url() {
      return url
    },
    get chat() {
      return chat
    },
    get chain() {
      return chain
    },
    get replicator() {
      return replicator
    },
    async start() {
      const started = performance.now()
      releaseLock = lockDataDir(config.dataDir, config.name)
      try {
        await startParts(started)
      } catch (error) {
        // Nothing started may outlive a failed start (a devnet, a pool, the lock).
        await shutdown().catch((err: unknown) =>
          logger.error({ err }, 'cleaning up after a failed start failed'),
        )
        throw error
      }
    },
    stop() {
      stopping ??= shutdown()
      return stopping
    },
  }

  async function startParts(started: number): Promise<void> {
    if (options.verifyPool !== false)
      pool = createVerifyPool(options.verifyWorkers ? { size: options.verifyWorkers } : {})
    ledger = await openLedger({
      store: sqliteStore({ path: config.store.path }),
      verifier: pool?.verify,
      // A listener's bug must not take the node down with every op it has accepted.
      onListenerError: (err) => logger.error({ err }, 'a ledger listener failed'),
    })
    audits = createAuditIndex(ledger, {
      isLocal: (creator) => accounts.among([creator]) !== undefined,
    })
    await audits.start()
    actions = createAuditActions({
      ledger,
      audits,
      salts: fileSaltStore(join(config.dataDir, 'keys', 'salts.json')),
    })
    chain = await startChain({
      dataDir: config.dataDir,
      options: options.chain ?? config.chain,
      operatorKey: readEthKeyFile(
        options.chainKeyFile ?? join(config.dataDir, 'keys', 'operator.eth'),
      ),
      logger: logger.child({ part: 'chain' }),
    })
    const net = { ...config.net, ...options.net }
    if (net.enabled) {
      replicator = await createReplicator({
        ledger,
        logger: logger.child({ part: 'net' }),
        keyFile: join(config.dataDir, 'keys', 'p2p.identity'),
        listen: net.listen,
        peers: net.peers,
      })
    }
    if (chain) {
      settler = createSettler({
        ledger,
        audits,
        accounts,
        actions,
        chain,
        logger: logger.child({ part: 'settler' }),
      })
    }
    if (config.xmpp) {
      bot = createXmppBot(config.xmpp, logger.child({ part: 'xmpp' }))
      chat = createChat({
        accounts,
        audits,
        actions,
        ledger,
        admins: config.xmpp.admins,
        send: bot.send,
        onError: (err) => logger.error({ err }, 'chat failed'),
      })
      bot.attach(chat)
    }
    const app = createHttpApp({
      name: config.name,
      version,
      ledger,
      audits,
      actions,
      accounts,
      logger,
      bodyLimit: config.http.bodyLimit,
      peers: () => replicator?.peerCount() ?? 0,
      net: () =>
        replicator
          ? {
              peerId: replicator.peerId,
              listen: replicator.multiaddrs(),
              gossipDropped: replicator.gossipDropped(),
            }
          : undefined,
      chain: () => chain?.info,
      // With the chat bot on, an audit registered for an admin JID gets a custodial account
      // for that JID, so the admin can run it by chat.
      accountForJid: (jid) => (config.xmpp ? accounts.custodialFor(jid) : accounts.byJid(jid)),
    })
    const port = options.port ?? config.http.port
    server = await listen(app.fetch, config.http.host, port)
    const address = server.address() as AddressInfo
    url = `http://${config.http.host}:${address.port}`
    await replicator?.start()
    settler?.start()
    if (chat && bot) {
      await chat.start()
      await bot.start()
      const every = config.xmpp!.reminderSeconds * 1000
      reminders = setInterval(() => {
        chat!.remind().catch((err: unknown) => logger.error({ err }, 'reminders failed'))
      }, every)
      reminders.unref()
    }
    writeFileSync(runFile, `${JSON.stringify({ url, pid: process.pid }, null, 2)}\n`)
    logger.info(
      {
        url,
        ops: ledger.log.stats().accepted,
        audits: audits.list().length,
        ms: Math.round(performance.now() - started),
      },
      'node ready',
    )
  }

  async function shutdown(): Promise<void> {
    if (server) await closeServer(server)
    server = undefined
    clearInterval(reminders)
    await settler?.stop()
    await replicator?.stop()
    chat?.stop()
    await bot?.stop()
    audits?.stop()
    await ledger?.close()
    await chain?.stop()
    await pool?.close()
    if (releaseLock) {
      rmSync(runFile, { force: true })
      releaseLock()
      releaseLock = undefined
    }
    logger.info('node stopped')
  }
  return node
}

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
): Promise<ReturnType<typeof serve>> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch,
        hostname,
        port,
        // A client gets 30 s to send a whole request (Node's default is 5 min): a body that
        // stalls must not hold a connection and its buffer for long.
        serverOptions: { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: 20_000 },
      },
      () => resolve(server),
    )
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(
              `Port ${port} on ${hostname} is already in use (another node or program); start with --port <n>, or set [http] port in config.toml.`,
              { cause: error },
            )
          : error,
      ),
    )
  })
}

/** How long a client may take to send one request, headers and body. */
const REQUEST_TIMEOUT_MS = 30_000

/** How long requests in progress may take to finish once the node stops. */
const SHUTDOWN_GRACE_MS = 10_000

/**
 * Stops accepting connections and lets requests in progress finish. Node closes the keep-alive
 * connections idle when `close` is called, but one busy then would hold the node for its
 * keep-alive timeout (5 s) after its response: so idle ones are closed again every 50 ms, and
 * any still open after the grace period are cut.
 */
async function closeServer(server: ReturnType<typeof serve>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  const http = server as Server
  const sweep = setInterval(() => http.closeIdleConnections(), 50)
  const deadline = setTimeout(() => http.closeAllConnections(), SHUTDOWN_GRACE_MS)
  try {
    await closed
  } finally {
    clearInterval(sweep)
    clearTimeout(deadline)
  }
}
