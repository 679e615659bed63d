import { MalformedOpError, NonCanonicalOpError } from './errors.ts'

/** A decoded CBOR item head: major type, argument value and the offset just after the head. */
export type CborHead = { major: number; value: number; end: number }

// readHead fills this one object instead of allocating one per head (about fifteen per op):
// callers must copy the fields out (destructure) before the next call.
const HEAD: CborHead = { major: 0, value: 0, end: 0 }

const MAX_DEPTH = 64
const TAG_CID = 42

/**
 * Set by `skipItem` when it passes a float, a tag or non-ASCII text: the values whose DAG-CBOR
 * round trip the byte rules alone do not decide (e.g. 1.0 re-encodes as the integer 1).
 */
let exotic = false

/**
 * Scans one DAG-CBOR item like `skipItem` and tells whether decoding and re-encoding it is the
 * identity by construction (`exotic: false`: only canonical ints, ASCII text, bytes, booleans,
 * null, arrays and sorted maps) or must be checked by an actual round trip.
 */
export function scanItem(bytes: Uint8Array, pos: number): { end: number; exotic: boolean } {
  exotic = false
  const end = skipItem(bytes, pos)
  return { end, exotic }
}

/**
 * Reads one CBOR head at `pos` into a shared object (copy its fields before calling again), enforcing the DAG-CBOR rules that apply to heads: arguments in
 * their shortest form, no indefinite lengths, no reserved additional-info values. Arguments above
 * 2^53 − 1 are reported as `Infinity` so callers can reject them without precision loss.
 */
export function readHead(bytes: Uint8Array, pos: number): CborHead {
  if (pos >= bytes.length) throw new MalformedOpError('unexpected end of input')
  const initial = bytes[pos]!
  const major = initial >> 5
  const info = initial & 31
  if (info < 24) return setHead(major, info, pos + 1)
  if (info === 31) throw new NonCanonicalOpError('indefinite-length items are not allowed')
  if (info > 27) throw new MalformedOpError(`reserved additional information ${info}`)
  const size = 1 << (info - 24)
  if (pos + 1 + size > bytes.length) throw new MalformedOpError('unexpected end of input')
  let value = 0
  for (let i = 1; i <= size; i++) value = value * 256 + bytes[pos + i]!
  // Floats (major 7) carry their bits in the argument; minimality applies to the others.
  if (major !== 7) assertMinimal(value, info, bytes, pos)
  if (value > Number.MAX_SAFE_INTEGER) value = Number.POSITIVE_INFINITY
  return setHead(major, value, pos + 1 + size)
}

function setHead(major: number, value: number, end: number): CborHead {
  HEAD.major = major
  HEAD.value = value
  HEAD.end = end
  return HEAD
}

function assertMinimal(value: number, info: number, bytes: Uint8Array, pos: number): void {
  const minimal =
    value < 24 ? 23 : value < 0x100 ? 24 : value < 0x10000 ? 25 : value < 0x100000000 ? 26 : 27
  // Values above 2^53 lose precision as numbers, but their 8-byte form is then always minimal.
  if (
    info === 27 &&
    bytes[pos + 1]! === 0 &&
    bytes[pos + 2]! === 0 &&
    bytes[pos + 3]! === 0 &&
    bytes[pos + 4]! === 0
  ) {
    throw new NonCanonicalOpError('an integer or length is not in its shortest form')
  }
  if (info !== minimal && info !== 27) {
    throw new NonCanonicalOpError('an integer or length is not in its shortest form')
  }
}

/**
 * Returns the offset just after the DAG-CBOR item at `pos`, validating on the way every
 * canonical rule that can be checked on the bytes: shortest heads, definite lengths, string map
 * keys sorted by length then bytes without duplicates, tag 42 only, 64-bit floats only,
 * no undefined / NaN / infinities.
 */
export function skipItem(bytes: Uint8Array, pos: number, depth = 0): number {
  if (depth > MAX_DEPTH)
    throw new MalformedOpError(`values nested more than ${MAX_DEPTH} levels deep`)
  const { major, value, end } = readHead(bytes, pos)
  switch (major) {
    case 0:
    case 1:
      return end
    case 2:
      return checkedEnd(bytes, end, value)
    case 3:
      return checkText(bytes, end, checkedEnd(bytes, end, value))
    case 4: {
      let p = end
      for (let i = 0; i < value; i++) p = skipItem(bytes, p, depth + 1)
      return p
    }
    case 5:
      return skipMap(bytes, value, end, depth)
    case 6:
      exotic = true
      if (value !== TAG_CID) throw new NonCanonicalOpError(`tag ${value} is not allowed (only 42)`)
      if (bytes[end]! >> 5 !== 2) throw new MalformedOpError('tag 42 must wrap a byte string')
      return skipItem(bytes, end, depth + 1)
    default:
      return skipSimple(bytes, pos, end)
  }
}

function checkText(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) {
      exotic = true
      break
    }
  }
  return end
}

function checkedEnd(bytes: Uint8Array, start: number, length: number): number {
  const end = start + length
  if (end > bytes.length) throw new MalformedOpError('unexpected end of input')
  return end
}

function skipMap(bytes: Uint8Array, entries: number, start: number, depth: number): number {
  let p = start
  let prevStart = -1
  let prevEnd = -1
  for (let i = 0; i < entries; i++) {
    const { major, value, end } = readHead(bytes, p)
    if (major !== 3) throw new NonCanonicalOpError('map keys must be strings')
    const keyEnd = checkText(bytes, end, checkedEnd(bytes, end, value))
    if (prevStart >= 0 && compareKeys(bytes, prevStart, prevEnd, end, keyEnd) >= 0) {
      throw new NonCanonicalOpError('map keys are not sorted by length then bytes, or repeat')
    }
    prevStart = end
    prevEnd = keyEnd
    p = skipItem(bytes, keyEnd, depth + 1)
  }
  return p
}

/** DAG-CBOR key order: shorter keys first, then bytewise. */
function compareKeys(
  bytes: Uint8Array,
  aStart: number,
  aEnd: number,
  bStart: number,
  bEnd: number,
): number {
  const lengthDiff = aEnd - aStart - (bEnd - bStart)
  if (lengthDiff !== 0) return lengthDiff
  for (let i = 0; i < aEnd - aStart; i++) {
    const d = bytes[aStart + i]! - bytes[bStart + i]!
    if (d !== 0) return d
  }
  return 0
}

function skipSimple(bytes: Uint8Array, pos: number, end: number): number {
  const info = bytes[pos]! & 31
  if (info === 20 || info === 21 || info === 22) return end // false, true, null
  if (info === 27) {
    exotic = true
    const value = new DataView(bytes.buffer, bytes.byteOffset + pos + 1, 8).getFloat64(0)
    if (!Number.isFinite(value)) throw new NonCanonicalOpError('NaN and infinities are not allowed')
    return end
  }
  if (info === 25 || info === 26) throw new NonCanonicalOpError('floats must be 64-bit')
  throw new NonCanonicalOpError(`simple value ${info} is not allowed`)
}

let cursor = 0

/**
 * Decodes the DAG-CBOR item in `bytes[start, end)` that `scanItem` found plain (`exotic: false`:
 * only ints, ASCII text, bytes, booleans, null, arrays and maps, already checked canonical) into
 * exactly what `@ipld/dag-cbor`'s decode gives, without its tokenizer: op bodies are decoded for
 * every op a node takes in. Integers beyond 2^52 (dag-cbor makes some of them bigints) are not
 * handled: `undefined` is returned and the caller falls back to dag-cbor.
 */
export function decodePlainItem(bytes: Uint8Array, start: number, end: number): unknown {
  cursor = start
  try {
    const value = plainValue(bytes)
    return cursor === end ? value : undefined
  } catch (error) {
    if (error === BIG_INTEGER) return undefined
    throw error
  }
}

const BIG_INTEGER = Symbol('big integer')

function plainValue(bytes: Uint8Array): unknown {
  const { major, value, end } = readHead(bytes, cursor)
  cursor = end
  switch (major) {
    case 0:
      if (value > 2 ** 52) throw BIG_INTEGER
      return value
    case 1:
      if (value > 2 ** 52) throw BIG_INTEGER
      return -1 - value
    case 2: {
      const out = new Uint8Array(value)
      out.set(bytes.subarray(end, end + value))
      cursor = end + value
      return out
    }
    case 3:
      cursor = end + value
      return asciiText(bytes, end, end + value)
    case 4: {
      const out: unknown[] = new Array(value)
      for (let i = 0; i < value; i++) out[i] = plainValue(bytes)
      return out
    }
    case 5: {
      const out: Record<string, unknown> = {}
      for (let i = 0; i < value; i++) {
        const key = readHead(bytes, cursor)
        const keyStart = key.end
        cursor = keyStart + key.value
        const name = internAscii(bytes, keyStart, cursor)
        const item = plainValue(bytes)
        // As dag-cbor does: an own property, not the prototype setter.
        if (name === '__proto__')
          Object.defineProperty(out, name, {
            value: item,
            configurable: true,
            enumerable: true,
            writable: true,
          })
        else out[name] = item
      }
      return out
    }
    default: {
      const info = bytes[cursor - 1]! & 31
      if (info === 20) return false
      if (info === 21) return true
      if (info === 22) return null
      throw new MalformedOpError(`simple value ${info} where a plain value was expected`)
    }
  }
}

function asciiText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 24)
    return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1')
  let text = ''
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!)
  return text
}

// Short ASCII strings that recur in every op (map keys of bodies, op types), direct-mapped by
// length and a few bytes: decoding finds them here instead of building the same string again.
const INTERN_SLOTS = 256
const MAX_INTERNED = 64
const internedBytes: (Uint8Array | undefined)[] = new Array(INTERN_SLOTS).fill(undefined)
const internedText: string[] = new Array(INTERN_SLOTS).fill('')

/**
 * The ASCII text in `bytes[start, end)` as a string, from a small cache when it was seen
 * recently (strings longer than 64 bytes are built every time).
 */
export function internAscii(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start
  if (length === 0) return ''
  if (length > MAX_INTERNED) return asciiText(bytes, start, end)
  const slot =
    (length * 31 + bytes[start]! * 7 + bytes[end - 1]! * 3 + bytes[start + (length >> 1)]!) &
    (INTERN_SLOTS - 1)
  const cached = internedBytes[slot]
  if (cached !== undefined && cached.length === length) {
    let same = true
    for (let i = 0; i < length; i++) {
      if (cached[i] !== bytes[start + i]) {
        same = false
        break
      }
    }
    if (same) return internedText[slot]!
  }
  const text = asciiText(bytes, start, end)
  const copy = new Uint8Array(length)
  copy.set(bytes.subarray(start, end))
  internedBytes[slot] = copy
  internedText[slot] = text
  return text
}

/** Bytes of the shortest CBOR head for an argument up to 2^53 − 1. */
export function headSize(value: number): number {
  return value < 24 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 2 ** 32 ? 5 : 9
}

/** Writes a CBOR head in its shortest form (arguments up to 2^53 − 1); returns its end. */
export function writeHead(out: Uint8Array, at: number, major: number, value: number): number {
  const type = major << 5
  const size = headSize(value)
  if (size === 1) {
    out[at] = type | value
    return at + 1
  }
  out[at] = type | (size === 2 ? 24 : size === 3 ? 25 : size === 5 ? 26 : 27)
  for (let i = size - 1, rest = value; i >= 1; i--) {
    out[at + i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return at + size
}

// encodePlainItem writes into this buffer (grown as needed) and returns a copy of what it wrote.
let plainOut = new Uint8Array(1024)
let plainAt = 0
const LARGEST_PLAIN_INTEGER = 2 ** 52

/**
 * Encodes `value` as DAG-CBOR when it is plain — null, booleans, integers up to 2^52 in size,
 * ASCII text, `Uint8Array` bytes, and arrays and plain (or null-prototype) objects with ASCII
 * keys of those, nested at
 * most 64 levels — giving exactly the bytes `@ipld/dag-cbor` gives and that `scanItem` finds
 * plain, so `decodePlainItem` reads them back unchanged. Returns `undefined` for anything else;
 * the caller then encodes with dag-cbor (which also raises its errors, e.g. for `undefined`).
 */
export function encodePlainItem(value: unknown): Uint8Array | undefined {
  plainAt = 0
  if (!writePlain(value, 0)) return undefined
  return plainOut.slice(0, plainAt)
}

function reserve(bytes: number): void {
  if (plainAt + bytes <= plainOut.length) return
  const grown = new Uint8Array(Math.max(plainOut.length * 2, plainAt + bytes))
  grown.set(plainOut.subarray(0, plainAt))
  plainOut = grown
}

function writePlainHead(major: number, argument: number): void {
  reserve(9)
  plainAt = writeHead(plainOut, plainAt, major, argument)
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false
  return true
}

function writeAscii(text: string): void {
  writePlainHead(3, text.length)
  reserve(text.length)
  for (let i = 0; i < text.length; i++) plainOut[plainAt++] = text.charCodeAt(i)
}

/** DAG-CBOR map key order for ASCII keys: shorter first, then by character codes. */
const byKeyOrder = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)

function writePlain(value: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return false
  switch (typeof value) {
    case 'boolean':
      reserve(1)
      plainOut[plainAt++] = value ? 0xf5 : 0xf4
      return true
    case 'number':
      if (!Number.isInteger(value) || Object.is(value, -0)) return false
      if (value > LARGEST_PLAIN_INTEGER || value < -LARGEST_PLAIN_INTEGER) return false
      if (value >= 0) writePlainHead(0, value)
      else writePlainHead(1, -1 - value)
      return true
    case 'string':
      if (!isAscii(value)) return false
      writeAscii(value)
      return true
    case 'object':
      break
    default:
      return false
  }
  if (value === null) {
    reserve(1)
    plainOut[plainAt++] = 0xf6
    return true
  }
  if (Array.isArray(value)) {
    writePlainHead(4, value.length)
    for (let i = 0; i < value.length; i++) if (!writePlain(value[i], depth + 1)) return false
    return true
  }
  const prototype = Object.getPrototypeOf(value)
  if (prototype === Uint8Array.prototype) {
    const bytes = value as Uint8Array
    writePlainHead(2, bytes.length)
    reserve(bytes.length)
    plainOut.set(bytes, plainAt)
    plainAt += bytes.length
    return true
  }
  // Objects of any class but Object (or none) are dag-cbor's to refuse or handle.
  if (prototype !== Object.prototype && prototype !== null) return false
  const keys = Object.keys(value)
  for (const key of keys) {
    // dag-cbor looks for a CID in objects with these keys: leave such objects to it.
    if (key === '/' || key === 'asCID' || !isAscii(key)) return false
  }
  keys.sort(byKeyOrder)
  writePlainHead(5, keys.length)
  for (const key of keys) {
    writeAscii(key)
    if (!writePlain((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}
