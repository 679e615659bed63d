import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { BaseError } from '../errors/base.ts'
import type { BatchVerifier } from '../ledger/ledger.ts'
import type { EncodedOp } from '../ledger/op.ts'
import { SIGNING_MESSAGE_BYTES, writeSigningMessage } from '../ledger/op-encode.ts'

/** Bytes of one verification record: public key, signature, signed message. */
const RECORD = 32 + 64 + SIGNING_MESSAGE_BYTES

// The worker only checks raw Ed25519 signatures over fixed-size records; what is signed
// ("rwa/op/v1" ‖ id) is decided on the main thread by `writeSigningMessage`. Evaluated as a
// script so it needs no file resolution under any loader.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const RECORD = ${RECORD}
const keys = new Map()
function keyOf(bytes) {
  const k = bytes.toString('latin1')
  let key = keys.get(k)
  if (key) return key
  key = createPublicKey({ key: Buffer.concat([SPKI, bytes]), format: 'der', type: 'spki' })
  if (keys.size >= 10000) keys.delete(keys.keys().next().value)
  keys.set(k, key)
  return key
}
parentPort.on('message', ({ job, buffer }) => {
  const data = Buffer.from(buffer)
  const count = data.length / RECORD
  const results = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const at = i * RECORD
    try {
      results[i] = verify(null, data.subarray(at + 96, at + RECORD), keyOf(data.subarray(at, at + 32)), data.subarray(at + 32, at + 96)) ? 1 : 0
    } catch {
      results[i] = 0
    }
  }
  parentPort.postMessage({ job, results }, [results.buffer])
})
`

/** Options of `createVerifyPool`. */
export type VerifyPoolOptions = {
  /** Number of worker threads; defaults to the number of cores. */
  size?: number
  /** Smallest slice of a batch worth sending to its own worker. */
  minChunk?: number
}

/** A pool of worker threads that verify op signatures in parallel. */
export type VerifyPool = {
  readonly verify: BatchVerifier
  readonly size: number
  readonly workers: readonly Worker[]
  /** Terminates the workers; later `verify` calls fail. */
  close(): Promise<void>
}

/** Thrown when the verification pool is closed or a worker died. */
export class VerifyPoolError extends BaseError {
  override name = 'VerifyPoolError' as const
  override readonly kind = 'unavailable' as const
}

type Job = { resolve: (results: Uint8Array) => void; reject: (error: Error) => void }
type Slot = { worker: Worker; jobs: Map<number, Job> }

/**
 * Creates a pool of signature-verification workers. Workers hold the event loop open only while
 * they have work, so an idle pool never keeps a process alive.
 * @example
 * const pool = createVerifyPool()
 * const ledger = await openLedger({ store, verifier: pool.verify })
 */
export function createVerifyPool({
  size = availableParallelism(),
  minChunk = 64,
}: VerifyPoolOptions = {}): VerifyPool {
  let nextJob = 0
  let closed = false
  const slots: Slot[] = []

  const spawn = (index: number): Slot => {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    const slot: Slot = { worker, jobs: new Map() }
    worker.unref()
    worker.on('message', ({ job, results }: { job: number; results: Uint8Array }) => {
      slot.jobs.get(job)?.resolve(results)
      slot.jobs.delete(job)
      if (slot.jobs.size === 0) worker.unref()
    })
    // A worker that throws or exits fails its jobs (never leaves them hanging) and is replaced.
    let replaced = false
    const replace = (cause: unknown) => {
      if (replaced) return
      replaced = true
      for (const job of slot.jobs.values()) {
        job.reject(
          new VerifyPoolError('A verification worker stopped; retry the batch.', { cause }),
        )
      }
      slot.jobs.clear()
      if (!closed) slots[index] = spawn(index)
    }
    worker.on('error', replace)
    worker.on('exit', (code) => replace(new Error(`worker exited with code ${code}`)))
    return slot
  }
  for (let i = 0; i < size; i++) slots.push(spawn(i))

  const run = (slot: Slot, ops: readonly EncodedOp[]): Promise<Uint8Array> => {
    const buffer = new ArrayBuffer(ops.length * RECORD)
    const data = new Uint8Array(buffer)
    for (let i = 0, at = 0; i < ops.length; i++, at += RECORD) {
      const op = ops[i]!
      data.set(op.op.author, at)
      data.set(op.op.sig, at + 32)
      writeSigningMessage(data, at + 96, op.idBytes)
    }
    const job = nextJob++
    return new Promise((resolve, reject) => {
      slot.jobs.set(job, { resolve, reject })
      slot.worker.ref()
      slot.worker.postMessage({ job, buffer }, [buffer])
    })
  }

  async function verify(ops: readonly EncodedOp[]): Promise<boolean[]> {
    if (closed) throw new VerifyPoolError('The verification pool is closed; create a new one.')
    if (ops.length === 0) return []
    const chunk = Math.max(minChunk, Math.ceil(ops.length / slots.length))
    const parts: Promise<Uint8Array>[] = []
    // Least-loaded first, so concurrent batches spread over all workers.
    const order = [...slots].sort((a, b) => a.jobs.size - b.jobs.size)
    for (let start = 0, k = 0; start < ops.length; start += chunk, k++) {
      parts.push(run(order[k % order.length]!, ops.slice(start, start + chunk)))
    }
    const results = await Promise.all(parts)
    const out: boolean[] = []
    for (const part of results) for (const r of part) out.push(r === 1)
    return out
  }

  return {
    verify,
    size,
    /** For tests: the worker threads, e.g. to check that a killed worker is replaced. */
    get workers() {
      return slots.map((slot) => slot.worker)
    },
    async close() {
      closed = true
      await Promise.all(slots.map((slot) => slot.worker.terminate()))
    },
  }
}
