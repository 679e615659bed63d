import { execFileSync } from 'node:child_process'
import { sign } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Ledger, openLedger } from '../src/ledger/ledger.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import type { StoredOp } from '../src/ledger/store.ts'
import { createVerifyPool } from '../src/node/verify-pool.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { makeOpStream, makeSigners, rawVerifyRate } from './fixtures.ts'
import { type Figure, progress, report, round, secondsSince } from './report.ts'

const INGEST_OPS = 24_000
const BATCH = 512
/** Documents the ingest stream spreads over (round-robin, so each gets INGEST_OPS / DOCS). */
const DOCS = 4
/** Throughput figures are the best of this many rounds: the machine's capacity, not its noise. */
const ROUNDS = 3

type Context = { stream?: Uint8Array[]; verifyRaw?: number; ingest?: number }

/** The ops a peer would deliver: encoded bytes only, so no decoded objects inflate the heap. */
async function streamOf(ctx: Context): Promise<Uint8Array[]> {
  if (!ctx.stream) {
    progress(`signing ${INGEST_OPS} ops from 8 authors for the ingest benchmarks`)
    ctx.stream = (await makeOpStream({ count: INGEST_OPS, authors: 8, docs: DOCS })).map(
      (op) => op.bytes,
    )
  }
  return ctx.stream
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rwa-bench-'))
}

/** Raw node:crypto Ed25519 verifies per second on one core, with cached public KeyObjects. */
async function verifyRaw(ctx: Context): Promise<Figure> {
  const value = rawVerifyRate(await streamOf(ctx), ROUNDS)
  ctx.verifyRaw = value
  return report({
    bench: 'ledger.verify_raw',
    value: round(value),
    unit: 'verifies/s',
    limit: round(value),
    cores: 1,
  })
}

/** Ingests a stream in batches of 1,000, `inFlight` at a time; every op must be accepted. */
export async function ingestAll(
  ledger: Ledger,
  stream: Uint8Array[],
  inFlight: number,
): Promise<void> {
  const batches: Uint8Array[][] = []
  for (let i = 0; i < stream.length; i += BATCH) batches.push(stream.slice(i, i + BATCH))
  const running = new Set<Promise<unknown>>()
  for (const batch of batches) {
    const p = ledger.ingest(batch).then((results) => {
      for (const r of results)
        if (!r.ok || r.status !== 'accepted')
          throw new Error(`ingest: unexpected result ${JSON.stringify(r)}`)
    })
    running.add(p)
    // Settle-only bookkeeping; a rejection surfaces through race/all below.
    p.then(
      () => running.delete(p),
      () => running.delete(p),
    )
    if (running.size >= inFlight) await Promise.race(running)
  }
  await Promise.all(running)
}

async function measureIngest(stream: Uint8Array[], parallel: boolean): Promise<number> {
  const dir = tempDir()
  const pool = parallel ? createVerifyPool() : undefined
  try {
    const ledger = await openLedger({
      store: sqliteStore({ path: join(dir, 'rwa.sqlite') }),
      verifier: pool?.verify,
    })
    const start = process.hrtime.bigint()
    await ingestAll(ledger, stream, parallel ? 2 * (pool?.size ?? 1) : 1)
    const seconds = secondsSince(start)
    if (ledger.log.size(decodeOp(stream[0]!).id) !== stream.length / DOCS)
      throw new Error('ingest: not every op was accepted')
    await ledger.close()
    return stream.length / seconds
  } finally {
    await pool?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Best ingest rate of `ROUNDS` runs after a warm-up, with inline or pooled verification. */
async function bestIngestRate(stream: Uint8Array[], parallel: boolean): Promise<number> {
  await measureIngest(stream.slice(0, 4000), parallel) // warm-up
  let best = 0
  for (let round = 0; round < ROUNDS; round++)
    best = Math.max(best, await measureIngest(stream, parallel))
  return best
}

function ratioFigure(bench: string, value: number, limit: number, target: number): Figure {
  const ratio = value / limit
  return report({
    bench,
    value: round(value),
    unit: 'ops/s',
    limit: round(limit),
    ratio: round(ratio, 3),
    target,
    pass: ratio >= target,
  })
}

/** Remote ops decoded + verified + accepted + persisted to SQLite, on one core. */
async function ingest(ctx: Context): Promise<Figure> {
  const stream = await streamOf(ctx)
  const limit = ctx.verifyRaw ?? (await verifyRaw(ctx)).value
  ctx.ingest = await bestIngestRate(stream, false)
  return ratioFigure('ledger.ingest', ctx.ingest, limit, 0.85)
}

/** The same with signatures checked by a worker-thread pool on all cores. */
async function ingestParallel(ctx: Context): Promise<Figure> {
  const stream = await streamOf(ctx)
  const limit = ctx.ingest ?? (await ingest(ctx)).value
  return ratioFigure('ledger.ingest_parallel', await bestIngestRate(stream, true), limit, 1.6)
}

/** Local ops signed, accepted and persisted, one at a time; held against raw signs/s. */
async function appendLocal(): Promise<Figure> {
  const [signer] = makeSigners(1)
  const message = Buffer.alloc(45, 7)
  const count = 10_000
  let start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) sign(null, message, signer!.privateKey)
  const limit = count / secondsSince(start)
  const dir = tempDir()
  try {
    const ledger = await openLedger({ store: sqliteStore({ path: join(dir, 'rwa.sqlite') }) })
    const genesis = await ledger.append(signer!, {
      doc: null,
      type: 'bench.create',
      body: {},
      time: 0,
    })
    start = process.hrtime.bigint()
    for (let i = 0; i < count; i++) {
      await ledger.append(signer!, {
        doc: genesis.id,
        type: 'audit.vote',
        body: { item: i % 100, answer: true },
        time: i,
      })
    }
    const value = count / secondsSince(start)
    await ledger.close()
    return report({
      bench: 'ledger.append_local',
      value: round(value),
      unit: 'ops/s',
      limit: round(limit),
      limitIs: 'raw Ed25519 signs/s',
      ratio: round(value / limit, 3),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Writes `count` signed ops (100 documents, one author, each op on its document's head) straight
 * to a SQLite store in batches of 1,000: the fastest way to a big, valid store.
 */
async function writeBigStore(path: string, count: number): Promise<number> {
  const [signer] = makeSigners(1)
  const store = sqliteStore({ path })
  const docs: { id: OpId; head: OpId; seq: number }[] = []
  let bytes = 0
  let batch: StoredOp[] = []
  for (let i = 0; i < count; i++) {
    const doc = i < 100 ? undefined : docs[i % 100]!
    const op = signOp(
      doc
        ? {
            v: 1,
            doc: doc.id,
            author: signer!.publicKey,
            seq: ++doc.seq,
            deps: [doc.head],
            time: i,
            type: 'audit.vote',
            body: { item: i % 100, answer: true },
          }
        : {
            v: 1,
            doc: null,
            author: signer!.publicKey,
            seq: 1,
            deps: [],
            time: i,
            type: 'bench.create',
            body: { d: i },
          },
      signer!,
    )
    if (doc) doc.head = op.id
    else docs.push({ id: op.id, head: op.id, seq: 1 })
    bytes += op.bytes.length
    batch.push({ id: op.id, bytes: op.bytes })
    if (batch.length === 1000 || i === count - 1) {
      await store.write({ accepted: batch, pendingAdded: [], pendingRemoved: [] })
      batch = []
    }
    if ((i + 1) % 200_000 === 0) progress(`  ${i + 1} ops written`)
  }
  await store.close()
  return bytes
}

/** RSS of a fresh process that reopened a store holding 1,000,000 ops. */
async function memory(): Promise<Figure> {
  const count = Number(process.env.RWA_BENCH_MEMORY_OPS ?? 1_000_000)
  const dir = tempDir()
  try {
    const path = join(dir, 'rwa.sqlite')
    progress(`writing ${count} signed ops to a SQLite store (about a minute per million)`)
    const bytes = await writeBigStore(path, count)
    progress('reopening the store in a fresh process')
    const child = join(import.meta.dirname, 'memory-child.ts')
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, path], {
      encoding: 'utf8',
    })
    const measured = JSON.parse(out.trim().split('\n').pop()!) as {
      rssMB: number
      baselineMB: number
      baselineHeapMB: number
      heapMB: number
      heapTotalMB: number
      arrayBuffersMB: number
      ops: number
      seconds: number
    }
    if (measured.ops !== count)
      throw new Error(`memory: reopened ${measured.ops} ops, expected ${count}`)
    const opsMB = bytes / 2 ** 20
    return report({
      bench: 'ledger.memory',
      value: round(measured.rssMB),
      unit: 'MB',
      limit: round(measured.baselineMB + opsMB),
      limitIs:
        'baseline RSS + the encoded ops themselves (what holding whole ops would cost at least)',
      ops: count,
      baselineMB: round(measured.baselineMB),
      heapMB: round(measured.heapMB),
      heapTotalMB: round(measured.heapTotalMB),
      arrayBuffersMB: round(measured.arrayBuffersMB),
      indexBytesPerOp: round(
        ((measured.heapMB + measured.arrayBuffersMB - measured.baselineHeapMB) * 2 ** 20) / count,
      ),
      opsMB: round(opsMB),
      bytesPerOp: round(((measured.rssMB - measured.baselineMB) * 2 ** 20) / count),
      reopenSeconds: round(measured.seconds, 2),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The ledger benchmarks, by name. */
/** Ops of the document `ledger.read_doc` reads, and the other documents it shares the ledger with. */
const READ_DOC_OPS = 3000
const OTHER_DOCS = Number(process.env.RWA_BENCH_OTHER_DOCS ?? 100_000)
/** Reads timed per measurement; the figure is the fastest (the machine's cost, not its noise). */
const READS = 50

/** The fastest of `READS` reads of a document's ops in log order, decoded (getOps decodes), in ms. */
async function fastestRead(ledger: Ledger, doc: OpId): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < READS; i++) {
    const start = process.hrtime.bigint()
    const ops = await ledger.getOps(doc, ledger.log.order(doc))
    best = Math.min(best, secondsSince(start) * 1000)
    if (ops.length !== READ_DOC_OPS || ops.some((op) => op === undefined))
      throw new Error(`read_doc: read ${ops.length} ops, expected ${READ_DOC_OPS}`)
  }
  return best
}

/** Signs `count` small geneses (one document each) and ingests them in batches. */
async function addOtherDocs(ledger: Ledger, count: number): Promise<void> {
  const signers = makeSigners(8)
  for (let start = 0; start < count; start += 1000) {
    const batch: Uint8Array[] = []
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const signer = signers[i % signers.length]!
      const op = { doc: null, author: signer.publicKey, seq: 1, deps: [], time: i }
      batch.push(signOp({ v: 1, ...op, type: 'bench.create', body: { d: i } }, signer).bytes)
    }
    for (const r of await ledger.ingest(batch))
      if (!r.ok || r.status !== 'accepted') throw new Error(`read_doc: ingest refused ${r}`)
    if ((start + 1000) % 20_000 === 0) progress(`  ${start + 1000} other documents`)
  }
}

/**
 * Reads a 3,000-op document from a SQLite ledger holding it alone, then again once 100,000 other
 * documents share the ledger: a read costs the document's ops, whatever else the node holds.
 * The limit is the read with no other document, measured in the same run.
 */
async function readDoc(): Promise<Figure> {
  const dir = tempDir()
  try {
    const ledger = await openLedger({ store: sqliteStore({ path: join(dir, 'rwa.sqlite') }) })
    const [admin] = makeSigners(1)
    const genesis = await ledger.append(admin!, {
      doc: null,
      type: 'bench.create',
      body: { name: 'read me' },
      time: 0,
    })
    for (let i = 1; i < READ_DOC_OPS; i++)
      await ledger.append(admin!, {
        doc: genesis.id,
        type: 'audit.item.add',
        body: { description: `item ${i}` },
        time: i,
      })
    await ledger.flush()
    const alone = await fastestRead(ledger, genesis.id)
    progress(`adding ${OTHER_DOCS} other documents`)
    await addOtherDocs(ledger, OTHER_DOCS)
    await ledger.flush()
    const crowded = await fastestRead(ledger, genesis.id)
    await ledger.close()
    const ratio = crowded / alone
    return report({
      bench: 'ledger.read_doc',
      value: round(crowded, 2),
      unit: 'ms',
      limit: round(alone, 2),
      limitIs: `the same read with no other document in the ledger`,
      ops: READ_DOC_OPS,
      otherDocs: OTHER_DOCS,
      ratio: round(ratio, 3),
      target: 1.5,
      pass: ratio <= 1.5,
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function ledgerBenches(): Record<string, (ctx: Context) => Promise<Figure>> {
  return {
    'ledger.verify_raw': verifyRaw,
    'ledger.ingest': ingest,
    'ledger.ingest_parallel': ingestParallel,
    'ledger.append_local': appendLocal,
    'ledger.memory': memory,
    'ledger.read_doc': readDoc,
  }
}
