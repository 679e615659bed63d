import { describe, expect, test } from 'vitest'
import { type AuditReducer, createAuditReducer, reduceAudit } from '../src/core/audit/reduce.ts'
import { openLedger } from '../src/ledger/ledger.ts'
import type { Store, StoredOp } from '../src/ledger/store.ts'
import { verifyStore } from '../src/ledger/verify-store.ts'
import { createVerifyPool } from '../src/node/verify-pool.ts'
import { memoryStore } from '../src/store/memory-store.ts'
import { AuditFixture, testAuditor } from './audit-fixture.ts'
import { makeGenesis, makeOp, testSigner } from './helpers.ts'

/** A store holding `ops` as accepted, in the given order (even an order a ledger would refuse). */
async function storeOf(ops: readonly { id: string; bytes: Uint8Array }[]): Promise<Store> {
  const store = memoryStore()
  await store.write({ accepted: ops as StoredOp[], pendingAdded: [], pendingRemoved: [] })
  return store
}

describe('verifyStore', () => {
  test('rebuilds an audit from a store, signature by signature, to the state the ledger had', async () => {
    const audit = await AuditFixture.create({ bond: '900' })
    const [a1, a2, a3] = [testAuditor(1), testAuditor(2), testAuditor(3)]
    await audit.runToAuditing({ items: ['A', 'B'], auditors: [a1!, a2!, a3!] })
    await audit.answerAll(a1!, () => true)
    await audit.answerAll(a2!, () => false)
    await audit.answerAll(a3!, () => true)
    await audit.act('audit.stop')
    const ops = await audit.ops()
    const store = await storeOf(ops)
    for (const verifier of [undefined, 'pool'] as const) {
      const pool = verifier ? createVerifyPool({ size: 2 }) : undefined
      let reducer: AuditReducer | undefined
      let seen = 0
      const { log, ops: checked } = await verifyStore({
        store,
        verifier: pool?.verify,
        onAccepted(accepted) {
          for (const { op } of accepted) {
            seen++
            if (reducer) reducer.apply(op)
            else reducer = createAuditReducer(op)
          }
        },
      })
      await pool?.close()
      expect(checked).toBe(ops.length)
      expect(seen).toBe(ops.length)
      expect(log.heads(audit.id)).toEqual(audit.heads())
      const state = reducer!.state()
      expect(state.state).toBe('WAITING_FOR_CONTRACT')
      expect(state.settlement).toEqual(reduceAudit(ops).settlement)
    }
  })

  test('names the op whose signature was tampered with', async () => {
    const alice = testSigner(1)
    const g = makeGenesis(alice)
    const op = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id] })
    const bytes = new Uint8Array(op.bytes)
    const sigAt = Buffer.from(bytes).indexOf(Buffer.from(op.op.sig))
    expect(sigAt).toBeGreaterThan(0)
    bytes[sigAt + 10]! ^= 1 // the id covers everything but the signature, so it stays the same
    const store = await storeOf([g, { id: op.id, bytes }])
    await expect(verifyStore({ store })).rejects.toMatchObject({
      name: 'StoreCorruptError',
      message: expect.stringContaining(`${op.id} at position 1`),
    })
  })

  test('refuses an op stored before its deps, and one stored twice', async () => {
    const alice = testSigner(1)
    const g = makeGenesis(alice)
    const a = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id] })
    const b = makeOp(alice, { doc: g.id, seq: 3, deps: [a.id] })
    await expect(verifyStore({ store: await storeOf([g, b, a]) })).rejects.toMatchObject({
      name: 'StoreCorruptError',
      message: expect.stringContaining('deps are not stored before it'),
    })
    await expect(verifyStore({ store: await storeOf([g, a, a]) })).rejects.toMatchObject({
      name: 'StoreCorruptError',
      message: expect.stringContaining('stored twice'),
    })
  })

  test('refuses bytes that do not decode, with their position', async () => {
    const g = makeGenesis(testSigner(1))
    const store = await storeOf([g, { id: 'x', bytes: Uint8Array.of(1, 2, 3) }])
    await expect(verifyStore({ store })).rejects.toMatchObject({
      name: 'StoreCorruptError',
      message: expect.stringContaining('position 1'),
    })
  })

  test('checks what a ledger wrote, equivocations included', async () => {
    const store = memoryStore()
    const ledger = await openLedger({ store })
    const alice = testSigner(1)
    const g = makeGenesis(alice)
    const fork1 = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id], body: { n: 1 } })
    const fork2 = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id], body: { n: 2 } })
    const results = await ledger.ingest([g.bytes, fork1.bytes, fork2.bytes])
    expect(results.map((r) => r.ok && r.status)).toEqual(['accepted', 'accepted', 'equivocation'])
    const { log } = await verifyStore({ store })
    expect(log.equivocations(g.id).map((e) => [...e.ids].sort())).toEqual([
      [fork1.id, fork2.id].sort(),
    ])
    await ledger.close()
  })
})
