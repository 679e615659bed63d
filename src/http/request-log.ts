import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { Logger } from 'pino'
import type { RequestSample } from '../node/metrics.ts'
import { CLIENT_CLOSED_REQUEST } from './client-abort.ts'

/** The route label of requests that matched no route (so unknown URLs add no label values). */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * The pattern of the route that answers a request (`/audits/:audit`), or `unmatched`: the last
 * matched route that is not a middleware. Never the raw URL, whose values are unbounded.
 */
export function routeOf(c: Context): string {
  const routes = matchedRoutes(c)
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!
    if (route.method !== 'ALL') return route.path
  }
  return UNMATCHED_ROUTE
}

/**
 * Logs every answered request at info (method, route pattern, status, ms) and hands it to
 * `observe` (the HTTP metrics). Requests whose client went away (499) are logged at debug: a
 * client can make as many as it likes. Runs first, so requests refused by the Host guard count.
 * @example
 * app.use('*', requestLog({ logger, observe: metrics.observeRequest }))
 */
export function requestLog({
  logger,
  observe,
}: {
  logger: Logger
  observe?: ((sample: RequestSample) => void) | undefined
}): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    await next()
    const seconds = (performance.now() - started) / 1000
    const sample = { method: c.req.method, route: routeOf(c), status: c.res.status, seconds }
    observe?.(sample)
    const line = {
      method: sample.method,
      route: sample.route,
      status: sample.status,
      ms: Math.round(seconds * 10_000) / 10,
    }
    if (sample.status === CLIENT_CLOSED_REQUEST) logger.debug(line, 'request')
    else logger.info(line, 'request')
  }
}
