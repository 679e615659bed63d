import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'

/**
 * Whether `error` is the request's client going away (a closed tab, a killed curl) rather than a
 * fault of the node: the error is an abort (Node's `aborted`/ECONNRESET, or an AbortError) and
 * the request's own connection is gone. Such a request is logged at debug, not as a failure: a
 * client can cause as many as it likes.
 */
export function isClientAbort(error: unknown, c: Context): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown }
  const abortLike =
    code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || name === 'AbortError'
  if (!abortLike) return false
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming) return incoming.destroyed || incoming.socket?.destroyed === true
  return c.req.raw.signal?.aborted === true
}

/**
 * The status recorded for a request its client abandoned (nginx's 499, "client closed
 * request"): nobody reads it, and it is no server error.
 */
export const CLIENT_CLOSED_REQUEST = 499
