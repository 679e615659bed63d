import type { Command } from 'commander'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { ChainService } from '../chain/chain-service.ts'
import type { DocSummary, Domain, DomainReducer } from '../core/domain.ts'
import type { RouteGroup } from '../http/route-group.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { ReplicatorHost } from '../net/replicator.ts'
import type { ServingPolicy } from '../net/serving.ts'
import type { Accounts } from '../node/accounts.ts'
import type { NodeConfig } from '../node/config.ts'
import type { DocIndex, Listed } from '../node/doc-index.ts'
import type { DomainMetrics } from '../node/metrics.ts'
import type { Startable } from '../node/startable.ts'

// The seam every domain plugs into (ARCHITECTURE §7). A domain is a folder under src/core/ (its
// pure rules: a `Domain`) and one under src/domains/ (this plug-in), registered by one line in
// src/domains/entries.ts. The shells (node, HTTP, CLI, chat, dashboard) loop over the plug-ins;
// none of them names a domain.

/** A domain's plug-in: its rules, and its node and command-line parts, each loaded when needed. */
export interface DomainPlugin<
  State = unknown,
  Reducer extends DomainReducer<State> = DomainReducer<State>,
  Summary extends DocSummary = DocSummary,
> {
  readonly domain: Domain<State, Reducer, Summary>
  /** The node side (actions, routes, pages, chat, services), loaded when a node starts. */
  node(): Promise<NodePart<State, Reducer, Summary>>
  /** The commands, loaded by the `rwa` command line. */
  cli?(): Promise<CliPart>
}

/**
 * How the shells find a domain without loading it (the one list, src/domains/entries.ts, holds
 * these): a command line that only registers commands must not pay for every domain's rules.
 */
export interface DomainEntry {
  /** The plug-in: the domain's rules and its node part. */
  plugin(): Promise<AnyPlugin>
  /** The commands, loaded by the `rwa` command line (the plug-in's `cli`, without the rules). */
  cli?(): Promise<CliPart>
}

/** A plug-in of any domain, as the shells hold them. */
// biome-ignore lint/suspicious/noExplicitAny: the shells treat every domain alike
export type AnyPlugin = DomainPlugin<any, any, any>

/** What a domain's node part is built from: the node's parts, started. */
export type DomainComponents<
  State = unknown,
  Reducer extends DomainReducer<State> = DomainReducer<State>,
  Summary extends DocSummary = DocSummary,
> = {
  readonly config: NodeConfig
  readonly logger: Logger
  readonly ledger: Ledger
  readonly accounts: Accounts
  /** This domain's documents. */
  readonly index: DocIndex<State, Reducer, Summary>
  /**
   * Every domain's documents, by domain name (this one's included): a domain may read another's,
   * through that domain's core types (its state is that domain's `state()`). Reads only: ops go
   * through the ledger, where the other domain's rules judge them.
   */
  readonly indexes: ReadonlyMap<string, DocIndex>
  /** The chain the node settles on, unless it runs without one. */
  readonly chain: ChainService | undefined
  /** The node's peer-to-peer network, unless it runs without one. */
  readonly network: NodeNetwork | undefined
  /** Where the domain adds its own metrics to `/metrics` (named `rwa_<domain>_…`). */
  readonly metrics: DomainMetrics
  /**
   * The domain's `[domains.<name>]` settings from config.toml, as its `NodePart.settings` schema
   * parsed them (defaults filled in); `{}` when the part declares no schema.
   */
  readonly settings: Readonly<Record<string, unknown>>
}

/** The node's peer-to-peer network, as a domain may use it. */
export type NodeNetwork = {
  /**
   * The libp2p host the replicator runs on (started): a domain may serve its own protocols on it
   * and follow its peers' connections.
   */
  readonly host: ReplicatorHost
  /** This node's libp2p peer id. */
  readonly peerId: string
  /**
   * Adds a policy that prices and gates what sync serves peers, and sees what this node pulls
   * (returns its removal). Sync is neither served nor pulled until every domain is built, so a
   * policy added in `create` misses nothing.
   */
  addServingPolicy(policy: ServingPolicy): () => void
  /** Closes the connections to a peer (it may dial again). */
  hangUp(peer: string): Promise<void>
}

/** The node side of a domain. */
export interface NodePart<
  State = unknown,
  Reducer extends DomainReducer<State> = DomainReducer<State>,
  Summary extends DocSummary = DocSummary,
> {
  /**
   * The schema of the domain's `[domains.<name>]` table in config.toml (keys in snake_case, as
   * the rest of the file). The node refuses to start on a table that does not fit, naming the
   * key; a domain without one refuses any table.
   */
  readonly settings?: z.ZodType<Record<string, unknown>>
  /** Builds the domain's parts once the node's store, ledger, network and chain run. */
  create(components: DomainComponents<State, Reducer, Summary>): DomainParts | Promise<DomainParts>
}

/** What a domain adds to a node. Every member is optional. */
export type DomainParts = {
  /**
   * Members installed on the node object once it has started, as viem's `client.extend` adds
   * actions (the audit domain adds `node.audits` and `node.actions`). Declare their types by
   * augmenting `NodeExtensions` in src/node/node.ts.
   */
  readonly extend?: Readonly<Record<string, unknown>>
  /** Route groups: each a Hono sub-app mounted at its prefix and documented in /openapi.json. */
  readonly routes?: readonly RouteGroup[]
  /**
   * Hono middleware run on every request before any route (after the Host guard), in
   * registration order: a part that wraps routes it does not own, such as a paid-call gateway
   * pricing the node's own routes. Call `next()` for requests it does not handle.
   */
  readonly middleware?: readonly MiddlewareHandler[]
  /** Long-running parts (a settler, a watcher), started after the chain and before HTTP. */
  readonly services?: readonly Startable[]
  /** The dashboard's part. */
  readonly web?: WebPart
  /** What the domain adds to `GET /status` (under `domains.<name>`): plain JSON, small. */
  status?(): unknown
  /** The chat's part, built once the chat transport runs. */
  chat?(context: ChatContext): ChatPart
}

/** A domain's part of the dashboard. */
export type WebPart = {
  /** A section of the home page (its documents, a form to create one). */
  card(documents: readonly Listed<DocSummary>[]): string
  /** The domain's pages, a Hono sub-app mounted at `/ui/<domain>`. */
  readonly pages?: RouteGroup
  /** Browser code served at `/ui/<domain>.js` on every page: it may register page hooks. */
  readonly script?: string
}

/** What a domain's chat part is given. */
export type ChatContext = {
  /**
   * Sends a message nobody asked for (an inspection, a reminder, a result) to a bare JID, so
   * that every device of the person gets it. Replies to a message go back through `handle`.
   */
  send(jid: string, text: string): void
  /** Bare JIDs (lowercase) the node's config names as chat admins. */
  readonly admins: readonly string[]
  now(): number
  onError(error: unknown): void
  /**
   * The domain's conversations, by bare JID, kept across restarts: where each person is in a
   * multi-step exchange. Values are plain JSON; read them defensively (a record may be from an
   * older version).
   */
  readonly memory: ChatMemory
  /** The absolute URL of one of the node's pages (`[http] public_url`, else where it listens). */
  pageUrl(path: string): string
}

/** Durable per-person records of a chat part (see `ChatContext.memory`). */
export interface ChatMemory {
  get(jid: string): unknown
  /**
   * Stores a plain-JSON record (at most 16 kB), or forgets the person with `undefined`. A
   * `disposable` record (a stranger's first step) is forgotten first when the node holds too many.
   */
  set(jid: string, value: unknown, options?: { disposable?: boolean }): void
  entries(): [jid: string, value: unknown][]
}

/** One message as the chat received it. */
export type ChatMessage = {
  /** Bare, lowercase JID of the sender. */
  readonly jid: string
  /** The text, trimmed (never empty). */
  readonly text: string
  /** When the transport received it (ms since the epoch, on the `now` clock): earlier than any
   *  message pushed while it waited in its sender's queue. */
  readonly receivedAt: number
}

/** A domain's conversation over chat. */
export interface ChatPart {
  /**
   * Answers a message, or undefined when it is not for this domain (the next domain is asked).
   * A person's messages come one at a time, in the order they were sent. Errors thrown here
   * become a one-line reply.
   */
  handle(message: ChatMessage): Promise<string[] | undefined>
  /**
   * Whether this message is surely this domain's: one of its own command words, or the answer to
   * a question it just asked this person. The chat asks the parts that claim a message first (in
   * registration order), then the others, so a domain registered earlier whose catch-all answers
   * anything a person with an account says cannot shadow it. Claim narrowly: a claimed message
   * that `handle` passes on still goes to the other parts.
   */
  claims?(message: ChatMessage): boolean
  /** The line a stranger gets (the chat joins every domain's). */
  readonly greeting: string
  /**
   * The domain's help for this person (its commands, fitting their role and where they are), or
   * undefined when the domain does not know them. "help" joins every domain's.
   */
  help?(jid: string): Promise<string | undefined>
  /** What this person's documents in the domain wait for, or undefined; "status" joins every domain's. */
  status?(jid: string): Promise<string | undefined>
  /** Starts following the ledger (pushing messages nobody asked for). */
  start?(): Promise<void>
  stop?(): void
  /** Called every `[xmpp] reminder_seconds`. */
  remind?(): Promise<void>
  /** Resolves once pushed messages for ops seen so far have been sent. */
  settled?(): Promise<void>
}

/** A domain's part of the `rwa` command line. */
export interface CliPart {
  /** Adds the domain's commands to the program. */
  register(program: Command): void
}
