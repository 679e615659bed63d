import type { IncomingHttpHeaders } from 'node:http'
import { BaseError, type BaseErrorOptions } from '../errors/base.ts'

// One outbound HTTP exchange through node:http(s), bounded in size and time, for everything the
// project fetches from a server it does not trust (an oracle's price sources, a paid service).
// Redirects are not followed: the caller gives the final URL (a payment must not travel to a
// host the user did not name).

/** What a server answered: the status, its headers (lower-case names) and the raw body. */
export type HttpAnswer = {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

/** One request, and its bounds. */
export type HttpExchange = {
  readonly url: URL
  readonly method?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | Uint8Array | undefined
  /** The largest answer body read, in bytes. */
  readonly maxBytes: number
  /** The whole exchange, connection to last byte (ms). */
  readonly timeoutMs?: number | undefined
  /** How long the exchange may go without a byte from the server (ms). */
  readonly idleTimeoutMs?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * Thrown when an exchange fails. Its message is a phrase with no subject ("cannot be reached
 * (ECONNREFUSED)"), for the caller to put after what it was talking to.
 */
export class ExchangeError extends BaseError {
  override name = 'ExchangeError' as const
  override readonly kind = 'unavailable' as const
  constructor(phrase: string, options: BaseErrorOptions = {}) {
    super(phrase, options)
  }
}

/** A header's value as one string (repeated headers joined, as fetch does). */
function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
  return flat
}

/**
 * Sends one request and reads the whole answer, whatever its status.
 * @throws ExchangeError when the server cannot be reached, is too slow, or answers too much.
 */
export async function exchange({
  url,
  method = 'GET',
  headers = {},
  body,
  maxBytes,
  timeoutMs,
  idleTimeoutMs,
  signal,
}: HttpExchange): Promise<HttpAnswer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ExchangeError(`is not an http(s) URL ("${url.href.slice(0, 200)}"); give one`)
  const { request } =
    url.protocol === 'https:' ? await import('node:https') : await import('node:http')
  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false
    const fail = (phrase: string, cause?: unknown) => {
      if (settled) return
      settled = true
      req.destroy()
      reject(new ExchangeError(phrase, { cause }))
    }
    const req = request(url, { method, headers }, (res) => {
      const declared = Number(res.headers['content-length'] ?? 0)
      if (declared > maxBytes)
        return fail(`answered ${declared} bytes, over the ${maxBytes}-byte limit; nothing was read`)
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= maxBytes) return void chunks.push(chunk)
        fail(`answered more than the ${maxBytes}-byte limit; the answer was dropped`)
      })
      res.once('error', (cause) => fail(`broke off its answer (${cause.message})`, cause))
      res.once('end', () => {
        if (settled) return
        settled = true
        resolve({
          status: res.statusCode ?? 0,
          headers: flattenHeaders(res.headers),
          body: Buffer.concat(chunks),
        })
      })
    })
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => fail(`gave no full answer within ${timeoutMs} ms`), timeoutMs)
    if (idleTimeoutMs !== undefined)
      req.setTimeout(idleTimeoutMs, () =>
        fail(`gave no answer for ${Math.round(idleTimeoutMs / 1000)} s`),
      )
    const abort = () => fail('was abandoned: the caller stopped')
    if (signal?.aborted) abort()
    signal?.addEventListener('abort', abort, { once: true })
    req.once('close', () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
    })
    req.once('error', (cause: Error & { code?: string }) =>
      fail(`cannot be reached (${cause.code ?? cause.message})`, cause),
    )
    req.end(body)
  })
}
