import { BaseError } from '../errors/base.ts'

/** Thrown when the node's chain cannot be reached or is not set up. */
export class ChainError extends BaseError {
  override name = 'ChainError' as const
  override readonly kind = 'unavailable' as const
}

/** Thrown when there is nothing to withdraw, or a payment cannot be made. */
export class PaymentError extends BaseError {
  override name = 'PaymentError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the embedded devnet cannot start. */
export class DevnetError extends BaseError {
  override name = 'DevnetError' as const
  override readonly kind = 'unavailable' as const
}

/** Thrown when the Solidity sources do not compile (a developer's error, from `npm run contracts`). */
export class ContractCompileError extends BaseError {
  override name = 'ContractCompileError' as const
  override readonly kind = 'invalid' as const
}
