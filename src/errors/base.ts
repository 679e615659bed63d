/** Options every rwa error accepts: extra detail lines and the error that caused it. */
export type BaseErrorOptions = {
  details?: string | undefined
  cause?: unknown
  metaMessages?: string[] | undefined
}

/**
 * The root of every rwa error: a one-sentence `shortMessage` for people, optional `details`
 * for operators, and the `cause` it wraps. Subclasses set a literal `name` that never changes,
 * so interfaces can map it (HTTP status, exit code) without parsing messages.
 */
export class BaseError extends Error {
  override name = 'BaseError'
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
