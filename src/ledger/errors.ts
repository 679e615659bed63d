import { BaseError } from '../errors/base.ts'
import type { OpId } from './op-id.ts'

/** Thrown when bytes offered as an op are not well-formed CBOR. */
export class MalformedOpError extends BaseError {
  override name = 'MalformedOpError' as const
  override readonly kind = 'malformed' as const
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(
      `Op bytes are not well-formed DAG-CBOR: ${reason}; send the op exactly as encodeOp produced it.`,
      options,
    )
  }
}

/** Thrown when well-formed CBOR is not in canonical (deterministic DAG-CBOR) form. */
export class NonCanonicalOpError extends BaseError {
  override name = 'NonCanonicalOpError' as const
  override readonly kind = 'malformed' as const
  constructor(reason: string) {
    super(`Op bytes are not canonical DAG-CBOR: ${reason}; re-encode the op with encodeOp.`)
  }
}

/** Thrown when an op's `v` is not a version this implementation knows. */
export class UnsupportedOpVersionError extends BaseError {
  override name = 'UnsupportedOpVersionError' as const
  override readonly kind = 'malformed' as const
  readonly version: number
  constructor(version: number) {
    super(`Op version "${version}" is not supported; this node understands only version 1.`)
    this.version = version
  }
}

/** Thrown when a decoded value is not an op at all (wrong shape, missing or extra fields). */
export class NotAnOpError extends BaseError {
  override name = 'NotAnOpError' as const
  override readonly kind = 'malformed' as const
  constructor(reason: string) {
    super(`Value is not an rwa op: ${reason}.`)
  }
}

/** Thrown when an op field has the wrong type or an out-of-range value. */
export class InvalidOpFieldError extends BaseError {
  override name = 'InvalidOpFieldError' as const
  override readonly kind = 'malformed' as const
  readonly field: string
  constructor(field: string, expected: string) {
    super(`Op field "${field}" is invalid: expected ${expected}.`)
    this.field = field
  }
}

/** Thrown when an op lists more deps than the configured limit. */
export class TooManyDepsError extends BaseError {
  override name = 'TooManyDepsError' as const
  override readonly kind = 'malformed' as const
  constructor(count: number, max: number) {
    super(`Op has ${count} deps but at most ${max} are allowed; reference only the current heads.`)
  }
}

/** Thrown when an encoded op is larger than the configured size limit. */
export class OpTooLargeError extends BaseError {
  override name = 'OpTooLargeError' as const
  override readonly kind = 'too-large' as const
  constructor(size: number, max: number) {
    super(
      `Op is ${size} bytes but at most ${max} bytes are allowed; keep bodies small and store large data elsewhere.`,
    )
  }
}

/** Thrown when an op's signature does not verify for its `author`. */
export class InvalidSignatureError extends BaseError {
  override name = 'InvalidSignatureError' as const
  override readonly kind = 'invalid' as const
  readonly id: string
  constructor(id: string) {
    super(`Signature of op "${id}" does not verify for its author; the op was forged or altered.`)
    this.id = id
  }
}

/** Thrown when an op waiting for deps would exceed the bounded pending buffer. */
export class PendingBufferFullError extends BaseError {
  override name = 'PendingBufferFullError' as const
  override readonly kind = 'unavailable' as const
  readonly id: string
  constructor(id: string, scope: string, max: number, unit = 'pending ops') {
    super(
      `Op "${id}" cannot wait for its deps: ${scope} already holds ${max} ${unit}; fetch the missing deps first.`,
    )
    this.id = id
  }
}

/** Thrown when a document is unknown to this ledger. */
export class UnknownDocumentError extends BaseError {
  override name = 'UnknownDocumentError' as const
  override readonly kind = 'not-found' as const
  constructor(doc: OpId) {
    super(`Document "${doc}" is not known to this node; create it or sync it from a peer first.`)
  }
}

/** Thrown after a store write failed: memory may be ahead of disk, so the ledger must be reopened. */
export class LedgerFailedError extends BaseError {
  override name = 'LedgerFailedError' as const
  override readonly kind = 'unavailable' as const
  constructor(cause: unknown) {
    super(
      'The ledger stopped after a store write failed; reopen it to continue from what is durable.',
      { cause },
    )
  }
}

/**
 * Thrown when an op is refused at ingest because its document's rules refuse it on its own
 * causal past (an admin command by a stranger, an answer by a non-auditor, an unknown type):
 * such an op can never count, so it is not kept, not a head and not relayed.
 */
export class OpRefusedError extends BaseError {
  override name = 'OpRefusedError' as const
  override readonly kind = 'forbidden' as const
  readonly id: string
  /** The rule's own error name (`NotAnAdminError`…), for clients that branch on it. */
  readonly rule: string
  constructor(id: string, rule: string, reason: string) {
    super(`Op "${id}" is refused: ${reason} (${rule}). It was not added to the document.`)
    this.id = id
    this.rule = rule
  }
}

/** Thrown for an op that depends on an op this node refused: it can never join its document. */
export class DependsOnRefusedOpError extends BaseError {
  override name = 'DependsOnRefusedOpError' as const
  override readonly kind = 'forbidden' as const
  constructor(id: string, dep: string) {
    super(
      `Op "${id}" depends on op "${dep}", which this node refused; it can never join its document. Sign it again on the document's current heads.`,
    )
  }
}
