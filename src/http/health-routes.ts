import { Hono } from 'hono'
import { z } from 'zod'
import type { Readiness } from '../node/readiness.ts'
import { errorWire, type RouteDoc } from './openapi.ts'
import type { RouteGroup } from './route-group.ts'
import { sendJson } from './route-group.ts'

/** What the health routes read. */
export type HealthContext = {
  /** Checks the node's parts (`GET /ready`). */
  ready(): Promise<Readiness>
  /** The Prometheus text exposition (`GET /metrics`), when the node keeps metrics. */
  readonly metrics?:
    | (() => Promise<{ readonly contentType: string; readonly text: string }>)
    | undefined
}

const checkWire = z.object({
  ok: z.boolean(),
  detail: z.string().describe('One sentence: what the check found.'),
})
const readinessWire = z
  .object({
    ready: z.boolean(),
    checks: z.object({ store: checkWire, chain: checkWire, net: checkWire }),
  })
  .describe('Whether the node is ready, and what each check found.')

const DOCS: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/health',
    summary: 'Liveness: answers {"status":"ok"} while the process serves HTTP.',
    tag: 'node',
    response: z.object({ status: z.literal('ok') }).describe('Always {"status":"ok"}.'),
  },
  {
    method: 'get',
    path: '/ready',
    summary:
      'Readiness: whether the store is open, the chain answers (when configured) and replication runs; 503 with the same body when not ready.',
    tag: 'node',
    response: readinessWire,
    errors: [503],
    // 503 answers the readiness itself; the Host guard's 403 answers the shared error.
    errorBody: z.union([readinessWire, errorWire]),
  },
]

const METRICS_DOC: RouteDoc = {
  method: 'get',
  path: '/metrics',
  summary:
    'Prometheus metrics (text exposition format 0.0.4): ops, peers, HTTP, documents, chain, process.',
  tag: 'node',
  response: z.string().describe('Prometheus text exposition.'),
  mediaType: 'text/plain; version=0.0.4; charset=utf-8',
}

/**
 * `GET /health`, `GET /ready` and `GET /metrics` (Prometheus text, documented under
 * its media type). They take no input and pass the Host guard like
 * every route; they need no token: they tell nothing secret (no keys, no tokens, no bodies).
 */
export function healthRoutes(ctx: HealthContext): RouteGroup {
  const app = new Hono()
  app.get('/health', (c) => sendJson(c, { status: 'ok' }))
  app.get('/ready', async (c) => {
    const readiness = await ctx.ready()
    // Probes and load balancers read the status; people read the body.
    return sendJson(c, readiness, readiness.ready ? 200 : 503)
  })
  const { metrics } = ctx
  if (metrics)
    app.get('/metrics', async (c) => {
      const { contentType, text } = await metrics()
      return c.body(text, 200, { 'content-type': contentType, 'cache-control': 'no-store' })
    })
  return { prefix: '/', app, docs: metrics ? [...DOCS, METRICS_DOC] : DOCS }
}
