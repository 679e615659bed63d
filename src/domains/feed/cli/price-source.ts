import { parsePrice } from '../../../core/feed/aggregate.ts'
import { BaseError } from '../../../errors/base.ts'
import { ExchangeError, exchange, type HttpAnswer } from '../../../http/exchange.ts'
import { decimalText, type PathSegment, parseJsonPath, readJsonPath } from './json-path.ts'

// An oracle's HTTP price sources: each is fetched (JSON only, bounded in time and size), its
// price read at a JSON path and converted exactly to the feed's decimals. A failing source is a
// result, never an exception: one bad source must not stop the oracle.

/** Thrown for a source that cannot be read: the message names the source and what went wrong. */
export class PriceSourceError extends BaseError {
  override name = 'PriceSourceError' as const
  override readonly kind = 'unavailable' as const
}

/** An HTTP source of prices. */
export type PriceSource = {
  /** The name the attestation gives the source (≤ 64 characters). */
  readonly name: string
  readonly url: string
  /** Where the price is in the answer (`data.price`, `a["x y"][0]`). */
  readonly path: string
  /** Where the traded volume is, if the source gives one. */
  readonly volumePath?: string | undefined
}

/** A source read: its price in the feed's units, or why it failed. */
export type SourceReading =
  | {
      readonly ok: true
      readonly name: string
      readonly url: string
      readonly price: bigint
      /** Traded volume in whole units (0 when the source gives none). */
      readonly volume: bigint
      /** When the answer came (ms). */
      readonly timestamp: number
    }
  | { readonly ok: false; readonly name: string; readonly url: string; readonly error: string }

/** Limits of one source request. */
export type FetchLimits = {
  /** The whole exchange, connection to last byte (ms). */
  readonly timeoutMs: number
  /** The largest answer read, in bytes. */
  readonly maxBytes: number
  readonly signal?: AbortSignal | undefined
}

/** The default limits: 5 s and 64 kB. */
export const DEFAULT_FETCH_LIMITS: FetchLimits = { timeoutMs: 5000, maxBytes: 65_536 }

/** The longest source name an attestation holds. */
export const MAX_SOURCE_NAME = 64

/**
 * Checks a source before the oracle starts: an http(s) URL, a readable path, a name that fits.
 * Answers the parsed paths.
 */
export function checkSource(source: PriceSource): {
  path: PathSegment[]
  volumePath: PathSegment[] | undefined
} {
  let url: URL
  try {
    url = new URL(source.url)
  } catch (cause) {
    throw new PriceSourceError(`Source "${source.url}" is not a URL; give http(s)://host/path.`, {
      cause,
    })
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new PriceSourceError(
      `Source "${source.url}" uses ${url.protocol}; only http and https sources are read.`,
    )
  if (source.name.length === 0 || source.name.length > MAX_SOURCE_NAME)
    throw new PriceSourceError(
      `Source name "${source.name.slice(0, 80)}" must have 1 to ${MAX_SOURCE_NAME} characters.`,
    )
  return {
    path: parseJsonPath(source.path),
    volumePath: source.volumePath ? parseJsonPath(source.volumePath) : undefined,
  }
}

/**
 * Fetches a JSON answer (src/http/exchange.ts), within the limits: an answer over `maxBytes`, one
 * that takes longer than `timeoutMs`, a status other than 2xx or a body that is not JSON fails
 * with a message naming the source. Redirects are not followed (give the final URL).
 */
export async function fetchJson(url: string, limits: FetchLimits): Promise<unknown> {
  const fail = (message: string, cause?: unknown) =>
    new PriceSourceError(`Source ${url}: ${message}`, { cause })
  let answer: HttpAnswer
  try {
    answer = await exchange({
      url: new URL(url),
      headers: { accept: 'application/json' },
      maxBytes: limits.maxBytes,
      timeoutMs: limits.timeoutMs,
      signal: limits.signal,
    })
  } catch (error) {
    if (error instanceof ExchangeError) throw fail(`${error.shortMessage}.`, error)
    throw error
  }
  const { status } = answer
  if (status < 200 || status > 299)
    throw fail(
      `answered HTTP ${status}${status >= 300 && status < 400 ? ' (a redirect: give the final URL)' : ''}.`,
    )
  const type = answer.headers['content-type'] ?? ''
  if (type && !/[/+]json\b/i.test(type)) throw fail(`answered "${type.slice(0, 60)}", not JSON.`)
  try {
    return JSON.parse(answer.body.toString('utf8'))
  } catch (cause) {
    throw fail('the answer is not JSON.', cause)
  }
}

/**
 * Reads one source: fetches it and takes the price (and volume) at its paths, in the feed's
 * units. Never throws: a failure is a reading with `ok: false` and the reason.
 */
export async function readSource(
  source: PriceSource,
  decimals: number,
  limits: FetchLimits,
  now: () => number = Date.now,
): Promise<SourceReading> {
  const { name, url } = source
  try {
    const { path, volumePath } = checkSource(source)
    const answer = await fetchJson(url, limits)
    const price = toFeedUnits(decimalText(readJsonPath(answer, path)), decimals)
    const volume = volumePath
      ? toFeedUnits(decimalText(readJsonPath(answer, volumePath), 'the volume'), 0)
      : 0n
    return { ok: true, name, url, price, volume, timestamp: now() }
  } catch (error) {
    const message = error instanceof BaseError ? error.shortMessage : String(error)
    return { ok: false, name, url, error: message }
  }
}

/**
 * Decimal text in units of `decimals` digits, exactly (`parsePrice`); digits past `decimals` are
 * rounded half away from zero first (a source may quote more digits than the feed keeps).
 * @example toFeedUnits('2500.123456789', 8) // 250012345679n
 */
export function toFeedUnits(text: string, decimals: number): bigint {
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text)
  if (!match || (match[2] === '' && !match[3]))
    throw new PriceSourceError(`"${text.slice(0, 40)}" is not a decimal number.`)
  const [, sign = '', whole = '', fraction = ''] = match
  const kept = fraction.slice(0, decimals)
  const units = parsePrice(`${whole || '0'}${kept ? `.${kept}` : ''}`, decimals)
  const rounded = (fraction[decimals] ?? '0') >= '5' ? units + 1n : units
  return sign === '-' ? -rounded : rounded
}
