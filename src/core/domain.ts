import { createHash } from 'node:crypto'
import type { z } from 'zod'
import type { BaseError } from '../errors/base.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { OpNote } from './causal/notes.ts'
import { toJson } from './json.ts'

/** One op type of a domain: its name, what it does, and the shape of its body. */
export type OpTypeSpec = {
  /** The op's `type`, such as `audit.item.add`. */
  readonly type: string
  /** One sentence: what the op does and who may sign it. */
  readonly summary: string
  /**
   * The body's shape (JSON Schema in `/openapi.json`). It describes bodies for clients; the
   * reducer's rules stay the authority on what is valid, with errors that name state and rule.
   */
  readonly body: z.ZodType
}

/** A proposed op, judged against a document's current state before it is signed. */
export type Draft = {
  readonly author: Uint8Array
  readonly type: string
  readonly body: unknown
  readonly time: number
}

/**
 * Why an op would be refused on its own causal past. `tieBreak`: it lost to a concurrent op
 * (a duplicate, a concurrent control op), which the log's deterministic order decides; anything
 * else would be refused whatever else arrives, so a ledger may refuse it at ingest.
 */
export type Judgement = OpNote & { readonly tieBreak: boolean }

/**
 * The reducer of one document: fed its ops in a topological order (deps first), holding no ops.
 * Pure: replicas holding the same ops compute the same state.
 */
export interface DomainReducer<State> {
  /** Applies the next op; a refused op is noted (see `verdict`), never thrown. */
  apply(op: EncodedOp): void
  /** Ops applied, the genesis included. */
  readonly size: number
  /** First-wins tie-breaks used so far (see CausalEngine.tieBreaks). */
  readonly tieBreaks: number
  /** Whether the state depends on the apply order: rebuild it in log order to make it canonical. */
  readonly orderSensitive: boolean
  /** The state, as every replica with the same ops computes it (when applied in log order). */
  state(): State
  /** Throws the refusal a draft made on the current heads would get (a named error). */
  check(draft: Draft): void
  /** The refusal `op` (not applied yet, its deps applied) would get against its own causal past. */
  judge(op: EncodedOp): Judgement | undefined
  /** Why the applied op `id` was refused or excluded, in O(1); undefined if it counts. */
  verdict(id: OpId): OpNote | undefined
}

/** One line of a document listing: its name and state, and a few counts. */
export type DocSummary = {
  readonly name: string
  readonly state: string
  readonly [count: string]: string | number
}

/**
 * A domain (ARCHITECTURE §7): the pure rules of one kind of document. A node hosts a domain
 * through its plug-in (`src/domains/<name>/`), which adds actions, routes, commands, chat and
 * pages on top of these rules.
 */
export interface Domain<
  State = unknown,
  Reducer extends DomainReducer<State> = DomainReducer<State>,
  Summary extends DocSummary = DocSummary,
> {
  /** A lowercase word: the prefix of its op types, its route and its command (`audit`). */
  readonly name: string
  /** The type of the op that creates a document (`audit.create`). */
  readonly genesisType: string
  /** Every op type, the genesis first. */
  readonly opTypes: readonly OpTypeSpec[]
  /** Starts a reducer from a genesis op; throws a named error when the genesis is not valid. */
  createReducer(genesis: EncodedOp): Reducer
  /** The canonical hash of a state (hex): equal on every replica that holds the same ops. */
  stateHash(state: State): string
  /** The listing line of a document, cheap: listings ask for every document often. */
  summary(reducer: Reducer): Summary
  /** The error for a reference (name or id) that names no document of this domain. */
  notFound(ref: string): BaseError
  /** The error for a name that several documents share. */
  ambiguous(ref: string, ids: readonly OpId[]): BaseError
}

/** SHA-256 (hex) of a state's JSON (bigints as decimal strings, bytes as hex): `Domain.stateHash` for most domains. */
export function hashState(state: unknown): string {
  return createHash('sha256').update(toJson(state)).digest('hex')
}
