import { request } from 'node:http'
import { afterEach, describe, expect, test } from 'vitest'
import { TestNode } from './node-fixture.ts'

let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

type Answer = {
  status: number
  json: { error?: string; message?: string; statusCode?: number } | null
}

/** A request through node:http, which (unlike fetch) sends whatever `Host` it is given. */
function rawRequest(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const registerBody = (name: string) => JSON.stringify({ id: '1', data: { name, bond: '1' } })
const json = { 'content-type': 'application/json' }

describe('hostile requests: DNS rebinding and cross-site pages', () => {
  test('a page on a rebinding domain can neither create audits nor read anything, and cross-site pages cannot change state', async () => {
    node = await TestNode.start()
    const { port } = new URL(node.url)
    const evil = { host: 'evil.example', origin: 'http://evil.example' }
    // The rebinding page: its own Host and Origin, so the old Origin = http://<Host> check passes.
    const rebound = await rawRequest(
      node.url,
      'POST',
      '/register_audit/',
      { ...json, ...evil },
      registerBody('rebound'),
    )
    expect([rebound.status, rebound.json?.error]).toEqual([403, 'MisdirectedRequestError'])
    expect(rebound.json?.message).toContain('evil.example')
    expect(rebound.json?.message).toContain('public_names')
    for (const [method, path] of [
      ['POST', '/data_dump/'],
      ['GET', '/status'],
      ['GET', '/audits'],
      ['GET', '/'],
      ['GET', '/nowhere'],
    ] as const) {
      const body = method === 'POST' ? '{}' : undefined
      const answer = await rawRequest(node.url, method, path, { ...json, host: evil.host }, body)
      expect([path, answer.status, answer.json?.error]).toEqual([
        path,
        403,
        'MisdirectedRequestError',
      ])
    }
    // The loopback names, with any port, are this node.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, '[::1]', 'LOCALHOST'])
      expect((await rawRequest(node.url, 'GET', '/status', { host })).status).toBe(200)
    // A foreign Origin or a cross-site fetch may not change state on any route, even with a good Host.
    const local = { host: `127.0.0.1:${port}` }
    for (const headers of [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ]) {
      for (const path of ['/register_audit/', '/audits', '/ops', '/accounts']) {
        const answer = await rawRequest(
          node.url,
          'POST',
          path,
          { ...json, ...local, ...headers, authorization: `Bearer ${node.operatorToken}` },
          path === '/register_audit/' ? registerBody('csrf') : '{"name":"csrf","bond":"1"}',
        )
        expect([path, answer.status, answer.json?.error]).toEqual([
          path,
          403,
          'CrossSiteRequestError',
        ])
      }
    }
    expect((await node.call('GET', '/audits')).json.audits).toEqual([])
    // Reads stay open to cross-site pages (they cannot read the answer), and requests without
    // Origin (CLI, curl, the Chainlink node) or from the node's own dashboard still work.
    const read = await rawRequest(node.url, 'GET', '/status', {
      ...local,
      'sec-fetch-site': 'cross-site',
    })
    expect(read.status).toBe(200)
    const bridge = await rawRequest(
      node.url,
      'POST',
      '/register_audit/',
      { ...json, ...local },
      registerBody('bridge'),
    )
    expect([bridge.status, bridge.json?.statusCode]).toEqual([200, 200])
    const dashboard = await rawRequest(
      node.url,
      'POST',
      '/audits',
      {
        ...json,
        ...local,
        origin: `http://localhost:${port}`,
        'sec-fetch-site': 'same-origin',
        authorization: `Bearer ${node.operatorToken}`,
      },
      '{"name":"dashboard","bond":"1"}',
    )
    expect(dashboard.status).toBe(200)
    const names = (await node.call('GET', '/audits')).json.audits.map(
      (a: { name: string }) => a.name,
    )
    expect(names.sort()).toEqual(['bridge', 'dashboard'])
  })
})
