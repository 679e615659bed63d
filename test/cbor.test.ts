import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { decodePlainItem, encodePlainItem, internAscii, scanItem } from '../src/ledger/cbor.ts'

const asciiKey = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_09'.split('')) })

/** Values dag-cbor encodes without floats, tags or non-ASCII text: the "plain" ones. */
const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(0, -1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32, -(2 ** 32) - 1, 2 ** 52),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(asciiKey, fc.constant('__proto__')), tie('value'), { maxKeys: 5 }),
  ),
})).value

describe('decodePlainItem', () => {
  test('gives exactly what dag-cbor decodes, for every plain value', () => {
    fc.assert(
      fc.property(plain, (value) => {
        const bytes = dagCbor.encode(value)
        const scan = scanItem(bytes, 0)
        expect(scan).toEqual({ end: bytes.length, exotic: false })
        const fast = decodePlainItem(bytes, 0, bytes.length)
        const reference = dagCbor.decode(bytes)
        if (fast === undefined) {
          // Only integers dag-cbor may turn into bigints are left to it.
          expect(JSON.stringify(reference, (_, v) => (typeof v === 'bigint' ? 'big' : v))).toMatch(
            /\d{16}/,
          )
          return
        }
        expect(fast).toStrictEqual(reference)
      }),
      { numRuns: 2000 },
    )
  })

  test('a "__proto__" key is an own property, as in dag-cbor, not a new prototype', () => {
    const bytes = dagCbor.encode(JSON.parse('{"__proto__":{"polluted":true},"a":1}'))
    const value = decodePlainItem(bytes, 0, bytes.length) as Record<string, unknown>
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(Object.keys(value)).toEqual(['a', '__proto__'])
    expect((value as { polluted?: boolean }).polluted).toBeUndefined()
  })

  test('integers dag-cbor could decode as bigints are left to it', () => {
    for (const n of [2n ** 53n, -(2n ** 53n), 2n ** 64n - 1n, -(2n ** 64n)]) {
      const bytes = dagCbor.encode({ n })
      expect(scanItem(bytes, 0).exotic).toBe(false)
      expect(decodePlainItem(bytes, 0, bytes.length)).toBeUndefined()
    }
  })

  test('byte strings are copies, not views of the op', () => {
    const bytes = dagCbor.encode({ b: Uint8Array.of(1, 2, 3) })
    const value = decodePlainItem(bytes, 0, bytes.length) as { b: Uint8Array }
    expect(value.b.buffer).not.toBe(bytes.buffer)
    expect(value.b.constructor).toBe(Uint8Array)
  })
})

describe('encodePlainItem', () => {
  test('writes exactly the bytes of dag-cbor, for every plain value', () => {
    fc.assert(
      fc.property(plain, (value) => {
        const fast = encodePlainItem(value)
        const reference = dagCbor.encode(value)
        if (fast === undefined) {
          // Only integers beyond 2^52 are left to dag-cbor.
          expect(JSON.stringify(value)).toMatch(/\d{16}/)
          return
        }
        expect(Buffer.from(fast).equals(Buffer.from(reference))).toBe(true)
        expect(scanItem(fast, 0)).toEqual({ end: fast.length, exotic: false })
      }),
      { numRuns: 2000 },
    )
  })

  test('a null-prototype object is a map, as in dag-cbor', () => {
    const value = Object.assign(Object.create(null), { b: 1, a: [true, null] })
    expect(Buffer.from(encodePlainItem(value)!).equals(Buffer.from(dagCbor.encode(value)))).toBe(
      true,
    )
  })

  test('sorts keys as dag-cbor does: by length, then bytes', () => {
    const value = { bb: 1, a: 2, '10': 3, b: 4, aaa: 5, '9': 6, B: 7 }
    expect(Buffer.from(encodePlainItem(value)!).equals(Buffer.from(dagCbor.encode(value)))).toBe(
      true,
    )
  })

  test('leaves everything else to dag-cbor', () => {
    const deep: unknown[] = []
    let inner = deep
    for (let i = 0; i < 65; i++) {
      const next: unknown[] = []
      inner.push(next)
      inner = next
    }
    for (const value of [
      1.5,
      -0,
      2 ** 52 + 2,
      -(2 ** 53),
      Number.NaN,
      'caf\u00e9',
      { 'caf\u00e9': 1 },
      { a: undefined },
      [1, undefined],
      Buffer.from('ab'),
      new Map(),
      new Date(0),
      { '/': 'x' },
      { asCID: 1 },
      10n,
      deep,
    ])
      expect(encodePlainItem(value)).toBeUndefined()
    // 64 levels below the top are still plain, as scanItem counts them.
    expect(encodePlainItem(deep[0])).toBeDefined()
  })

  test('a long value grows the buffer and still matches', () => {
    const value = { list: Array.from({ length: 3000 }, (_, i) => `item ${i}`) }
    expect(Buffer.from(encodePlainItem(value)!).equals(Buffer.from(dagCbor.encode(value)))).toBe(
      true,
    )
  })
})

describe('internAscii', () => {
  test('gives the text, whether cached, evicted or colliding in its slot', () => {
    const texts = fc.sample(fc.string({ unit: 'binary-ascii', maxLength: 80 }), 2000)
    for (const text of [...texts, ...texts.reverse(), 'a', 'ab', 'a', 'b', 'ab']) {
      const bytes = Buffer.from(`##${text}#`, 'latin1')
      expect(internAscii(bytes, 2, 2 + text.length)).toBe(text)
    }
  })

  test('keeps its own copy: a reused buffer does not change what it gives', () => {
    const bytes = Buffer.from('answer', 'latin1')
    expect(internAscii(bytes, 0, 6)).toBe('answer')
    bytes.write('bnswer', 'latin1')
    expect(internAscii(bytes, 0, 6)).toBe('bnswer')
    expect(internAscii(Buffer.from('answer'), 0, 6)).toBe('answer')
  })
})
