import { hash } from 'node:crypto'
import { InvalidOpFieldError } from './errors.ts'

/**
 * An op id: the CIDv1 (codec dag-cbor 0x71, multihash sha2-256) of the op's canonical encoding
 * without `sig`, written as a multibase base32 string (`b…`, RFC 4648 lowercase, no padding),
 * the default text form of CIDv1.
 */
export type OpId = string & { readonly __brand: 'OpId' }

/** Binary CID prefix of every op id: version 1, dag-cbor, sha2-256, 32-byte digest. */
export const OP_ID_PREFIX = Uint8Array.of(0x01, 0x71, 0x12, 0x20)
/** Length of an op id in bytes (prefix + sha2-256 digest). */
export const OP_ID_BYTES = 36
/** Length of an op id as text (`b` + base32 of 36 bytes). */
export const OP_ID_CHARS = 59

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const VALUES = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i

/** Computes the op id of canonical unsigned op bytes. */
export function opIdBytesOf(unsigned: Uint8Array): Uint8Array {
  const out = new Uint8Array(OP_ID_BYTES)
  out.set(OP_ID_PREFIX, 0)
  // One-shot hashing to a one-byte ('binary', i.e. latin1) string, copied in: a third of the
  // cost of a 'buffer' digest (a fresh ArrayBuffer per call), itself a third of createHash().
  const digest = hash('sha256', unsigned, 'binary')
  for (let i = 0; i < 32; i++) out[4 + i] = digest.charCodeAt(i)
  return out
}

const ALPHABET_CODES = Buffer.from(ALPHABET, 'latin1')
const scratch = Buffer.alloc(OP_ID_CHARS)

/** Formats 36 op-id bytes as an `OpId` string. */
export function formatOpId(bytes: Uint8Array): OpId {
  // One flat string from a byte buffer: building it with += would make a rope of dozens of
  // pieces, costly to allocate and to hash as a Map key.
  scratch[0] = 0x62 // 'b'
  let n = 1
  let buffer = 0
  let bits = 0
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      scratch[n++] = ALPHABET_CODES[(buffer >>> bits) & 31]!
    }
  }
  if (bits > 0) scratch[n++] = ALPHABET_CODES[(buffer << (5 - bits)) & 31]!
  return scratch.toString('latin1', 0, n) as OpId
}

// Recently formatted ids, direct-mapped by digest bytes: an op names its document and its deps,
// which are almost always ops seen moments before, so decoding mostly finds their ids here
// instead of formatting (and allocating) the same 59-character string again.
const CACHE_SLOTS = 4096
const cachedDigests = new Uint8Array(CACHE_SLOTS * 32)
const cachedIds: (OpId | undefined)[] = new Array(CACHE_SLOTS).fill(undefined)

/**
 * `formatOpId` of the 36 bytes at `bytes[start…]`, which must begin with `OP_ID_PREFIX`; the
 * same string as formatting them, from a small cache when the id was seen recently.
 */
export function opIdAt(bytes: Uint8Array, start: number): OpId {
  const digest = start + 4
  const slot = (bytes[digest]! | (bytes[digest + 1]! << 8)) & (CACHE_SLOTS - 1)
  const cached = cachedIds[slot]
  if (cached !== undefined) {
    let same = true
    for (let i = 0, at = slot * 32; i < 32; i++, at++) {
      if (cachedDigests[at] !== bytes[digest + i]) {
        same = false
        break
      }
    }
    if (same) return cached
  }
  const id = formatOpId(bytes.subarray(start, start + OP_ID_BYTES))
  cachedDigests.set(bytes.subarray(digest, digest + 32), slot * 32)
  cachedIds[slot] = id
  return id
}

/** Returns true when `value` is a well-formed op id string. */
export function isOpId(value: unknown): value is OpId {
  if (typeof value !== 'string' || value.length !== OP_ID_CHARS) return false
  try {
    parseOpIdBytes(value)
    return true
  } catch {
    return false
  }
}

/**
 * Parses an `OpId` string into its 36 bytes.
 * @throws InvalidOpFieldError when the string is not an rwa op id.
 */
export function parseOpIdBytes(id: string, field = 'id'): Uint8Array {
  const expected = 'a CIDv1 dag-cbor sha2-256 id in base32 ("b…", 59 characters)'
  if (typeof id !== 'string' || id.length !== OP_ID_CHARS || id[0] !== 'b') {
    throw new InvalidOpFieldError(field, expected)
  }
  const out = new Uint8Array(OP_ID_BYTES)
  let buffer = 0
  let bits = 0
  let n = 0
  for (let i = 1; i < id.length; i++) {
    const code = id.charCodeAt(i)
    const value = code < 128 ? VALUES[code]! : -1
    if (value < 0) throw new InvalidOpFieldError(field, expected)
    buffer = ((buffer << 5) | value) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[n++] = (buffer >>> bits) & 0xff
    }
  }
  // 36 bytes use 288 of the 290 bits in 58 characters: the last 2 bits must be zero.
  if ((buffer & ((1 << bits) - 1)) !== 0) throw new InvalidOpFieldError(field, expected)
  for (let i = 0; i < OP_ID_PREFIX.length; i++) {
    if (out[i] !== OP_ID_PREFIX[i]) throw new InvalidOpFieldError(field, expected)
  }
  return out
}

/** Rank of each base32 character, so ids compare in the byte order of what they encode. */
const RANK = new Uint8Array(128)
for (let i = 0; i < ALPHABET.length; i++) RANK[ALPHABET.charCodeAt(i)] = i

/**
 * Compares two op ids by the bytes they encode (lexicographic), the tie-break of every
 * deterministic order in rwa. Same-length base32 compares like its bytes once each character
 * is ranked by its 5-bit value.
 */
export function compareOpIds(a: OpId, b: OpId): number {
  if (a === b) return 0
  for (let i = 1; i < a.length; i++) {
    const d = RANK[a.charCodeAt(i)]! - RANK[b.charCodeAt(i)]!
    if (d !== 0) return d
  }
  return 0
}
