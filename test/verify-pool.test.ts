import * as dagCbor from '@ipld/dag-cbor'
import { afterAll, describe, expect, test } from 'vitest'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { createVerifyPool } from '../src/node/verify-pool.ts'
import { makeGenesis, makeOp, memoryLedger, testSigner } from './helpers.ts'

const pool = createVerifyPool({ size: 2, minChunk: 4 })
afterAll(() => pool.close())

const alice = testSigner(1)
const g = makeGenesis(alice)
const ops = Array.from({ length: 40 }, (_, i) =>
  makeOp(testSigner((i % 5) + 1), { doc: g.id, seq: i + 2, deps: [g.id], body: { i } }),
)

function forge(bytes: Uint8Array): Uint8Array {
  const value = dagCbor.decode(bytes) as Record<string, unknown>
  value.sig = new Uint8Array(64).fill(9)
  return dagCbor.encode(value)
}

describe('createVerifyPool', () => {
  test('verifies a batch across workers, in order, flagging exactly the forged ones', async () => {
    const batch = ops.map((op, i) => (i % 7 === 3 ? decodeOp(forge(op.bytes)) : op))
    const results = await pool.verify(batch)
    expect(results).toEqual(batch.map((_, i) => i % 7 !== 3))
  })

  test('serves concurrent batches', async () => {
    const all = await Promise.all([
      pool.verify(ops.slice(0, 10)),
      pool.verify(ops.slice(10, 30)),
      pool.verify([]),
    ])
    expect(all.map((r) => r.length)).toEqual([10, 20, 0])
    expect(all.flat().every(Boolean)).toBe(true)
  })

  test('a ledger using the pool rejects forged ops like the inline path', async () => {
    const ledger = await memoryLedger({ verifier: pool.verify })
    const results = await ledger.ingest([g.bytes, forge(ops[0]!.bytes), ops[1]!.bytes])
    expect(results.map((r) => (r.ok ? r.status : r.error.name))).toEqual([
      'accepted',
      'InvalidSignatureError',
      'accepted',
    ])
  })

  test('replaces a worker that dies, failing its jobs instead of hanging, then carries on', async () => {
    const own = createVerifyPool({ size: 1, minChunk: 1 })
    const [worker] = own.workers
    const inFlight = own.verify(ops)
    await worker!.terminate()
    await expect(inFlight).rejects.toMatchObject({ name: 'VerifyPoolError' })
    expect(own.workers[0]).not.toBe(worker)
    expect(await own.verify(ops.slice(0, 3))).toEqual([true, true, true])
    await own.close()
  })

  test('refuses work after close', async () => {
    const other = createVerifyPool({ size: 1 })
    await other.close()
    await expect(other.verify(ops.slice(0, 1))).rejects.toMatchObject({ name: 'VerifyPoolError' })
  })
})
