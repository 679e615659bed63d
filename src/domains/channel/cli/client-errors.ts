import { BaseError, type BaseErrorOptions, type ErrorKind } from '../../../errors/base.ts'

// The errors of a channel's client side (`rwa channel …`, `rwa call`): a service that cannot be
// reached or answers junk, a service's refusal of a paid call, and refusals before anything is sent.

/** Thrown when a service cannot be reached, or answers something that is not what the wire says. */
export class ServiceAnswerError extends BaseError {
  override name = 'ServiceAnswerError' as const
  override readonly kind = 'unavailable' as const
}

/** Thrown when a service's terms (`GET /channel`) break the wire's rules: a hostile or broken service. */
export class ServiceTermsError extends BaseError {
  override name = 'ServiceTermsError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when a service refuses a paid call for good (after the retry the refusal allows). */
export class PaidCallRefusedError extends BaseError {
  override name = 'PaidCallRefusedError' as const
  override readonly kind: ErrorKind
  /** The service's HTTP status. */
  readonly status: number
  /** The service's error name (e.g. "ChannelExpiringError"). */
  readonly error: string

  constructor(
    shortMessage: string,
    {
      status,
      error,
      kind,
      ...options
    }: BaseErrorOptions & {
      status: number
      error: string
      kind: ErrorKind
    },
  ) {
    super(shortMessage, options)
    this.status = status
    this.error = error
    this.kind = kind
  }
}

/** Thrown when a channel operation is refused before it is sent (too early, not the sender, bad terms). */
export class ChannelClientError extends BaseError {
  override name = 'ChannelClientError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the client's local channel state file cannot be read or written. */
export class ClientStateError extends BaseError {
  override name = 'ClientStateError' as const
  override readonly kind = 'unavailable' as const
}
