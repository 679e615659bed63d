import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { auditDomain } from '../src/core/audit/domain.ts'
import { auditNode } from '../src/domains/audit/node.ts'
import { openAccounts } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { createDocIndex } from '../src/node/doc-index.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { memoryLedger } from './helpers.ts'
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

describe('custodial account quota', () => {
  const roots: string[] = []
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
  })
  const tempDir = () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-quota-'))
    roots.push(root)
    return root
  }

  test('custodialFor creates at most maxCustodial accounts, then says what to do; existing ones still work', () => {
    const accounts = openAccounts(tempDir(), { maxCustodial: 3 })
    // Accounts the operator creates, bound to a JID or not, are not custodial.
    accounts.create({ name: 'operator' })
    accounts.create({ name: 'boss', jid: 'boss@example.org' })
    const made = [1, 2, 3].map((n) => accounts.custodialFor(`admin${n}@example.org`))
    expect(() => accounts.custodialFor('admin4@example.org')).toThrow(
      expect.objectContaining({
        name: 'AccountQuotaError',
        kind: 'conflict',
        shortMessage: expect.stringMatching(/3 custodial .*max_accounts = 3.*admin4@example\.org/),
      }),
    )
    expect(accounts.custodialFor('ADMIN2@example.org/phone').key).toBe(made[1]!.key)
    expect(accounts.custodialFor('boss@example.org').name).toBe('boss')
    expect(accounts.list()).toHaveLength(5)
  })

  test('register_audit with ever new admin_jid stops creating accounts at [xmpp] max_accounts', async () => {
    const dataDir = join(tempDir(), 'n1')
    initNode({ name: 'n1', dataDir })
    appendFileSync(
      join(dataDir, 'config.toml'),
      '\n[xmpp]\nservice = "xmpp://127.0.0.1:5222"\ndomain = "example.org"\nusername = "rwa"\npassword = "x"\nmax_accounts = 5\n',
    )
    const config = loadConfig(dataDir)
    expect(config.xmpp?.maxAccounts).toBe(5)
    // The audit plug-in's own routes, wired as the node wires them (the chat bot needs no server here).
    const ledger = await memoryLedger()
    const index = createDocIndex(ledger, auditDomain)
    await index.start()
    const accounts = openAccounts(dataDir, { maxCustodial: config.xmpp!.maxAccounts })
    const parts = await auditNode.create({
      config,
      logger: pino({ level: 'silent' }),
      ledger,
      accounts,
      index,
      chain: undefined,
    })
    const routes = parts.routes!.find((g) => g.docs.some((d) => d.path === '/register_audit/'))!
    const register = async (n: number, jid: string) => {
      const response = await routes.app.request('/register_audit/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: String(n), data: { name: `a${n}`, bond: '1', admin_jid: jid } }),
      })
      return {
        status: response.status,
        json: (await response.json()) as { error?: unknown; data: { admin: string } },
      }
    }
    const answers = []
    for (let n = 0; n < 12; n++) answers.push(await register(n, `admin${n}@example.org`))
    expect(answers.map((a) => a.status)).toEqual([...Array(5).fill(200), ...Array(7).fill(409)])
    expect(answers[5]!.json.error).toEqual({
      name: 'AccountQuotaError',
      message: expect.stringContaining('raise max_accounts'),
    })
    const custodial = readdirSync(join(dataDir, 'keys')).filter((f) => /^jid-.*\.key$/.test(f))
    expect(custodial).toHaveLength(5)
    // An admin who has an account still registers audits.
    const again = await register(99, 'admin3@example.org')
    expect(again.status).toBe(200)
    expect(again.json.data.admin).toBe(accounts.byJid('admin3@example.org')!.key)
    await ledger.close()
  })
})

describe('client aborts', () => {
  test('a client that disconnects mid-body is logged at debug, not as a failed request', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-abort-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    const lines: { level: number; msg: string; path?: string }[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
        done()
      },
    })
    let started: RwaNode | undefined
    try {
      started = createNode(loadConfig(dataDir), {
        port: 0,
        logger: pino({ level: 'debug' }, sink),
        verifyPool: false,
        chain: { mode: 'none' },
        net: { enabled: false },
      })
      await started.start()
      const { port } = new URL(started.url)
      for (const path of ['/ops', '/register_audit/']) {
        const socket = connect(Number(port), '127.0.0.1')
        await new Promise((resolve) => socket.once('connect', resolve))
        // Promises 100 kB, sends a few bytes, and hangs up while the node reads the body.
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"ops":[`,
        )
        await sleep(50)
        socket.destroy()
        // Bounded wait for the node to notice (no timing asserted: only what it logged).
        for (let i = 0; i < 400 && !lines.some((l) => l.path === path && l.level < 30); i++)
          await sleep(10)
      }
      const abandoned = lines.filter((l) => l.level === 20 && /client closed/.test(l.msg))
      expect(abandoned.map((l) => l.path)).toEqual(['/ops', '/register_audit/'])
      expect(lines.filter((l) => l.level >= 40)).toEqual([])
      // And the node serves on.
      const status = await rawRequest(started.url, 'GET', '/status', { host: `127.0.0.1:${port}` })
      expect(status.status).toBe(200)
    } finally {
      await started?.stop()
      rmSync(root, { recursive: true, force: true })
    }
  })
})
