import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, test } from 'vitest'
import type { OpId } from '../src/ledger/op-id.ts'
import {
  decodeRequest,
  decodeResponse,
  encodeSync,
  FINGERPRINT_BYTES,
  ITEM_HASH_BYTES,
  MAX_WAIT_MS,
  SYNC_LIMITS,
  SYNC_PROTOCOL,
} from '../src/net/sync-messages.ts'
import { makeGenesis, testSigner } from './helpers.ts'

const head = makeGenesis(testSigner(1)).id
const other = makeGenesis(testSigner(2)).id
const [first, second] = [head, other].sort() as [OpId, OpId]
const fp = new Uint8Array(FINGERPRINT_BYTES).fill(7)
const hash = new Uint8Array(ITEM_HASH_BYTES).fill(9)
const query = { lo: '', hi: null, fp, n: 3 }

const rejectsRequest = (message: unknown) =>
  expect(() => decodeRequest(dagCbor.encode(message))).toThrow(
    expect.objectContaining({ name: 'BadSyncMessageError' }),
  )
const rejectsResponse = (message: unknown) =>
  expect(() => decodeResponse(dagCbor.encode(message))).toThrow(
    expect.objectContaining({ name: 'BadSyncMessageError' }),
  )

describe('sync messages', () => {
  test('the protocol is /rwa/sync/2', () => {
    expect(SYNC_PROTOCOL).toBe('/rwa/sync/2')
  })

  test('requests round-trip: recon ranges, and pulls of several documents with heads and skip', () => {
    for (const request of [
      { t: 'recon', ranges: [query, { lo: first, hi: second, fp, n: 0 }] },
      {
        t: 'pull',
        docs: [
          { doc: head, heads: [head], skip: 0 },
          { doc: other, heads: [], skip: 2000 },
        ],
      },
    ] as const)
      expect(decodeRequest(encodeSync(request))).toEqual(request)
  })

  test('responses round-trip: recon entries, ops (or heads) of several documents, wait', () => {
    for (const response of [
      {
        t: 'recon',
        ranges: [
          { lo: '', hi: first, fp },
          { lo: first, hi: second, items: [[first, hash]] },
          { lo: second, hi: null },
        ],
      },
      {
        t: 'ops',
        docs: [
          { doc: head, ops: [Uint8Array.of(1, 2)], more: true },
          { doc: other, ops: [], more: false, heads: [head] },
        ],
      },
      { t: 'wait', ms: 250 },
    ] as const)
      expect(decodeResponse(encodeSync(response))).toEqual(response)
  })

  test('unknown fields are left out', () => {
    const decoded = decodeRequest(
      dagCbor.encode({ t: 'pull', docs: [{ doc: head, heads: [], skip: 0, x: 1 }], y: 2 }),
    )
    expect(decoded).toEqual({ t: 'pull', docs: [{ doc: head, heads: [], skip: 0 }] })
  })

  test.each([
    ['not CBOR', Uint8Array.of(0xff)],
    ['not a map', dagCbor.encode([1])],
    ['the old "docs" request', dagCbor.encode({ t: 'docs' })],
    ['an unknown type', dagCbor.encode({ t: 'push' })],
  ])('rejects a request that is %s', (_, bytes) => {
    expect(() => decodeRequest(bytes)).toThrow(
      expect.objectContaining({ name: 'BadSyncMessageError' }),
    )
  })

  test('rejects recon requests with too many ranges or ranges of the wrong shape', () => {
    rejectsRequest({ t: 'recon', ranges: Array(SYNC_LIMITS.ranges + 1).fill(query) })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, fp: new Uint8Array(15) }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, fp: 'x' }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, n: -1 }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, n: 1.5 }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, lo: 5 }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, lo: 'b', hi: 'a' }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, lo: 'a', hi: 'a' }] })
    rejectsRequest({ t: 'recon', ranges: [{ ...query, lo: 'x'.repeat(101) }] })
    rejectsRequest({ t: 'recon', ranges: 'all' })
    expect(
      decodeRequest(encodeSync({ t: 'recon', ranges: Array(SYNC_LIMITS.ranges).fill(query) })).t,
    ).toBe('recon')
  })

  test('rejects pulls with too many documents or heads, or fields of the wrong type', () => {
    const doc = { doc: head, heads: [head], skip: 0 }
    rejectsRequest({ t: 'pull', docs: Array(SYNC_LIMITS.pullDocs + 1).fill(doc) })
    rejectsRequest({
      t: 'pull',
      docs: [{ doc: head, heads: Array<OpId>(SYNC_LIMITS.heads + 1).fill(head), skip: 0 }],
    })
    // Each document within its bound, but too many heads in all.
    const wide = { doc: head, heads: Array<OpId>(SYNC_LIMITS.heads).fill(head), skip: 0 }
    rejectsRequest({
      t: 'pull',
      docs: Array(SYNC_LIMITS.pullHeads / SYNC_LIMITS.heads + 1).fill(wide),
    })
    rejectsRequest({ t: 'pull', docs: [{ ...doc, skip: -1 }] })
    rejectsRequest({ t: 'pull', docs: [{ ...doc, skip: 1.5 }] })
    rejectsRequest({ t: 'pull', docs: [{ doc: head, heads: [head] }] })
    rejectsRequest({ t: 'pull', docs: [{ ...doc, doc: 7 }] })
    rejectsRequest({ t: 'pull', docs: [{ ...doc, heads: [3] }] })
    rejectsRequest({ t: 'pull', doc: head, heads: [] })
  })

  test('rejects an oversize message before decoding it', () => {
    const big = new Uint8Array(SYNC_LIMITS.bytes + 1)
    expect(() => decodeRequest(big)).toThrow(/at most/)
    expect(() => decodeResponse(big)).toThrow(/at most/)
  })

  test('rejects recon answers with too many entries or items, or items out of range or order', () => {
    const entry = { lo: '', hi: null, fp }
    rejectsResponse({ t: 'recon', ranges: Array(SYNC_LIMITS.entries + 1).fill(entry) })
    const many = Array.from({ length: SYNC_LIMITS.items + 1 }, (_, i) => [
      `b${String(i).padStart(8, '0')}`,
      hash,
    ])
    rejectsResponse({ t: 'recon', ranges: [{ lo: '', hi: null, items: many }] })
    // Split over two entries: the bound is on the answer, not on one entry.
    rejectsResponse({
      t: 'recon',
      ranges: [
        { lo: '', hi: 'b5', items: many.slice(0, 5001) },
        { lo: 'b5', hi: null, items: many.slice(0, 5001).map(([d, h]) => [`c${d}`, h]) },
      ],
    })
    rejectsResponse({
      t: 'recon',
      ranges: [{ lo: second, hi: null, items: [[first, hash]] }],
    })
    rejectsResponse({
      t: 'recon',
      ranges: [
        {
          lo: '',
          hi: null,
          items: [
            [second, hash],
            [first, hash],
          ],
        },
      ],
    })
    rejectsResponse({ t: 'recon', ranges: [{ lo: '', hi: null, items: [[first, fp]] }] })
    rejectsResponse({ t: 'recon', ranges: [{ lo: '', hi: null, fp: hash }] })
    rejectsResponse({ t: 'recon', ranges: [{ lo: 'b', hi: 'a' }] })
  })

  test('rejects ops answers with too many ops in all, and waits that are negative or too long', () => {
    const half = Array.from({ length: SYNC_LIMITS.ops / 2 + 1 }, () => Uint8Array.of(1))
    rejectsResponse({
      t: 'ops',
      docs: [
        { doc: head, ops: half, more: true },
        { doc: other, ops: half, more: true },
      ],
    })
    rejectsResponse({ t: 'ops', docs: [{ doc: head, ops: [] }] })
    rejectsResponse({
      t: 'ops',
      docs: [{ doc: head, ops: [], more: false, heads: Array(SYNC_LIMITS.heads + 1).fill(head) }],
    })
    rejectsResponse({ t: 'ops', docs: [{ doc: head, ops: [], more: false, heads: [1] }] })
    rejectsResponse({ t: 'ops', docs: [{ doc: head, ops: ['x'], more: false }] })
    rejectsResponse({
      t: 'ops',
      docs: Array(SYNC_LIMITS.pullDocs + 1).fill({ doc: head, ops: [], more: false }),
    })
    rejectsResponse({ t: 'wait', ms: -1 })
    rejectsResponse({ t: 'wait', ms: MAX_WAIT_MS + 1 })
    rejectsResponse({ t: 'wait' })
  })
})
