// The ledger's admission hook, merge folding and the pending buffer's quotas and time-to-live,
// on real stores (memory and SQLite).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { BaseError } from '../src/errors/base.ts'
import { type Ledger, openLedger } from '../src/ledger/ledger.ts'
import { MERGE_OP_TYPE } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { makeGenesis, makeOp, memoryLedger, testSigner } from './helpers.ts'

class NoError extends BaseError {
  override name = 'NoError' as const
  override readonly kind = 'forbidden' as const
}

const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

const alice = testSigner(1)
const bob = testSigner(2)
const mallory = testSigner(3)

const status = (r: Awaited<ReturnType<Ledger['ingest']>>[number]) =>
  r.ok ? r.status : r.error.name

describe('admission', () => {
  /** Refuses every op whose body says `{ bad: true }`. */
  const admit = (_doc: string, op: { op: { body: unknown } }) =>
    (op.op.body as { bad?: boolean } | null)?.bad ? new NoError('bad body') : undefined

  test('an op refused on its causal past is not added, and ops waiting for it are dropped, in memory and in the store', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-admission-'))
    roots.push(root)
    const path = join(root, 'a.sqlite')
    const ledger = await openLedger({ store: sqliteStore({ path }), admit })
    const g = makeGenesis(alice)
    const bad = makeOp(mallory, { doc: g.id, seq: 1, deps: [g.id], body: { bad: true } })
    const child = makeOp(bob, { doc: g.id, seq: 1, deps: [bad.id] })
    const grandchild = makeOp(bob, { doc: g.id, seq: 2, deps: [child.id] })
    const results = await ledger.ingest([g.bytes, grandchild.bytes, child.bytes, bad.bytes])
    expect(results.map(status)).toEqual(['accepted', 'pending', 'pending', 'NoError'])
    expect(ledger.log.size(g.id)).toBe(1)
    expect(ledger.log.heads(g.id)).toEqual([g.id])
    expect(ledger.log.pendingCount()).toBe(0)
    // Resent, the refused op and its dependents are answered at once.
    const again = await ledger.ingest([bad.bytes, child.bytes])
    expect(again.map(status)).toEqual(['NoError', 'DependsOnRefusedOpError'])
    await ledger.close()
    const reopened = await openLedger({ store: sqliteStore({ path }), admit })
    expect(reopened.log.pendingCount()).toBe(0)
    expect(reopened.log.size(g.id)).toBe(1)
    await reopened.close()
  })

  test('a released pending op is admitted after its deps joined: the judge has seen them', async () => {
    const seen = new Set<string>()
    const ledger = await memoryLedger({
      admit: (_doc, op) =>
        op.op.deps.every((d) => seen.has(d)) ? undefined : new NoError('a dep was not seen'),
    })
    ledger.onAdded((ops) => {
      for (const { op } of ops) seen.add(op.id)
    })
    const g = makeGenesis(alice)
    const ops = [g]
    for (let i = 0; i < 20; i++)
      ops.push(makeOp(alice, { doc: g.id, seq: i + 2, deps: [ops[ops.length - 1]!.id] }))
    // Delivered in reverse: every op waits, then the genesis releases them one by one.
    const results = await ledger.ingest(ops.reverse().map((op) => op.bytes))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(ledger.log.size(g.id)).toBe(21)
  })

  test('append folds more heads than an op may cite with merge ops, so the op follows every one', async () => {
    const ledger = await memoryLedger({ maxDeps: 8 })
    const g = makeGenesis(alice)
    const siblings = Array.from({ length: 100 }, (_, i) =>
      makeOp(testSigner(10 + i), { doc: g.id, seq: 1, deps: [g.id] }),
    )
    await ledger.ingest([g.bytes, ...siblings.map((op) => op.bytes)])
    expect(ledger.log.heads(g.id)).toHaveLength(100)
    const op = await ledger.append(alice, { doc: g.id, type: 'test.op', body: {}, time: 1 })
    expect(ledger.log.heads(g.id)).toEqual([op.id])
    expect(op.op.deps.length).toBeLessThanOrEqual(8)
    const past = new Set(ledger.log.causalPast(g.id, op.id))
    expect(siblings.every((s) => past.has(s.id))).toBe(true)
    const all = await ledger.getOps(g.id, ledger.log.order(g.id))
    const merges = all.filter((o) => o!.op.type === MERGE_OP_TYPE)
    expect(merges.length).toBeGreaterThanOrEqual(13) // 100 heads → 13 merges → 2 → the op
    expect(merges.every((m) => m!.op.body === null && m!.op.deps.length <= 8)).toBe(true)
    // Seqs stay distinct: no equivocation of our own.
    expect(ledger.log.equivocations(g.id)).toEqual([])
  })
})

describe('pending buffer', () => {
  const ghostOf = (doc: OpId, n: number) =>
    makeOp(testSigner(200 + n), { doc, seq: 1, deps: [doc] })

  test('one author is held to its quota; another author’s out-of-order op still waits', async () => {
    const ledger = await memoryLedger({ maxPendingPerAuthor: 50 })
    const g = makeGenesis(alice)
    await ledger.ingest([g.bytes])
    const ghost = ghostOf(g.id, 1)
    const flood = Array.from({ length: 80 }, (_, i) =>
      makeOp(mallory, { doc: g.id, seq: i + 1, deps: [ghost.id] }),
    )
    const results = await ledger.ingest(flood.map((op) => op.bytes))
    expect(results.filter((r) => r.ok)).toHaveLength(50)
    expect(results.slice(50).every((r) => !r.ok && r.error.message.includes('its author'))).toBe(
      true,
    )
    const first = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] })
    const second = makeOp(bob, { doc: g.id, seq: 2, deps: [first.id] })
    expect((await ledger.ingest([second.bytes])).map(status)).toEqual(['pending'])
    expect((await ledger.ingest([first.bytes])).map(status)).toEqual(['accepted'])
    expect(ledger.log.has(g.id, second.id)).toBe(true)
  })

  test('when the buffer is full the biggest sender gives way: a flood from many keys never blocks another sender', async () => {
    const ledger = await memoryLedger({ maxPendingTotal: 100 })
    const g = makeGenesis(alice)
    await ledger.ingest([g.bytes])
    const ghost = ghostOf(g.id, 2)
    // 100 fresh keys, one op each: the author quota does not bite, the sender's share does.
    const flood = Array.from({ length: 100 }, (_, i) =>
      makeOp(testSigner(50 + i), { doc: g.id, seq: 1, deps: [ghost.id] }),
    )
    expect(
      (
        await ledger.ingest(
          flood.map((op) => op.bytes),
          { source: 'peer:flooder' },
        )
      ).every((r) => r.ok),
    ).toBe(true)
    expect(ledger.log.pendingFrom('peer:flooder')).toBe(100)
    const first = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] })
    const second = makeOp(bob, { doc: g.id, seq: 2, deps: [first.id] })
    const [parked] = await ledger.ingest([second.bytes], { source: 'peer:honest' })
    expect(parked && status(parked)).toBe('pending')
    expect(ledger.log.pendingFrom('peer:flooder')).toBe(99)
    // The flooder itself is refused: it is the biggest sender.
    const more = makeOp(testSigner(199), { doc: g.id, seq: 1, deps: [ghost.id] })
    const [refused] = await ledger.ingest([more.bytes], { source: 'peer:flooder' })
    expect(refused && status(refused)).toBe('PendingBufferFullError')
    await ledger.ingest([first.bytes], { source: 'peer:honest' })
    expect(ledger.log.has(g.id, second.id)).toBe(true)
    expect(ledger.log.stats().pending).toBe(99)
  })

  test('junk does not outlive its time-to-live, across a restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-pending-ttl-'))
    roots.push(root)
    const path = join(root, 'p.sqlite')
    let now = 1_000_000
    const clock = { now: () => now, pendingTtlMs: 60_000 }
    const ledger = await openLedger({ store: sqliteStore({ path }), ...clock })
    const g = makeGenesis(alice)
    await ledger.ingest([g.bytes])
    const ghost = ghostOf(g.id, 3)
    const junk = Array.from({ length: 30 }, (_, i) =>
      makeOp(mallory, { doc: g.id, seq: i + 1, deps: [ghost.id] }),
    )
    await ledger.ingest(
      junk.map((op) => op.bytes),
      { source: 'http:10.0.0.9' },
    )
    expect(ledger.log.pendingCount()).toBe(30)
    await ledger.close()
    // Restarted within the time-to-live, the junk is still counted against its sender.
    now += 30_000
    const within = await openLedger({ store: sqliteStore({ path }), ...clock })
    expect(within.log.pendingFrom('http:10.0.0.9')).toBe(30)
    await within.close()
    // Past it, it is gone from memory and from the store.
    now += 31_000
    const after = await openLedger({ store: sqliteStore({ path }), ...clock })
    expect(after.log.pendingCount()).toBe(0)
    await after.close()
    const raw = sqliteStore({ path })
    const left: unknown[] = []
    for await (const op of raw.pending()) left.push(op)
    expect(left).toEqual([])
    await raw.close()
  })
})
