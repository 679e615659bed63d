import { type TokenUnit, toTokenUnit } from '../../../core/amount.ts'
import {
  type PricedRoute,
  parseRoute,
  priceOf as routePriceOf,
} from '../../../core/channel/routes.ts'
import { ServiceTermsError } from './client-errors.ts'
import { answerJson, exchange, quoteService, type ServiceAnswer } from './service-http.ts'

// A paid service's terms, as `GET <service>/channel` tells them (the design of issue 21, "Wire"):
// where and to whom to open a channel, and what each route costs. Every field is checked: a
// service may answer anything.

/** An upstream the service fronts at `path` (every method, `path` and below). */
export type PricedUpstream = {
  readonly name: string
  readonly path: string
  readonly price: bigint
}

/** What a service asks to be paid through: its escrow, recipient, chain and prices. */
export type ServiceTerms = {
  readonly escrow: `0x${string}`
  readonly recipient: `0x${string}`
  readonly groupId: `0x${string}`
  readonly chainId: number
  readonly rpcUrl: string
  /** The token as the service names it (checked against the escrow's before money moves). */
  readonly token: TokenUnit
  /** The service refuses payments on a channel this close (blocks) to its expiration. */
  readonly expirationThreshold: bigint
  /** The service's latest block when it answered. */
  readonly currentBlock: bigint
  readonly prices: readonly PricedRoute[]
  readonly upstreams: readonly PricedUpstream[]
}

const MAX_ROUTES = 64
const MAX_URL = 300
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const GROUP_ID = /^0x[0-9a-fA-F]{64}$/
const DECIMAL = /^[0-9]{1,78}$/
const UINT256_MAX = 2n ** 256n - 1n

/** A decimal string (or a safe integer) within `max`, or a ServiceTermsError naming the field. */
export function termsUint(field: string, value: unknown, max = UINT256_MAX): bigint {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value
  if (typeof text === 'string' && DECIMAL.test(text) && BigInt(text) <= max) return BigInt(text)
  throw new ServiceTermsError(
    `The service gives ${field} "${quoteService(value, 90)}", not a decimal number up to ${max}; the service is broken or hostile.`,
  )
}

function termsAddress(field: string, value: unknown): `0x${string}` {
  if (typeof value === 'string' && ADDRESS.test(value)) return value as `0x${string}`
  throw new ServiceTermsError(
    `The service's terms give ${field} "${quoteService(value, 90)}", not an address (0x and 40 hex digits); the service is broken or hostile.`,
  )
}

function termsText(field: string, value: unknown, max: number): string {
  if (typeof value === 'string' && value.length >= 1 && value.length <= max) return value
  throw new ServiceTermsError(
    `The service's terms give ${field} "${quoteService(value, 90)}", not a text of 1 to ${max} characters.`,
  )
}

function termsList(field: string, value: unknown): unknown[] {
  if (value === undefined) return []
  if (Array.isArray(value) && value.length <= MAX_ROUTES) return value
  throw new ServiceTermsError(
    `The service's terms give ${field} that is not a list of at most ${MAX_ROUTES} entries.`,
  )
}

function parsePrice(entry: unknown, i: number): PricedRoute {
  const { route, price } = (entry ?? {}) as { route?: unknown; price?: unknown }
  const text = termsText(`prices[${i}].route`, route, 200)
  let parsed: { method: string; path: string }
  try {
    parsed = parseRoute(text)
  } catch {
    throw new ServiceTermsError(
      `The service's terms price the route "${quoteService(text, 90)}", which is not "METHOD /path" or "METHOD /prefix/*" (e.g. "GET /feed/*").`,
    )
  }
  return { ...parsed, price: termsUint(`prices[${i}].price`, price) }
}

function parseUpstream(entry: unknown, i: number): PricedUpstream {
  const { name, path, price } = (entry ?? {}) as { name?: unknown; path?: unknown; price?: unknown }
  const at = termsText(`upstreams[${i}].path`, path, 200)
  if (!at.startsWith('/'))
    throw new ServiceTermsError(
      `The service's terms put upstream ${i} at "${quoteService(at, 90)}", not a path starting with "/".`,
    )
  return {
    name: termsText(`upstreams[${i}].name`, name, 80),
    path: at.replace(/\/+$/, ''),
    price: termsUint(`upstreams[${i}].price`, price),
  }
}

function parseRpcUrl(value: unknown): string {
  const text = termsText('rpcUrl', value, MAX_URL)
  if (!/^https?:\/\/[^/\s]/.test(text))
    throw new ServiceTermsError(
      `The service's terms give rpcUrl "${quoteService(text, 90)}", not an http(s) URL.`,
    )
  return text
}

/**
 * Reads a service's terms from its `GET /channel` answer.
 * @throws ServiceTermsError for anything but well-formed terms.
 */
export function parseServiceTerms(json: unknown): ServiceTerms {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ServiceTermsError(`The service's terms are not a JSON object; is it a rwa service?`)
  const t = json as Record<string, unknown>
  const groupId = t.groupId
  if (typeof groupId !== 'string' || !GROUP_ID.test(groupId))
    throw new ServiceTermsError(
      `The service's terms give groupId "${quoteService(groupId, 90)}", not 32 bytes (0x and 64 hex digits).`,
    )
  const token = (t.token ?? {}) as { address?: unknown; symbol?: unknown; decimals?: unknown }
  return {
    escrow: termsAddress('escrow', t.escrow),
    recipient: termsAddress('recipient', t.recipient),
    groupId: groupId as `0x${string}`,
    chainId: Number(termsUint('chainId', t.chainId, BigInt(Number.MAX_SAFE_INTEGER))),
    rpcUrl: parseRpcUrl(t.rpcUrl),
    token: toTokenUnit(termsAddress('token.address', token.address), token.symbol, token.decimals),
    expirationThreshold: termsUint('expirationThreshold', t.expirationThreshold, 2n ** 32n),
    currentBlock: termsUint('currentBlock', t.currentBlock, 2n ** 64n),
    prices: termsList('prices', t.prices).map(parsePrice),
    upstreams: termsList('upstreams', t.upstreams).map(parseUpstream),
  }
}

/** The service's origin and terms URL from what a user typed (`http://host:port`, maybe a path). */
export function serviceUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch (cause) {
    throw new ServiceTermsError(
      `"${quoteService(text, 90)}" is not a URL; give the service's, e.g. http://127.0.0.1:8720.`,
      { cause },
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ServiceTermsError(`"${quoteService(text, 90)}" is not an http(s) URL; give one.`)
  return url
}

/** Where a service's terms are: `<origin>/channel`. */
export function termsUrl(service: URL): URL {
  return new URL('/channel', service.origin)
}

/**
 * Fetches and checks a service's terms (`GET <origin>/channel`).
 * @throws ServiceAnswerError when it cannot be reached; ServiceTermsError for bad terms or none.
 */
export async function fetchServiceTerms(
  service: URL,
  { signal }: { signal?: AbortSignal | undefined } = {},
): Promise<ServiceTerms> {
  const answer: ServiceAnswer = await exchange({
    url: termsUrl(service),
    headers: { accept: 'application/json' },
    maxBytes: 65_536,
    idleTimeoutMs: 30_000,
    signal,
  })
  if (answer.status === 404)
    throw new ServiceTermsError(
      `The service at ${service.origin} takes no channel payments (GET /channel answered 404: no escrow or chain).`,
    )
  if (answer.status !== 200)
    throw new ServiceTermsError(
      `The service at ${service.origin} answered GET /channel with HTTP ${answer.status}; try again later.`,
    )
  return parseServiceTerms(answerJson(answer, 'terms'))
}

/**
 * The price of `method path` by the service's terms: its own priced routes first, in order, then
 * the upstreams it fronts; undefined when neither names it (the call may be free, or a 402 says).
 */
export function priceOf(terms: ServiceTerms, method: string, path: string): bigint | undefined {
  const upstreams = terms.upstreams.map((u) => ({
    method: '*',
    path: `${u.path}/*`,
    price: u.price,
  }))
  return routePriceOf([...terms.prices, ...upstreams], method, path)?.price
}

export type { PricedRoute }
