import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { probeRpc, rpcHost } from '../src/chain/rpc-probe.ts'

let server: Server | undefined
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
)

/** A JSON-RPC endpoint on 127.0.0.1 answering `answer(authorization)`. */
async function endpoint(answer: (authorization: string | undefined) => string): Promise<number> {
  server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end(answer(req.headers.authorization)))
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describe('probeRpc', () => {
  test('sends the user and password of the URL as Basic auth, as the chain client does', async () => {
    const expected = `Basic ${Buffer.from('user:p@ss').toString('base64')}`
    const port = await endpoint((auth) =>
      auth === expected ? '{"jsonrpc":"2.0","id":1,"result":"0x2a"}' : '{"error":"no auth"}',
    )
    const probe = await probeRpc(`http://user:p%40ss@127.0.0.1:${port}/key/secret`)
    expect(probe).toEqual({ ok: true, block: 42n })
  })

  test('refuses an answer too long to be a block number, without holding it', async () => {
    const port = await endpoint(() => `{"result":"0x1","pad":"${'x'.repeat(100_000)}"}`)
    const probe = await probeRpc(`http://127.0.0.1:${port}`)
    expect(probe.ok).toBe(false)
  })

  test('rpcHost names an endpoint without its user, password, path or query', () => {
    expect(rpcHost('https://user:pw@rpc.example.org/v3/KEY?k=1')).toBe('rpc.example.org')
    expect(rpcHost('not a url')).toBe('the configured RPC URL')
  })
})
