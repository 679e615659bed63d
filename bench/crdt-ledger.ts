// crdt.trace_signed, crdt.trace_changes, crdt.merge and crdt.load (issue 23): the JSON CRDT with
// signed ops on a SQLite ledger, in changes, merging two replicas, and opened from the store.
import { sign, verify } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonCrdt, ROOT } from '../src/core/json/crdt.ts'
import { type JsonReducer, jsonDomain } from '../src/core/json/domain.ts'
import { changeBody, JSON_OP } from '../src/core/json/ops.ts'
import { createPublicKeyCache, type Signer, signerFromSeed } from '../src/ledger/keys.ts'
import { type Ledger, openLedger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { signingMessage, signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { loadTrace, type Trace } from '../test/fixtures/editing-trace.ts'
import { rwaTrace } from './crdt-rwa.ts'
import { progress, report, round, secondsSince } from './report.ts'

type Index = DocIndex<unknown, JsonReducer>
const BATCH = 512

const author = signerFromSeed(new Uint8Array(32).fill(23))

/** A node's ledger on a SQLite file with the json domain's admission and index, as `rwa start` has. */
async function openNode(path: string): Promise<{ ledger: Ledger; index: Index }> {
  let index: Index | undefined
  const ledger = await openLedger({
    store: sqliteStore({ path }),
    admit: (doc, op) => index?.admit(doc, op),
  })
  index = createDocIndex(ledger, jsonDomain) as unknown as Index
  await index.start()
  return { ledger, index }
}

function genesisOp(signer: Signer): EncodedOp {
  return signOp(
    {
      v: 1,
      doc: null,
      author: signer.publicKey,
      seq: 1,
      deps: [],
      time: 0,
      type: JSON_OP.create,
      body: { name: 'automerge-paper', content: { text: { $text: '' } } },
    },
    signer,
  )
}

/**
 * The author side and the node side of the trace as signed ops: the author's replica makes each
 * change by position and signs it; the node decodes, verifies, admits (judges it on its causal
 * past), stores it in SQLite and applies it. `per` edits per op.
 */
export async function signedTrace(trace: Trace, path: string, per: number) {
  const { ledger, index } = await openNode(path)
  const genesis = genesisOp(author)
  await ledger.ingest([genesis.bytes])
  const replica = jsonDomain.createReducer(genesis).crdt
  const text = (replica.get(ROOT, 'text') as { id: number }).id
  let prev: OpId = genesis.id
  let batch: Uint8Array[] = []
  let ops = 0
  const flush = async () => {
    const results = await ledger.ingest(batch)
    for (const r of results)
      if (!r.ok || r.status !== 'accepted')
        throw new Error(`crdt: an op was not accepted: ${JSON.stringify(r)}`)
    batch = []
  }
  const start = process.hrtime.bigint()
  for (let i = 0; i < trace.length; i += per) {
    const change = replica.begin()
    for (let k = i; k < Math.min(trace.length, i + per); k++)
      change.splice(text, trace.pos[k]!, trace.del[k]!, trace.ins[k]!)
    const op = signOp(
      {
        v: 1,
        doc: genesis.id,
        author: author.publicKey,
        seq: ++ops + 1,
        deps: [prev],
        time: 0,
        type: JSON_OP.change,
        body: changeBody(change.edits),
      },
      author,
    )
    change.commit(op.id)
    prev = op.id
    batch.push(op.bytes)
    if (batch.length >= BATCH) await flush()
  }
  if (batch.length) await flush()
  const seconds = secondsSince(start)
  const reducer = await index.reducer(genesis.id)
  const got = (reducer.content() as { text: string }).text
  if (got !== trace.endContent)
    throw new Error("crdt: the node's text is not the trace's endContent")
  index.stop()
  await ledger.close()
  return { seconds, ops, doc: genesis.id }
}

/**
 * The ledger's own floor: as many ops signed and ingested (decoded, verified, stored) with a
 * small body, no document rules: what any domain's signed op costs before its rules run.
 */
async function ledgerFloor(count: number, path: string): Promise<number> {
  const ledger = await openLedger({ store: sqliteStore({ path }) })
  const genesis = signOp(
    {
      v: 1,
      doc: null,
      author: author.publicKey,
      seq: 1,
      deps: [],
      time: 0,
      type: 'bench.create',
      body: {},
    },
    author,
  )
  await ledger.ingest([genesis.bytes])
  let prev: OpId = genesis.id
  let batch: Uint8Array[] = []
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const op = signOp(
      {
        v: 1,
        doc: genesis.id,
        author: author.publicKey,
        seq: i + 2,
        deps: [prev],
        time: 0,
        type: 'bench.op',
        body: { i },
      },
      author,
    )
    prev = op.id
    batch.push(op.bytes)
    if (batch.length >= BATCH || i === count - 1) {
      for (const r of await ledger.ingest(batch))
        if (!r.ok || r.status !== 'accepted') throw new Error('crdt: a floor op was not accepted')
      batch = []
    }
  }
  const seconds = secondsSince(start)
  await ledger.close()
  return seconds
}

/** Signing and verifying `count` op-sized messages with node:crypto and cached keys, seconds. */
function pureSignVerify(count: number): number {
  const keys = createPublicKeyCache()
  const key = keys.get(author.publicKey)
  const id = new Uint8Array(36)
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    id[32] = i & 0xff
    id[33] = (i >> 8) & 0xff
    id[34] = (i >> 16) & 0xff
    const message = signingMessage(id)
    const sig = sign(null, message, author.privateKey)
    if (!verify(null, message, key, sig)) throw new Error('crdt: a signature failed to verify')
  }
  return secondsSince(start)
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rwa-bench-crdt-'))
}

/** Every edit a signed, verified, stored op, against pure sign-and-verify of as many ops. */
async function traceSigned(): Promise<void> {
  const trace = loadTrace()
  const dir = tempDir()
  try {
    progress(`signing, verifying, storing and applying ${trace.length} ops (one per edit)`)
    pureSignVerify(5000) // warm-up
    const run = await signedTrace(trace, join(dir, 'signed.sqlite'), 1)
    progress(`  ${round(run.seconds, 2)} s; now the same number of bare signs and verifies`)
    const bare = pureSignVerify(run.ops)
    progress(`  bare: ${round(bare, 2)} s; now the ledger alone (small bodies, no rules)`)
    const floor = await ledgerFloor(run.ops, join(dir, 'floor.sqlite'))
    const ratio = run.seconds / bare
    const load = await timeLoad(join(dir, 'signed.sqlite'), run.doc, trace)
    report({
      bench: 'crdt.trace_signed',
      value: round(run.seconds, 2),
      unit: 's',
      limit: round(1.2 * bare, 2),
      limitIs:
        '1.2 × the time of signing and verifying as many ops with node:crypto, measured in this run',
      ops: run.ops,
      pureSignVerifySeconds: round(bare, 2),
      ratio: round(ratio, 3),
      pass: ratio <= 1.2,
      ledgerFloorSeconds: round(floor, 2),
      ledgerFloorRatio: round(floor / bare, 3),
      loadSeconds: round(load.seconds, 3),
      loadLedgerSeconds: round(load.ledgerSeconds, 3),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The trace in memory as changes of 100 edits (an editing session's batches), and applied by a second replica. */
async function traceChanges(): Promise<void> {
  const trace = loadTrace()
  const per = 100
  let best = Number.POSITIVE_INFINITY
  let applyBest = Number.POSITIVE_INFINITY
  let changes = 0
  for (let round = 0; round < 3; round++) {
    const doc = new JsonCrdt()
    const first = doc.begin()
    first.set(ROOT, 'text', { $text: '' })
    const genesisEdits = first.commit('genesis')
    const text = (doc.get(ROOT, 'text') as { id: number }).id
    const log: { key: string; edits: unknown }[] = []
    const start = process.hrtime.bigint()
    for (let i = 0; i < trace.length; i += per) {
      const change = doc.begin()
      for (let k = i; k < Math.min(trace.length, i + per); k++)
        change.splice(text, trace.pos[k]!, trace.del[k]!, trace.ins[k]!)
      const key = `op-${i}`
      log.push({ key, edits: change.commit(key) })
    }
    best = Math.min(best, secondsSince(start))
    changes = log.length
    if (doc.text(text) !== trace.endContent) throw new Error('crdt.trace_changes: wrong text')
    // A second replica applies the changes by element id, as a node applies a peer's ops.
    const other = new JsonCrdt()
    other.applyChange(other.registerOp('genesis', 1), genesisEdits)
    const applyStart = process.hrtime.bigint()
    for (let i = 0; i < log.length; i++) {
      const { key, edits } = log[i]!
      other.applyChange(other.registerOp(key, i + 2), edits as never)
    }
    applyBest = Math.min(applyBest, secondsSince(applyStart))
    if (other.text(text) !== trace.endContent)
      throw new Error('crdt.trace_changes: the replica differs')
  }
  // crdt.trace in this process (one change per edit), best of three: the limit is twice it.
  let perEdit = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint()
    if (rwaTrace(trace) !== trace.endContent) throw new Error('crdt.trace_changes: wrong text')
    perEdit = Math.min(perEdit, secondsSince(start))
  }
  report({
    bench: 'crdt.trace_changes',
    value: round(best, 3),
    unit: 's',
    limit: round(2 * perEdit, 3),
    limitIs: '2 × the trace with one change per edit (crdt.trace), measured in this run',
    traceSeconds: round(perEdit, 3),
    changes,
    editsPerChange: per,
    applySeconds: round(applyBest, 3),
  })
}

/** Two replicas that each made 10,000 concurrent edits to one text, merging. */
async function merge(): Promise<void> {
  const trace = loadTrace()
  const EDITS = 10_000
  let best = Number.POSITIVE_INFINITY
  let length = 0
  for (let round = 0; round < 3; round++) {
    // A common base: the trace's first 20,000 edits.
    const base: { key: string; edits: unknown }[] = []
    const seed = new JsonCrdt()
    const first = seed.begin()
    first.set(ROOT, 'text', { $text: '' })
    base.push({ key: 'genesis', edits: first.commit('genesis') })
    const text = (seed.get(ROOT, 'text') as { id: number }).id
    for (let i = 0; i < 20_000; i += 100) {
      const change = seed.begin()
      for (let k = i; k < i + 100; k++)
        change.splice(text, trace.pos[k]!, trace.del[k]!, trace.ins[k]!)
      base.push({ key: `base-${i}`, edits: change.commit(`base-${i}`) })
    }
    const replica = () => {
      const doc = new JsonCrdt()
      for (const [i, { key, edits }] of base.entries())
        doc.applyChange(doc.registerOp(key, i + 1), edits as never)
      return doc
    }
    const a = replica()
    const b = replica()
    // Each replica goes on with its own 10,000 edits (A: the trace's next ones; B: the ones
    // after, at positions clamped to its text), one op each.
    const edit = (doc: JsonCrdt, name: string, from: number) => {
      const made: { key: string; lamport: number; edits: unknown }[] = []
      for (let k = from; k < from + EDITS; k++) {
        const length = doc.length(text)
        const pos = Math.min(trace.pos[k]!, length)
        const del = Math.min(trace.del[k]!, length - pos)
        const change = doc.begin()
        change.splice(text, pos, del, trace.ins[k]!)
        const key = `${name}-${k}`
        const edits = change.commit(key)
        made.push({ key, lamport: doc.lamports[doc.opIndex(key)!]!, edits })
      }
      return made
    }
    const ofA = edit(a, 'a', 20_000)
    const ofB = edit(b, 'b', 30_000)
    const baseOps = base.length
    const start = process.hrtime.bigint()
    const firstB = a.ops
    for (const { key, lamport, edits } of ofB)
      a.applyChange(
        a.registerOp(key, lamport),
        edits as never,
        (op) => op < baseOps || op >= firstB,
      )
    best = Math.min(best, secondsSince(start))
    const firstA = b.ops
    for (const { key, lamport, edits } of ofA)
      b.applyChange(
        b.registerOp(key, lamport),
        edits as never,
        (op) => op < baseOps || op >= firstA,
      )
    if (a.text(text) !== b.text(text))
      throw new Error('crdt.merge: the replicas differ after merging')
    length = a.length(text)
  }
  report({
    bench: 'crdt.merge',
    value: round(best, 4),
    unit: 's',
    limit: 0.1,
    limitIs: 'target',
    editsPerReplica: EDITS,
    mergedLength: length,
  })
}

/** Opens a node's store and its json index until the document is ready to read. */
async function timeLoad(path: string, doc: OpId, trace: Trace) {
  const start = process.hrtime.bigint()
  let index: Index | undefined
  const ledger = await openLedger({
    store: sqliteStore({ path }),
    admit: (d, op) => index?.admit(d, op),
  })
  const ledgerSeconds = secondsSince(start)
  index = createDocIndex(ledger, jsonDomain) as unknown as Index
  await index.start()
  const reducer = await index.reducer(doc)
  const seconds = secondsSince(start)
  if ((reducer.content() as { text: string }).text !== trace.endContent)
    throw new Error('crdt.load: the loaded text is not the trace’s endContent')
  index.stop()
  await ledger.close()
  return { seconds, ledgerSeconds }
}

/** The trace's document (stored as changes of 100 edits, as an editing session stores it) opened from SQLite. */
async function load(): Promise<void> {
  const trace = loadTrace()
  const dir = tempDir()
  try {
    const path = join(dir, 'changes.sqlite')
    const stored = await signedTrace(trace, path, 100)
    let best = Number.POSITIVE_INFINITY
    let ledgerSeconds = 0
    for (let round = 0; round < 3; round++) {
      const t = await timeLoad(path, stored.doc, trace)
      if (t.seconds < best) {
        best = t.seconds
        ledgerSeconds = t.ledgerSeconds
      }
    }
    report({
      bench: 'crdt.load',
      value: round(best, 3),
      unit: 's',
      limit: 0.5,
      limitIs: 'target',
      ops: stored.ops + 1,
      ledgerSeconds: round(ledgerSeconds, 3),
      storeSeconds: round(stored.seconds, 2),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const crdtLedgerBenches = {
  'crdt.trace_changes': traceChanges,
  'crdt.merge': merge,
  'crdt.load': load,
  'crdt.trace_signed': traceSigned,
}
