import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { PortInUseError } from './errors.ts'
import type { LifecycleOptions, Startable } from './startable.ts'

/** How long a client may take to send one request, headers and body. */
const REQUEST_TIMEOUT_MS = 30_000

/** The node's HTTP server: serves `fetch` on `host:port` once started. */
export interface HttpServer extends Startable {
  /** `http://host:port` once started (the port chosen when 0 was asked for). */
  readonly url: string
}

/**
 * Creates the HTTP server part of a node. `stop` stops accepting connections and lets requests
 * in progress finish until its signal aborts (the node's grace period), then cuts the rest.
 */
export function httpServer({
  fetch,
  host,
  port,
}: {
  fetch: (request: Request) => Response | Promise<Response>
  host: string
  port: number
}): HttpServer {
  let server: ReturnType<typeof serve> | undefined
  let url = ''
  return {
    name: 'http',
    get url() {
      return url
    },
    async start() {
      server = await listen(fetch, host, port)
      url = `http://${host}:${(server.address() as AddressInfo).port}`
    },
    async stop({ signal }: LifecycleOptions) {
      if (server) await closeServer(server, signal)
      server = undefined
    },
  }
}

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
): Promise<ReturnType<typeof serve>> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch,
        hostname,
        port,
        // A client gets 30 s to send a whole request (Node's default is 5 min): a body that
        // stalls must not hold a connection and its buffer for long.
        serverOptions: { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: 20_000 },
      },
      () => resolve(server),
    )
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(
              `Port ${port} on ${hostname} is already in use (another node or program); start with --port <n>, or set [http] port in config.toml.`,
              { cause: error },
            )
          : error,
      ),
    )
  })
}

/**
 * Stops accepting connections and lets requests in progress finish. Node closes the keep-alive
 * connections idle when `close` is called, but one busy then would hold the node for its
 * keep-alive timeout (5 s) after its response: so idle ones are closed again every 50 ms, and
 * any still open when `signal` aborts are cut.
 */
async function closeServer(server: ReturnType<typeof serve>, signal: AbortSignal): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  const http = server as Server
  const sweep = setInterval(() => http.closeIdleConnections(), 50)
  const cut = () => http.closeAllConnections()
  if (signal.aborted) cut()
  else signal.addEventListener('abort', cut, { once: true })
  try {
    await closed
  } finally {
    clearInterval(sweep)
    signal.removeEventListener('abort', cut)
  }
}
