import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { decodePlainItem, internAscii, scanItem } from '../src/ledger/cbor.ts'

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
