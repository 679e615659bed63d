import type { IncomingHttpHeaders } from 'node:http'
import { ServiceAnswerError } from './client-errors.ts'

// One HTTP exchange with a paid service, through node:http(s): bounded in size and idle time,
// since every byte a service sends is hostile. Redirects are not followed (a payment must not
// travel to a host the user did not name).

/** What a service answered: the status, its headers (lower-case names) and the raw body. */
export type ServiceAnswer = {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

/** One request to a service. */
export type ServiceRequest = {
  readonly url: URL
  readonly method?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | Uint8Array | undefined
  /** The largest answer body read, in bytes. */
  readonly maxBytes?: number | undefined
  /** How long the exchange may go without a byte from the service (ms). */
  readonly idleTimeoutMs?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/** The default limits: 16 MiB and 60 s without a byte. */
export const DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000

/** A header's value as one string (repeated headers joined, as fetch does). */
function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
  return flat
}

/**
 * Sends one request and reads the whole answer, or fails with a ServiceAnswerError naming the
 * URL: unreachable, silent for `idleTimeoutMs`, or an answer over `maxBytes`.
 */
export async function exchange({
  url,
  method = 'GET',
  headers = {},
  body,
  maxBytes = DEFAULT_MAX_ANSWER_BYTES,
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
  signal,
}: ServiceRequest): Promise<ServiceAnswer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ServiceAnswerError(`"${url.href.slice(0, 200)}" is not an http(s) URL; give one.`)
  const { request } =
    url.protocol === 'https:' ? await import('node:https') : await import('node:http')
  const where = `${method} ${url.origin}${url.pathname}`.slice(0, 300)
  return new Promise<ServiceAnswer>((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(new ServiceAnswerError(`The service at ${where} ${why}`, { cause }))
    const req = request(url, { method, headers, signal }, (res) => {
      const declared = Number(res.headers['content-length'] ?? 0)
      if (declared > maxBytes) {
        req.destroy()
        return fail(
          `answered ${declared} bytes, over the ${maxBytes}-byte limit; nothing was read.`,
        )
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= maxBytes) return void chunks.push(chunk)
        req.destroy()
        fail(`answered more than the ${maxBytes}-byte limit; the answer was dropped.`)
      })
      res.once('error', (cause) => fail(`broke off its answer (${cause.message}).`, cause))
      res.once('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: flattenHeaders(res.headers),
          body: Buffer.concat(chunks),
        }),
      )
    })
    req.setTimeout(idleTimeoutMs, () =>
      req.destroy(new Error(`no answer for ${Math.round(idleTimeoutMs / 1000)} s`)),
    )
    req.once('error', (cause: Error & { code?: string }) =>
      fail(`cannot be reached (${cause.code ?? cause.message}); check the URL.`, cause),
    )
    req.end(body)
  })
}

/** Most bytes of JSON read from a service's own answers (terms, channel state, refusals). */
export const MAX_JSON_BYTES = 65_536

/** Parses an answer's body as JSON, or fails naming the service. */
export function answerJson(answer: ServiceAnswer, what: string): unknown {
  if (answer.body.length > MAX_JSON_BYTES)
    throw new ServiceAnswerError(
      `The service's ${what} is ${answer.body.length} bytes, over the ${MAX_JSON_BYTES}-byte limit.`,
    )
  try {
    return JSON.parse(answer.body.toString('utf8'))
  } catch (cause) {
    throw new ServiceAnswerError(
      `The service's ${what} (HTTP ${answer.status}) is not JSON; is the URL a rwa service?`,
      { cause },
    )
  }
}

/** Text from a service, shown on one line: control characters dropped, bounded. */
export function quoteService(text: unknown, max = 300): string {
  const flat = String(text)
    .replace(/[\p{Cc}\p{Cf}]+/gu, ' ')
    .trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}
