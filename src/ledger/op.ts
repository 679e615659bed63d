import { sign, verify } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import {
  decodePlainItem,
  encodePlainItem,
  headSize,
  internAscii,
  readHead,
  scanItem,
  skipItem,
  writeHead,
} from './cbor.ts'
import {
  InvalidOpFieldError,
  MalformedOpError,
  NonCanonicalOpError,
  NotAnOpError,
  OpTooLargeError,
  TooManyDepsError,
  UnsupportedOpVersionError,
} from './errors.ts'
import type { PublicKeyCache, Signer } from './keys.ts'
import {
  formatOpId,
  OP_ID_BYTES,
  OP_ID_PREFIX,
  type OpId,
  opIdAt,
  opIdBytesOf,
  parseOpIdBytes,
} from './op-id.ts'

/**
 * An operation: one signed action of one actor in one document (ARCHITECTURE §1).
 * `doc` is null only for a document's genesis op; the document's id is the genesis op's id.
 * `seq` counts the author's ops in the document from 1; `time` is the author's clock in
 * milliseconds since the Unix epoch, advisory only (never used for ordering or validity).
 */
export type Op<body = unknown> = {
  v: 1
  doc: OpId | null
  author: Uint8Array
  seq: number
  deps: readonly OpId[]
  time: number
  type: string
  body: body
}

/** An op with its Ed25519 signature over `"rwa/op/v1" ‖ id bytes`. */
export type SignedOp<body = unknown> = Op<body> & { sig: Uint8Array }

/** A signed op together with its id and canonical encoding, as produced by signing or decoding. */
export type EncodedOp<body = unknown> = {
  readonly id: OpId
  readonly idBytes: Uint8Array
  readonly op: SignedOp<body>
  readonly bytes: Uint8Array
}

/** Limits applied when encoding and decoding ops. */
export type OpLimits = {
  /** Largest accepted encoded signed op, in bytes. */
  maxBytes?: number
  /** Largest accepted number of deps. */
  maxDeps?: number
}

export const DEFAULT_MAX_OP_BYTES = 65_536
export const DEFAULT_MAX_DEPS = 64
/** Domain separator of op signatures. */
export const SIGNATURE_DOMAIN = 'rwa/op/v1'

const TYPE_PATTERN = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/
const MAX_TYPE_LENGTH = 64
const DOMAIN_BYTES = Buffer.from(SIGNATURE_DOMAIN, 'utf8')
// Canonical DAG-CBOR key order (length first, then bytes) of a signed op's nine fields.
const SIGNED_KEYS = ['v', 'doc', 'seq', 'sig', 'body', 'deps', 'time', 'type', 'author'] as const

/**
 * Throws unless `op` is a well-typed op within `limits`: the checks decoding applies, so that a
 * node never signs an op its peers would reject.
 */
export function assertOp(op: Op, { maxDeps = DEFAULT_MAX_DEPS }: OpLimits = {}): void {
  if (typeof op !== 'object' || op === null) throw new NotAnOpError('expected an object')
  if (op.v !== 1) {
    if (Number.isSafeInteger(op.v)) throw new UnsupportedOpVersionError(op.v)
    throw new InvalidOpFieldError('v', 'the integer 1')
  }
  if (op.doc !== null) parseOpIdBytes(op.doc, 'doc')
  if (!(op.author instanceof Uint8Array) || op.author.length !== 32) {
    throw new InvalidOpFieldError('author', 'a 32-byte Ed25519 public key')
  }
  assertCounter(op.seq, 'seq', 1)
  assertCounter(op.time, 'time', 0)
  assertType(op.type)
  if (!Array.isArray(op.deps)) throw new InvalidOpFieldError('deps', 'an array of op ids')
  for (const dep of op.deps) parseOpIdBytes(dep, 'deps')
  const depCount = new Set(op.deps).size // encoding de-duplicates
  if (depCount > maxDeps) throw new TooManyDepsError(depCount, maxDeps)
  assertGenesisShape(op.doc === null, op.seq, depCount)
}

function assertCounter(value: unknown, field: string, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOpFieldError(field, `an integer from ${min} to 2^53 - 1`)
  }
}

function assertType(type: unknown): void {
  if (typeof type !== 'string' || type.length > MAX_TYPE_LENGTH || !TYPE_PATTERN.test(type)) {
    throw new InvalidOpFieldError(
      'type',
      `a dotted lowercase name such as "audit.vote", at most ${MAX_TYPE_LENGTH} characters`,
    )
  }
}

function assertGenesisShape(genesis: boolean, seq: number, depCount: number): void {
  if (genesis && (seq !== 1 || depCount !== 0)) {
    throw new InvalidOpFieldError(
      'doc',
      'an op id (a genesis op, with doc null, must have seq 1 and no deps)',
    )
  }
  if (!genesis && depCount === 0)
    throw new InvalidOpFieldError('deps', 'at least one op id (only a genesis op has none)')
}

/**
 * An op's variable parts as they are written: ids parsed, deps in canonical order, body encoded.
 * `plain` tells that the body was plain (see `encodePlainItem`): decoding gives it back unchanged.
 */
type Parts = { doc: Uint8Array | null; deps: Uint8Array[]; body: Uint8Array; plain: boolean }

/** Parses ids once, sorts and de-duplicates deps (by id bytes), encodes the body (DAG-CBOR). */
function partsOf(op: Op): Parts {
  const deps = [...new Set(op.deps)].map((dep) => parseOpIdBytes(dep, 'deps'))
  deps.sort((a, b) => Buffer.compare(a, b))
  const plain = encodePlainItem(op.body)
  return {
    doc: op.doc === null ? null : parseOpIdBytes(op.doc, 'doc'),
    deps,
    body: plain ?? dagCbor.encode(op.body),
    plain: plain !== undefined,
  }
}

// A link to an op id: tag 42 over a 37-byte string, 0x00 then the id (the DAG-CBOR form of a CID).
const LINK_HEAD = Uint8Array.of(0xd8, 0x2a, 0x58, 0x25, 0x00)
const LINK_BYTES = LINK_HEAD.length + OP_ID_BYTES

function writeLink(out: Uint8Array, at: number, id: Uint8Array): number {
  out.set(LINK_HEAD, at)
  out.set(id, at + LINK_HEAD.length)
  return at + LINK_BYTES
}

/** Writes the key of field `i` (SIGNED_KEYS order) at `at`; returns its end. */
function writeKey(out: Uint8Array, at: number, i: number): number {
  const key = KEY_BYTES[i]!
  out.set(key, at)
  return at + key.length
}

/**
 * Writes an op as canonical DAG-CBOR, without `sig` (the bytes its id hashes) or with it (the
 * signed op): the fields in canonical key order (SIGNED_KEYS), each in its shortest form. The
 * same bytes as `@ipld/dag-cbor` gives for the op's map (tested), without building that map.
 */
function writeOp(op: Op, parts: Parts, sig?: Uint8Array): Uint8Array {
  const typeLength = op.type.length // ASCII: assertOp checked it against TYPE_PATTERN
  let size = 1
  for (let i = 0; i < SIGNED_KEYS.length; i++) if (i !== F_SIG || sig) size += KEY_BYTES[i]!.length
  size += 1 // v
  size += parts.doc === null ? 1 : LINK_BYTES
  size += headSize(op.seq)
  if (sig) size += 2 + sig.length
  size += parts.body.length
  size += headSize(parts.deps.length) + parts.deps.length * LINK_BYTES
  size += headSize(op.time)
  size += headSize(typeLength) + typeLength
  size += 2 + op.author.length
  const out = new Uint8Array(size)
  out[0] = sig ? 0xa9 : 0xa8
  let at = writeKey(out, 1, 0)
  out[at++] = 0x01
  at = writeKey(out, at, 1)
  if (parts.doc === null) out[at++] = 0xf6
  else at = writeLink(out, at, parts.doc)
  at = writeKey(out, at, 2)
  at = writeHead(out, at, 0, op.seq)
  if (sig) {
    at = writeKey(out, at, F_SIG)
    at = writeHead(out, at, 2, sig.length)
    out.set(sig, at)
    at += sig.length
  }
  at = writeKey(out, at, F_BODY)
  out.set(parts.body, at)
  at += parts.body.length
  at = writeKey(out, at, 5)
  at = writeHead(out, at, 4, parts.deps.length)
  for (const dep of parts.deps) at = writeLink(out, at, dep)
  at = writeKey(out, at, 6)
  at = writeHead(out, at, 0, op.time)
  at = writeKey(out, at, 7)
  at = writeHead(out, at, 3, typeLength)
  for (let i = 0; i < typeLength; i++) out[at++] = op.type.charCodeAt(i)
  at = writeKey(out, at, 8)
  at = writeHead(out, at, 2, op.author.length)
  out.set(op.author, at)
  return out
}

/** Encodes an op without its signature, canonically: the bytes its id is the hash of. */
export function encodeOp(op: Op, limits: OpLimits = {}): Uint8Array {
  assertOp(op, limits)
  return writeOp(op, partsOf(op))
}

/** Computes an op's id: CIDv1 (dag-cbor, sha2-256) of `encodeOp(op)`. */
export function getOpId(op: Op, limits: OpLimits = {}): OpId {
  return formatOpId(opIdBytesOf(encodeOp(op, limits)))
}

/** The exact bytes an op signature covers: `"rwa/op/v1" ‖ id bytes`. */
export function signingMessage(idBytes: Uint8Array): Buffer {
  const out = Buffer.alloc(SIGNING_MESSAGE_BYTES)
  writeSigningMessage(out, 0, idBytes)
  return out
}

/** Length of a signed message: the domain separator and the 36 id bytes. */
export const SIGNING_MESSAGE_BYTES = DOMAIN_BYTES.length + OP_ID_BYTES

/** Writes the signed message of an op (`signingMessage`) into `out` at `at`, allocating nothing. */
export function writeSigningMessage(out: Uint8Array, at: number, idBytes: Uint8Array): void {
  out.set(DOMAIN_BYTES, at)
  out.set(idBytes, at + DOMAIN_BYTES.length)
}

// Verification is synchronous, so one scratch message serves every call without allocating.
const scratchMessage = Buffer.alloc(SIGNING_MESSAGE_BYTES)

/**
 * Signs an op with `signer`, whose public key must be the op's `author`.
 * @example
 * const { id, bytes } = signOp({ v: 1, doc: null, author: signer.publicKey, seq: 1, deps: [], time: 0, type: 'audit.create', body: {} }, signer)
 */
export function signOp<body>(op: Op<body>, signer: Signer, limits: OpLimits = {}): EncodedOp<body> {
  assertOp(op, limits)
  if (!Buffer.from(op.author).equals(Buffer.from(signer.publicKey))) {
    throw new InvalidOpFieldError('author', "the signer's own public key")
  }
  const parts = partsOf(op)
  const idBytes = opIdBytesOf(writeOp(op, parts))
  const sig = new Uint8Array(sign(null, signingMessage(idBytes), signer.privateKey))
  const bytes = writeOp(op, parts, sig)
  // Return the op as peers will decode it, with the limits they apply: a node never signs an op
  // its peers would reject (too large, too deeply nested, a body value that does not round-trip).
  // assertOp checked the fields; a plain body decodes to what was encoded by construction, so it
  // is read back directly instead of decoding the whole op again (tested against decodeOp).
  const plainBody = parts.plain ? decodePlainItem(parts.body, 0, parts.body.length) : undefined
  if (plainBody === undefined) return decodeOp(bytes, limits) as EncodedOp<body>
  const { maxBytes = DEFAULT_MAX_OP_BYTES } = limits
  if (bytes.length > maxBytes) throw new OpTooLargeError(bytes.length, maxBytes)
  const signed: SignedOp = {
    v: 1,
    doc: parts.doc === null ? null : opIdAt(parts.doc, 0),
    // A view, as decodeOp gives: the author is the op's last field.
    author: new Uint8Array(bytes.buffer, bytes.byteOffset + bytes.length - 32, 32),
    seq: op.seq,
    deps: parts.deps.map((dep) => opIdAt(dep, 0)),
    time: op.time,
    type: op.type,
    body: plainBody,
    sig,
  }
  return { id: opIdAt(idBytes, 0), idBytes, op: signed, bytes } as EncodedOp<body>
}

/** Returns true when the op's signature verifies for its `author`. */
export function verifyOp(encoded: EncodedOp, keys?: PublicKeyCache): boolean {
  writeSigningMessage(scratchMessage, 0, encoded.idBytes)
  const key = keys ? keys.get(encoded.op.author) : publicKeyInput(encoded.op.author)
  return verify(null, scratchMessage, key, encoded.op.sig)
}

function publicKeyInput(publicKey: Uint8Array) {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey])
  return { key: spki, format: 'der' as const, type: 'spki' as const }
}

/** Positions of one decoded map: for field i (in SIGNED_KEYS order), [keyStart, valueStart, valueEnd]. */
type FieldPositions = Int32Array

const KEY_BYTES = SIGNED_KEYS.map((key) => dagCbor.encode(key))
// decodeOp is synchronous and never re-entered, so these are reused instead of allocated per op:
// field positions (plus one slot, see readFields) and the unsigned bytes being hashed.
const scratchPositions = new Int32Array(SIGNED_KEYS.length * 3 + 1)
let scratchUnsigned = new Uint8Array(1024)
const F_SIG = 3
const F_BODY = 4

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
