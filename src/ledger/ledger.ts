import { BaseError } from '../errors/base.ts'
import { InvalidSignatureError, LedgerFailedError, UnknownDocumentError } from './errors.ts'
import { createPublicKeyCache, type Signer } from './keys.ts'
import { type AcceptedOp, type AddStatus, createLog, type Log, type LogOptions } from './log.ts'
import { DEFAULT_MAX_DEPS, type EncodedOp, MERGE_OP_TYPE, type OpLimits } from './op.ts'
import { decodeOp } from './op-decode.ts'
import { signOp, verifyOp } from './op-encode.ts'
import type { OpId } from './op-id.ts'
import type { Store, StoreBatch, StoredOp } from './store.ts'
import { StoreCorruptError } from './store.ts'

/** Checks signatures of a batch of decoded ops; `verifyPool` runs it on worker threads. */
export type BatchVerifier = (ops: readonly EncodedOp[]) => Promise<boolean[]>

/** Options of `openLedger`. */
export type LedgerOptions = LogOptions &
  OpLimits & {
    store: Store
    /** Verifies signatures off the main thread; by default they are checked inline. */
    verifier?: BatchVerifier | undefined
    /**
     * Called with the error of a listener (`onAccepted`, `onAdded`) that threw. The ledger goes
     * on either way; by default the error is re-thrown on its own, where the process sees it.
     */
    onListenerError?: ((error: unknown) => void) | undefined
  }

/** What a new local op needs: the ledger fills in version, author, seq and deps. */
export type OpDraft<body = unknown> = {
  /** The document, or null to create a new one (this op becomes its genesis). */
  doc: OpId | null
  type: string
  body: body
  /** The author's clock in milliseconds (advisory). */
  time: number
}

/** Options of `Ledger.ingest`. */
export type IngestOptions = {
  /**
   * Who sent the ops (`peer:<id>`, `http:<ip>`): ops waiting for deps are counted against their
   * sender's quota of the pending buffer, so one flooding sender cannot fill it for everyone.
   */
  readonly source?: string | undefined
}

/** The outcome of ingesting one remote op. */
export type IngestResult =
  | { readonly ok: true; readonly id: OpId; readonly doc: OpId; readonly status: AddStatus }
  | { readonly ok: false; readonly error: BaseError }

/** The durable, verifying ledger: every accepted op is signed, linked and persisted. */
export type Ledger = {
  /** Read-only view of the DAG index (heads, order, causal past, pending, equivocations). */
  readonly log: Log
  /** Most deps an op may cite: a document with more heads is folded by merge ops (`fold`). */
  readonly maxDeps: number
  /**
   * Signs a local op as `signer`, adds it and persists it; resolves once it is durable. The op
   * cites every head of its document: when there are more than an op may cite, merge ops fold
   * them first (see `fold`). Rejects with the admission's refusal when the rules refuse it.
   */
  append<body>(signer: Signer, draft: OpDraft<body>): Promise<EncodedOp<body>>
  /**
   * Folds the heads of `doc` with merge ops signed by `signer` until an op can cite them all
   * (at most `maxDeps`); answers how many merges it made (0 when there was nothing to fold).
   */
  fold(signer: Signer, doc: OpId): Promise<number>
  /**
   * Decodes, verifies, adds and persists remote ops; one result per input, in order. An op this
   * ledger already holds is a `duplicate` without its signature being checked again. The ledger
   * keeps the given buffers: do not reuse them.
   */
  ingest(ops: readonly Uint8Array[], options?: IngestOptions): Promise<IngestResult[]>
  /**
   * Accepted ops of document `doc` by id, decoded from the store; `undefined` where unknown. The
   * lookup is per document: O(ids), whatever the number of documents.
   */
  getOps(doc: OpId, ids: readonly OpId[]): Promise<(EncodedOp | undefined)[]>
  /**
   * Accepted ops' stored bytes of document `doc` by id, not decoded (for serving peers, who check
   * them anyway); unknown ids are left out.
   */
  getBytes(doc: OpId, ids: readonly OpId[]): Promise<Uint8Array[]>
  /**
   * `getBytes` of several documents at once, read in store order: each stored segment is read
   * once, however the documents' ops interleave (serving a peer many documents at a time).
   */
  getBytesOfDocs(
    requests: readonly { readonly doc: OpId; readonly ids: readonly OpId[] }[],
  ): Promise<Uint8Array[][]>
  /**
   * Calls `listener` with ops once they are durable; returns the unsubscribe function. A listener
   * that throws does not affect the ledger: its error is re-thrown asynchronously.
   */
  onAccepted(listener: (ops: readonly AcceptedOp[]) => void): () => void
  /**
   * Calls `listener` synchronously as ops join the log, before they are durable, so state derived
   * from the log (a reducer judging the next op) never lags it. Use `onAccepted` for anything
   * that must only see durable ops (answering clients, gossip). Errors are handled as there.
   */
  onAdded(listener: (ops: readonly AcceptedOp[]) => void): () => void
  /**
   * Ops refused since the ledger opened, by the name of the refusal (`InvalidSignatureError`,
   * the domain's rule error…): remote ops that `ingest` refused and local ops `append` refused.
   * Error names are a fixed set, so the map stays small.
   */
  refusals(): ReadonlyMap<string, number>
  /** The store failure that stopped the ledger, if a write failed (it then refuses every call). */
  failure(): BaseError | undefined
  /** Resolves once every op accepted so far is durable (a failed write included: it is not retried). */
  flush(): Promise<void>
  /** Waits for pending writes, then closes the store. */
  close(): Promise<void>
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Re-throws `error` on its own microtask, outside the code that caught it. */
const rethrowApart = (error: unknown) =>
  queueMicrotask(() => {
    throw error
  })

/** Collects the store effects of several adds, netting out ops that were pending only briefly. */
class BatchBuilder {
  readonly accepted: StoredOp[] = []
  readonly added = new Map<OpId, StoredOp>()
  readonly removed: OpId[] = []
  readonly ops: AcceptedOp[] = []

  record(accepted: readonly AcceptedOp[], pendingAdded?: StoredOp): void {
    if (pendingAdded) this.added.set(pendingAdded.id, pendingAdded)
    for (let i = 0; i < accepted.length; i++) {
      const entry = accepted[i]!
      this.accepted.push({ id: entry.op.id, bytes: entry.op.bytes })
      this.ops.push(entry)
      // Every accepted op after the first was released from the pending buffer.
      if (i > 0 && !this.added.delete(entry.op.id)) this.removed.push(entry.op.id)
    }
  }

  /** Pending ops that left the buffer without joining (expired, evicted, refused). */
  drop(ids: readonly OpId[]): void {
    for (const id of ids) if (!this.added.delete(id)) this.removed.push(id)
  }

  /** Folds a later builder into this one, netting pending ops that it accepted. */
  merge(later: BatchBuilder): void {
    for (const op of later.accepted) this.accepted.push(op)
    for (const entry of later.ops) this.ops.push(entry)
    for (const id of later.removed) if (!this.added.delete(id)) this.removed.push(id)
    for (const [id, op] of later.added) this.added.set(id, op)
  }

  get empty(): boolean {
    return this.accepted.length === 0 && this.added.size === 0
  }

  toBatch(): StoreBatch {
    return {
      accepted: this.accepted,
      pendingAdded: [...this.added.values()],
      pendingRemoved: this.removed,
    }
  }
}

/**
 * Opens a ledger on `store`, rebuilding the index from what the store holds (trusted: stored ops
 * were verified before they were written, so they are re-linked but not re-verified).
 * @example
 * const ledger = await openLedger({ store: sqliteStore({ path }) })
 * const genesis = await ledger.append(signer, { doc: null, type: 'audit.create', body: {}, time: 0 })
 */
export async function openLedger(options: LedgerOptions): Promise<Ledger> {
  const { store, verifier, maxBytes, maxDeps = DEFAULT_MAX_DEPS } = options
  const onListenerError = options.onListenerError ?? rethrowApart
  const now = options.now ?? (() => 0)
  const limits: OpLimits = { maxDeps, ...(maxBytes === undefined ? {} : { maxBytes }) }
  const listeners = new Set<(ops: readonly AcceptedOp[]) => void>()
  const addListeners = new Set<(ops: readonly AcceptedOp[]) => void>()
  // Each op is announced as it joins, so a judge fed by `onAdded` has applied every dep of the
  // next op the log admits (a released pending op is admitted right after its last dep joins).
  const log = createLog({
    ...options,
    onInsert: (entry) => {
      if (addListeners.size > 0) notify([entry], addListeners)
    },
  })
  await restore(store, log, limits)

  const keys = createPublicKeyCache()
  const refusals = new Map<string, number>()
  const countRefusal = (error: BaseError) =>
    refusals.set(error.name, (refusals.get(error.name) ?? 0) + 1)
  let failure: LedgerFailedError | undefined
  let writes: Promise<void> = Promise.resolve()
  let applying: Promise<unknown> = Promise.resolve()

  const assertHealthy = () => {
    if (failure) throw failure
  }

  /** The batch waiting for the write in progress: later adds join it (group commit). */
  let queued: { builder: BatchBuilder; done: Promise<void> } | undefined

  /**
   * Queues a batch behind earlier ones, so the store sees ops in acceptance order. Batches made
   * while a write is in progress are merged into one write: one transaction for many appends.
   */
  function persist(builder: BatchBuilder): Promise<void> {
    if (builder.empty) return queued?.done ?? writes
    if (queued) {
      queued.builder.merge(builder)
      return queued.done
    }
    const entry = { builder, done: Promise.resolve() }
    // The write starts on the next turn of the event loop at the earliest, so every op added
    // while this turn handles its incoming requests joins the same transaction.
    entry.done = writes.then(nextTurn).then(async () => {
      if (queued === entry) queued = undefined
      assertHealthy()
      try {
        await store.write(entry.builder.toBatch())
      } catch (cause) {
        failure = new LedgerFailedError(cause)
        throw failure
      }
      notify(entry.builder.ops)
    })
    queued = entry
    writes = entry.done
    return entry.done
  }

  /**
   * Tells listeners about ops. A listener that throws must not break the write chain (every
   * later write would be skipped) nor the other listeners: its error goes to `onListenerError`.
   */
  function notify(
    ops: readonly AcceptedOp[],
    to: ReadonlySet<(ops: readonly AcceptedOp[]) => void> = listeners,
  ): void {
    for (const listener of to) {
      try {
        listener(ops)
      } catch (error) {
        onListenerError(error)
      }
    }
  }

  function addVerified(builder: BatchBuilder, op: EncodedOp, source?: string): IngestResult {
    try {
      const received = now()
      const result = log.add(op, { source, received })
      builder.drop(result.dropped)
      if (result.status === 'refused') return { ok: false, error: result.error! }
      builder.record(
        result.accepted,
        result.status === 'pending'
          ? { id: op.id, bytes: op.bytes, received, source: source ?? '' }
          : undefined,
      )
      return { ok: true, id: result.id, doc: result.doc, status: result.status }
    } catch (error) {
      if (error instanceof BaseError) return { ok: false, error }
      throw error
    }
  }

  /** Reads stored ops by position, after pending writes (an accepted op may still be on its way). */
  async function readStored(positions: readonly number[]): Promise<StoredOp[]> {
    await writes.catch(() => undefined)
    return (await store.read(positions)) as StoredOp[]
  }

  const verifyInline: BatchVerifier = async (ops) => ops.map((op) => verifyOp(op, keys))

  async function ingest(
    inputs: readonly Uint8Array[],
    { source }: IngestOptions = {},
  ): Promise<IngestResult[]> {
    assertHealthy()
    const results: (IngestResult | undefined)[] = new Array(inputs.length)
    const decoded: EncodedOp[] = []
    const slots: number[] = []
    for (let i = 0; i < inputs.length; i++) {
      try {
        const op = decodeOp(inputs[i]!, limits)
        const doc = op.op.doc ?? op.id
        const refusal = log.refusal(op.id)
        // Already held (a peer's sync overlapping gossip, say): nothing to verify or add.
        if (log.has(doc, op.id)) results[i] = { ok: true, id: op.id, doc, status: 'duplicate' }
        else if (refusal) results[i] = { ok: false, error: refusal }
        else {
          decoded.push(op)
          slots.push(i)
        }
      } catch (error) {
        if (!(error instanceof BaseError)) throw error
        results[i] = { ok: false, error }
      }
    }
    const verified = (verifier ?? verifyInline)(decoded)
    // Apply in call order, whatever order verification finishes in.
    const turn = applying.then(async () => {
      const valid = await verified
      assertHealthy()
      const builder = new BatchBuilder()
      for (let k = 0; k < decoded.length; k++) {
        const op = decoded[k]!
        results[slots[k]!] = valid[k]
          ? addVerified(builder, op, source)
          : { ok: false, error: new InvalidSignatureError(op.id) }
      }
      return persist(builder)
    })
    applying = turn.catch(() => undefined)
    await turn
    for (const result of results) if (!result!.ok) countRefusal(result!.error)
    return results as IngestResult[]
  }

  /**
   * Adds merge ops by `signer` to `builder` until the heads of `doc` fit in one op's deps: each
   * round replaces every `maxDeps` heads with one merge, so 30,000 heads take 470 merges, then 8,
   * then 1. Synchronous, like the append it precedes, so no op can slip in between.
   */
  function foldInto(builder: BatchBuilder, signer: Signer, doc: OpId, time: number): number {
    let made = 0
    for (let heads = log.heads(doc); heads.length > maxDeps; heads = log.heads(doc)) {
      for (let i = 0; i + 1 < heads.length; i += maxDeps) {
        const merge = signOp(
          {
            v: 1,
            doc,
            author: signer.publicKey,
            seq: log.lastSeq(doc, signer.publicKey) + 1,
            deps: heads.slice(i, i + maxDeps),
            time,
            type: MERGE_OP_TYPE,
            body: null,
          },
          signer,
          limits,
        )
        const result = addVerified(builder, merge)
        if (!result.ok) throw result.error
        made++
      }
    }
    return made
  }

  async function append<body>(signer: Signer, draft: OpDraft<body>): Promise<EncodedOp<body>> {
    assertHealthy()
    const { doc } = draft
    if (doc !== null && log.size(doc) === 0) throw new UnknownDocumentError(doc)
    const builder = new BatchBuilder()
    if (doc !== null) foldInto(builder, signer, doc, draft.time)
    const op = signOp(
      {
        v: 1,
        doc,
        author: signer.publicKey,
        seq: doc === null ? 1 : log.lastSeq(doc, signer.publicKey) + 1,
        deps: doc === null ? [] : log.heads(doc).slice(0, maxDeps),
        time: draft.time,
        type: draft.type,
        body: draft.body,
      },
      signer,
      limits,
    )
    // Sign, add and queue the write in one synchronous step: concurrent appends get distinct seqs.
    const result = addVerified(builder, op)
    const written = persist(builder)
    if (!result.ok) {
      countRefusal(result.error)
      await written.catch(() => undefined)
      throw result.error
    }
    await written
    return op
  }

  async function fold(signer: Signer, doc: OpId): Promise<number> {
    assertHealthy()
    if (log.size(doc) === 0) throw new UnknownDocumentError(doc)
    const builder = new BatchBuilder()
    const made = foldInto(builder, signer, doc, now())
    await persist(builder)
    return made
  }

  return {
    log,
    maxDeps,
    append,
    fold,
    ingest,
    async getOps(doc, ids) {
      const positions = ids.map((id) => log.position(id, doc) ?? -1)
      const found = await readStored(positions.filter((p) => p >= 0))
      let k = 0
      return positions.map((p) => (p >= 0 ? decodeStored(found[k++]!, limits) : undefined))
    },
    async getBytes(doc, ids) {
      const positions = ids.flatMap((id) => log.position(id, doc) ?? [])
      return (await readStored(positions)).map((stored) => stored.bytes)
    },
    async getBytesOfDocs(requests) {
      const positions = requests.map(({ doc, ids }) =>
        ids.flatMap((id) => log.position(id, doc) ?? []),
      )
      const sorted = [...new Set(positions.flat())].sort((a, b) => a - b)
      const stored = await readStored(sorted)
      const bytesAt = new Map(sorted.map((p, i) => [p, stored[i]!.bytes]))
      return positions.map((ps) => ps.map((p) => bytesAt.get(p)!))
    },
    onAccepted(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    onAdded(listener) {
      addListeners.add(listener)
      return () => addListeners.delete(listener)
    },
    refusals: () => refusals,
    failure: () => failure,
    async flush() {
      await writes.catch(() => undefined)
    },
    async close() {
      await writes.catch(() => undefined)
      await store.close()
    },
  }
}

async function restore(store: Store, log: Log, limits: OpLimits): Promise<void> {
  for await (const page of store.accepted()) for (const stored of page) restoreOne(stored)
  // Pending ops come back with their sender and age: quotas and the time-to-live hold across
  // restarts. Ops past their time, or beyond a quota lowered since, are forgotten.
  const forget: OpId[] = []
  for await (const stored of store.pending()) {
    try {
      const result = log.add(decodeStored(stored, limits), {
        source: stored.source,
        received: stored.received,
      })
      forget.push(...result.dropped)
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      forget.push(stored.id)
    }
  }
  forget.push(...log.expire())
  if (forget.length > 0)
    await store.write({ accepted: [], pendingAdded: [], pendingRemoved: forget })

  function restoreOne(stored: StoredOp): void {
    const op = decodeStored(stored, limits)
    const result = log.add(op)
    // Anything else would shift every later position and make reads return the wrong ops.
    if (result.status === 'duplicate') throw new StoreCorruptError(stored.id, 'it is stored twice')
    if (result.status === 'pending') {
      throw new StoreCorruptError(
        stored.id,
        'it was stored as accepted but its deps are not stored before it',
      )
    }
  }
}

function decodeStored(stored: StoredOp, limits: OpLimits): EncodedOp {
  let op: EncodedOp
  try {
    op = decodeOp(stored.bytes, limits)
  } catch (cause) {
    throw new StoreCorruptError(stored.id, (cause as Error).message)
  }
  if (op.id !== stored.id) throw new StoreCorruptError(stored.id, `its bytes hash to "${op.id}"`)
  return op
}
