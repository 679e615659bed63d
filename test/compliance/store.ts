import { describe, expect, test } from 'vitest'
import { openLedger } from '../../src/ledger/ledger.ts'
import type { EncodedOp } from '../../src/ledger/op.ts'
import type { Store, StoredOp } from '../../src/ledger/store.ts'
import { makeGenesis, makeOp, testSigner } from '../helpers.ts'

/** What a store implementation hands the suite: a fresh store, and a way to reopen it if durable. */
export type StoreUnderTest = {
  store: Store
  /** Closes nothing; opens the same data again (durable stores only). */
  reopen?: () => Promise<Store>
  cleanup?: () => Promise<void>
}

const alice = testSigner(1)
const bob = testSigner(2)

function stored(op: EncodedOp): StoredOp {
  return { id: op.id, bytes: op.bytes }
}

/** Flattens the pages of `accepted()`, checking each page is a non-empty array as the port says. */
async function collectPages(pages: AsyncIterable<readonly StoredOp[]>): Promise<StoredOp[]> {
  const out: StoredOp[] = []
  for await (const page of pages) {
    expect(page.length).toBeGreaterThan(0)
    out.push(...page)
  }
  return out
}

async function collect(iterable: AsyncIterable<StoredOp>): Promise<StoredOp[]> {
  const out: StoredOp[] = []
  for await (const item of iterable) out.push(item)
  return out
}

const plain = (ops: StoredOp[]) =>
  ops.map((op) => ({ id: op.id, hex: Buffer.from(op.bytes).toString('hex') }))

/**
 * The behaviour every `Store` must have. Run it for each implementation:
 * @example
 * runStoreSuite({ name: 'memoryStore', create: async () => ({ store: memoryStore() }) })
 */
export function runStoreSuite({
  name,
  create,
  durable = false,
}: {
  name: string
  create: () => Promise<StoreUnderTest>
  /** Whether the store keeps its data across close and reopen (then `create` must give `reopen`). */
  durable?: boolean
}): void {
  describe(`store compliance: ${name}`, () => {
    const g = makeGenesis(alice)
    const ops = Array.from({ length: 5 }, (_, i) =>
      makeOp(alice, { doc: g.id, seq: i + 2, deps: [g.id], body: { i } }),
    )

    test('starts empty', async () => {
      const { store, cleanup } = await create()
      expect(await store.count()).toBe(0)
      expect(await collectPages(store.accepted())).toEqual([])
      expect(await collect(store.pending())).toEqual([])
      expect(await store.read([0])).toEqual([undefined])
      await store.close()
      await cleanup?.()
    })

    test('returns accepted ops in write order and by position', async () => {
      const { store, cleanup } = await create()
      await store.write({
        accepted: [stored(g), stored(ops[0]!)],
        pendingAdded: [],
        pendingRemoved: [],
      })
      await store.write({ accepted: [stored(ops[1]!)], pendingAdded: [], pendingRemoved: [] })
      expect(plain(await collectPages(store.accepted()))).toEqual(
        plain([stored(g), stored(ops[0]!), stored(ops[1]!)]),
      )
      expect(await store.count()).toBe(3)
      const [second, missing, first] = await store.read([1, 3, 0])
      expect(second?.id).toBe(ops[0]!.id)
      expect(Buffer.from(second!.bytes).equals(Buffer.from(ops[0]!.bytes))).toBe(true)
      expect(missing).toBeUndefined()
      expect(first?.id).toBe(g.id)
      await store.close()
      await cleanup?.()
    })

    test('keeps pending ops until a batch removes them', async () => {
      const { store, cleanup } = await create()
      await store.write({
        accepted: [stored(g)],
        pendingAdded: [stored(ops[2]!), stored(ops[3]!)],
        pendingRemoved: [],
      })
      expect((await collect(store.pending())).map((op) => op.id).sort()).toEqual(
        [ops[2]!.id, ops[3]!.id].sort(),
      )
      await store.write({
        accepted: [stored(ops[2]!)],
        pendingAdded: [],
        pendingRemoved: [ops[2]!.id],
      })
      expect((await collect(store.pending())).map((op) => op.id)).toEqual([ops[3]!.id])
      expect(await store.count()).toBe(2)
      await store.close()
      await cleanup?.()
    })

    test('keeps its own copy of the bytes it was given', async () => {
      const { store, cleanup } = await create()
      const bytes = new Uint8Array(g.bytes)
      await store.write({
        accepted: [{ id: g.id, bytes }],
        pendingAdded: [],
        pendingRemoved: [],
      })
      bytes.fill(0)
      const [read] = await store.read([0])
      expect(Buffer.from(read!.bytes).equals(Buffer.from(g.bytes))).toBe(true)
      await store.close()
      await cleanup?.()
    })

    test('streams many ops back in order', async () => {
      const { store, cleanup } = await create()
      const many = Array.from(
        { length: 4500 },
        (_, i) =>
          ({
            id: `${i}`.padStart(8, '0'),
            doc: 'd',
            bytes: Uint8Array.of(i & 255, i >> 8),
          }) as unknown as StoredOp,
      )
      for (let i = 0; i < many.length; i += 1000)
        await store.write({
          accepted: many.slice(i, i + 1000),
          pendingAdded: [],
          pendingRemoved: [],
        })
      const back = await collectPages(store.accepted())
      expect(back.map((op) => op.id)).toEqual(many.map((op) => op.id))
      expect(await store.count()).toBe(4500)
      await store.close()
      await cleanup?.()
    })

    test('refuses use after close', async () => {
      const { store, cleanup } = await create()
      await store.close()
      await expect(store.count()).rejects.toMatchObject({ name: 'StoreClosedError' })
      await expect(
        store.write({ accepted: [], pendingAdded: [], pendingRemoved: [] }),
      ).rejects.toMatchObject({ name: 'StoreClosedError' })
      await cleanup?.()
    })

    // Only durable stores can be reopened; the test is not registered for the others.
    if (durable)
      test('reopening restores the log exactly: ops, heads, pending and equivocation evidence', async () => {
        const under = await create()
        if (!under.reopen)
          throw new Error(`${name} is declared durable but create() gave no reopen()`)
        const ledger = await openLedger({ store: under.store })
        const forkA = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id], body: { fork: 'a' } })
        const forkB = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id], body: { fork: 'b' } })
        const ghost = makeOp(bob, { doc: g.id, seq: 9, deps: [g.id], body: { never: 'delivered' } })
        const waiting = makeOp(alice, { doc: g.id, seq: 9, deps: [ghost.id] })
        await ledger.ingest([g, ...ops, forkA, forkB, waiting].map((op) => op.bytes))
        await ledger.append(alice, { doc: g.id, type: 'test.op', body: { local: true }, time: 1 })
        const snapshot = (l: typeof ledger) => ({
          docs: l.log.docs(),
          order: l.log.order(g.id),
          heads: l.log.heads(g.id),
          pending: l.log.pending(g.id),
          evidence: l.log.equivocations(g.id),
          lastSeq: l.log.lastSeq(g.id, alice.publicKey),
        })
        const before = snapshot(ledger)
        expect(before.pending).toEqual([waiting.id])
        expect(before.evidence).toHaveLength(1)
        await ledger.close()
        const reopened = await openLedger({ store: await under.reopen() })
        expect(snapshot(reopened)).toEqual(before)
        // And it carries on: the missing dep arrives, the waiting op applies.
        const [result] = await reopened.ingest([ghost.bytes])
        expect(result).toMatchObject({ ok: true, status: 'accepted' })
        expect(reopened.log.pending(g.id)).toEqual([])
        await reopened.close()
        await under.cleanup?.()
      })
  })
}
