import { BaseError } from '../../errors/base.ts'
import type { OpId } from '../../ledger/op-id.ts'

/** Thrown (or recorded against a logged op) when an audit op is not allowed now. */
export class AuditOpRefusedError extends BaseError {
  override name = 'AuditOpRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when an op comes from a key that may not perform it (not the admin, not the auditor). */
export class AuditPermissionError extends BaseError {
  override name = 'AuditPermissionError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown when an audit op's body or a parameter value is malformed. */
export class InvalidAuditInputError extends BaseError {
  override name = 'InvalidAuditInputError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when an answer is not one of the accepted words. */
export class InvalidAnswerError extends BaseError {
  override name = 'InvalidAnswerError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when a payout address or its proof of control is wrong. */
export class InvalidPayoutAddressError extends BaseError {
  override name = 'InvalidPayoutAddressError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when an audit is created with the name of one this node already holds. */
export class AuditNameTakenError extends BaseError {
  override name = 'AuditNameTakenError' as const
  override readonly kind = 'conflict' as const
  constructor(name: string) {
    super(
      `An audit named "${name}" already exists on this node; audit names are unique, so choose another.`,
    )
  }
}

/** Thrown when no audit has the given name or id. */
export class AuditNotFoundError extends BaseError {
  override name = 'AuditNotFoundError' as const
  override readonly kind = 'not-found' as const
  constructor(ref: string) {
    super(`No audit is named "${ref}" on this node; list the audits with "rwa audit list".`)
  }
}

/** Thrown when several audits share a name: the caller must use an id. */
export class AmbiguousAuditError extends BaseError {
  override name = 'AmbiguousAuditError' as const
  override readonly kind = 'conflict' as const
  constructor(ref: string, ids: readonly OpId[]) {
    super(
      `${ids.length} audits are named "${ref}" (${ids.join(', ')}); use the id of the one you mean.`,
    )
  }
}
