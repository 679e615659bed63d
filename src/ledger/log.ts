import type { BaseError } from '../errors/base.ts'
import { Column } from './column.ts'
import { Dag, markAncestors, topologicalOrder } from './dag.ts'
import { DependsOnRefusedOpError, PendingBufferFullError } from './errors.ts'
import { latin1Key } from './keys.ts'
import type { EncodedOp } from './op.ts'
import { compareOpIds, type OpId } from './op-id.ts'

/** Options of the in-memory DAG index. */
export type LogOptions = {
  /** Most ops that may wait for missing deps in one document. */
  maxPending?: number
  /** Most ops that may wait for missing deps across all documents. */
  maxPendingTotal?: number
  /**
   * Most bytes that waiting ops may take across all documents: their encoded size plus
   * `PENDING_DEP_COST` per missing dep (the waiting-list entry), so a few huge ops cannot
   * exhaust memory within the count limits.
   */
  maxPendingBytes?: number
  /**
   * Most ops of one author that may wait for deps. Keys are free, so this alone does not stop a
   * flood: see `maxPendingPerSource` and the eviction of the biggest sender.
   */
  maxPendingPerAuthor?: number
  /** Most ops one sender (`IngestOptions.source`: a peer, an HTTP client's address) may park. */
  maxPendingPerSource?: number
  /** How long an op may wait for its deps before it is dropped (also across restarts). */
  pendingTtlMs?: number
  /**
   * The clock, in ms since the epoch (the ledger is pure: time comes in). Without one, pending
   * ops have no time-to-live; a node passes `Date.now`.
   */
  now?: (() => number) | undefined
  /**
   * Admission (Kleppmann & Howard's BEC): asked for each op once its deps are in the DAG, just
   * before it joins; an error refuses it for good (it is not added, and ops that depend on it are
   * dropped). Ops are inserted one by one and `onInsert` runs after each, so a judge fed by it has
   * applied every dep of the op it is asked about.
   */
  admit?: ((doc: OpId, op: EncodedOp) => BaseError | undefined) | undefined
  /** Called synchronously as each op joins the DAG, before the next is admitted. */
  onInsert?: ((entry: AcceptedOp) => void) | undefined
  /** How many refused op ids are remembered, to answer a resent one (and its dependents) at once. */
  refusedMemory?: number
}

/** Where an op came from and when it arrived: the pending buffer's accounting. */
export type AddOptions = {
  /** The sender (`peer:<id>`, `http:<ip>`); ops from nowhere in particular share `''`. */
  readonly source?: string | undefined
  /** When the op first arrived (ms since the epoch); now by default. */
  readonly received?: number | undefined
}

/**
 * What happened to an added op: `accepted` (in the DAG), `equivocation` (in the DAG, but its
 * author already has another op with the same seq: both are kept as evidence and the author is
 * flagged), `duplicate` (already held: a no-op), `pending` (waiting for missing deps).
 */
export type AddStatus = 'accepted' | 'equivocation' | 'duplicate' | 'pending'

/** An op that joined the DAG, with the document it joined. */
export type AcceptedOp = {
  readonly doc: OpId
  readonly op: EncodedOp
  readonly equivocation: boolean
}

/** The outcome of `Log.add`. */
export type AddResult = {
  readonly id: OpId
  readonly doc: OpId
  /** `refused`: the document's rules refused the op on its own causal past (see `error`). */
  readonly status: AddStatus | 'refused'
  /** Ops that joined the DAG because of this add, in acceptance order: the op itself and any pending ops it released. */
  readonly accepted: readonly AcceptedOp[]
  /**
   * Pending ops that left the buffer without joining the DAG: expired, evicted for a bigger
   * sender's flood, or dependent on a refused op. The store must forget them.
   */
  readonly dropped: readonly OpId[]
  /** Why the op was refused, with status `refused`. */
  readonly error?: BaseError | undefined
}

/** Proof that an author signed two different ops with the same seq in one document. */
export type Equivocation = {
  readonly author: Uint8Array
  readonly seq: number
  readonly ids: readonly OpId[]
}

/**
 * The in-memory index of every document's hash DAG. It holds ids, authors, seqs and deps in
 * compact arrays, never whole ops (those live in the store), except the bounded pending buffer.
 * It does not check signatures: `Ledger` verifies before adding.
 */
export type Log = {
  /**
   * Adds a signature-checked op; throws `PendingBufferFullError` when it would have to wait and
   * the buffer is full. Deps are looked up in the op's own document only: an op whose deps are
   * ops of another document waits like any op with missing deps and never applies.
   */
  add(op: EncodedOp, options?: AddOptions): AddResult
  /** Drops pending ops older than the time-to-live; answers their ids (for the store). */
  expire(): OpId[]
  /** Why the op `id` was refused, if this log refused it recently (bounded memory). */
  refusal(id: OpId): BaseError | undefined
  /** Ids of the documents this log holds (with at least their genesis op). */
  docs(): OpId[]
  /** Returns true when the op is in the DAG of `doc`. */
  has(doc: OpId, id: OpId): boolean
  /** Number of ops in the DAG of `doc`. */
  size(doc: OpId): number
  /** The ops of `doc` that no other op depends on, sorted by id. */
  heads(doc: OpId): OpId[]
  /** Every op `id` transitively depends on (not `id` itself), in deterministic topological order. */
  causalPast(doc: OpId, id: OpId): OpId[]
  /** Those of `ids` that this log neither holds in the DAG of `doc` nor has pending. */
  missing(doc: OpId, ids: readonly OpId[]): OpId[]
  /** All ops of `doc` in the deterministic topological order: deps first, ties broken by id bytes. */
  order(doc: OpId): OpId[]
  /**
   * The ops of `doc` that are neither in `known` nor in its causal past, in the deterministic
   * order (deps first): what a peer whose heads are `known` lacks. Unknown ids are ignored.
   */
  since(doc: OpId, known: readonly OpId[]): OpId[]
  /** Ids of the ops of `doc` waiting for deps, sorted. */
  pending(doc: OpId): OpId[]
  /** Total number of pending ops across documents. */
  pendingCount(): number
  /** Equivocation evidence of `doc`, sorted by author then seq. */
  equivocations(doc: OpId): Equivocation[]
  /** Returns true when `author` equivocated in `doc`. */
  isEquivocator(doc: OpId, author: Uint8Array): boolean
  /** The highest seq of `author` among the accepted ops of `doc` (0 if none). */
  lastSeq(doc: OpId, author: Uint8Array): number
  /** Sizes: documents indexed (with accepted or pending ops), accepted ops, pending ops and their bytes. */
  stats(): { documents: number; accepted: number; pending: number; pendingBytes: number }
  /** Pending ops parked by one sender (see `AddOptions.source`). */
  pendingFrom(source: string): number
  /**
   * Where an accepted op of `doc` stands in this log's acceptance sequence (0-based, across
   * documents): the store's read position, since the store appends ops in exactly that order.
   */
  position(id: OpId, doc: OpId): number | undefined
}

type PendingEntry = {
  readonly op: EncodedOp
  readonly doc: OpId
  missing: number
  readonly cost: number
  readonly source: string
  readonly author: string
  readonly received: number
}

/** One sender's share of the pending buffer, and its ops oldest first (entries may be stale). */
type SourceUsage = { count: number; bytes: number; queue: OpId[]; head: number }

/** Bytes charged to the pending budget per missing dep, for its waiting-list entry. */
export const PENDING_DEP_COST = 128

/**
 * One author's seq → first node with that seq. Honest seqs run 1, 2, 3…, so a dense array serves
 * them at 4 bytes each; seqs far beyond the author's op count (only a Byzantine author sends
 * those) go to a Map, so a huge seq cannot make the array huge.
 */
class SeqIndex {
  private dense = new Int32Array(4) // node + 1; 0 = none
  private count = 0
  private sparse: Map<number, number> | undefined

  get(seq: number): number | undefined {
    if (seq < this.dense.length) return this.dense[seq]! > 0 ? this.dense[seq]! - 1 : undefined
    return this.sparse?.get(seq)
  }

  /** Records `node` for `seq`, which must not be recorded yet. */
  set(seq: number, node: number): void {
    this.count++
    if (seq >= this.dense.length && seq < 2 * this.count + 1024) {
      let size = this.dense.length
      while (size <= seq) size *= 2
      const grown = new Int32Array(size)
      grown.set(this.dense)
      this.dense = grown
    }
    if (seq < this.dense.length) {
      this.dense[seq] = node + 1
      return
    }
    this.sparse ??= new Map()
    this.sparse.set(seq, node)
  }
}

/** One document's DAG. Nodes are numbered in local acceptance order. */
class DocIndex {
  readonly nodes = new Map<OpId, number>()
  readonly idOf: OpId[] = []
  readonly authorOf = new Column((n) => new Int32Array(n))
  readonly seqOf = new Column((n) => new Float64Array(n))
  readonly positionOf = new Column((n) => new Float64Array(n))
  readonly dag = new Dag()
  readonly heads = new Set<number>()
  readonly authorIndex = new Map<string, number>()
  readonly authors: Uint8Array[] = []
  /** Per author: seq → first node seen with it. */
  readonly bySeq: SeqIndex[] = []
  readonly maxSeq: number[] = []
  /** `${author}:${seq}` → ids of the conflicting ops. */
  readonly conflicts = new Map<string, Set<OpId>>()
  readonly pending = new Map<OpId, PendingEntry>()
  /** Missing dep → pending ops waiting for it. */
  readonly waiting = new Map<OpId, OpId[]>()
  /** The deterministic order, kept until the next op joins (readers page through it). */
  order: OpId[] | undefined

  authorNumber(author: Uint8Array, create: boolean): number {
    const key = latin1Key(author)
    let n = this.authorIndex.get(key)
    if (n === undefined && create) {
      n = this.authors.length
      this.authorIndex.set(key, n)
      this.authors.push(new Uint8Array(author))
      this.bySeq.push(new SeqIndex())
      this.maxSeq.push(0)
    }
    return n ?? -1
  }
}

/**
 * Creates an empty in-memory log.
 * @example
 * const log = createLog({ maxPending: 10_000 })
 * log.add(decodeOp(bytes))
 */
export function createLog({
  maxPending = 10_000,
  maxPendingTotal = 100_000,
  maxPendingBytes = 32 * 2 ** 20,
  maxPendingPerAuthor = 2_000,
  maxPendingPerSource = 20_000,
  pendingTtlMs = 10 * 60_000,
  now,
  admit,
  onInsert,
  refusedMemory = 10_000,
}: LogOptions = {}): Log {
  const docs = new Map<OpId, DocIndex>()
  let pendingTotal = 0
  let pendingBytes = 0
  let acceptedTotal = 0
  const bySource = new Map<string, SourceUsage>()
  const byAuthor = new Map<string, number>()
  /** Every op that started waiting, oldest first: the time-to-live sweeps from the front. */
  const arrivals: { id: OpId; doc: OpId; received: number }[] = []
  let arrivalsHead = 0
  /** Recently refused ops (oldest first, bounded): a resent one is answered without a judge. */
  const refused = new Map<OpId, BaseError>()
  /** Pending op → its document, to find it by sender or by age. */
  const pendingDoc = new Map<OpId, OpId>()

  const docFor = (doc: OpId): DocIndex => {
    let index = docs.get(doc)
    if (!index) {
      index = new DocIndex()
      docs.set(doc, index)
    }
    return index
  }

  function remember(id: OpId, error: BaseError): void {
    refused.set(id, error)
    if (refused.size > refusedMemory) refused.delete(refused.keys().next().value!)
  }

  /** Takes a pending entry off the books (its waiting-list entries are the caller's). */
  function unbook(index: DocIndex, id: OpId, entry: PendingEntry): void {
    index.pending.delete(id)
    pendingDoc.delete(id)
    pendingTotal--
    pendingBytes -= entry.cost
    const usage = bySource.get(entry.source)!
    usage.count--
    usage.bytes -= entry.cost
    if (usage.count === 0) bySource.delete(entry.source)
    const left = byAuthor.get(entry.author)! - 1
    if (left === 0) byAuthor.delete(entry.author)
    else byAuthor.set(entry.author, left)
  }

  /** Drops a pending op that will not join: off the books and off the waiting lists of its deps. */
  function dropPending(index: DocIndex, id: OpId, entry: PendingEntry): void {
    unbook(index, id, entry)
    for (const dep of entry.op.op.deps) {
      const waiters = index.waiting.get(dep)
      if (!waiters) continue
      const at = waiters.indexOf(id)
      if (at >= 0) waiters.splice(at, 1)
      if (waiters.length === 0) index.waiting.delete(dep)
    }
  }

  /** Refuses `id` for good and drops every pending op that (transitively) waits for it. */
  function refuse(index: DocIndex, id: OpId, error: BaseError, dropped: OpId[]): void {
    remember(id, error)
    const stack = [id]
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      const waiters = index.waiting.get(next)
      if (!waiters) continue
      index.waiting.delete(next)
      for (const waiter of waiters) {
        const entry = index.pending.get(waiter)
        if (!entry) continue
        dropPending(index, waiter, entry)
        remember(waiter, new DependsOnRefusedOpError(waiter, next))
        dropped.push(waiter)
        stack.push(waiter)
      }
    }
  }

  function insert(index: DocIndex, doc: OpId, op: EncodedOp): AcceptedOp {
    const node = index.idOf.length
    const author = index.authorNumber(op.op.author, true)
    index.nodes.set(op.id, node)
    index.idOf.push(op.id)
    index.authorOf.push(author)
    index.seqOf.push(op.op.seq)
    index.positionOf.push(acceptedTotal++)
    index.dag.addNode()
    for (const dep of op.op.deps) {
      const depNode = index.nodes.get(dep)!
      index.dag.addDep(depNode)
      index.heads.delete(depNode)
    }
    index.heads.add(node)
    index.order = undefined
    if (op.op.seq > index.maxSeq[author]!) index.maxSeq[author] = op.op.seq
    const seqs = index.bySeq[author]!
    const first = seqs.get(op.op.seq)
    if (first === undefined) {
      seqs.set(op.op.seq, node)
      return { doc, op, equivocation: false }
    }
    const key = `${author}:${op.op.seq}`
    let evidence = index.conflicts.get(key)
    if (!evidence) {
      evidence = new Set([index.idOf[first]!])
      index.conflicts.set(key, evidence)
    }
    evidence.add(op.id)
    return { doc, op, equivocation: true }
  }

  /**
   * Accepts `op` (admitted already) and every pending op it transitively releases that is
   * admitted in turn; released ops that are refused are dropped with their dependents.
   */
  function acceptWithReleased(
    index: DocIndex,
    doc: OpId,
    op: EncodedOp,
    dropped: OpId[],
  ): AcceptedOp[] {
    const accepted: AcceptedOp[] = []
    const queue: EncodedOp[] = [op]
    for (let next = queue.pop(); next; next = queue.pop()) {
      if (next !== op) {
        const error = admit?.(doc, next)
        if (error) {
          dropped.push(next.id)
          refuse(index, next.id, error, dropped)
          continue
        }
      }
      const entry = insert(index, doc, next)
      accepted.push(entry)
      onInsert?.(entry)
      const waiters = index.waiting.get(next.id)
      if (!waiters) continue
      index.waiting.delete(next.id)
      for (const waiter of waiters) {
        const entry = index.pending.get(waiter)
        if (!entry || --entry.missing > 0) continue
        unbook(index, waiter, entry)
        queue.push(entry.op)
      }
    }
    return accepted
  }

  /** Evicts the oldest pending op of `source`; false when it has none. */
  function evictOldest(source: string, dropped: OpId[]): boolean {
    const usage = bySource.get(source)
    while (usage && usage.head < usage.queue.length) {
      const id = usage.queue[usage.head++]!
      const doc = pendingDoc.get(id)
      const index = doc === undefined ? undefined : docs.get(doc)
      const entry = index?.pending.get(id)
      if (!index || !entry || entry.source !== source) continue
      dropPending(index, id, entry)
      dropped.push(id)
      return true
    }
    return false
  }

  function addPending(
    existing: DocIndex | undefined,
    doc: OpId,
    op: EncodedOp,
    missingDeps: OpId[],
    { source = '', received = now?.() ?? 0 }: AddOptions,
    dropped: OpId[],
  ): void {
    if (existing && existing.pending.size >= maxPending)
      throw new PendingBufferFullError(op.id, `document "${doc}"`, maxPending)
    const author = latin1Key(op.op.author)
    if ((byAuthor.get(author) ?? 0) >= maxPendingPerAuthor)
      throw new PendingBufferFullError(op.id, 'its author', maxPendingPerAuthor)
    const usage = bySource.get(source)
    if ((usage?.count ?? 0) >= maxPendingPerSource)
      throw new PendingBufferFullError(op.id, 'its sender', maxPendingPerSource)
    const cost = op.bytes.length + PENDING_DEP_COST * missingDeps.length
    if (cost > maxPendingBytes)
      throw new PendingBufferFullError(op.id, 'this node', maxPendingBytes, 'bytes of pending ops')
    // Full: the sender holding the most gives way, so a flood from one sender never blocks
    // another's out-of-order op. The biggest sender itself is refused.
    while (pendingTotal >= maxPendingTotal || pendingBytes + cost > maxPendingBytes) {
      const victim = biggestSource()
      if (victim === undefined || victim === source || !evictOldest(victim, dropped)) {
        if (pendingTotal >= maxPendingTotal)
          throw new PendingBufferFullError(op.id, 'this node', maxPendingTotal)
        throw new PendingBufferFullError(
          op.id,
          'this node',
          maxPendingBytes,
          'bytes of pending ops',
        )
      }
    }
    // Only now, with the op admitted, may a new document get an index: rejected ops leave nothing.
    const index = existing ?? docFor(doc)
    index.pending.set(op.id, {
      op,
      doc,
      missing: missingDeps.length,
      cost,
      source,
      author,
      received,
    })
    pendingDoc.set(op.id, doc)
    pendingTotal++
    pendingBytes += cost
    byAuthor.set(author, (byAuthor.get(author) ?? 0) + 1)
    const booked = usage ?? { count: 0, bytes: 0, queue: [], head: 0 }
    if (!usage) bySource.set(source, booked)
    booked.count++
    booked.bytes += cost
    booked.queue.push(op.id)
    if (booked.head > 1024 && booked.head * 2 > booked.queue.length) {
      booked.queue = booked.queue.slice(booked.head)
      booked.head = 0
    }
    arrivals.push({ id: op.id, doc, received })
    for (const dep of missingDeps) {
      const waiters = index.waiting.get(dep)
      if (waiters) waiters.push(op.id)
      else index.waiting.set(dep, [op.id])
    }
  }

  function biggestSource(): string | undefined {
    let biggest: string | undefined
    let most = -1
    for (const [source, usage] of bySource)
      if (usage.bytes > most) {
        most = usage.bytes
        biggest = source
      }
    return biggest
  }

  /** Drops pending ops whose time-to-live is over, oldest first. */
  function expire(dropped: OpId[] = []): OpId[] {
    if (!now) return dropped
    const deadline = now() - pendingTtlMs
    while (arrivalsHead < arrivals.length && arrivals[arrivalsHead]!.received <= deadline) {
      const { id, doc, received } = arrivals[arrivalsHead++]!
      const index = docs.get(doc)
      const entry = index?.pending.get(id)
      if (!index || !entry || entry.received !== received) continue
      dropPending(index, id, entry)
      dropped.push(id)
    }
    if (arrivalsHead > 1024 && arrivalsHead * 2 > arrivals.length) {
      arrivals.splice(0, arrivalsHead)
      arrivalsHead = 0
    }
    // Stale entries (ops released or dropped since) are cleared in passing.
    if (pendingTotal === 0) {
      arrivals.length = 0
      arrivalsHead = 0
      pendingDoc.clear()
      for (const usage of bySource.values()) usage.queue.length = 0
    }
    return dropped
  }

  function add(op: EncodedOp, options: AddOptions = {}): AddResult {
    const doc = op.op.doc ?? op.id
    const index = docs.get(doc)
    const dropped: OpId[] = []
    if (pendingTotal > 0) expire(dropped)
    if (index?.nodes.has(op.id) || index?.pending.has(op.id)) {
      return { id: op.id, doc, status: 'duplicate', accepted: [], dropped }
    }
    const known = refused.get(op.id)
    if (known) return { id: op.id, doc, status: 'refused', accepted: [], dropped, error: known }
    const missingDeps = index ? op.op.deps.filter((dep) => !index.nodes.has(dep)) : op.op.deps
    for (const dep of missingDeps) {
      if (!refused.has(dep)) continue
      const error = new DependsOnRefusedOpError(op.id, dep)
      remember(op.id, error)
      return { id: op.id, doc, status: 'refused', accepted: [], dropped, error }
    }
    if (missingDeps.length > 0) {
      addPending(index, doc, op, [...missingDeps], options, dropped)
      return { id: op.id, doc, status: 'pending', accepted: [], dropped }
    }
    const error = admit?.(doc, op)
    if (error) {
      if (index) refuse(index, op.id, error, dropped)
      else remember(op.id, error)
      return { id: op.id, doc, status: 'refused', accepted: [], dropped, error }
    }
    const accepted = acceptWithReleased(index ?? docFor(doc), doc, op, dropped)
    return {
      id: op.id,
      doc,
      status: accepted[0]!.equivocation ? 'equivocation' : 'accepted',
      accepted,
      dropped,
    }
  }

  /** The ops marked in `include` (all when undefined), deps first, ties broken by id bytes. */
  function ordered(index: DocIndex, include?: Uint8Array): OpId[] {
    const byId = (a: number, b: number) => compareOpIds(index.idOf[a]!, index.idOf[b]!)
    return topologicalOrder(index.dag, byId, include).map((n) => index.idOf[n]!)
  }

  const get = (doc: OpId) => docs.get(doc)
  const accepted = (doc: OpId) => {
    const index = docs.get(doc)
    return index && index.idOf.length > 0 ? index : undefined
  }

  return {
    add,
    expire: () => expire(),
    refusal: (id) => refused.get(id),
    pendingFrom: (source) => bySource.get(source)?.count ?? 0,
    docs: () => [...docs.keys()].filter((doc) => accepted(doc)).sort(compareOpIds),
    has: (doc, id) => get(doc)?.nodes.has(id) ?? false,
    size: (doc) => get(doc)?.idOf.length ?? 0,
    heads(doc) {
      const index = get(doc)
      if (!index) return []
      return [...index.heads].map((n) => index.idOf[n]!).sort(compareOpIds)
    },
    causalPast(doc, id) {
      const index = get(doc)
      const start = index?.nodes.get(id)
      if (!index || start === undefined) return []
      return ordered(index, markAncestors(index.dag, [start]))
    },
    missing(doc, ids) {
      const index = get(doc)
      return ids.filter((id) => !index || (!index.nodes.has(id) && !index.pending.has(id)))
    },
    order(doc) {
      const index = get(doc)
      if (!index) return []
      index.order ??= ordered(index)
      return [...index.order]
    },
    since(doc, known) {
      const index = get(doc)
      if (!index) return []
      const starts = known.flatMap((id) => index.nodes.get(id) ?? [])
      const past = markAncestors(index.dag, starts)
      for (const n of starts) past[n] = 1
      return ordered(
        index,
        past.map((p) => 1 - p),
      )
    },
    pending: (doc) => [...(get(doc)?.pending.keys() ?? [])].sort(compareOpIds),
    pendingCount: () => pendingTotal,
    equivocations(doc) {
      const index = get(doc)
      if (!index) return []
      const out = [...index.conflicts].map(([key, ids]) => {
        const [author, seq] = key.split(':').map(Number) as [number, number]
        return { author: index.authors[author]!, seq, ids: [...ids].sort(compareOpIds) }
      })
      return out.sort((a, b) => Buffer.compare(a.author, b.author) || a.seq - b.seq)
    },
    isEquivocator(doc, author) {
      const index = get(doc)
      const n = index?.authorNumber(author, false) ?? -1
      if (!index || n < 0) return false
      for (const key of index.conflicts.keys()) if (key.startsWith(`${n}:`)) return true
      return false
    },
    position(id, doc) {
      const index = docs.get(doc)
      const node = index?.nodes.get(id)
      return node === undefined ? undefined : index!.positionOf.at(node)
    },
    stats: () => ({
      documents: docs.size,
      accepted: acceptedTotal,
      pending: pendingTotal,
      pendingBytes,
    }),
    lastSeq(doc, author) {
      const index = get(doc)
      const n = index?.authorNumber(author, false) ?? -1
      return index && n >= 0 ? index.maxSeq[n]! : 0
    },
  }
}
