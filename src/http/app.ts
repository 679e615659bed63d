import { type Context, Hono, type MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { WebPart } from '../domains/plugin.ts'
import type { DocIndex } from '../node/doc-index.ts'
import type { NodeMetrics } from '../node/metrics.ts'
import type { Readiness } from '../node/readiness.ts'
import { APP_CSS, APP_JS } from '../web/assets.ts'
import { errorPage } from '../web/error-page.ts'
import { explorerAt } from '../web/explorer.ts'
import { homePage } from '../web/home.ts'
import { htmlPage } from '../web/layout.ts'
import { apiPage } from './api-page.ts'
import { CLIENT_CLOSED_REQUEST, isClientAbort } from './client-abort.ts'
import { errorResponse } from './errors.ts'
import { healthRoutes } from './health-routes.ts'
import { hostGuard } from './host-guard.ts'
import { type NodeRoutesContext, nodeRoutes } from './node-routes.ts'
import { buildOpenApi, type RouteDoc } from './openapi.ts'
import { opsRoutes } from './ops-routes.ts'
import { DEFAULT_PAGE_SIZE } from './page.ts'
import { requestLog } from './request-log.ts'
import type { RouteGroup } from './route-group.ts'

/** What one hosted domain adds to the HTTP API and the dashboard. */
export type HttpDomain = {
  /** The domain's documents. */
  readonly index: DocIndex
  readonly routes: readonly RouteGroup[]
  /** Middleware run before every route (`DomainParts.middleware`). */
  readonly middleware?: readonly MiddlewareHandler[] | undefined
  readonly web?: WebPart | undefined
  /** What the domain adds to `GET /status` (`DomainParts.status`). */
  readonly status?: (() => unknown) | undefined
}

/** What the HTTP interface needs from a node: what its own routes tell, and the hosted domains. */
export type HttpContext = Omit<NodeRoutesContext, 'indexes'> & {
  readonly logger: Logger
  /** Host names allowed in `Host` besides the loopback ones (`[http] public_names`, the bind address). */
  readonly hostNames?: readonly string[] | undefined
  /** The hosted domains, in registration order. */
  readonly domains: readonly HttpDomain[]
  /** The node's metrics: HTTP requests are counted into them, and `/metrics` shows them. */
  readonly metrics?: NodeMetrics | undefined
  /** Checks the node's parts for `GET /ready` (ready when left out). */
  readonly ready?: (() => Promise<Readiness>) | undefined
  /** `[chain] explorer_url`: the home page links the escrow there. */
  readonly explorerUrl?: string | undefined
}

/**
 * Creates the HTTP API of a node (Hono): the node's own routes, `/ops`, each domain's route
 * groups mounted at their prefixes, `/openapi.json` documenting all of them, the interactive API
 * page at `/api`, and the dashboard.
 */
export function createHttpApp(ctx: HttpContext): Hono {
  const app = new Hono()
  app.onError((error, c) => {
    if (isClientAbort(error, c)) {
      ctx.logger.debug({ path: c.req.path }, 'client closed the request')
      return c.body(null, CLIENT_CLOSED_REQUEST as 400)
    }
    const { status, body } = errorResponse(error)
    if (status >= 500) ctx.logger.error({ err: error, path: c.req.path }, 'request failed')
    // A dashboard page (an unknown audit, say) answers a page a person can read; a refused
    // host or site gets the JSON refusal, which names nothing of this node.
    if (isDashboardPage(c) && status !== 403)
      return c.html(errorPage({ node: ctx.name, status, message: body.message }), status as 400)
    // RFC 9110: a 401 names the scheme the client should use.
    if (status === 401) c.header('www-authenticate', 'Bearer realm="rwa"')
    return c.json(body, status as 400)
  })
  app.notFound((c) => {
    if (isDashboardPage(c) || prefersHtml(c))
      return c.html(
        errorPage({
          node: ctx.name,
          status: 404,
          message: `There is no page at ${c.req.path}.`,
        }),
        404,
      )
    return c.json(
      {
        error: 'NotFoundError',
        message: `There is no route ${c.req.method} ${c.req.path}; see GET /openapi.json.`,
      },
      404,
    )
  })
  // First, so every answer is logged and counted (Host guard refusals and errors included).
  app.use('*', requestLog({ logger: ctx.logger, observe: ctx.metrics?.observeRequest }))
  // Before every route: a request must name this node's host (DNS rebinding) and, to change
  // anything, come from no other site.
  app.use('*', hostGuard({ names: ctx.hostNames ?? [] }))
  // Then the domains' middleware (a paid-call gateway pricing routes), before any route.
  for (const middleware of ctx.domains.flatMap((d) => d.middleware ?? [])) app.use('*', middleware)
  const indexes = ctx.domains.map((d) => d.index)
  const groups = [
    nodeRoutes({ ...ctx, indexes, domainStatus: () => domainStatus(ctx.domains) }),
    healthRoutes({ ready: ctx.ready ?? alwaysReady, metrics: ctx.metrics?.render }),
    opsRoutes({ ...ctx, indexes }),
    ...ctx.domains.flatMap((d) => d.routes),
  ]
  const docs: RouteDoc[] = groups.flatMap((group) => group.docs)
  // Built once, on first request: the routes are fixed, and building takes tens of milliseconds.
  let openapi: string | undefined
  app.get('/openapi.json', (c) => {
    openapi ??= JSON.stringify(buildOpenApi(docs, ctx.version))
    return c.body(openapi, 200, { 'content-type': 'application/json; charset=utf-8' })
  })
  app.route('/api', apiPage())
  for (const group of groups) app.route(group.prefix, group.app)
  mountDashboard(app, ctx)
  return app
}

const alwaysReady = async (): Promise<Readiness> => {
  const ok = { ok: true, detail: 'Not checked.' }
  return { ready: true, checks: { store: ok, chain: ok, net: ok } }
}

/** Whether a request asks for a dashboard page (`/` or under `/ui/`), which answers HTML. */
function isDashboardPage(c: Context): boolean {
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return false
  return c.req.path === '/' || c.req.path.startsWith('/ui/')
}

/** Whether a GET comes from a browser's address bar (its Accept names HTML first). */
function prefersHtml(c: Context): boolean {
  if (c.req.method !== 'GET') return false
  return /^\s*text\/html\b/i.test(c.req.header('accept') ?? '')
}

/** What the domains add to `GET /status`, by domain name (those that add something). */
async function domainStatus(domains: readonly HttpDomain[]): Promise<Record<string, unknown>> {
  const status: Record<string, unknown> = {}
  for (const { index, status: read } of domains) if (read) status[index.domain.name] = await read()
  return status
}

/** The dashboard: the home page with each domain's card, the domains' pages, a stylesheet and one script. */
function mountDashboard(app: Hono, ctx: HttpContext): void {
  // One script: the shell's, then each domain's (they register their page hooks). The `;`
  // keeps a script that starts with a parenthesis from calling the one before it.
  const script = [APP_JS, ...ctx.domains.flatMap((d) => d.web?.script ?? [])].join('\n;\n')
  app.get('/', (c) => {
    const stats = ctx.ledger.log.stats()
    // The first page of each domain's documents: the rest are a click (or an API page) away.
    const cards = ctx.domains.flatMap(
      (d) => d.web?.card(d.index.page(undefined, DEFAULT_PAGE_SIZE).items) ?? [],
    )
    return htmlPage(
      c,
      homePage({
        name: ctx.name,
        version: ctx.version,
        ops: stats.accepted,
        docs: stats.documents,
        peers: ctx.peers(),
        chain: ctx.chain?.(),
        explorer: explorerAt(ctx.explorerUrl),
        cards,
      }),
    )
  })
  app.get('/ui/app.css', (c) => c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }))
  app.get('/ui/app.js', (c) =>
    c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  )
  for (const { web } of ctx.domains) if (web?.pages) app.route(web.pages.prefix, web.pages.app)
}
