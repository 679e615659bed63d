import type { OpNote } from '../core/causal/notes.ts'
import type { DocSummary, Domain, DomainReducer, Draft } from '../core/domain.ts'
import { SortedList } from '../core/sorted-list.ts'
import { BaseError } from '../errors/base.ts'
import { OpRefusedError } from '../ledger/errors.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { AcceptedOp } from '../ledger/log.ts'
import { type EncodedOp, MERGE_OP_TYPE } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { LifecycleOptions, Startable } from './startable.ts'

/** A document of the index: its reducer, and how far it can be trusted. */
type Entry<Reducer> = {
  reducer: Reducer
  /** Fixed by the genesis: what the document is called in listings and references. */
  readonly name: string
  /** The genesis author (hex): whether this node created the document. */
  readonly creator: string
  /** The reducer applied ops in acceptance order and a tie-break may differ from the log's order. */
  dirty: boolean
  /** Ops accepted while a rebuild was reading the store; applied after it. */
  queued: EncodedOp[] | undefined
  /** The rebuild in progress: readers wait for it rather than read the reducer it replaces. */
  rebuilding: Promise<void> | undefined
  /** The last state hash, and the reducer and size it was computed for. */
  hash?: { reducer: Reducer; size: number; hex: string } | undefined
}

/** One line of a listing: the document's id and its domain's summary. */
export type Listed<Summary extends DocSummary> = Summary & { readonly id: OpId }

/** The live documents of one domain on a node: reducers fed by the ledger, rebuilt in log order when needed. */
export interface DocIndex<
  State = unknown,
  Reducer extends DomainReducer<State> = DomainReducer<State>,
  Summary extends DocSummary = DocSummary,
> extends Startable {
  readonly domain: Domain<State, Reducer, Summary>
  /** Whether `id` is a document of this domain. */
  has(id: OpId): boolean
  /** Resolves a document's name or id to its id (the domain's not-found or ambiguous error otherwise). */
  resolve(ref: string): OpId
  /** Every document, by name then id: the same order on every node and after every restart. */
  list(): Listed<Summary>[]
  /**
   * A page of `list()`: up to `limit` documents after the one whose id is `after` (from the first
   * without it), and the id to continue after (null on the last page).
   * @throws the domain's not-found error when `after` is no document of this index.
   */
  page(after: OpId | undefined, limit: number): { items: Listed<Summary>[]; next: OpId | null }
  /** Whether a document created on this node has this name (strangers' documents do not count). */
  isNameTaken(name: string): boolean
  /**
   * The canonical state (equal on every replica holding the same ops). Canonical for every op
   * held when it was asked for; ops that arrived while it was being rebuilt are applied on top
   * and, if they are order-sensitive, put in log order by the next read.
   */
  state(id: OpId): Promise<State>
  /** The domain's hash of the canonical state (hex): equal on every replica that holds the same ops. */
  stateHash(id: OpId): Promise<string>
  /**
   * The document's reducer, canonical (rebuilt first if a tie-break made it order-dependent). It
   * follows the log synchronously: an op appended right after a `check` on it is judged on the
   * same state.
   */
  reducer(id: OpId): Promise<Reducer>
  /** Throws the refusal a draft op would get now (a named error naming state and rule). */
  check(id: OpId, draft: Draft): Promise<void>
  /**
   * Admission: the refusal of op `op` of document `doc` (its deps applied, itself not) on its own
   * causal past, or undefined when it may join (a refusal that is a lost tie-break depends on
   * concurrent ops, so it joins and is refused in the state as before). Undefined too when `doc`
   * is not this domain's, and while its reducer waits for a rebuild in log order after a
   * tie-break (its arrival-order state could refuse what the canonical one accepts).
   */
  admit(doc: OpId, op: EncodedOp): BaseError | undefined
  /** Why an op of document `doc` was refused or excluded; undefined if it counts (or `doc` is not this domain's). */
  verdict(doc: OpId, id: OpId): Promise<OpNote | undefined>
  /** Subscribes to the ledger and loads the domain's documents already in it. */
  start(options?: LifecycleOptions): Promise<void>
  stop(options?: LifecycleOptions): void
}

/** Options of `createDocIndex`. */
export type DocIndexOptions = {
  /**
   * Whether this node holds the key that created a document (its genesis author). When several
   * documents share a name (anyone may publish a genesis through `POST /ops` or a peer), the name
   * means the one created here, so a stranger's copy cannot make it ambiguous.
   */
  isLocal?: ((creator: string) => boolean) | undefined
}

/**
 * Creates the index of one domain's documents. Each document's reducer follows the ledger's log
 * as ops join it (before they are durable: the log is ahead of the disk the same way); when a
 * first-wins tie-break was used it is rebuilt from the store in the log's deterministic order
 * before it is read, so answers are canonical.
 */
export function createDocIndex<
  State,
  Reducer extends DomainReducer<State>,
  Summary extends DocSummary,
>(
  ledger: Ledger,
  domain: Domain<State, Reducer, Summary>,
  { isLocal }: DocIndexOptions = {},
): DocIndex<State, Reducer, Summary> {
  const docs = new Map<OpId, Entry<Reducer>>()
  let unsubscribe: (() => void) | undefined
  // The listing order (name, then id), kept sorted as documents arrive: a page costs its size,
  // not a sort of every document.
  const ordered = new SortedList<OpId>((a, b) => {
    const x = docs.get(a)!.name
    const y = docs.get(b)!.name
    return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0
  })
  const add = (id: OpId, entry: Entry<Reducer>) => {
    docs.set(id, entry)
    ordered.add(id)
  }
  const listed = (id: OpId): Listed<Summary> => ({ id, ...domain.summary(docs.get(id)!.reducer) })

  /** A genesis whose body is not valid for the domain is kept in the log but is no document. */
  function tryCreate(genesis: EncodedOp, dirty: boolean): Entry<Reducer> | undefined {
    if (genesis.op.doc !== null || genesis.op.type !== domain.genesisType) return undefined
    let reducer: Reducer
    try {
      reducer = domain.createReducer(genesis)
    } catch (error) {
      if (error instanceof BaseError) return undefined
      throw error
    }
    const creator = Buffer.from(genesis.op.author).toString('hex')
    const { name } = domain.summary(reducer)
    return { reducer, name, creator, dirty, queued: undefined, rebuilding: undefined }
  }

  function onAdded(accepted: readonly AcceptedOp[]): void {
    let failure: unknown
    for (const { doc, op } of accepted) {
      const entry = docs.get(doc)
      if (!entry) {
        const created = tryCreate(op, false)
        if (created) add(doc, created)
      } else
        try {
          // During a rebuild the reducer being replaced still follows the log (admission judges
          // the next op on it); the ops go to the new one when it is ready.
          entry.queued?.push(op)
          applyTo(entry, op)
        } catch (error) {
          // A fault of ours (reducers refuse ops by noting them, not by throwing): the reducer
          // may be half-changed, so it is rebuilt from the store before it is read, and the other
          // ops of the batch still reach their documents. The ledger logs the error.
          entry.dirty = true
          failure ??= error
        }
    }
    if (failure !== undefined) throw failure
  }

  const isOurs = (entry: Entry<Reducer>) => !isLocal || isLocal(entry.creator)

  function applyTo(entry: Entry<Reducer>, op: EncodedOp): void {
    const before = entry.reducer.tieBreaks
    entry.reducer.apply(op)
    if (entry.reducer.tieBreaks > before) entry.dirty = true
  }

  async function rebuild(id: OpId, entry: Entry<Reducer>): Promise<void> {
    entry.queued = []
    try {
      const ops = await ledger.getOps(id, ledger.log.order(id))
      let reducer: Reducer | undefined
      for (const op of ops) {
        if (!op) continue
        if (reducer) reducer.apply(op)
        else reducer = domain.createReducer(op)
      }
      const known = new Set(ops.map((op) => op?.id))
      entry.reducer = reducer!
      entry.dirty = false
      for (const op of entry.queued) if (!known.has(op.id)) applyTo(entry, op)
    } finally {
      entry.queued = undefined
    }
  }

  async function canonical(id: OpId): Promise<Reducer> {
    const entry = docs.get(id)
    if (!entry) throw domain.notFound(id)
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
    name: `${domain.name}.index`,
    domain,
    has: (id) => docs.has(id),
    resolve(ref) {
      if (docs.has(ref as OpId)) return ref as OpId
      const wanted = ref.trim()
      let ids = [...docs].filter(([, e]) => e.name === wanted).map(([id]) => id)
      if (ids.length > 1 && isLocal) {
        const local = ids.filter((id) => isOurs(docs.get(id)!))
        if (local.length > 0) ids = local
      }
      if (ids.length === 0) throw domain.notFound(ref)
      if (ids.length > 1) throw domain.ambiguous(ref, ids.sort())
      return ids[0]!
    },
    isNameTaken(name) {
      for (const entry of docs.values()) if (entry.name === name && isOurs(entry)) return true
      return false
    },
    list() {
      // Cheap per document: chat messages and services list documents often.
      return ordered.items().map(listed)
    },
    page(after, limit) {
      const all = ordered.items()
      if (after !== undefined && !docs.has(after)) throw domain.notFound(after)
      const start = after === undefined ? 0 : ordered.indexOf(after, { strict: true })
      const ids = all.slice(start, start + limit)
      return { items: ids.map(listed), next: start + limit < all.length ? ids.at(-1)! : null }
    },
    async state(id) {
      return (await canonical(id)).state()
    },
    reducer: canonical,
    async stateHash(id) {
      const reducer = await canonical(id)
      const entry = docs.get(id)!
      // Hashing a big document's whole state is costly and /status asks for every one, so the
      // hash is kept until the reducer changes (an op applied, or a rebuild replacing it).
      if (entry.hash?.reducer === reducer && entry.hash.size === reducer.size) return entry.hash.hex
      const hex = domain.stateHash(reducer.state())
      entry.hash = { reducer, size: reducer.size, hex }
      return hex
    },
    admit(doc, op) {
      const entry = docs.get(doc)
      if (!entry) return undefined
      if (op.op.type === MERGE_OP_TYPE) {
        if (op.op.body === null && op.op.deps.length > 0) return undefined
        return new OpRefusedError(op.id, 'MalformedMerge', 'a merge op has deps and body null')
      }
      // A reducer left in arrival order by a tie-break may refuse what the log's order accepts
      // (a vote the tie-break chose differently): until it is rebuilt, nothing is refused here.
      if (entry.dirty) return undefined
      const judgement = entry.reducer.judge(op)
      if (!judgement || judgement.tieBreak) return undefined
      return new OpRefusedError(op.id, judgement.name, judgement.message)
    },
    async verdict(doc, id) {
      if (!docs.has(doc)) return undefined
      return (await canonical(doc)).verdict(id)
    },
    async check(id, draft) {
      ;(await canonical(id)).check(draft)
    },
    async start() {
      unsubscribe = ledger.onAdded(onAdded)
      for (const doc of ledger.log.docs()) {
        if (docs.has(doc)) continue
        const [genesis] = await ledger.getOps(doc, [doc])
        const entry = genesis && tryCreate(genesis, true)
        if (!entry) continue
        add(doc, entry)
        await canonical(doc)
      }
    },
    stop() {
      unsubscribe?.()
    },
  }
}
