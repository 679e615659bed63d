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

describe('bearerClient', () => {
  test('reads --token, else the operator token; a missing file fails only when needed or named', async () => {
    const { mkdtempSync, mkdirSync, rmSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { bearerClient } = await import('../src/cli/context.ts')
    const dataDir = mkdtempSync(join(tmpdir(), 'rwa-bearer-'))
    try {
      const fail = (message: string) => new Error(`domain: ${message}`)
      const options = { name: 'local', dataDir, node: 'http://127.0.0.1:1' }
      const bearer = { required: false, whose: "the operator's token", fail }
      expect(bearerClient(options, bearer).token).toBeUndefined()
      expect(() => bearerClient(options, { ...bearer, required: true })).toThrow(
        /^domain: The token file ".*operator\.token" cannot be read; pass --token <file> with the operator's token\.$/,
      )
      const named = join(dataDir, 'mine.token')
      expect(() => bearerClient(options, { ...bearer, token: named })).toThrow(/mine\.token/)
      writeFileSync(named, 'abc\n')
      expect(bearerClient(options, { ...bearer, token: named }).token).toBe('abc')
      mkdirSync(join(dataDir, 'keys'))
      writeFileSync(join(dataDir, 'keys', 'operator.token'), 'op\n')
      expect(bearerClient(options, { ...bearer, required: true }).token).toBe('op')
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
