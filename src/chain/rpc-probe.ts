/** What a probe of a JSON-RPC endpoint found. */
export type RpcProbe =
  | { readonly ok: true; readonly block: bigint }
  | { readonly ok: false; readonly reason: string }

/**
 * Asks `rpcUrl` for its latest block number (`eth_blockNumber`), giving up after `timeoutMs`:
 * a cheap, bounded check that the chain answers, for `GET /ready`. Never throws.
 * @example
 * const probe = await probeRpc('http://127.0.0.1:8545', { timeoutMs: 2000 })
 */
export async function probeRpc(
  rpcUrl: string,
  { timeoutMs = 2000, signal }: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RpcProbe> {
  const timeout = AbortSignal.timeout(timeoutMs)
  try {
    // As viem's http transport does: a user and password in the URL become Basic auth (fetch
    // refuses a URL that carries them).
    const url = new URL(rpcUrl)
    const auth =
      url.username || url.password
        ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
        : undefined
    url.username = ''
    url.password = ''
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
    if (!response.ok) return { ok: false, reason: `it answered HTTP ${response.status}` }
    const body = JSON.parse(await readCapped(response, MAX_ANSWER)) as { result?: unknown }
    if (typeof body.result !== 'string' || !/^0x[0-9a-f]{1,64}$/i.test(body.result))
      return { ok: false, reason: 'it answered no block number' }
    return { ok: true, block: BigInt(body.result) }
  } catch (error) {
    if (timeout.aborted) return { ok: false, reason: `no answer within ${timeoutMs} ms` }
    const { message, cause } = error as Error & { cause?: { code?: unknown } }
    return { ok: false, reason: `the request failed (${String(cause?.code ?? message)})` }
  }
}

/** Most bytes of an answer read: a block number takes a few dozen. */
const MAX_ANSWER = 10_000

/** A response's text, refusing one longer than `max` bytes without reading the rest. */
async function readCapped(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw new Error(`an answer over ${max} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * How an RPC endpoint is named where anyone may read it (`/ready`): its host only, as API keys
 * travel in the user, path or query of provider URLs.
 */
export function rpcHost(rpcUrl: string): string {
  try {
    return new URL(rpcUrl).host
  } catch {
    return 'the configured RPC URL'
  }
}
