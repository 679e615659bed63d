import type { MiddlewareHandler } from 'hono'
import { CrossSiteRequestError, MisdirectedRequestError } from './errors.ts'

/** Host names every node answers to, whatever its config: the loopback ones. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]']

/** Methods that change nothing, so a cross-site page may send them (it cannot read the answer). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The host name of a `Host` header or of a URL's authority, lower-cased and without the port
 * (`[::1]:8720` → `[::1]`); undefined when it is not one.
 */
export function parseHostName(authority: string): string | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]/@\s]+)(:\d{1,5})?$/i.exec(authority.trim())
  return match?.[1]?.toLowerCase()
}

/** The host name of an `Origin` header (`http://localhost:8720` → `localhost`), if it has one. */
function originHostName(origin: string): string | undefined {
  const match = /^https?:\/\/([^/?#]+)$/i.exec(origin.trim())
  return match ? parseHostName(match[1]!) : undefined
}

/**
 * Refuses requests that a web page of another site could make through the operator's browser.
 * Every request must name an allowed host in `Host` (loopback, the bind address, or
 * `[http] public_names`): a DNS-rebinding page reaches the node under its own name, and is
 * refused here. A state-changing request (any method but GET, HEAD, OPTIONS) is also refused when
 * its `Origin` names a host that is not allowed (or is `null`) or its `Sec-Fetch-Site` says
 * `cross-site`. Requests without these headers (the CLI, curl, a Chainlink node) pass.
 * @example
 * app.use('*', hostGuard({ names: ['rwa.example.org'] }))
 */
export function hostGuard({ names }: { names: readonly string[] }): MiddlewareHandler {
  const allowed = new Set([...LOOPBACK_NAMES, ...names.map((n) => n.toLowerCase())])
  return async (c, next) => {
    const host = c.req.header('host') ?? ''
    const name = parseHostName(host)
    if (name === undefined || !allowed.has(name))
      throw new MisdirectedRequestError(
        `This node does not answer to the host ${JSON.stringify(host.slice(0, 100))}; call it as localhost or 127.0.0.1, or add the name to [http] public_names in config.toml.`,
      )
    if (!SAFE_METHODS.has(c.req.method)) assertSameSite(c.req.header.bind(c.req), allowed)
    await next()
  }
}

function assertSameSite(
  header: (name: string) => string | undefined,
  allowed: ReadonlySet<string>,
): void {
  const origin = header('origin')
  if (origin !== undefined) {
    const name = originHostName(origin)
    if (name === undefined || !allowed.has(name))
      throw new CrossSiteRequestError(
        `Requests from web pages of other sites (origin ${JSON.stringify(origin.slice(0, 100))}) may not change anything; use the dashboard served by this node, the CLI, or add the site's name to [http] public_names.`,
      )
  }
  if (header('sec-fetch-site')?.toLowerCase() === 'cross-site')
    throw new CrossSiteRequestError(
      'This request came from a web page of another site (Sec-Fetch-Site: cross-site) and may not change anything; use the dashboard served by this node or the CLI.',
    )
}
