import { BaseError } from '../../errors/base.ts'

// What a priced route is and which requests it covers: one rule for the gateway that charges,
// the client that works out what to pay, and the service offers on the ledger.
//   "GET /feed/latest"  one method, one path
//   "* /channel/call/echo/*"  any method, the prefix and everything below it

/** A route a service charges for, and its price in base units per call. */
export type PricedRoute = {
  /** An upper-case method, or `*` for any. */
  readonly method: string
  /** An exact path, or a prefix ending in `/*` (which also covers the prefix itself). */
  readonly path: string
  readonly price: bigint
}

/** Thrown when a priced route cannot be read. */
export class PricedRouteError extends BaseError {
  override name = 'PricedRouteError' as const
}

/** Longest route text. */
export const MAX_ROUTE = 200
const METHOD = /^(\*|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/
const PATH = /^\/[A-Za-z0-9._~!$&'()+,;=:@%/-]*(\/\*)?$/

/**
 * Reads a route: `"GET /feed/*"`, or a path alone for any method (the method may be lower case).
 * @example parseRoute('get /feed/*') // { method: 'GET', path: '/feed/*' }
 * @throws PricedRouteError naming the rule.
 */
export function parseRoute(text: string): { method: string; path: string } {
  const parts = text.trim().split(/\s+/)
  const [method, path] =
    parts.length === 1 ? ['*', parts[0] ?? ''] : [(parts[0] ?? '').toUpperCase(), parts[1] ?? '']
  if (text.length > MAX_ROUTE || parts.length > 2 || !METHOD.test(method) || !PATH.test(path))
    throw new PricedRouteError(
      `Route "${text.slice(0, 80)}" is not "METHOD /path" or "METHOD /prefix/*" (methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or * for any; at most ${MAX_ROUTE} characters).`,
    )
  return { method, path }
}

/** A route as `parseRoute` gives it back in text: `"GET /feed/*"`. */
export const routeText = (route: Pick<PricedRoute, 'method' | 'path'>) =>
  `${route.method} ${route.path}`

/** Whether `route` covers a request. */
export function routeCovers(
  route: Pick<PricedRoute, 'method' | 'path'>,
  method: string,
  path: string,
): boolean {
  if (route.method !== '*' && route.method !== method.toUpperCase()) return false
  if (!route.path.endsWith('/*')) return route.path === path
  const prefix = route.path.slice(0, -2)
  return path === prefix || path.startsWith(`${prefix}/`)
}

/** The first route covering a request, or undefined for a free one. */
export function priceOf<R extends Pick<PricedRoute, 'method' | 'path'>>(
  routes: readonly R[],
  method: string,
  path: string,
): R | undefined {
  return routes.find((route) => routeCovers(route, method, path))
}
