import { Column } from './column.ts'
import { Dag, markAncestors, topologicalOrder } from './dag.ts'
import { PendingBufferFullError } from './errors.ts'
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
  readonly status: AddStatus
  /** Ops that joined the DAG because of this add, in acceptance order: the op itself and any pending ops it released. */
  readonly accepted: readonly AcceptedOp[]
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
  add(op: EncodedOp, source?: string): AddResult
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
  /**
   * Where an accepted op of `doc` stands in this log's acceptance sequence (0-based, across
   * documents): the store's read position, since the store appends ops in exactly that order.
   */
  position(id: OpId, doc: OpId): number | undefined
}

type PendingEntry = { op: EncodedOp; missing: number; cost: number }

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
}: LogOptions = {}): Log {
  const docs = new Map<OpId, DocIndex>()
  let pendingTotal = 0
  let pendingBytes = 0
  let acceptedTotal = 0

  const docFor = (doc: OpId): DocIndex => {
    let index = docs.get(doc)
    if (!index) {
      index = new DocIndex()
      docs.set(doc, index)
    }
    return index
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

  /** Accepts `op` and every pending op it transitively releases. */
  function acceptWithReleased(index: DocIndex, doc: OpId, op: EncodedOp): AcceptedOp[] {
    const accepted: AcceptedOp[] = []
    const queue: EncodedOp[] = [op]
    for (let next = queue.pop(); next; next = queue.pop()) {
      accepted.push(insert(index, doc, next))
      const waiters = index.waiting.get(next.id)
      if (!waiters) continue
      index.waiting.delete(next.id)
      for (const waiter of waiters) {
        const entry = index.pending.get(waiter)!
        if (--entry.missing > 0) continue
        index.pending.delete(waiter)
        pendingTotal--
        pendingBytes -= entry.cost
        queue.push(entry.op)
      }
    }
    return accepted
  }

  function addPending(
    existing: DocIndex | undefined,
    doc: OpId,
    op: EncodedOp,
    missingDeps: OpId[],
  ): void {
    if (existing && existing.pending.size >= maxPending)
      throw new PendingBufferFullError(op.id, `document "${doc}"`, maxPending)
    if (pendingTotal >= maxPendingTotal)
      throw new PendingBufferFullError(op.id, 'this node', maxPendingTotal)
    const cost = op.bytes.length + PENDING_DEP_COST * missingDeps.length
    if (pendingBytes + cost > maxPendingBytes) {
      throw new PendingBufferFullError(op.id, 'this node', maxPendingBytes, 'bytes of pending ops')
    }
    // Only now, with the op admitted, may a new document get an index: rejected ops leave nothing.
    const index = existing ?? docFor(doc)
    index.pending.set(op.id, { op, missing: missingDeps.length, cost })
    pendingTotal++
    pendingBytes += cost
    for (const dep of missingDeps) {
      const waiters = index.waiting.get(dep)
      if (waiters) waiters.push(op.id)
      else index.waiting.set(dep, [op.id])
    }
  }

  function add(op: EncodedOp): AddResult {
    const doc = op.op.doc ?? op.id
    const index = docs.get(doc)
    if (index?.nodes.has(op.id) || index?.pending.has(op.id)) {
      return { id: op.id, doc, status: 'duplicate', accepted: [] }
    }
    const missingDeps = index ? op.op.deps.filter((dep) => !index.nodes.has(dep)) : op.op.deps
    if (missingDeps.length > 0) {
      addPending(index, doc, op, [...missingDeps])
      return { id: op.id, doc, status: 'pending', accepted: [] }
    }
    const accepted = acceptWithReleased(index ?? docFor(doc), doc, op)
    return {
      id: op.id,
      doc,
      status: accepted[0]!.equivocation ? 'equivocation' : 'accepted',
      accepted,
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
      return index ? ordered(index) : []
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
