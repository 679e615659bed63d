import { type HttpTransport, http, type Transport } from 'viem'

/**
 * viem's `http` transport to `url`, counting every request that fails (no answer, an HTTP error,
 * a JSON-RPC error) in `counter`, once per call after viem's retries: the chain RPC errors of
 * `/metrics`.
 * @example
 * const counter = { errors: 0 }
 * const client = createPublicClient({ transport: countedHttp(rpcUrl, counter) })
 */
export function countedHttp(url: string, counter: { errors: number }): HttpTransport {
  const base = http(url)
  const counted: Transport = (params) => {
    const transport = base(params)
    return {
      ...transport,
      async request(args: Parameters<typeof transport.request>[0]) {
        try {
          return await transport.request(args)
        } catch (error) {
          counter.errors++
          throw error
        }
      },
    } as typeof transport
  }
  return counted as HttpTransport
}
