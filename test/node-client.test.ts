import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { NodeClient, NodeRequestError } from '../src/cli/client.ts'

let server: Server | undefined
afterEach(
  () =>
    new Promise<void>((resolve) => {
      server?.closeAllConnections()
      server ? server.close(() => resolve()) : resolve()
    }),
)

describe('NodeClient', () => {
  test('a node that takes the request and never answers fails it with a clear error', async () => {
    // Reads the request, then says nothing.
    server = createServer((req) => req.resume())
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const client = new NodeClient(`http://127.0.0.1:${port}`, undefined, 200)
    const error = await client.get('/status').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NodeRequestError)
    expect((error as Error).message).toContain('no answer for 200 ms')
  })

  test('a refused connection names its code', async () => {
    // A port just freed: nothing listens there.
    server = createServer()
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise<void>((resolve) => server!.close(() => resolve()))
    server = undefined
    const error = await new NodeClient(`http://127.0.0.1:${port}`).get('/status').catch((e) => e)
    expect((error as Error).message).toContain('(ECONNREFUSED)')
  })
})
