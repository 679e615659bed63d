import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

// The worker opens the same database on its own connection and runs PASSIVE checkpoints when
// asked: copying the WAL into the database and the fsync that follows happen on its thread,
// while the writer keeps appending to the WAL (WAL mode lets the two run at once). Evaluated as a
// script, with better-sqlite3 required by absolute path, so it needs no loader.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.module)
const db = new Database(workerData.path)
db.pragma('busy_timeout = 5000')
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close()
    parentPort.close()
    return
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)')
    parentPort.postMessage({ ok: true, result })
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error && error.message || error) })
  }
})
`

/** Options of `createCheckpointer`. */
export type CheckpointerOptions = {
  /** The database file (in WAL mode). */
  path: string
  /** WAL bytes written after which a checkpoint is started. */
  every?: number
  /** Called once if the worker fails; the caller should go back to checkpointing itself. */
  onFailure(error: Error): void
}

/** Runs a SQLite database's WAL checkpoints on a worker thread (see WORKER_SOURCE). */
export type Checkpointer = {
  /** Counts bytes just written to the WAL; starts a checkpoint once `every` have accumulated. */
  wrote(bytes: number): void
  /** Stops the worker after its current checkpoint, closing its connection. */
  close(): Promise<void>
}

/**
 * Creates a checkpointer; its worker starts on the first checkpoint, so a database that never
 * grows its WAL much never gets one.
 * @example
 * db.pragma('wal_autocheckpoint = 0')
 * const checkpointer = createCheckpointer({ path, onFailure: () => db.pragma('wal_autocheckpoint = 1000') })
 */
export function createCheckpointer({
  path,
  every = 4 * 2 ** 20,
  onFailure,
}: CheckpointerOptions): Checkpointer {
  let worker: Worker | undefined
  let pending = 0
  let running = false
  let failed = false
  let closing = false

  const fail = (error: Error) => {
    if (failed || closing) return
    failed = true
    worker?.terminate().catch(() => undefined)
    worker = undefined
    onFailure(error)
  }

  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, module: createRequire(import.meta.url).resolve('better-sqlite3') },
    })
    w.unref()
    w.on('message', (reply: { ok: boolean; error?: string }) => {
      running = false
      if (!reply.ok) fail(new Error(`WAL checkpoint failed: ${reply.error}`))
    })
    w.on('error', fail)
    w.on('exit', (code) => {
      if (!closing) fail(new Error(`the checkpoint worker exited with code ${code}`))
    })
    return w
  }

  return {
    wrote(bytes) {
      if (failed || closing) return
      pending += bytes
      if (pending < every || running) return
      pending = 0
      running = true
      worker ??= start()
      worker.postMessage('checkpoint')
    },
    async close() {
      closing = true
      const w = worker
      worker = undefined
      if (!w) return
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()))
      w.postMessage('close')
      // A checkpoint stuck on a slow disk must not hold up shutdown forever.
      const timer = setTimeout(() => void w.terminate(), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}
