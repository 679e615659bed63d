import * as dagCbor from '@ipld/dag-cbor'
import { decodePlainItem, internAscii, readHead, scanItem, skipItem } from './cbor.ts'
import {
  InvalidOpFieldError,
  MalformedOpError,
  NonCanonicalOpError,
  NotAnOpError,
  OpTooLargeError,
  TooManyDepsError,
  UnsupportedOpVersionError,
} from './errors.ts'
import {
  assertGenesisShape,
  assertType,
  DEFAULT_MAX_DEPS,
  DEFAULT_MAX_OP_BYTES,
  type EncodedOp,
  F_BODY,
  F_SIG,
  KEY_BYTES,
  type OpLimits,
  SIGNED_KEYS,
  type SignedOp,
} from './op.ts'
import { OP_ID_BYTES, OP_ID_PREFIX, type OpId, opIdAt, opIdBytesOf } from './op-id.ts'

/** Positions of one decoded map: for field i (in SIGNED_KEYS order), [keyStart, valueStart, valueEnd]. */
type FieldPositions = Int32Array

// decodeOp is synchronous and never re-entered, so these are reused instead of allocated per op:
// field positions (plus one slot, see readFields) and the unsigned bytes being hashed.
const scratchPositions = new Int32Array(SIGNED_KEYS.length * 3 + 1)
let scratchUnsigned = new Uint8Array(1024)

/**
 * Decodes a signed op from its canonical bytes and computes its id. Rejects anything that is
 * not exactly what `signOp` produces: non-canonical or malformed CBOR, unknown versions, wrong
 * field types, too many deps, oversized ops. Does not check the signature (see `verifyOp`).
 * The result keeps `bytes` and views into it: do not reuse or mutate the buffer afterwards.
 */
export function decodeOp(
  bytes: Uint8Array,
  { maxBytes = DEFAULT_MAX_OP_BYTES, maxDeps = DEFAULT_MAX_DEPS }: OpLimits = {},
): EncodedOp {
  if (!(bytes instanceof Uint8Array)) throw new NotAnOpError('expected bytes')
  if (bytes.length > maxBytes) throw new OpTooLargeError(bytes.length, maxBytes)
  const positions = readFields(bytes)
  const end = positions[SIGNED_KEYS.length * 3 - 1]!
  if (end !== bytes.length)
    throw new MalformedOpError(`${bytes.length - end} trailing bytes after the op`)
  const op = readOp(bytes, positions, maxDeps)
  // The unsigned encoding is the same map minus the "sig" entry: 8 entries instead of 9.
  const sigKey = positions[F_SIG * 3]!
  const sigEnd = positions[F_SIG * 3 + 2]!
  const length = bytes.length - (sigEnd - sigKey)
  if (scratchUnsigned.length < length)
    scratchUnsigned = new Uint8Array(Math.max(length, 2 * scratchUnsigned.length))
  scratchUnsigned[0] = 0xa8
  scratchUnsigned.set(bytes.subarray(1, sigKey), 1)
  scratchUnsigned.set(bytes.subarray(sigEnd), sigKey)
  const idBytes = opIdBytesOf(scratchUnsigned.subarray(0, length))
  return { id: opIdAt(idBytes, 0), idBytes, op, bytes }
}

function readFields(bytes: Uint8Array): FieldPositions {
  // Locals, not the shared head: later reads overwrite it.
  const { major, value: entries, end: start } = readHead(bytes, 0)
  if (major !== 5) throw new NotAnOpError('expected a CBOR map')
  assertVersionFirst(bytes, start)
  if (entries !== SIGNED_KEYS.length) {
    throw new NotAnOpError(
      `expected ${SIGNED_KEYS.length} fields (${SIGNED_KEYS.join(', ')}), found ${entries}`,
    )
  }
  // One extra slot: 1 when the body needs a real round trip (see scanItem).
  const positions = scratchPositions
  let pos = start
  for (let i = 0; i < SIGNED_KEYS.length; i++) {
    const key = KEY_BYTES[i]!
    if (!hasBytesAt(bytes, pos, key)) diagnoseKeys(bytes, start)
    positions[i * 3] = pos
    positions[i * 3 + 1] = pos + key.length
    if (i === F_BODY) {
      const scan = scanItem(bytes, pos + key.length)
      pos = scan.end
      positions[SIGNED_KEYS.length * 3] = scan.exotic ? 1 : 0
    } else {
      pos = skipItem(bytes, pos + key.length)
    }
    positions[i * 3 + 2] = pos
  }
  return positions
}

function hasBytesAt(bytes: Uint8Array, pos: number, expected: Uint8Array): boolean {
  if (pos + expected.length > bytes.length) return false
  for (let i = 0; i < expected.length; i++) if (bytes[pos + i] !== expected[i]) return false
  return true
}

/**
 * "v" sorts first in every canonical map, so any version's op starts with it: report an unknown
 * version as such even when that version has other fields.
 */
function assertVersionFirst(bytes: Uint8Array, pos: number): void {
  if (!hasBytesAt(bytes, pos, KEY_BYTES[0]!)) return
  const version = readHead(bytes, pos + KEY_BYTES[0]!.length)
  if (version.major === 0 && version.value !== 1) throw new UnsupportedOpVersionError(version.value)
}

/** Explains why the keys are not exactly the canonical nine; always throws. */
function diagnoseKeys(bytes: Uint8Array, start: number): never {
  const names: string[] = []
  let pos = start
  for (let i = 0; i < SIGNED_KEYS.length; i++) {
    const key = readHead(bytes, pos)
    if (key.major !== 3) throw new NotAnOpError('map keys must be strings')
    if (key.end + key.value > bytes.length) throw new MalformedOpError('unexpected end of input')
    names.push(Buffer.from(bytes.subarray(key.end, key.end + key.value)).toString('latin1'))
    pos = skipItem(bytes, key.end + key.value)
  }
  const unexpected = names.find((name) => !(SIGNED_KEYS as readonly string[]).includes(name))
  if (unexpected !== undefined) throw new NotAnOpError(`unexpected field "${unexpected}"`)
  const missing = SIGNED_KEYS.find((name) => !names.includes(name))
  if (missing !== undefined) throw new NotAnOpError(`field "${missing}" is missing`)
  throw new NonCanonicalOpError('map keys are not sorted by length then bytes')
}

// Value offsets of each field in FieldPositions, by SIGNED_KEYS index.
const AT = {
  v: 1,
  doc: 4,
  seq: 7,
  sig: 10,
  body: 13,
  deps: 16,
  time: 19,
  type: 22,
  author: 25,
} as const

/**
 * The y coordinates (little-endian, sign bit cleared) of the Ed25519 points of small order,
 * with their non-canonical twins y + p: RFC 8032 lets implementations differ on keys such as
 * these (node:crypto verifies an all-zero signature for the all-zero key), so the log refuses
 * them as authors and every replica agrees.
 */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // the identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p − 1: order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p ≡ 0
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1 ≡ 1
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
].map((text) => Buffer.from(text, 'hex'))
const SMALL_ORDER_FIRST = new Set(SMALL_ORDER_Y.map((y) => y[0]!))

/** Whether a 32-byte Ed25519 public key is one of the small-order points (either sign). */
export function isSmallOrderKey(key: Uint8Array): boolean {
  if (!SMALL_ORDER_FIRST.has(key[0]!)) return false
  outer: for (const y of SMALL_ORDER_Y) {
    for (let i = 0; i < 31; i++) if (key[i] !== y[i]) continue outer
    if ((key[31]! & 0x7f) === y[31]) return true
  }
  return false
}

function readOp(bytes: Uint8Array, p: FieldPositions, maxDeps: number): SignedOp {
  const version = readHead(bytes, p[AT.v]!)
  if (version.major !== 0) throw new InvalidOpFieldError('v', 'the integer 1')
  if (version.value !== 1) throw new UnsupportedOpVersionError(version.value)
  const doc = readDoc(bytes, p[AT.doc]!)
  const author = readBytes(bytes, p[AT.author]!, 32, 'author', 'a 32-byte Ed25519 public key')
  if (isSmallOrderKey(author))
    throw new InvalidOpFieldError('author', 'an Ed25519 public key that is not of small order')
  const seq = readCounter(bytes, p[AT.seq]!, 'seq', 1)
  const deps = readDeps(bytes, p[AT.deps]!, maxDeps)
  const time = readCounter(bytes, p[AT.time]!, 'time', 0)
  const type = readType(bytes, p[AT.type]!)
  const body = readBody(bytes, p[AT.body]!, p[AT.body + 1]!, p[SIGNED_KEYS.length * 3] === 1)
  const sig = readBytes(bytes, p[AT.sig]!, 64, 'sig', 'a 64-byte Ed25519 signature')
  assertGenesisShape(doc === null, seq, deps.length)
  return { v: 1, doc, author, seq, deps, time, type, body, sig }
}

function readBytes(
  bytes: Uint8Array,
  pos: number,
  length: number,
  field: string,
  expected: string,
): Uint8Array {
  const head = readHead(bytes, pos)
  if (head.major !== 2 || head.value !== length) throw new InvalidOpFieldError(field, expected)
  // A view, not a copy: the decoded op shares memory with `bytes` (see decodeOp). Always a plain
  // Uint8Array, whatever subclass (e.g. Buffer) the input was, so equal ops compare equal.
  return new Uint8Array(bytes.buffer, bytes.byteOffset + head.end, length)
}

function readCounter(bytes: Uint8Array, pos: number, field: string, min: number): number {
  const head = readHead(bytes, pos)
  if (head.major !== 0 || head.value < min || head.value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidOpFieldError(field, `an integer from ${min} to 2^53 - 1`)
  }
  return head.value
}

/** Reads a link (tag 42 over a 0x00-prefixed CID) that must be an op id; returns its end too. */
function readLink(
  bytes: Uint8Array,
  pos: number,
  field: string,
): { id: OpId; start: number; end: number } {
  const tag = readHead(bytes, pos)
  if (tag.major !== 6 || tag.value !== 42)
    throw new InvalidOpFieldError(field, 'a CID link (tag 42)')
  const body = readHead(bytes, tag.end)
  const start = body.end + 1
  const ok = body.major === 2 && body.value === OP_ID_BYTES + 1 && bytes[body.end] === 0
  if (!ok || !hasBytesAt(bytes, start, OP_ID_PREFIX)) {
    throw new InvalidOpFieldError(field, 'a CIDv1 dag-cbor sha2-256 op id')
  }
  return {
    id: opIdAt(bytes, start),
    start,
    end: start + OP_ID_BYTES,
  }
}

function readDoc(bytes: Uint8Array, pos: number): OpId | null {
  if (bytes[pos] === 0xf6) return null
  return readLink(bytes, pos, 'doc').id
}

function readDeps(bytes: Uint8Array, pos: number, maxDeps: number): OpId[] {
  // Locals, not the shared head: readLink overwrites it inside the loop.
  const { major, value: count, end } = readHead(bytes, pos)
  if (major !== 4) throw new InvalidOpFieldError('deps', 'an array of op ids')
  if (count > maxDeps) throw new TooManyDepsError(count, maxDeps)
  const deps: OpId[] = []
  let p = end
  let previous = -1
  for (let i = 0; i < count; i++) {
    const link = readLink(bytes, p, 'deps')
    if (
      previous >= 0 &&
      Buffer.compare(
        bytes.subarray(previous, previous + OP_ID_BYTES),
        bytes.subarray(link.start, link.end),
      ) >= 0
    ) {
      throw new InvalidOpFieldError('deps', 'op ids sorted by their bytes, without duplicates')
    }
    previous = link.start
    deps.push(link.id)
    p = link.end
  }
  return deps
}

function readType(bytes: Uint8Array, pos: number): string {
  const head = readHead(bytes, pos)
  if (head.major !== 3) throw new InvalidOpFieldError('type', 'a text string')
  // Read as latin1: anything but the ASCII that assertType allows is rejected either way.
  const type = internAscii(bytes, head.end, head.end + head.value)
  assertType(type)
  return type
}

function readBody(bytes: Uint8Array, start: number, end: number, exotic: boolean): unknown {
  if (!exotic) {
    const body = decodePlainItem(bytes, start, end)
    if (body !== undefined) return body
  }
  const slice = bytes.subarray(start, end)
  let body: unknown
  try {
    body = dagCbor.decode(slice)
  } catch (cause) {
    throw new MalformedOpError('the body is not valid DAG-CBOR', { cause })
  }
  // skipItem already enforced the byte-level rules, which settle the round trip of everything but
  // floats, tags and non-ASCII text; for those, re-encode (1.0, say, re-encodes as the integer 1).
  if (
    exotic &&
    !Buffer.from(dagCbor.encode(body)).equals(
      Buffer.from(slice.buffer, slice.byteOffset, slice.length),
    )
  ) {
    throw new NonCanonicalOpError('the body does not re-encode to the same bytes')
  }
  return body
}
