import { createHash } from 'node:crypto'
import {
  AmbiguousAuditError,
  AuditNotFoundError,
  InvalidAuditInputError,
} from '../core/audit/errors.ts'
import type { AuditParams } from '../core/audit/params.ts'
import { type AuditReducer, createAuditReducer } from '../core/audit/reduce.ts'
import type { AuditState } from '../core/audit/state.ts'
import { AUDIT_OP, AUDIT_STATES } from '../core/audit/states.ts'
import type { OpNote } from '../core/causal/notes.ts'
import type { Draft } from '../core/domain.ts'
import { toJson } from '../core/json.ts'
import { BaseError } from '../errors/base.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { AcceptedOp } from '../ledger/log.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'

/** One line of the audit list. */
export type AuditSummary = {
  readonly id: OpId
  readonly name: string
  readonly state: string
  readonly items: number
  readonly auditors: number
}

type Entry = {
  reducer: AuditReducer
  name: string
  /** The reducer applied ops in acceptance order and a tie-break may differ from the log's order. */
  dirty: boolean
  /** Ops accepted while a rebuild was reading the store; applied after it. */
  queued: EncodedOp[] | undefined
  /** The rebuild in progress: readers wait for it rather than read the reducer it replaces. */
  rebuilding: Promise<void> | undefined
  /** The last state hash, and the reducer and size it was computed for. */
  hash?: { reducer: AuditReducer; size: number; hex: string } | undefined
}

/** Live audit states of a node: reducers fed by the ledger, rebuilt in log order when needed. */
export type AuditIndex = {
  /** Resolves an audit name or id to its id. */
  resolve(ref: string): OpId
  list(): AuditSummary[]
  /** Whether an audit created on this node has this name (strangers' audits do not count). */
  isNameTaken(name: string): boolean
  /**
   * The canonical state (equal on every replica holding the same ops). Canonical for every op
   * held when it was asked for; ops that arrived while it was being rebuilt are applied on top
   * and, if they are order-sensitive, put in log order by the next read.
   */
  state(id: OpId): Promise<AuditState>
  /** SHA-256 of the canonical state (hex): equal on every replica that holds the same ops. */
  stateHash(id: OpId): Promise<string>
  /** The audit's current parameters (cheap). */
  params(id: OpId): Promise<AuditParams>
  /** The current state's name (cheap). */
  stateName(id: OpId): Promise<string>
  /** An auditor's current inspection (cheap). */
  next(
    id: OpId,
    auditorKey: string,
  ): ReturnType<AuditReducer['nextInspection']> extends infer T ? Promise<T> : never
  /**
   * The audit's reducer, canonical (rebuilt first if a tie-break made it order-dependent). It
   * follows the log synchronously: an op appended right after a `check` on it is judged on the
   * same state.
   */
  reducer(id: OpId): Promise<AuditReducer>
  /** Throws the refusal a draft op would get now (named error naming state and what is allowed). */
  check(id: OpId, draft: Draft): Promise<void>
  /** Why an op of audit `doc` was refused or excluded by the audit's rules; undefined if it counts (or `doc` is no audit). */
  verdict(doc: OpId, id: OpId): Promise<OpNote | undefined>
  /** Subscribes to the ledger and loads the audits already in it. */
  start(): Promise<void>
  stop(): void
}

/**
 * Creates the audit index of a node. Each audit's reducer follows the ledger's log as ops join
 * it (before they are durable: the log is ahead of the disk the same way); when
 * a first-wins tie-break was used (concurrent control ops, duplicates) it is rebuilt from the
 * store in the log's deterministic order before it is read, so answers are canonical.
 */
export function createAuditIndex(
  ledger: Ledger,
  {
    isLocal,
  }: {
    /**
     * Whether this node holds the key that created an audit (its genesis author, the first
     * admin). When several audits share a name (anyone may publish a genesis through `POST /ops`
     * or a peer), the name means the one created here, so a stranger's copy cannot make it
     * ambiguous, even one that lists this node's keys among its admins.
     */
    isLocal?: ((creator: string) => boolean) | undefined
  } = {},
): AuditIndex {
  const audits = new Map<OpId, Entry>()
  let unsubscribe: (() => void) | undefined

  function onAdded(accepted: readonly AcceptedOp[]): void {
    let failure: unknown
    for (const { doc, op } of accepted) {
      const entry = audits.get(doc)
      if (entry) {
        if (entry.queued) entry.queued.push(op)
        else
          try {
            applyTo(entry, op)
          } catch (error) {
            // A fault of ours (the reducer refuses ops by listing them, not by throwing): the
            // reducer may be half-changed, so it is rebuilt from the store before it is read,
            // and the other ops of the batch still reach their audits. The ledger logs it.
            entry.dirty = true
            failure ??= error
          }
      } else if (op.op.doc === null && op.op.type === AUDIT_OP.create) {
        const reducer = tryCreate(op)
        if (reducer)
          audits.set(doc, {
            reducer,
            name: reducer.state().params.name,
            dirty: false,
            queued: undefined,
            rebuilding: undefined,
          })
      }
    }
    if (failure !== undefined) throw failure
  }

  /** Whether an audit was created on this node (all are, when the index cannot tell). */
  const isOurs = (entry: Entry) => !isLocal || isLocal(entry.reducer.params().admins[0]!)

  function applyTo(entry: Entry, op: EncodedOp): void {
    const before = entry.reducer.tieBreaks
    entry.reducer.apply(op)
    if (entry.reducer.tieBreaks > before) entry.dirty = true
  }

  async function rebuild(id: OpId, entry: Entry): Promise<void> {
    entry.queued = []
    try {
      const ops = await ledger.getOps(ledger.log.order(id))
      let reducer: AuditReducer | undefined
      for (const op of ops) {
        if (!op) continue
        if (reducer) reducer.apply(op)
        else reducer = createAuditReducer(op)
      }
      const known = new Set(ops.map((op) => op?.id))
      entry.reducer = reducer!
      entry.dirty = false
      for (const op of entry.queued) if (!known.has(op.id)) applyTo(entry, op)
    } finally {
      entry.queued = undefined
    }
  }

  async function canonical(id: OpId): Promise<AuditReducer> {
    const entry = audits.get(id)
    if (!entry) throw new AuditNotFoundError(id)
    // A rebuild already running may have read the store before ops this caller has seen, so
    // the caller waits for at most one more, started after it asked. Ops arriving meanwhile may
    // need yet another (a new tie-break); waiting for those too would let a peer that keeps
    // sending order-sensitive ops hold every reader forever, so the next reader rebuilds.
    let rounds = entry.rebuilding ? 2 : 1
    while ((entry.rebuilding || entry.dirty) && rounds-- > 0) {
      entry.rebuilding ??= rebuild(id, entry).finally(() => {
        entry.rebuilding = undefined
      })
      await entry.rebuilding
    }
    return entry.reducer
  }

  return {
    resolve(ref) {
      if (audits.has(ref as OpId)) return ref as OpId
      const wanted = ref.trim()
      let ids = [...audits].filter(([, e]) => e.name === wanted).map(([id]) => id)
      if (ids.length > 1 && isLocal) {
        const local = ids.filter((id) => isOurs(audits.get(id)!))
        if (local.length > 0) ids = local
      }
      if (ids.length === 0) throw new AuditNotFoundError(ref)
      if (ids.length > 1) throw new AmbiguousAuditError(ref, ids.sort())
      return ids[0]!
    },
    isNameTaken(name) {
      for (const entry of audits.values()) if (entry.name === name && isOurs(entry)) return true
      return false
    },
    list() {
      // Cheap per audit: chat messages and the settler's poll list audits often. By name, then
      // id: the same order on every node and after every restart.
      return [...audits]
        .sort(([a, x], [b, y]) => (x.name < y.name ? -1 : x.name > y.name ? 1 : a < b ? -1 : 1))
        .map(([id, { name, reducer }]) => ({
          id,
          name,
          state: reducer.stateName(),
          ...reducer.counts(),
        }))
    },
    async state(id) {
      return (await canonical(id)).state()
    },
    reducer: canonical,
    async stateHash(id) {
      const reducer = await canonical(id)
      const entry = audits.get(id)!
      // Hashing a big audit's whole state is costly and /status asks for every audit's, so the
      // hash is kept until the reducer changes (an op applied, or a rebuild replacing it).
      if (entry.hash?.reducer === reducer && entry.hash.size === reducer.size) return entry.hash.hex
      const hex = createHash('sha256').update(toJson(reducer.state())).digest('hex')
      entry.hash = { reducer, size: reducer.size, hex }
      return hex
    },
    async params(id) {
      return (await canonical(id)).params()
    },
    async stateName(id) {
      return (await canonical(id)).stateName()
    },
    async next(id, auditorKey) {
      return (await canonical(id)).nextInspection(auditorKey)
    },
    async verdict(doc, id) {
      if (!audits.has(doc)) return undefined
      return (await canonical(doc)).verdict(id)
    },
    async check(id, draft) {
      ;(await canonical(id)).check(draft)
    },
    async start() {
      unsubscribe = ledger.onAdded(onAdded)
      for (const doc of ledger.log.docs()) {
        if (audits.has(doc)) continue
        const [genesis] = await ledger.getOps([doc])
        if (genesis?.op.type !== AUDIT_OP.create) continue
        const reducer = tryCreate(genesis)
        if (!reducer) continue
        const entry: Entry = {
          reducer,
          name: reducer.state().params.name,
          dirty: true,
          queued: undefined,
          rebuilding: undefined,
        }
        audits.set(doc, entry)
        await canonical(doc)
      }
    },
    stop() {
      unsubscribe?.()
    },
  }
}

/** A genesis whose body is not a valid audit is kept in the log but is not an audit. */
function tryCreate(genesis: EncodedOp): AuditReducer | undefined {
  try {
    return createAuditReducer(genesis)
  } catch (error) {
    if (error instanceof InvalidAuditInputError || error instanceof BaseError) return undefined
    throw error
  }
}

/** The state names, for schemas and help. */
export const AUDIT_STATE_NAMES = AUDIT_STATES
