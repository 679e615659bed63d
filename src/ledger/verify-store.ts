import { InvalidSignatureError, PendingBufferFullError } from './errors.ts'
import { createPublicKeyCache } from './keys.ts'
import type { BatchVerifier } from './ledger.ts'
import { type AcceptedOp, createLog, type Log } from './log.ts'
import { DEFAULT_MAX_DEPS, type EncodedOp, type OpLimits } from './op.ts'
import { decodeOp } from './op-decode.ts'
import { verifyOp } from './op-encode.ts'
import type { Store } from './store.ts'
import { StoreCorruptError } from './store.ts'

/** Options of `verifyStore`. */
export type VerifyStoreOptions = OpLimits & {
  store: Store
  /** Checks signatures off the main thread (`createVerifyPool().verify`); inline by default. */
  verifier?: BatchVerifier | undefined
  /** Called with the ops of each page once they are verified and linked, in acceptance order. */
  onAccepted?: ((ops: readonly AcceptedOp[]) => void) | undefined
  /** Called after each page with the number of ops checked so far (for progress output). */
  onProgress?: ((checked: number) => void) | undefined
  signal?: AbortSignal | undefined
}

/** What `verifyStore` found: the rebuilt index and the number of ops checked. */
export type VerifyStoreResult = { readonly log: Log; readonly ops: number }

/**
 * Re-checks a store from scratch, trusting nothing on disk: every accepted op is decoded, its
 * signature verified and its deps and seq re-linked in a fresh log, in the stored order. This is
 * how anyone recomputes a result from a copy of the log (a node opening its own store skips the
 * signatures: it checked them before writing). Throws `StoreCorruptError` at the first op that
 * fails, naming it.
 * @example
 * const { log } = await verifyStore({ store, onAccepted: (ops) => ops.forEach((a) => reducer.apply(a.op)) })
 */
export async function verifyStore({
  store,
  verifier,
  onAccepted,
  onProgress,
  signal,
  maxBytes,
  maxDeps = DEFAULT_MAX_DEPS,
}: VerifyStoreOptions): Promise<VerifyStoreResult> {
  const limits: OpLimits = { maxDeps, ...(maxBytes === undefined ? {} : { maxBytes }) }
  // Stored ops all applied once, so nothing may wait: a pending op is corruption, not a delay.
  const log = createLog({ maxPending: 0, maxPendingTotal: 0 })
  const keys = createPublicKeyCache()
  const verify: BatchVerifier = verifier ?? (async (ops) => ops.map((op) => verifyOp(op, keys)))
  let checked = 0
  // With a pool, the next pages are read and decoded while earlier ones are being verified; at
  // most `window` pages are in flight, so memory stays bounded however large the store.
  const window = verifier ? 3 : 1
  const inFlight: Promise<void>[] = []
  let previous: Promise<void> = Promise.resolve()
  for await (const page of store.accepted()) {
    signal?.throwIfAborted()
    const decoded = page.map((stored, i) => decodeChecked(stored.bytes, checked + i, limits))
    const verified = verify(decoded)
    const base = checked
    checked += decoded.length
    previous = previous.then(async () => {
      linkPage(log, decoded, await verified, base, onAccepted)
      onProgress?.(base + decoded.length)
    })
    inFlight.push(previous)
    if (inFlight.length >= window) await inFlight.shift()
  }
  await previous
  return { log, ops: checked }
}

function decodeChecked(bytes: Uint8Array, position: number, limits: OpLimits): EncodedOp {
  try {
    return decodeOp(bytes, limits)
  } catch (cause) {
    throw new StoreCorruptError(`op at position ${position}`, (cause as Error).message, { cause })
  }
}

function linkPage(
  log: Log,
  ops: readonly EncodedOp[],
  valid: readonly boolean[],
  base: number,
  onAccepted: VerifyStoreOptions['onAccepted'],
): void {
  const accepted: AcceptedOp[] = []
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!
    const where = `op ${op.id} at position ${base + i}`
    if (!valid[i]) {
      throw new StoreCorruptError(where, 'its signature does not verify for its author', {
        cause: new InvalidSignatureError(op.id),
      })
    }
    let status: string
    try {
      const result = log.add(op)
      status = result.status
      if (result.accepted.length === 1) accepted.push(result.accepted[0]!)
    } catch (cause) {
      if (!(cause instanceof PendingBufferFullError)) throw cause
      status = 'pending'
    }
    if (status === 'duplicate') throw new StoreCorruptError(where, 'it is stored twice')
    if (status === 'pending')
      throw new StoreCorruptError(where, 'its deps are not stored before it')
  }
  onAccepted?.(accepted)
}
