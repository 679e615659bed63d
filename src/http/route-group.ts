import { type Context, Hono } from 'hono'
import type { z } from 'zod'
import { toJson } from '../core/json.ts'
import type { Accounts, LocalAccount } from '../node/accounts.ts'
import { readJson } from './body.ts'
import type { RouteDoc } from './openapi.ts'
import type { Encodes } from './wire.ts'

/**
 * A route's documentation, with its path relative to the group's prefix. `response` (required)
 * is the zod schema of the success answer as it travels; the handler's result is checked
 * against it at compile time.
 */
export type RouteSpec<Response extends z.ZodType = z.ZodType> = Omit<
  RouteDoc,
  'path' | 'response'
> & { readonly path: string; readonly response: Response }

/**
 * What a route handler gets: the request, and the account of its bearer token when the route
 * needs one. It answers a value whose JSON is `Answer` (bigints may stand for decimal strings,
 * bytes for hex).
 */
export type RouteHandler<Account, Answer = unknown> = (
  c: Context,
  account: Account,
) => Promise<Encodes<Answer>> | Encodes<Answer>

/**
 * A group of JSON routes under one prefix: a Hono sub-app that the HTTP shell mounts with
 * `app.route(prefix, app)`, as Hono composes apps, and the routes' documentation for
 * `/openapi.json`.
 */
export interface RouteGroup {
  /** Where the group is mounted (`/audits`; `/` for routes at the root). */
  readonly prefix: string
  readonly app: Hono
  /** The routes' documentation, with full paths. */
  readonly docs: readonly RouteDoc[]
}

/** A route group being built: `route` adds a documented JSON route. */
export interface RouteGroupBuilder extends RouteGroup {
  /** Adds a route whose handler's result is answered as JSON (bigints as strings, bytes as hex). */
  route<R extends z.ZodType>(
    spec: RouteSpec<R> & { readonly auth: true },
    handler: RouteHandler<LocalAccount, z.output<R>>,
  ): void
  route<R extends z.ZodType>(
    spec: RouteSpec<R>,
    handler: RouteHandler<undefined, z.output<R>>,
  ): void
  /** Reads and validates the request's JSON body (an empty body counts as `{}`). */
  body<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>>
}

/** Sends `value` as JSON with rwa's encoding of bigints and bytes. */
export const sendJson = (c: Context, value: unknown, status = 200) =>
  c.body(toJson(value), status as 200, { 'content-type': 'application/json; charset=utf-8' })

/** Joins a group's prefix and a route's path (`/audits` + `/` → `/audits`). */
export function joinPath(prefix: string, path: string): string {
  const joined = `${prefix.replace(/\/$/, '')}${path === '/' ? '' : path}`
  return joined === '' ? '/' : joined
}

/**
 * Creates a route group. Routes marked `auth` authenticate the bearer token of a local account
 * first (401 otherwise) and hand the handler that account.
 * @example
 * const group = createRouteGroup({ prefix: '/polls', accounts, bodyLimit })
 * group.route(
 *   { method: 'get', path: '/', summary: 'Every poll.', tag: 'polls', response: z.object({ polls: z.array(pollWire) }) },
 *   () => ({ polls: [] }),
 * )
 */
export function createRouteGroup({
  prefix,
  accounts,
  bodyLimit,
}: {
  prefix: string
  accounts: Accounts
  /** Largest request body read, in bytes (`[http] body_limit`). */
  bodyLimit: number
}): RouteGroupBuilder {
  const app = new Hono()
  const docs: RouteDoc[] = []
  return {
    prefix,
    app,
    docs,
    route(spec: RouteSpec, handler: RouteHandler<never>) {
      docs.push({ ...spec, path: joinPath(prefix, spec.path) })
      app[spec.method](spec.path, async (c) => {
        const account = spec.auth ? accounts.authenticate(c.req.header('authorization')) : undefined
        const answer = await handler(c, account as never)
        // A route that is not JSON (Prometheus text) answers its text as is.
        if (spec.mediaType) return c.body(String(answer), 200, { 'content-type': spec.mediaType })
        return sendJson(c, answer)
      })
    },
    body: (c, schema) => readJson(c, bodyLimit, schema),
  }
}
