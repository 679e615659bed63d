import { BaseError, type BaseErrorOptions } from '../../errors/base.ts'

/**
 * The root of every refusal of a paid call. Its kind gives its HTTP status, as for every error
 * (src/http/errors.ts): an unpaid or underpaid call is `payment-required`, a 402.
 */
export abstract class PaymentError extends BaseError {}

/** Thrown when a call carries no payment, or not all of it: answer 402 with the price. */
export class PaymentRequiredError extends PaymentError {
  override name = 'PaymentRequiredError' as const
  override readonly kind = 'payment-required' as const
  /** The payment headers that were missing, in the order snet sends them. */
  readonly missing: readonly string[]

  constructor(shortMessage: string, missing: readonly string[], options: BaseErrorOptions = {}) {
    super(shortMessage, options)
    this.missing = missing
  }
}

/** Thrown when a payment header is present but cannot be read (not a number, bad base64, too big). */
export class InvalidPaymentError extends PaymentError {
  override name = 'InvalidPaymentError' as const
  override readonly kind = 'malformed' as const
}

/** Thrown when the payment names a channel this service does not know. */
export class UnknownChannelError extends PaymentError {
  override name = 'UnknownChannelError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown when the channel pays another recipient than this service. */
export class ForeignChannelError extends PaymentError {
  override name = 'ForeignChannelError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown when the payment's nonce is not the channel's current nonce (snet's IncorrectNonce). */
export class WrongChannelNonceError extends PaymentError {
  override name = 'WrongChannelNonceError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the payment signature recovers to neither the channel's signer nor its sender. */
export class PaymentSignerError extends PaymentError {
  override name = 'PaymentSignerError' as const
  override readonly kind = 'unauthorised' as const
}

/** Thrown when the channel expires within the service's expiration threshold. */
export class ChannelExpiringError extends PaymentError {
  override name = 'ChannelExpiringError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the signed amount is more than the channel holds. */
export class ChannelValueExceededError extends PaymentError {
  override name = 'ChannelValueExceededError' as const
  override readonly kind = 'payment-required' as const
}

/** Thrown when the signed amount does not add exactly the call's price to what is authorised. */
export class WrongPaymentAmountError extends PaymentError {
  override name = 'WrongPaymentAmountError' as const
  override readonly kind = 'payment-required' as const
}

/** Thrown when a channel-state request is not signed by the channel's signer, sender or recipient, or is stale. */
export class ChannelStateRequestError extends PaymentError {
  override name = 'ChannelStateRequestError' as const
  override readonly kind = 'unauthorised' as const
}

/** Thrown on the client when a service's channel state reports an amount the client never signed. */
export class UntrustedChannelStateError extends PaymentError {
  override name = 'UntrustedChannelStateError' as const
  override readonly kind = 'invalid' as const
}
