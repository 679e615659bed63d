import { describe, expect, test } from 'vitest'
import { createLog } from '../src/ledger/log.ts'
import { compareOpIds, type OpId } from '../src/ledger/op-id.ts'
import { makeGenesis, makeOp, memoryLedger, testSigner } from './helpers.ts'

const alice = testSigner(1)
const bob = testSigner(2)
const carol = testSigner(3)

/** g → {a, b} → c: a diamond with two concurrent branches. */
function diamond() {
  const g = makeGenesis(alice)
  const a = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id] })
  const b = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] })
  const c = makeOp(carol, { doc: g.id, seq: 1, deps: [a.id, b.id] })
  return { g, a, b, c }
}

describe('createLog', () => {
  test('tracks heads as ops arrive', () => {
    const { g, a, b, c } = diamond()
    const log = createLog()
    log.add(g)
    expect(log.heads(g.id)).toEqual([g.id])
    log.add(a)
    log.add(b)
    expect(log.heads(g.id)).toEqual([a.id, b.id].sort(compareOpIds))
    log.add(c)
    expect(log.heads(g.id)).toEqual([c.id])
    expect(log.size(g.id)).toBe(4)
    expect(log.docs()).toEqual([g.id])
  })

  test('orders deps first and breaks ties by id bytes', () => {
    const { g, a, b, c } = diamond()
    const log = createLog()
    for (const op of [g, b, a, c]) log.add(op)
    const [first, second] = [a.id, b.id].sort(compareOpIds)
    expect(log.order(g.id)).toEqual([g.id, first, second, c.id])
  })

  test('gives the causal past of an op, without the op itself', () => {
    const { g, a, b, c } = diamond()
    const log = createLog()
    for (const op of [g, a, b, c]) log.add(op)
    expect(log.causalPast(g.id, a.id)).toEqual([g.id])
    expect(new Set(log.causalPast(g.id, c.id))).toEqual(new Set([g.id, a.id, b.id]))
    expect(log.causalPast(g.id, g.id)).toEqual([])
  })

  test('says which ids it lacks (pending ops are not lacked)', () => {
    const { g, a, b, c } = diamond()
    const log = createLog()
    log.add(g)
    log.add(c) // pending: a and b missing
    expect(log.missing(g.id, [g.id, a.id, b.id, c.id])).toEqual([a.id, b.id])
    expect(log.pending(g.id)).toEqual([c.id])
  })

  test('reports lastSeq per author and positions in acceptance order', () => {
    const { g, a, b, c } = diamond()
    const log = createLog()
    for (const op of [g, b, a, c]) log.add(op)
    expect(log.lastSeq(g.id, alice.publicKey)).toBe(2)
    expect(log.lastSeq(g.id, bob.publicKey)).toBe(1)
    expect(log.lastSeq(g.id, testSigner(9).publicKey)).toBe(0)
    expect([g, b, a, c].map((op) => log.position(op.id, g.id))).toEqual([0, 1, 2, 3])
    expect(log.position(c.id, g.id)).toBe(3)
  })

  test('detects equivocation for ordinary and absurdly large seqs alike', () => {
    const g = makeGenesis(alice)
    const log = createLog()
    log.add(g)
    for (const seq of [2, 5000, 2 ** 40]) {
      const first = makeOp(bob, { doc: g.id, seq, deps: [g.id], body: { n: 1 } })
      const second = makeOp(bob, { doc: g.id, seq, deps: [g.id], body: { n: 2 } })
      expect(log.add(first).status).toBe('accepted')
      expect(log.add(second).status).toBe('equivocation')
    }
    expect(log.equivocations(g.id).map((e) => e.seq)).toEqual([2, 5000, 2 ** 40])
    expect(log.lastSeq(g.id, bob.publicKey)).toBe(2 ** 40)
  })

  test('never applies an op whose dep belongs to another document', () => {
    const log = createLog()
    const one = makeGenesis(alice, { n: 1 })
    const two = makeGenesis(alice, { n: 2 })
    log.add(one)
    log.add(two)
    const crossed = makeOp(bob, { doc: one.id, seq: 1, deps: [two.id] })
    expect(log.add(crossed).status).toBe('pending')
    expect(log.has(one.id, crossed.id)).toBe(false)
    expect(log.heads(one.id)).toEqual([one.id])
  })
})

describe('Ledger', () => {
  test('append fills seq and deps from the heads, and concurrent appends get distinct seqs', async () => {
    const ledger = await memoryLedger()
    const g = await ledger.append(alice, { doc: null, type: 'test.create', body: {}, time: 1 })
    expect(g.op).toMatchObject({ seq: 1, deps: [], doc: null })
    const ops = await Promise.all(
      [1, 2, 3].map((n) =>
        ledger.append(alice, { doc: g.id, type: 'test.op', body: { n }, time: n }),
      ),
    )
    expect(ops.map((op) => op.op.seq)).toEqual([2, 3, 4])
    expect(ops[1]!.op.deps).toEqual([ops[0]!.id])
    expect(ledger.log.equivocations(g.id)).toEqual([])
    expect(ledger.log.heads(g.id)).toEqual([ops[2]!.id])
  })

  test('append to an unknown document fails clearly', async () => {
    const ledger = await memoryLedger()
    const g = makeGenesis(alice)
    await expect(
      ledger.append(alice, { doc: g.id, type: 'test.op', body: {}, time: 0 }),
    ).rejects.toMatchObject({
      name: 'UnknownDocumentError',
      shortMessage: expect.stringContaining(g.id),
    })
  })

  test('getOps returns stored ops by id and undefined for unknown ids', async () => {
    const ledger = await memoryLedger()
    const { g, a } = diamond()
    await ledger.ingest([g.bytes, a.bytes])
    const unknown = makeOp(bob, { doc: g.id, seq: 5, deps: [g.id] })
    const [one, two, three] = await ledger.getOps(g.id, [a.id, unknown.id, g.id])
    expect(one?.id).toBe(a.id)
    expect(one?.op.body).toEqual(a.op.body)
    expect(two).toBeUndefined()
    expect(three?.id).toBe(g.id)
  })

  test('onAccepted hears every durable op once, including released pending ops', async () => {
    const ledger = await memoryLedger()
    const heard: string[] = []
    const stop = ledger.onAccepted((ops) => heard.push(...ops.map((entry) => entry.op.id)))
    const { g, a, b, c } = diamond()
    await ledger.ingest([c.bytes, g.bytes])
    await ledger.ingest([a.bytes, b.bytes])
    expect(heard.sort()).toEqual([g.id, a.id, b.id, c.id].sort())
    stop()
    await ledger.append(alice, { doc: g.id, type: 'test.op', body: {}, time: 0 })
    expect(heard).toHaveLength(4)
  })

  test('a listener that throws does not stop later writes', async () => {
    const ledger = await memoryLedger()
    const thrown: unknown[] = []
    const onError = (error: unknown) => thrown.push(error)
    process.on('uncaughtException', onError)
    const listeners = process.listeners('uncaughtException').filter((l) => l !== onError)
    for (const l of listeners) process.off('uncaughtException', l)
    try {
      ledger.onAccepted(() => {
        throw new Error('buggy subscriber')
      })
      const g = await ledger.append(alice, { doc: null, type: 'test.create', body: {}, time: 0 })
      const next = await ledger.append(alice, { doc: g.id, type: 'test.op', body: {}, time: 1 })
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(ledger.log.heads(g.id)).toEqual([next.id])
      const [stored] = await ledger.getOps(g.id, [next.id])
      expect(stored?.id).toBe(next.id)
      expect(thrown.map((e) => (e as Error).message)).toEqual([
        'buggy subscriber',
        'buggy subscriber',
      ])
    } finally {
      process.off('uncaughtException', onError)
      for (const l of listeners) process.on('uncaughtException', l)
    }
  })

  test('a failed store write stops the ledger with a clear error', async () => {
    const base = (await import('../src/store/memory-store.ts')).memoryStore()
    const store = { ...base, write: async () => Promise.reject(new Error('disk full')) }
    const { openLedger } = await import('../src/ledger/ledger.ts')
    const ledger = await openLedger({ store })
    await expect(ledger.ingest([makeGenesis(alice).bytes])).rejects.toMatchObject({
      name: 'LedgerFailedError',
    })
    await expect(
      ledger.append(alice, { doc: null, type: 'test.create', body: {}, time: 0 }),
    ).rejects.toMatchObject({ name: 'LedgerFailedError' })
  })
})

describe('Log.since', () => {
  test('lists what a peer with the given heads lacks, deps first', () => {
    const alice = testSigner(1)
    const bob = testSigner(2)
    const g = makeGenesis(alice)
    const a = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id] })
    const b = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] })
    const c = makeOp(alice, { doc: g.id, seq: 3, deps: [a.id, b.id] })
    const d = makeOp(bob, { doc: g.id, seq: 2, deps: [c.id] })
    const log = createLog()
    for (const op of [g, a, b, c, d]) log.add(op)
    expect(log.since(g.id, [])).toEqual(log.order(g.id))
    expect(log.since(g.id, [d.id])).toEqual([])
    expect(log.since(g.id, [a.id])).toEqual(
      log.order(g.id).filter((id) => ![g.id, a.id].includes(id)),
    )
    expect(log.since(g.id, [a.id]).indexOf(c.id)).toBeLessThan(
      log.since(g.id, [a.id]).indexOf(d.id),
    )
    expect(log.since(g.id, [a.id, b.id])).toEqual([c.id, d.id])
    expect(log.since(g.id, ['bafyunknown' as OpId, b.id])).toEqual(
      log.order(g.id).filter((id) => ![g.id, b.id].includes(id)),
    )
  })
})
