import { type Context, Hono } from 'hono'
import type { z } from 'zod'
import { toJson } from '../core/json.ts'
import type { Accounts, LocalAccount } from '../node/accounts.ts'
import { readJson } from './body.ts'
import type { RouteDoc } from './openapi.ts'

/** A route's documentation, with its path relative to the group's prefix. */
export type RouteSpec = Omit<RouteDoc, 'path'> & { readonly path: string }

/** What a route handler gets: the request, and the account of its bearer token when the route needs one. */
export type RouteHandler<Account> = (c: Context, account: Account) => Promise<unknown> | unknown

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
  route(spec: RouteSpec & { readonly auth: true }, handler: RouteHandler<LocalAccount>): void
  route(spec: RouteSpec, handler: RouteHandler<undefined>): void
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
 * group.route({ method: 'get', path: '/', summary: 'Every poll.', tag: 'polls' }, () => ({ polls: [] }))
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
        return sendJson(c, await handler(c, account as never))
      })
    },
    body: (c, schema) => readJson(c, bodyLimit, schema),
  }
}
