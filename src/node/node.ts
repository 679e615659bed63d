import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { type ChainService, startChain } from '../chain/chain-service.ts'
import { DOMAINS } from '../domains/index.ts'
import type { AnyPlugin, ChatPart, DomainParts, NodeNetwork } from '../domains/plugin.ts'
import type { BaseError } from '../errors/base.ts'
import { createHttpApp } from '../http/app.ts'
import { type Ledger, openLedger } from '../ledger/ledger.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { Store } from '../ledger/store.ts'
import {
  DENIED_PEERS_FILE,
  type DeniedPeersWatcher,
  watchDeniedPeers,
} from '../net/denied-peers.ts'
import { createReplicator, type Replicator } from '../net/replicator.ts'
import { createServingPolicies, type ServingPolicies } from '../net/serving.ts'
import { readEthKeyFile } from '../store/key-file.ts'
import { sqliteStore } from '../store/sqlite-store.ts'
import { createXmppBot } from '../xmpp/bot.ts'
import { type Chat, createChat } from '../xmpp/chat.ts'
import { journalMemory } from '../xmpp/conversations.ts'
import { type Accounts, openAccounts } from './accounts.ts'
import { createAdmission } from './admission.ts'
import type { ChainConfig, NodeConfig } from './config.ts'
import { createDocIndex, type DocIndex } from './doc-index.ts'
import { NodeConfigError, NodeNotStartedError } from './errors.ts'
import { type HttpServer, httpServer } from './http-server.ts'
import { lockDataDir } from './lock.ts'
import { nodeLogger } from './logger.ts'
import { createNodeMetrics, type NodeMetrics } from './metrics.ts'
import { createReadiness } from './readiness.ts'
import { type Startable, startAll, stopAll } from './startable.ts'
import { createVerifyPool, type VerifyPool } from './verify-pool.ts'

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }

/** The package version, as nodes report it. */
export const RWA_VERSION = version

/**
 * Members that domain plug-ins install on a started node (their `DomainParts.extend`). A plug-in
 * declares their types by augmenting this interface from its own folder.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the domains' module augmentations
export interface NodeExtensions {}

/** A running node: its parts, and the URL its HTTP API listens on once started. */
export interface RwaNode extends NodeExtensions {
  readonly config: NodeConfig
  readonly logger: Logger
  readonly accounts: Accounts
  /** The node's metrics (its own registry), served at `GET /metrics`. */
  readonly metrics: NodeMetrics
  /** Set by `start`. */
  readonly ledger: Ledger
  /** Each hosted domain's documents, by domain name (after `start`). */
  readonly indexes: ReadonlyMap<string, DocIndex>
  readonly url: string
  /** The chat, when `[xmpp]` is configured (after `start`). */
  readonly chat: Chat | undefined
  /** Replication, unless disabled (after `start`). */
  readonly replicator: Replicator | undefined
  /** The chain connection, unless running without one (after `start`). */
  readonly chain: ChainService | undefined
  /** Starts the parts in order (store, ledger, documents, replicator, chain, domains, HTTP, chat). */
  start(): Promise<void>
  /** Stops the parts in reverse: stops serving, waits for in-flight writes, closes the store. Safe to call twice. */
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
  /** The domains to host (default: every registered one, src/domains/index.ts). */
  domains?: readonly AnyPlugin[] | undefined
}

/** How long the parts get to stop once the node stops (HTTP answers requests in progress meanwhile). */
const SHUTDOWN_GRACE_MS = 10_000

/** What the parts build while they start, for the parts after them. */
type Built = {
  pool?: VerifyPool | undefined
  store?: Store | undefined
  ledger?: Ledger | undefined
  indexes: Map<string, DocIndex>
  replicator?: Replicator | undefined
  chain?: ChainService | undefined
  /** Each hosted domain's parts, in registration order. */
  domains: { plugin: AnyPlugin; parts: DomainParts }[]
  url: string
  chat?: Chat | undefined
  /** What prices and gates sync serving: the domains add theirs, then it opens. */
  readonly serving: ServingPolicies
  /** The admission rule, once the documents are indexed (before: everything restored is trusted). */
  admit?: ((doc: OpId, op: EncodedOp) => BaseError | undefined) | undefined
}

/**
 * Wires a node from its config: an ordered list of `Startable` parts (lock, store, ledger, each
 * domain's documents, replication, chain, the domains' plug-ins and services, HTTP, chat), which
 * `start()` starts in order and `stop()` stops in reverse.
 * @example
 * const node = createNode(loadConfig(resolveDataDir('local')))
 * await node.start()
 * console.log(node.url)
 */
export function createNode(config: NodeConfig, options: CreateNodeOptions = {}): RwaNode {
  const logger = options.logger ?? nodeLogger({ level: config.log.level, node: config.name })
  const accounts = openAccounts(config.dataDir, { maxCustodial: config.xmpp?.maxAccounts })
  const plugins = options.domains ?? DOMAINS
  const built: Built = {
    indexes: new Map(),
    domains: [],
    url: '',
    serving: createServingPolicies(),
  }
  const metrics = createNodeMetrics({
    ledger: () => built.ledger,
    indexes: () => built.indexes,
    replicator: () => built.replicator,
    chain: () => built.chain,
  })
  const need = <T>(part: T | undefined): T => {
    if (part === undefined) throw new NodeNotStartedError()
    return part
  }
  const parts = nodeParts({ config, options, logger, accounts, plugins, built, metrics })
  const aborter = new AbortController()
  const onStopError = (err: unknown, part: string) =>
    logger.error({ err, part }, 'a part failed to stop')
  let starting: Promise<Startable[]> | undefined
  let stopping: Promise<void> | undefined

  // The domains' extensions (node.audits…) are installed by `start`.
  const node: Omit<RwaNode, keyof NodeExtensions> = {
    config,
    logger,
    accounts,
    metrics,
    get ledger() {
      return need(built.ledger)
    },
    get indexes() {
      return built.indexes
    },
    get url() {
      return built.url
    },
    get chat() {
      return built.chat
    },
    get chain() {
      return built.chain
    },
    get replicator() {
      return built.replicator
    },
    async start() {
      const started = performance.now()
      starting = startAll(parts, { signal: aborter.signal, onStopError })
      await starting
      for (const { parts } of built.domains) install(node, parts.extend ?? {})
      logger.info(
        {
          url: built.url,
          ops: built.ledger!.log.stats().accepted,
          documents: Object.fromEntries([...built.indexes].map(([n, i]) => [n, i.list().length])),
          ms: Math.round(performance.now() - started),
        },
        'node ready',
      )
    },
    stop() {
      stopping ??= (async () => {
        aborter.abort()
        // A start still running stops what it started itself, and throws.
        const started = await starting?.catch(() => [])
        await stopAll(started ?? [], {
          signal: AbortSignal.timeout(SHUTDOWN_GRACE_MS),
          onStopError,
        })
        logger.info('node stopped')
      })()
      return stopping
    },
  }
  return node as RwaNode
}

/** Installs a domain's extension members on the node, as viem's `client.extend` does. */
function install(node: object, extend: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(extend))
    Object.defineProperty(node, key, { value, enumerable: true, configurable: true })
}

type PartsInput = {
  config: NodeConfig
  options: CreateNodeOptions
  logger: Logger
  accounts: Accounts
  plugins: readonly AnyPlugin[]
  built: Built
  metrics: NodeMetrics
}

/** The node's parts, in start order. */
function nodeParts(input: PartsInput): Startable[] {
  const { config, options, built } = input
  let releaseLock: (() => void) | undefined
  return [
    {
      name: 'lock',
      start: () => {
        releaseLock = lockDataDir(config.dataDir, config.name)
      },
      stop: () => releaseLock?.(),
    },
    {
      name: 'verify-pool',
      start: () => {
        if (options.verifyPool !== false)
          built.pool = createVerifyPool(
            options.verifyWorkers ? { size: options.verifyWorkers } : {},
          )
      },
      stop: () => built.pool?.close(),
    },
    {
      name: 'store',
      start: () => {
        built.store = sqliteStore({ path: config.store.path })
      },
      stop: () => built.store?.close(),
    },
    ledgerPart(input),
    documentsPart(input),
    replicatorPart(input),
    chainPart(input),
    domainsPart(input),
    httpPart(input),
    chatPart(input),
    runFilePart(input),
  ]
}

function ledgerPart({ config, logger, built }: PartsInput): Startable {
  return {
    name: 'ledger',
    async start() {
      built.ledger = await openLedger({
        ...config.ledger,
        now: Date.now,
        store: built.store!,
        verifier: built.pool?.verify,
        admit: (doc, op) => built.admit?.(doc, op),
        // A listener's bug must not take the node down with every op it has accepted.
        onListenerError: (err) => logger.error({ err }, 'a ledger listener failed'),
      })
    },
    // Pending writes become durable before the store closes.
    stop: () => built.ledger?.flush(),
  }
}

/** One document index per hosted domain, following the ledger. */
function documentsPart({ plugins, accounts, logger, built }: PartsInput): Startable {
  return {
    name: 'documents',
    async start() {
      for (const { domain } of plugins) {
        const index = createDocIndex(built.ledger!, domain, {
          isLocal: (creator) => accounts.among([creator]) !== undefined,
        })
        built.indexes.set(domain.name, index)
        await index.start()
      }
      built.admit = createAdmission(
        plugins.map((p) => p.domain),
        [...built.indexes.values()],
        logger,
      )
    },
    stop() {
      for (const index of built.indexes.values()) index.stop()
    },
  }
}

/** Replication, with the operator's deny list (`denied-peers.txt`) applied before the first dial. */
function replicatorPart({ config, options, logger, built }: PartsInput): Startable {
  let watcher: DeniedPeersWatcher | undefined
  return {
    name: 'replicator',
    async start(lifecycle) {
      const net = { ...config.net, ...options.net }
      if (!net.enabled) return
      const netLogger = logger.child({ part: 'net' })
      built.replicator = await createReplicator({
        ledger: built.ledger!,
        logger: netLogger,
        keyFile: join(config.dataDir, 'keys', 'p2p.identity'),
        listen: net.listen,
        peers: net.peers,
        limits: net.limits,
        serving: built.serving,
      })
      watcher = watchDeniedPeers({
        path: join(config.dataDir, DENIED_PEERS_FILE),
        target: built.replicator,
        logger: netLogger,
      })
      watcher.start(lifecycle)
      await built.replicator.start(lifecycle)
    },
    async stop(lifecycle) {
      watcher?.stop(lifecycle)
      await built.replicator?.stop(lifecycle)
    },
  }
}

function chainPart({ config, options, logger, built }: PartsInput): Startable {
  return {
    name: 'chain',
    async start() {
      built.chain = await startChain({
        dataDir: config.dataDir,
        options: options.chain ?? config.chain,
        operatorKey: readEthKeyFile(
          options.chainKeyFile ?? join(config.dataDir, 'keys', 'operator.eth'),
        ),
        logger: logger.child({ part: 'chain' }),
      })
    },
    stop: () => built.chain?.stop(),
  }
}

/**
 * A domain's `[domains.<name>]` settings, parsed by its part's schema.
 * @throws NodeConfigError naming the table and key, for a table that does not fit (or that a
 * domain without settings, or no domain, would get).
 */
function domainSettings(
  config: NodeConfig,
  name: string,
  schema: z.ZodType<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const table = config.domains?.[name] ?? {}
  if (!schema) {
    if (Object.keys(table).length === 0) return {}
    throw new NodeConfigError(
      `config.toml: the ${name} domain takes no settings; remove the [domains.${name}] table.`,
    )
  }
  const parsed = schema.safeParse(table)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  throw new NodeConfigError(
    `config.toml: [domains.${name}] ${issue.path.join('.') || 'table'}: ${issue.message}; fix it or remove the key for its default.`,
  )
}

/** Loads each domain's node part, builds its parts from the node's, and starts its services. */
function domainsPart({ config, logger, accounts, plugins, built, metrics }: PartsInput): Startable {
  let services: Startable[] = []
  const onStopError = (err: unknown, part: string) =>
    logger.error({ err, part }, 'a part failed to stop')
  return {
    name: 'domains',
    async start({ signal }) {
      const names = new Set(plugins.map((p) => p.domain.name))
      for (const name of Object.keys(config.domains ?? {}))
        if (!names.has(name))
          throw new NodeConfigError(
            `config.toml: there is no domain "${name}" (domains: ${[...names].join(', ')}); rename or remove the [domains.${name}] table.`,
          )
      for (const plugin of plugins) {
        const part = await plugin.node()
        const settings = domainSettings(config, plugin.domain.name, part.settings)
        const parts = await part.create({
          settings,
          config,
          logger: logger.child({ domain: plugin.domain.name }),
          ledger: built.ledger!,
          accounts,
          index: built.indexes.get(plugin.domain.name)!,
          indexes: built.indexes,
          chain: built.chain,
          network: networkOf(built),
          metrics: metrics.forDomain(plugin.domain.name),
        })
        built.domains.push({ plugin, parts })
      }
      const all = built.domains.flatMap(({ parts }) => parts.services ?? [])
      services = await startAll(all, { signal, onStopError })
      // Every domain's serving policy is in, and its protocols served: sync may run.
      built.serving.open()
    },
    stop: ({ signal }) => stopAll(services, { signal, onStopError }),
  }
}

/** The network as the domains get it, when the node replicates. */
function networkOf(built: Built): NodeNetwork | undefined {
  const replicator = built.replicator
  if (!replicator) return undefined
  return {
    host: replicator.node,
    peerId: replicator.peerId,
    addServingPolicy: (policy) => built.serving.add(policy),
    hangUp: (peer) => replicator.hangUp(peer),
  }
}

function httpPart(input: PartsInput): Startable {
  const { config, options, logger, accounts, built, metrics } = input
  let server: HttpServer | undefined
  return {
    name: 'http',
    async start(lifecycle) {
      const app = createHttpApp({
        name: config.name,
        version,
        ledger: built.ledger!,
        accounts,
        logger,
        bodyLimit: config.http.bodyLimit,
        hostNames: [...config.http.publicNames, hostNameOf(config.http.host)],
        domains: built.domains.map(({ plugin, parts }) => ({
          index: built.indexes.get(plugin.domain.name)!,
          routes: parts.routes ?? [],
          middleware: parts.middleware,
          web: parts.web,
          status: parts.status,
        })),
        peers: () => built.replicator?.peerCount() ?? 0,
        net: () =>
          built.replicator
            ? {
                peerId: built.replicator.peerId,
                listen: built.replicator.multiaddrs(),
                gossipDropped: built.replicator.gossipDropped(),
                denied: built.replicator.denied().length,
              }
            : undefined,
        chain: () => built.chain?.info,
        metrics,
        ready: readinessOf(input),
        explorerUrl: config.explorerUrl,
      })
      const port = options.port ?? config.http.port
      server = httpServer({ fetch: app.fetch, host: config.http.host, port })
      await server.start(lifecycle)
      built.url = server.url
    },
    stop: (lifecycle) => server?.stop(lifecycle),
  }
}

/** The checks of `GET /ready`, on the parts this node was configured with. */
function readinessOf({ config, options, built }: PartsInput) {
  return createReadiness({
    store: () => built.store,
    ledger: () => built.ledger,
    chainConfigured: (options.chain ?? config.chain).mode !== 'none',
    chain: () => built.chain,
    netEnabled: { ...config.net, ...options.net }.enabled,
    replicator: () => built.replicator,
  })
}

/** The bind address as a `Host` header names it (an IPv6 address in brackets). */
function hostNameOf(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host.toLowerCase()
}

/** The chat bot, when `[xmpp]` is configured: each domain's chat part behind one transport. */
function chatPart({ config, logger, built }: PartsInput): Startable {
  let reminders: NodeJS.Timeout | undefined
  let stopBot: (() => Promise<void>) | undefined
  return {
    name: 'chat',
    async start() {
      const xmpp = config.xmpp
      if (!xmpp) return
      const bot = createXmppBot(xmpp, logger.child({ part: 'xmpp' }))
      const onError = (err: unknown) => logger.error({ err }, 'chat failed')
      const pageUrl = (path: string) => `${config.http.publicUrl ?? built.url}${path}`
      if (!config.http.publicUrl && /^http:\/\/(127\.|localhost|\[::1\])/.test(built.url))
        logger.warn(
          { url: built.url },
          'chat messages link to this node at a loopback address, which people on other machines cannot open; set [http] public_url in config.toml',
        )
      const chatParts: ChatPart[] = built.domains.flatMap(({ plugin, parts }) => {
        if (!parts.chat) return []
        const memory = journalMemory(join(config.dataDir, 'chat', `${plugin.domain.name}.jsonl`), {
          onSkipped: (lines) =>
            logger.warn({ domain: plugin.domain.name, lines }, 'skipped torn chat journal lines'),
        })
        return [
          parts.chat({
            send: bot.send,
            admins: xmpp.admins,
            now: Date.now,
            onError,
            memory,
            pageUrl,
          }),
        ]
      })
      const chat = createChat({ parts: chatParts, onError, reply: bot.send })
      bot.attach(chat)
      built.chat = chat
      stopBot = () => bot.stop()
      await chat.start()
      await bot.start()
      reminders = setInterval(() => {
        chat.remind().catch((err: unknown) => logger.error({ err }, 'reminders failed'))
      }, xmpp.reminderSeconds * 1000)
      reminders.unref()
    },
    async stop() {
      clearInterval(reminders)
      built.chat?.stop()
      // Replies to messages being answered go out before the bot leaves (bounded: a handler
      // waiting on a stuck part must not hold the node's stop).
      if (built.chat)
        await Promise.race([built.chat.idle(), new Promise((r) => setTimeout(r, 5000).unref())])
      await stopBot?.()
    },
  }
}

/** Writes `run.json` (the URL and pid, for the CLI) once the node serves; removes it on stop. */
function runFilePart({ config, built }: PartsInput): Startable {
  const runFile = join(config.dataDir, 'run.json')
  let written = false
  return {
    name: 'run-file',
    start() {
      writeFileSync(runFile, `${JSON.stringify({ url: built.url, pid: process.pid }, null, 2)}\n`)
      written = true
    },
    stop() {
      if (written) rmSync(runFile, { force: true })
    },
  }
}
