/**
 * What kind of failure an error is. Interfaces map the kind (an HTTP status, a chat reply), so a
 * new error class needs no edit of a central table: it names its kind, as Hono's HTTPException
 * carries its own status.
 */
export type ErrorKind =
  /** The input cannot be read: not JSON, a field of the wrong type, bytes that are not an op. */
  | 'malformed'
  /** The input reads fine, but a value breaks a rule (a bad amount, an even k, a bad signature). */
  | 'invalid'
  /** No credentials, or unknown ones. */
  | 'unauthorised'
  /** The call costs money and carries no payment, or not enough of it (HTTP 402). */
  | 'payment-required'
  /** Known, but not allowed to do this. */
  | 'forbidden'
  /** No such thing. */
  | 'not-found'
  /** Refused in the current state (a phase, a name taken, a duplicate). */
  | 'conflict'
  /** Over a size limit. */
  | 'too-large'
  /** A media type the receiver does not take. */
  | 'unsupported'
  /** This node cannot do it now (chain down, buffer full, store failed, stopping). */
  | 'unavailable'

/** Options every rwa error accepts: extra detail lines and the error that caused it. */
export type BaseErrorOptions = {
  details?: string | undefined
  cause?: unknown
  metaMessages?: string[] | undefined
}

/**
 * The root of every rwa error: a one-sentence `shortMessage` for people, optional `details`
 * for operators, and the `cause` it wraps. Subclasses set a literal `name` that never changes
 * and their `kind`, so interfaces can map them (HTTP status, exit code) without parsing messages.
 */
export class BaseError extends Error {
  override name = 'BaseError'
  /** What kind of failure this is; `malformed` unless the subclass says otherwise. */
  readonly kind: ErrorKind = 'malformed'
  readonly shortMessage: string
  readonly details: string | undefined

  constructor(shortMessage: string, options: BaseErrorOptions = {}) {
    const lines = [shortMessage]
    if (options.metaMessages?.length) lines.push('', ...options.metaMessages)
    if (options.details) lines.push('', `Details: ${options.details}`)
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.shortMessage = shortMessage
    this.details = options.details
  }
}
