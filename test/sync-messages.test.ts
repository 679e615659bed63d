import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, test } from 'vitest'
import type { OpId } from '../src/ledger/op-id.ts'
import { decodeRequest, decodeResponse, encodeSync, SYNC_LIMITS } from '../src/net/sync-messages.ts'
import { makeGenesis, testSigner } from './helpers.ts'

const head = makeGenesis(testSigner(1)).id

describe('sync messages', () => {
  test('requests and responses round-trip; skip is optional', () => {
    for (const request of [
      { t: 'docs' },
      { t: 'pull', doc: head, heads: [head] },
      { t: 'pull', doc: head, heads: [], skip: 2000 },
    ] as const)
      expect(decodeRequest(encodeSync(request))).toEqual(request)
    const ops = { t: 'ops', ops: [Uint8Array.of(1, 2)], more: true } as const
    expect(decodeResponse(encodeSync(ops))).toEqual(ops)
    const docs = { t: 'docs', docs: [{ doc: head, heads: [head] }] } as const
    expect(decodeResponse(encodeSync(docs))).toEqual(docs)
  })

  test('unknown fields of a request are left out', () => {
    const decoded = decodeRequest(dagCbor.encode({ t: 'pull', doc: head, heads: [], x: 1 }))
    expect(decoded).toEqual({ t: 'pull', doc: head, heads: [] })
  })

  test.each([
    ['not CBOR', Uint8Array.of(0xff)],
    ['not a map', dagCbor.encode([1])],
    ['an unknown type', dagCbor.encode({ t: 'push' })],
    ['a negative skip', dagCbor.encode({ t: 'pull', doc: head, heads: [], skip: -1 })],
    ['a fractional skip', dagCbor.encode({ t: 'pull', doc: head, heads: [], skip: 1.5 })],
    [
      'too many heads',
      dagCbor.encode({
        t: 'pull',
        doc: head,
        heads: Array<OpId>(SYNC_LIMITS.heads + 1).fill(head),
      }),
    ],
  ])('rejects a request that is %s', (_, bytes) => {
    expect(() => decodeRequest(bytes)).toThrow(
      expect.objectContaining({ name: 'BadSyncMessageError' }),
    )
  })

  test('rejects a response with too many ops or no "more"', () => {
    const many = Array.from({ length: SYNC_LIMITS.ops + 1 }, () => Uint8Array.of(1))
    expect(() => decodeResponse(dagCbor.encode({ t: 'ops', ops: many, more: false }))).toThrow(
      /ops, more/,
    )
    expect(() => decodeResponse(dagCbor.encode({ t: 'ops', ops: [] }))).toThrow(/ops, more/)
  })
})
