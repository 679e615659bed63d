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
    const response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
    if (!response.ok) return { ok: false, reason: `it answered HTTP ${response.status}` }
    const text = await response.text()
    const body = JSON.parse(text.slice(0, 10_000)) as { result?: unknown }
    if (typeof body.result !== 'string' || !/^0x[0-9a-f]{1,64}$/i.test(body.result))
      return { ok: false, reason: 'it answered no block number' }
    return { ok: true, block: BigInt(body.result) }
  } catch (error) {
    if (timeout.aborted) return { ok: false, reason: `no answer within ${timeoutMs} ms` }
    const { message, cause } = error as Error & { cause?: { code?: unknown } }
    return { ok: false, reason: `the request failed (${String(cause?.code ?? message)})` }
  }
}
