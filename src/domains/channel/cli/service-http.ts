import { ExchangeError, type HttpAnswer, exchange as httpExchange } from '../../../http/exchange.ts'
import { ServiceAnswerError } from './client-errors.ts'

// One HTTP exchange with a paid service (src/http/exchange.ts: bounded in size and idle time,
// no redirects, since every byte a service sends is hostile), failing with ServiceAnswerError.

/** What a service answered: the status, its headers (lower-case names) and the raw body. */
export type ServiceAnswer = HttpAnswer

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

/**
 * Sends one request and reads the whole answer, or fails with a ServiceAnswerError naming the
 * URL: unreachable, silent for `idleTimeoutMs`, or an answer over `maxBytes`.
 */
export async function exchange({
  maxBytes = DEFAULT_MAX_ANSWER_BYTES,
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
  ...request
}: ServiceRequest): Promise<ServiceAnswer> {
  const { url, method = 'GET' } = request
  try {
    return await httpExchange({ ...request, maxBytes, idleTimeoutMs })
  } catch (error) {
    if (!(error instanceof ExchangeError)) throw error
    const where = `${method} ${url.origin}${url.pathname}`.slice(0, 300)
    const hint = error.shortMessage.startsWith('cannot be reached') ? '; check the URL' : ''
    throw new ServiceAnswerError(`The service at ${where} ${error.shortMessage}${hint}.`, {
      cause: error,
    })
  }
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
