import * as dagCbor from '@ipld/dag-cbor'
import {
  InvalidOpFieldError,
  NotAnOpError,
  TooManyDepsError,
  UnsupportedOpVersionError,
} from './errors.ts'
import { type OpId, parseOpIdBytes } from './op-id.ts'

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
/**
 * The type of a merge op (an octopus merge): body null, deps some of a document's heads. Every
 * domain's reducer ignores it but for its place in the DAG, so when a document has more heads
 * than an op may cite, merges fold them and the next op still follows every one (no number of
 * concurrent ops can hide an op from the next).
 */
export const MERGE_OP_TYPE = 'merge'
/** Domain separator of op signatures. */
export const SIGNATURE_DOMAIN = 'rwa/op/v1'

const TYPE_PATTERN = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/
const MAX_TYPE_LENGTH = 64
/** The signature's domain separator as bytes. */
export const DOMAIN_BYTES = Buffer.from(SIGNATURE_DOMAIN, 'utf8')
// Canonical DAG-CBOR key order (length first, then bytes) of a signed op's nine fields.
export const SIGNED_KEYS = [
  'v',
  'doc',
  'seq',
  'sig',
  'body',
  'deps',
  'time',
  'type',
  'author',
] as const

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

export function assertType(type: unknown): void {
  if (typeof type !== 'string' || type.length > MAX_TYPE_LENGTH || !TYPE_PATTERN.test(type)) {
    throw new InvalidOpFieldError(
      'type',
      `a dotted lowercase name such as "audit.vote", at most ${MAX_TYPE_LENGTH} characters`,
    )
  }
}

export function assertGenesisShape(genesis: boolean, seq: number, depCount: number): void {
  if (genesis && (seq !== 1 || depCount !== 0)) {
    throw new InvalidOpFieldError(
      'doc',
      'an op id (a genesis op, with doc null, must have seq 1 and no deps)',
    )
  }
  if (!genesis && depCount === 0)
    throw new InvalidOpFieldError('deps', 'at least one op id (only a genesis op has none)')
}

/** Each field's key as canonical DAG-CBOR, in SIGNED_KEYS order: what encoder and decoder match. */
export const KEY_BYTES = SIGNED_KEYS.map((key) => dagCbor.encode(key))
/** Indexes of `sig` and `body` in SIGNED_KEYS. */
export const F_SIG = 3
export const F_BODY = 4
