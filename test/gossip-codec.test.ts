import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { decodeGossip, encodeGossip, GOSSIP_BATCH } from '../src/net/gossip-codec.ts'

const bytes = (length: number, fill = 7) => new Uint8Array(length).fill(fill)

describe('gossip codec', () => {
  it('encodes exactly as DAG-CBOR does, for every head size, and decodes back', () => {
    for (const lengths of [[0], [1, 23], [24, 255], [256, 65_535], [65_536], [5, 300, 70_000]]) {
      const ops = lengths.map((n, i) => bytes(n, i + 1))
      const encoded = encodeGossip(ops)
      expect(Buffer.from(encoded).equals(Buffer.from(dagCbor.encode(ops)))).toBe(true)
      expect(decodeGossip(encoded)).toEqual(ops)
    }
    const full = Array.from({ length: GOSSIP_BATCH }, (_, i) => bytes(i % 40, i))
    expect(decodeGossip(encodeGossip(full))).toEqual(full)
  })

  it('decodes to views of the message, not copies', () => {
    const message = encodeGossip([bytes(3, 1), bytes(4, 2)])
    const [first] = decodeGossip(message)
    expect(first!.buffer).toBe(message.buffer)
  })

  it.each([
    ['empty input', new Uint8Array(0), 'not DAG-CBOR'],
    ['a map', dagCbor.encode({ a: new Uint8Array(1) }), 'other than a list'],
    ['an empty list', dagCbor.encode([]), 'other than a list'],
    [
      'too many ops',
      dagCbor.encode(Array.from({ length: GOSSIP_BATCH + 1 }, () => new Uint8Array(1))),
      'other than a list',
    ],
    ['a text item', dagCbor.encode([new Uint8Array(1), 'op']), 'other than a list'],
    ['trailing bytes', Uint8Array.of(...dagCbor.encode([new Uint8Array(2)]), 0), 'not DAG-CBOR'],
    ['a truncated op', dagCbor.encode([new Uint8Array(10)]).subarray(0, 8), 'not DAG-CBOR'],
    ['a missing op', Uint8Array.of(0x82, 0x41, 0x00), 'not DAG-CBOR'],
    ['a non-shortest length', Uint8Array.of(0x81, 0x58, 0x01, 0xff), 'not DAG-CBOR'],
    ['an indefinite list', Uint8Array.of(0x9f, 0x41, 0x00, 0xff), 'not DAG-CBOR'],
  ])('rejects %s', (_, message, error) => {
    expect(() => decodeGossip(message)).toThrow(error)
  })
})
