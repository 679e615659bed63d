import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { describe, expect, test } from 'vitest'
import { skipItem } from '../src/ledger/cbor.ts'
import { createPublicKeyCache } from '../src/ledger/keys.ts'
import type { Op } from '../src/ledger/op.ts'
import { decodeOp, isSmallOrderKey } from '../src/ledger/op-decode.ts'
import { encodeOp, getOpId, signOp, verifyOp } from '../src/ledger/op-encode.ts'
import {
  compareOpIds,
  formatOpId,
  isOpId,
  type OpId,
  opIdAt,
  opIdBytesOf,
  parseOpIdBytes,
} from '../src/ledger/op-id.ts'
import { makeGenesis, makeOp, testSigner } from './helpers.ts'

const alice = testSigner(1)
const bob = testSigner(2)
const genesis = makeGenesis(alice)
const vote = makeOp(alice, {
  doc: genesis.id,
  seq: 2,
  deps: [genesis.id],
  type: 'audit.vote',
  body: { item: 3, answer: true, note: 'ok' },
})

/** Re-encodes a decoded op's CBOR value with one change, bypassing our encoder's checks. */
function rawEncode(op: Uint8Array, change: (value: Record<string, unknown>) => void): Uint8Array {
  const value = dagCbor.decode(op) as Record<string, unknown>
  change(value)
  return dagCbor.encode(value)
}

describe('encodeOp / decodeOp', () => {
  test('round-trips a signed op with the same id and fields', () => {
    const decoded = decodeOp(vote.bytes)
    expect(decoded.id).toBe(vote.id)
    expect(decoded.op).toEqual(vote.op)
    expect(getOpId(decoded.op)).toBe(vote.id)
    expect(Buffer.from(decoded.bytes).equals(Buffer.from(vote.bytes))).toBe(true)
  })

  test('gives the same bytes and id whatever the order of object keys', () => {
    const a: Op = {
      v: 1,
      doc: genesis.id,
      author: alice.publicKey,
      seq: 2,
      deps: [genesis.id],
      time: 5,
      type: 'x.y',
      body: { b: 1, a: [1, { z: 1, y: 2 }] },
    }
    const b = {
      body: { a: [1, { y: 2, z: 1 }], b: 1 },
      type: 'x.y',
      time: 5,
      deps: [genesis.id],
      seq: 2,
      author: alice.publicKey,
      doc: genesis.id,
      v: 1,
    } as Op
    expect(Buffer.from(encodeOp(a)).equals(Buffer.from(encodeOp(b)))).toBe(true)
    expect(signOp(a, alice).id).toBe(signOp(b, alice).id)
    expect(Buffer.from(signOp(a, alice).bytes).equals(Buffer.from(signOp(b, alice).bytes))).toBe(
      true,
    )
  })

  test('sorts and de-duplicates deps, so their order does not change the id', () => {
    const other = makeOp(bob, { doc: genesis.id, seq: 1, deps: [genesis.id] })
    const sorted = [vote.id, other.id].sort((x, y) =>
      Buffer.compare(parseOpIdBytes(x), parseOpIdBytes(y)),
    )
    const a = makeOp(alice, { doc: genesis.id, seq: 3, deps: [sorted[1]!, sorted[0]!, sorted[1]!] })
    const b = makeOp(alice, { doc: genesis.id, seq: 3, deps: sorted })
    expect(a.id).toBe(b.id)
    expect(a.op.deps).toEqual(sorted)
  })

  test('the id is the CIDv1 dag-cbor sha2-256 of the op without sig', () => {
    const { sig: _sig, ...unsigned } = dagCbor.decode(vote.bytes) as Record<string, unknown>
    const bytes = dagCbor.encode(unsigned)
    const digest = new Uint8Array(opIdBytesOf(bytes).subarray(4))
    const cid = CID.createV1(0x71, {
      code: 0x12,
      size: 32,
      digest,
      bytes: new Uint8Array([0x12, 0x20, ...digest]),
    })
    expect(cid.toString()).toBe(vote.id)
  })

  test('signs over the domain-separated id, verifiably', () => {
    expect(verifyOp(vote)).toBe(true)
    expect(verifyOp(vote, createPublicKeyCache())).toBe(true)
    const wrongAuthor = { ...vote, op: { ...vote.op, author: bob.publicKey } }
    expect(verifyOp(wrongAuthor)).toBe(false)
  })

  test('refuses to sign for an author that is not the signer', () => {
    const op: Op = { ...vote.op, author: bob.publicKey }
    expect(() => signOp(op, alice)).toThrow(
      expect.objectContaining({ name: 'InvalidOpFieldError' }),
    )
  })

  test('flipping any single byte of a signed op makes it rejected', () => {
    const keys = createPublicKeyCache()
    for (let i = 0; i < vote.bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bytes = new Uint8Array(vote.bytes)
        bytes[i]! ^= mask
        let accepted = false
        try {
          accepted = verifyOp(decodeOp(bytes), keys)
        } catch {
          accepted = false
        }
        expect(accepted, `byte ${i} ^ ${mask}`).toBe(false)
      }
    }
  })
})

describe('the op encoder', () => {
  const id = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((digest) => {
    const bytes = new Uint8Array([0x01, 0x71, 0x12, 0x20, ...digest])
    return formatOpId(bytes)
  })
  const body = fc.jsonValue({ maxDepth: 3 }).filter((v) => {
    // Only bodies dag-cbor can encode at all (it refuses some values, such as undefined).
    try {
      dagCbor.encode(v)
      return true
    } catch {
      return false
    }
  })
  const arbitraryOp = fc
    .record({
      genesis: fc.boolean(),
      doc: id,
      seq: fc.oneof(
        fc.integer({ min: 1, max: 30 }),
        fc.maxSafeInteger().filter((n) => n >= 1),
      ),
      deps: fc.array(id, { minLength: 1, maxLength: 6 }),
      time: fc.oneof(
        fc.integer({ min: 0, max: 70_000 }),
        fc.maxSafeInteger().filter((n) => n >= 0),
      ),
      type: fc.constantFrom('audit.answer', 'a', 'x-y_z.w9', 'audit.settlement.sign'),
      body,
    })
    .map(
      ({ genesis, doc, seq, deps, time, type, body }): Op => ({
        v: 1,
        doc: genesis ? null : doc,
        author: testSigner(3).publicKey,
        seq: genesis ? 1 : seq,
        // Duplicates and any order: the encoder sorts and de-duplicates.
        deps: genesis ? [] : [...deps, deps[0]!],
        time,
        type,
        body,
      }),
    )

  /** The op's map as the generic DAG-CBOR and CID libraries encode it. */
  const reference = (op: Op, sig?: Uint8Array) => {
    const link = (dep: string) => CID.decode(parseOpIdBytes(dep))
    const deps = [...new Set(op.deps)].sort((a, b) =>
      Buffer.compare(parseOpIdBytes(a), parseOpIdBytes(b)),
    )
    const map: Record<string, unknown> = {
      v: 1,
      doc: op.doc === null ? null : link(op.doc),
      seq: op.seq,
      body: op.body,
      deps: deps.map(link),
      time: op.time,
      type: op.type,
      author: op.author,
    }
    if (sig) map.sig = sig
    return Buffer.from(dagCbor.encode(map))
  }

  test('signs plain bodies (bytes, nesting at the limit, "__proto__" keys) as peers decode them', () => {
    const signer = testSigner(3)
    let deep: unknown = 'bottom'
    for (let i = 0; i < 64; i++) deep = [deep]
    for (const body of [
      { blob: Uint8Array.of(1, 2, 3), n: -(2 ** 52), list: [true, false, null] },
      deep,
      JSON.parse('{"__proto__":{"polluted":true},"item":"b"}'),
      Object.assign(Object.create(null), { answer: true }),
    ]) {
      const op: Op = {
        v: 1,
        doc: null,
        author: signer.publicKey,
        seq: 1,
        deps: [],
        time: 5,
        type: 'audit.answer',
        body,
      }
      const signed = signOp(op, signer)
      expect(signed).toStrictEqual(decodeOp(signed.bytes))
      expect(Buffer.from(signed.bytes).equals(reference(op, signed.op.sig))).toBe(true)
    }
  })

  test('writes exactly the bytes of dag-cbor, unsigned and signed', () => {
    const signer = testSigner(3)
    fc.assert(
      fc.property(arbitraryOp, (op) => {
        expect(Buffer.from(encodeOp(op)).equals(reference(op))).toBe(true)
        const signed = signOp(op, signer)
        expect(Buffer.from(signed.bytes).equals(reference(op, signed.op.sig))).toBe(true)
        expect(verifyOp(signed)).toBe(true)
        // signOp builds plain-bodied ops without decoding them: the same as peers decode.
        expect(signed).toStrictEqual(decodeOp(signed.bytes))
      }),
      { numRuns: 300 },
    )
  })
})

describe('decodeOp rejections', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['garbage that is not CBOR', () => Uint8Array.of(0xff, 0x00, 0x13), 'NonCanonicalOpError'],
    ['truncated bytes', () => vote.bytes.subarray(0, vote.bytes.length - 10), 'MalformedOpError'],
    ['trailing bytes', () => new Uint8Array([...vote.bytes, 0x00]), 'MalformedOpError'],
    ['a CBOR array', () => dagCbor.encode([1, 2, 3]), 'NotAnOpError'],
    [
      'a map with an extra field',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.extra = 1
          delete v.time
        }),
      'NotAnOpError',
    ],
    [
      'a map whose keys are not all strings',
      () =>
        new Uint8Array([
          ...vote.bytes.subarray(0, 3),
          ...vote.bytes.subarray(1, 3),
          ...vote.bytes.subarray(3),
        ]),
      'NotAnOpError',
    ],
    [
      'a map without sig',
      () =>
        rawEncode(vote.bytes, (v) => {
          delete v.sig
        }),
      'NotAnOpError',
    ],
    [
      'version 2',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.v = 2
        }),
      'UnsupportedOpVersionError',
    ],
    [
      'a text version',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.v = '1'
        }),
      'InvalidOpFieldError',
    ],
    [
      'seq 0',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.seq = 0
        }),
      'InvalidOpFieldError',
    ],
    [
      'a negative time',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.time = -1
        }),
      'InvalidOpFieldError',
    ],
    [
      'a 31-byte author',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.author = new Uint8Array(31)
        }),
      'InvalidOpFieldError',
    ],
    [
      'a short signature',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.sig = new Uint8Array(63)
        }),
      'InvalidOpFieldError',
    ],
    [
      'a type with capitals',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.type = 'Audit.Vote'
        }),
      'InvalidOpFieldError',
    ],
    [
      'deps as text',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.deps = [genesis.id]
        }),
      'InvalidOpFieldError',
    ],
    [
      'a doc that is a raw-codec CID',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.doc = CID.createV1(0x55, (v.doc as CID).multihash)
        }),
      'InvalidOpFieldError',
    ],
    [
      'a genesis with deps',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.doc = null
        }),
      'InvalidOpFieldError',
    ],
    [
      'a non-genesis op without deps',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.deps = []
        }),
      'InvalidOpFieldError',
    ],
    [
      'unsorted deps',
      () =>
        rawEncode(vote.bytes, (v) => {
          const d = v.deps as CID[]
          v.deps = [d[0], d[0]]
        }),
      'InvalidOpFieldError',
    ],
    [
      'more than 64 deps',
      () =>
        rawEncode(vote.bytes, (v) => {
          v.deps = Array.from({ length: 65 }, () => (v.deps as CID[])[0])
        }),
      'TooManyDepsError',
    ],
  ]
  for (const [what, build, name] of cases) {
    test(`rejects ${what} with ${name}`, () => {
      let error: unknown
      try {
        decodeOp(build())
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(Error)
      expect((error as Error).name).toBe(name)
      expect((error as { shortMessage: string }).shortMessage).toMatch(/\.$/)
    })
  }

  test('rejects unsorted map keys as non-canonical', () => {
    // Swap the first two entries ("v" and "doc") in place: well-formed CBOR, wrong key order.
    const bytes = vote.bytes
    const vEntry = bytes.subarray(1, 4) // 61 76 01
    const docEnd = skipItem(bytes, 4 + 4) // "doc" key is 4 bytes, then its link
    const swapped = new Uint8Array([
      bytes[0]!,
      ...bytes.subarray(4, docEnd),
      ...vEntry,
      ...bytes.subarray(docEnd),
    ])
    expect(swapped.length).toBe(bytes.length)
    // Still the same entries: dag-cbor decodes it to the same value, and re-encodes it differently.
    expect(dagCbor.decode(swapped)).toEqual(dagCbor.decode(bytes))
    expect(() => decodeOp(swapped)).toThrow(
      expect.objectContaining({ name: 'NonCanonicalOpError' }),
    )
  })

  test('rejects a non-minimal integer as non-canonical', () => {
    // seq 2 is 0x02; write it as 0x18 0x02 (one extra byte) and fix nothing else.
    const at = Buffer.from(vote.bytes).indexOf(Buffer.from([0x63, 0x73, 0x65, 0x71])) + 4
    expect(vote.bytes[at]).toBe(0x02)
    const bytes = new Uint8Array([
      ...vote.bytes.subarray(0, at),
      0x18,
      0x02,
      ...vote.bytes.subarray(at + 1),
    ])
    expect(() => decodeOp(bytes)).toThrow(expect.objectContaining({ name: 'NonCanonicalOpError' }))
  })

  test('rejects a body float with an integral value, which would re-encode as an integer', () => {
    const float = rawEncode(vote.bytes, (v) => {
      v.body = { x: 1.5 }
    })
    expect(decodeOp(float).op.body).toEqual({ x: 1.5 }) // a real float is fine
    const at = Buffer.from(float).indexOf(Buffer.from([0xfb, 0x3f, 0xf8])) // 1.5 as float64
    const integral = new Uint8Array(float)
    integral.set([0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], at) // 1.0 as float64
    expect(() => decodeOp(integral)).toThrow(
      expect.objectContaining({ name: 'NonCanonicalOpError' }),
    )
  })

  test('reports an unknown version even when its fields differ from version 1', () => {
    const v2 = dagCbor.encode({ v: 2, payload: 'a future format' })
    expect(() => decodeOp(v2)).toThrow(
      expect.objectContaining({ name: 'UnsupportedOpVersionError' }),
    )
  })

  test('refuses to sign what peers would reject (e.g. a body nested too deeply)', () => {
    let deep: unknown = []
    for (let i = 0; i < 70; i++) deep = [deep]
    expect(() =>
      makeOp(alice, { doc: genesis.id, seq: 2, deps: [genesis.id], body: deep }),
    ).toThrow(expect.objectContaining({ name: 'MalformedOpError' }))
    expect(() =>
      makeOp(alice, { doc: genesis.id, seq: 2, deps: [genesis.id], body: { x: 2.0 } }),
    ).not.toThrow() // 2.0 is the integer 2 in JavaScript
  })

  test('counts deps after de-duplication against the limit', () => {
    const many = Array.from({ length: 65 }, () => genesis.id)
    expect(makeOp(alice, { doc: genesis.id, seq: 2, deps: many }).op.deps).toEqual([genesis.id])
  })

  test('rejects an op over the size limit', () => {
    const big = makeOp(alice, {
      doc: genesis.id,
      seq: 2,
      deps: [genesis.id],
      body: { blob: new Uint8Array(2000) },
    })
    expect(() => decodeOp(big.bytes, { maxBytes: 1000 })).toThrow(
      expect.objectContaining({ name: 'OpTooLargeError' }),
    )
    expect(() => signOp({ ...big.op, body: { blob: new Uint8Array(70_000) } }, alice)).toThrow(
      expect.objectContaining({ name: 'OpTooLargeError' }),
    )
  })

  test('accepts exactly the bytes that re-encode to themselves (property)', () => {
    const body = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown)
    fc.assert(
      fc.property(
        body,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (value, edits) => {
          const op = makeOp(alice, { doc: genesis.id, seq: 2, deps: [genesis.id], body: value })
          expect(decodeOp(op.bytes).id).toBe(op.id)
          const bytes = new Uint8Array(op.bytes)
          for (const [at, byte] of edits) bytes[at % bytes.length] = byte
          let decoded: ReturnType<typeof decodeOp> | undefined
          try {
            decoded = decodeOp(bytes)
          } catch {
            decoded = undefined
          }
          let canonical = false
          try {
            canonical = Buffer.from(dagCbor.encode(dagCbor.decode(bytes))).equals(
              Buffer.from(bytes),
            )
          } catch {
            canonical = false
          }
          // Whatever decodeOp accepts is canonical DAG-CBOR (the converse needs the op schema too).
          if (decoded) expect(canonical).toBe(true)
          if (decoded) expect(Buffer.from(decoded.op.sig).length).toBe(64)
        },
      ),
      { numRuns: 400 },
    )
  })
})

describe('op ids', () => {
  test('format and parse round-trip and match multiformats', () => {
    const bytes = parseOpIdBytes(vote.id)
    expect(formatOpId(bytes)).toBe(vote.id)
    expect(CID.decode(bytes).toString()).toBe(vote.id)
    expect(isOpId(vote.id)).toBe(true)
    expect(isOpId(`${vote.id.slice(0, -1)}1`)).toBe(false)
    expect(isOpId('bafy')).toBe(false)
  })

  test('opIdAt gives the formatted id, whether cached, evicted or colliding in its slot', () => {
    const prefix = [0x01, 0x71, 0x12, 0x20]
    // Digests that share their first two bytes land in the same cache slot.
    const digests = fc.sample(fc.uint8Array({ minLength: 32, maxLength: 32 }), 300)
    const colliding = digests.slice(0, 50).map((d) => Uint8Array.of(7, 9, ...d.subarray(2)))
    for (const digest of [...digests, ...colliding, ...digests, ...colliding.reverse()]) {
      const bytes = Uint8Array.of(0xaa, ...prefix, ...digest)
      expect(opIdAt(bytes, 1)).toBe(formatOpId(bytes.subarray(1)))
    }
  })

  test('compare in the byte order of what they encode', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, b) => {
          const prefix = [0x01, 0x71, 0x12, 0x20]
          const ia = new Uint8Array([...prefix, ...a])
          const ib = new Uint8Array([...prefix, ...b])
          expect(Math.sign(compareOpIds(formatOpId(ia), formatOpId(ib)))).toBe(
            Math.sign(Buffer.compare(ia, ib)),
          )
        },
      ),
    )
  })

  test('reject strings that are not op ids with a clear error', () => {
    expect(() => parseOpIdBytes('not an id' as OpId)).toThrow(/CIDv1 dag-cbor sha2-256/)
  })
})

describe('small-order author keys', () => {
  const smallOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  ]
  const opBytes = (author: Uint8Array) =>
    dagCbor.encode({
      v: 1,
      doc: null,
      author,
      seq: 1,
      deps: [],
      time: 0,
      type: 'test.create',
      body: {},
      sig: new Uint8Array(64),
    })

  test('are refused as authors, both signs of each point', () => {
    for (const hex of smallOrder) {
      for (const signBit of [0, 0x80]) {
        const key = new Uint8Array(Buffer.from(hex, 'hex'))
        key[31] = (key[31]! & 0x7f) | signBit
        expect(isSmallOrderKey(key)).toBe(true)
        expect(() => decodeOp(opBytes(key))).toThrow(
          expect.objectContaining({ name: 'InvalidOpFieldError', field: 'author' }),
        )
      }
    }
  })

  test('why: node:crypto verifies an all-zero signature for the all-zero key, others may not', async () => {
    const { verify } = await import('node:crypto')
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.alloc(32)])
    const key = { key: spki, format: 'der' as const, type: 'spki' as const }
    expect(verify(null, Buffer.from('any message'), key, Buffer.alloc(64))).toBe(true)
  })

  test('real keys are never small-order', () => {
    for (let i = 0; i < 500; i++) expect(isSmallOrderKey(testSigner(i).publicKey)).toBe(false)
    expect(decodeOp(makeGenesis(testSigner(1)).bytes).op.author).toHaveLength(32)
  })
})
