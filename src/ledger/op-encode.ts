import { sign, verify } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { decodePlainItem, encodePlainItem, headSize, writeHead } from './cbor.ts'
import { InvalidOpFieldError, OpTooLargeError } from './errors.ts'
import type { PublicKeyCache, Signer } from './keys.ts'
import {
  assertOp,
  DEFAULT_MAX_OP_BYTES,
  DOMAIN_BYTES,
  type EncodedOp,
  F_BODY,
  F_SIG,
  KEY_BYTES,
  type Op,
  type OpLimits,
  SIGNED_KEYS,
  type SignedOp,
} from './op.ts'
import { decodeOp } from './op-decode.ts'
import { formatOpId, OP_ID_BYTES, type OpId, opIdAt, opIdBytesOf, parseOpIdBytes } from './op-id.ts'

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
