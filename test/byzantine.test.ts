import { sign } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, test } from 'vitest'
import type { IngestResult } from '../src/ledger/ledger.ts'
import { openLedger } from '../src/ledger/ledger.ts'
import type { Op } from '../src/ledger/op.ts'
import { encodeOp } from '../src/ledger/op-encode.ts'
import { opIdBytesOf } from '../src/ledger/op-id.ts'
import { memoryStore } from '../src/store/memory-store.ts'
import { ingestOne, makeGenesis, makeOp, memoryLedger, testSigner } from './helpers.ts'

const alice = testSigner(1)
const bob = testSigner(2)
const mallory = testSigner(66)

function rejection(result: IngestResult): string {
  if (result.ok) throw new Error(`expected a rejection, got ${result.status}`)
  return result.error.name
}

describe('Byzantine inputs to the ledger', () => {
  test('forged signature: rejected, nothing stored', async () => {
    const store = memoryStore()
    const ledger = await openLedger({ store })
    const genesis = makeGenesis(alice)
    const forged = dagCbor.decode(genesis.bytes) as Record<string, unknown>
    forged.sig = new Uint8Array(64).fill(7)
    expect(rejection(await ingestOne(ledger, dagCbor.encode(forged)))).toBe('InvalidSignatureError')
    expect(await store.count()).toBe(0)
    expect(ledger.log.docs()).toEqual([])
  })

  test("op claiming another author's key but signed by the attacker: rejected", async () => {
    const ledger = await memoryLedger()
    const genesis = makeGenesis(alice)
    await ingestOne(ledger, genesis)
    const claim: Op = {
      v: 1,
      doc: genesis.id,
      author: alice.publicKey,
      seq: 2,
      deps: [genesis.id],
      time: 0,
      type: 'audit.close',
      body: {},
    }
    const unsigned = encodeOp(claim)
    const idBytes = opIdBytesOf(unsigned)
    const sig = sign(null, Buffer.concat([Buffer.from('rwa/op/v1'), idBytes]), mallory.privateKey)
    const value = dagCbor.decode(unsigned) as Record<string, unknown>
    const bytes = dagCbor.encode({ ...value, sig: new Uint8Array(sig) })
    expect(rejection(await ingestOne(ledger, bytes))).toBe('InvalidSignatureError')
    expect(ledger.log.size(genesis.id)).toBe(1)
  })

  test('equivocation seen by two replicas in opposite orders: same evidence on both', async () => {
    const genesis = makeGenesis(alice)
    const a = makeOp(bob, { doc: genesis.id, seq: 1, deps: [genesis.id], body: { answer: 'yes' } })
    const b = makeOp(bob, { doc: genesis.id, seq: 1, deps: [genesis.id], body: { answer: 'no' } })
    const child = makeOp(alice, { doc: genesis.id, seq: 2, deps: [b.id] }) // an honest op built on one fork
    const one = await memoryLedger()
    const two = await memoryLedger()
    const statuses1 = (await one.ingest([genesis.bytes, a.bytes, b.bytes, child.bytes])).map(
      (r) => r.ok && r.status,
    )
    const statuses2 = (await two.ingest([genesis.bytes, child.bytes, b.bytes, a.bytes])).map(
      (r) => r.ok && r.status,
    )
    expect(statuses1).toEqual(['accepted', 'accepted', 'equivocation', 'accepted'])
    expect(statuses2).toEqual(['accepted', 'pending', 'accepted', 'equivocation'])
    const evidence = one.log.equivocations(genesis.id)
    expect(evidence).toEqual(two.log.equivocations(genesis.id))
    expect(evidence).toHaveLength(1)
    expect(evidence[0]!.seq).toBe(1)
    expect(Buffer.from(evidence[0]!.author).equals(Buffer.from(bob.publicKey))).toBe(true)
    expect([...evidence[0]!.ids].sort()).toEqual([a.id, b.id].sort())
    expect(one.log.isEquivocator(genesis.id, bob.publicKey)).toBe(true)
    expect(two.log.isEquivocator(genesis.id, bob.publicKey)).toBe(true)
    expect(one.log.isEquivocator(genesis.id, alice.publicKey)).toBe(false)
    expect(one.log.heads(genesis.id)).toEqual(two.log.heads(genesis.id))
    expect(one.log.order(genesis.id)).toEqual(two.log.order(genesis.id))
  })

  test('missing deps, then the deps arriving out of order: all applied', async () => {
    const ledger = await memoryLedger()
    const g = makeGenesis(alice)
    const a = makeOp(alice, { doc: g.id, seq: 2, deps: [g.id] })
    const b = makeOp(bob, { doc: g.id, seq: 1, deps: [a.id] })
    const c = makeOp(alice, { doc: g.id, seq: 3, deps: [b.id] })
    expect(await ingestOne(ledger, c)).toMatchObject({ ok: true, status: 'pending' })
    expect(await ingestOne(ledger, b)).toMatchObject({ ok: true, status: 'pending' })
    expect(await ingestOne(ledger, g)).toMatchObject({ ok: true, status: 'accepted' })
    expect(ledger.log.pending(g.id).sort()).toEqual([b.id, c.id].sort())
    expect(await ingestOne(ledger, a)).toMatchObject({ ok: true, status: 'accepted' })
    expect(ledger.log.pending(g.id)).toEqual([])
    expect(ledger.log.order(g.id)).toEqual([g.id, a.id, b.id, c.id])
    expect(ledger.log.heads(g.id)).toEqual([c.id])
  })

  test('replay of an accepted op: an idempotent no-op, not verified again', async () => {
    const store = memoryStore()
    let verified = 0
    const ledger = await openLedger({
      store,
      verifier: async (ops) => {
        verified += ops.length
        return ops.map(() => true)
      },
    })
    const g = makeGenesis(alice)
    const a = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] })
    await ledger.ingest([g.bytes, a.bytes])
    expect(verified).toBe(2)
    // A copy of a held op with a garbage signature has the same id: it is the op already held.
    const garbled = dagCbor.decode(a.bytes) as Record<string, unknown>
    garbled.sig = new Uint8Array(64).fill(7)
    const again = await ledger.ingest([a.bytes, g.bytes, a.bytes, dagCbor.encode(garbled)])
    expect(again.map((r) => r.ok && r.status)).toEqual(Array(4).fill('duplicate'))
    expect(verified).toBe(2)
    expect(await store.count()).toBe(2)
    expect((await ledger.getOps(a.op.doc ?? a.id, [a.id]))[0]!.bytes).toEqual(a.bytes)
    expect(ledger.log.equivocations(g.id)).toEqual([])
  })

  test('deps that never arrive: the op stays pending and the buffer stays bounded', async () => {
    const ledger = await memoryLedger({ maxPending: 5 })
    const g = makeGenesis(alice)
    const ghost = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] }) // never delivered
    await ingestOne(ledger, g)
    const waiting = Array.from({ length: 8 }, (_, i) =>
      makeOp(mallory, { doc: g.id, seq: i + 1, deps: [ghost.id] }),
    )
    const results = await ledger.ingest(waiting.map((op) => op.bytes))
    expect(results.slice(0, 5).map((r) => r.ok && r.status)).toEqual(Array(5).fill('pending'))
    expect(results.slice(5).map(rejection)).toEqual(Array(3).fill('PendingBufferFullError'))
    expect(ledger.log.pending(g.id)).toHaveLength(5)
    expect(ledger.log.pendingCount()).toBe(5)
    expect(ledger.log.heads(g.id)).toEqual([g.id])
  })

  test('the pending bound also holds across many documents', async () => {
    const ledger = await memoryLedger({ maxPending: 100, maxPendingTotal: 10 })
    const orphans = Array.from({ length: 12 }, (_, i) => {
      const g = makeGenesis(mallory, { n: i }) // never delivered: each orphan claims its own document
      return makeOp(mallory, { doc: g.id, seq: 2, deps: [g.id] })
    })
    const results = await ledger.ingest(orphans.map((op) => op.bytes))
    expect(results.filter((r) => r.ok).length).toBe(10)
    expect(results.slice(10).map(rejection)).toEqual([
      'PendingBufferFullError',
      'PendingBufferFullError',
    ])
    expect(ledger.log.pendingCount()).toBe(10)
    // Rejected ops leave nothing behind: no index for the documents they named.
    expect(ledger.log.stats()).toMatchObject({ documents: 10, accepted: 0, pending: 10 })
  })

  test('the pending bound also holds in bytes: a few huge waiting ops cannot exhaust memory', async () => {
    const ledger = await memoryLedger({ maxPendingBytes: 100_000 })
    const g = makeGenesis(alice)
    const ghost = makeOp(bob, { doc: g.id, seq: 1, deps: [g.id] }) // never delivered
    await ingestOne(ledger, g)
    const huge = Array.from({ length: 5 }, (_, i) =>
      makeOp(mallory, {
        doc: g.id,
        seq: i + 1,
        deps: [ghost.id],
        body: { blob: new Uint8Array(30_000) },
      }),
    )
    const results = await ledger.ingest(huge.map((op) => op.bytes))
    expect(results.map((r) => (r.ok ? r.status : r.error.name))).toEqual([
      'pending',
      'pending',
      'pending',
      'PendingBufferFullError',
      'PendingBufferFullError',
    ])
    expect((results[3] as { error: Error }).error.message).toContain('100000 bytes of pending ops')
    expect(ledger.log.stats().pendingBytes).toBeLessThanOrEqual(100_000)
    // When the missing dep arrives, the waiting ops apply and the budget is freed.
    await ingestOne(ledger, ghost)
    expect(ledger.log.stats()).toMatchObject({ pending: 0, pendingBytes: 0 })
  })

  test('oversized op: rejected with OpTooLargeError', async () => {
    const ledger = await memoryLedger({ maxBytes: 1024 })
    const g = makeGenesis(alice, { blob: new Uint8Array(2048) })
    expect(rejection(await ingestOne(ledger, g))).toBe('OpTooLargeError')
  })

  test('malformed CBOR: rejected with a named error, the node keeps working', async () => {
    const ledger = await memoryLedger()
    const g = makeGenesis(alice)
    const results = await ledger.ingest([
      Uint8Array.of(0x1c),
      Uint8Array.of(0xa9, 0x61),
      new Uint8Array(0),
      g.bytes,
    ])
    expect(results.slice(0, 3).map(rejection)).toEqual([
      'MalformedOpError',
      'MalformedOpError',
      'MalformedOpError',
    ])
    expect(results[3]).toMatchObject({ ok: true, status: 'accepted' })
  })

  test('non-canonical encoding (unsorted keys, non-minimal integer): rejected', async () => {
    const ledger = await memoryLedger()
    const g = makeGenesis(alice)
    const at = Buffer.from(g.bytes).indexOf(Buffer.from([0x63, 0x73, 0x65, 0x71])) + 4 // seq's value
    const longSeq = new Uint8Array([
      ...g.bytes.subarray(0, at),
      0x18,
      0x01,
      ...g.bytes.subarray(at + 1),
    ])
    // The map with "doc" and "v" swapped, hand-assembled: same entries, non-canonical order.
    // Layout: a9 | 61 76 01 ("v": 1) | 63 64 6f 63 f6 ("doc": null) | …
    const vEntry = g.bytes.subarray(1, 4)
    const docEntry = g.bytes.subarray(4, 9)
    expect([...docEntry]).toEqual([0x63, 0x64, 0x6f, 0x63, 0xf6])
    const swapped = new Uint8Array([g.bytes[0]!, ...docEntry, ...vEntry, ...g.bytes.subarray(9)])
    expect(swapped.length).toBe(g.bytes.length)
    const results = await ledger.ingest([longSeq, swapped])
    expect(results.map(rejection)).toEqual(['NonCanonicalOpError', 'NonCanonicalOpError'])
  })

  test('wrong version: rejected with UnsupportedOpVersionError', async () => {
    const ledger = await memoryLedger()
    const value = dagCbor.decode(makeGenesis(alice).bytes) as Record<string, unknown>
    value.v = 2
    expect(rejection(await ingestOne(ledger, dagCbor.encode(value)))).toBe(
      'UnsupportedOpVersionError',
    )
  })
})
