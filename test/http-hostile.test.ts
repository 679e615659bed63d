import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import { auditDomain } from '../src/core/audit/domain.ts'
import { listAudits } from '../src/domains/audit/cli/client.ts'
import { auditNode } from '../src/domains/audit/node.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { compareOpIds, type OpId } from '../src/ledger/op-id.ts'
import { openAccounts } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { initNode } from '../src/node/init.ts'
import { createNodeMetrics } from '../src/node/metrics.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { makeOp, memoryLedger, testSigner } from './helpers.ts'
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

describe('hostile requests to /metrics, /health and /ready', () => {
  test('a foreign Host is refused on each, and the refusal shows no metrics', async () => {
    node = await TestNode.start()
    for (const path of ['/metrics', '/health', '/ready']) {
      const answer = await rawRequest(node.url, 'GET', path, { host: 'evil.example' })
      expect([path, answer.status, answer.json?.error]).toEqual([
        path,
        403,
        'MisdirectedRequestError',
      ])
    }
    const text = await (await fetch(`${node.url}/metrics`)).text()
    // Refused requests are counted under their route, by status.
    expect(text).toContain('rwa_http_requests_total{method="GET",route="/metrics",status="403"} 1')
  })

  test('query junk, unknown URLs and odd methods are harmless and add no label values', async () => {
    node = await TestNode.start()
    const junk = `?name[]=%00%ff&limit=-1&route=%22}%20evil&${'x'.repeat(2000)}`
    for (const path of ['/metrics', '/health', '/ready']) {
      const response = await fetch(`${node.url}${path}${junk}`)
      expect([path, response.status]).toEqual([path, 200])
      await response.arrayBuffer()
    }
    for (let i = 0; i < 50; i++) {
      const response = await fetch(`${node.url}/no/such/${i}-${'z'.repeat(i)}?q=${i}`)
      expect(response.status).toBe(404)
      await response.arrayBuffer()
    }
    const { port } = new URL(node.url)
    const odd = await new Promise<number>((resolve, reject) => {
      const req = request(
        { hostname: '127.0.0.1', port, method: 'PROPFIND', path: '/metrics' },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(odd).toBe(404)
    const text = await (await fetch(`${node.url}/metrics`)).text()
    expect(text).not.toContain('no/such')
    expect(text).not.toContain('evil')
    expect(text).not.toContain('PROPFIND')
    expect(text).toContain(
      'rwa_http_requests_total{method="GET",route="unmatched",status="404"} 50',
    )
    expect(text).toContain(
      'rwa_http_requests_total{method="OTHER",route="unmatched",status="404"} 1',
    )
    // POST, or a body, changes nothing: the routes are GET only.
    const posted = await fetch(`${node.url}/ready`, { method: 'POST', body: '{"ready":false}' })
    expect(posted.status).toBe(404)
    expect((await fetch(`${node.url}/ready`)).status).toBe(200)
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
      settings: {},
      logger: pino({ level: 'silent' }),
      ledger,
      accounts,
      index,
      indexes: new Map<string, DocIndex>([['audit', index]]),
      chain: undefined,
      network: undefined,
      metrics: createNodeMetrics({
        ledger: () => ledger,
        indexes: () => new Map(),
        replicator: () => undefined,
        chain: () => undefined,
      }).forDomain('audit'),
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
    const lines: { level: number; msg: string; path?: string; route?: string; status?: number }[] =
      []
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
      // Their request log lines are at debug too, with the pattern of the route they aimed at.
      const logged = lines.filter((l) => l.msg === 'request' && l.status === 499)
      expect(logged.map((l) => [l.level, l.route])).toEqual([
        [20, '/ops'],
        [20, '/register_audit/'],
      ])
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

/** An audit genesis and `items - 1` item additions on a chain, all signed by one admin. */
function signedAudit(name: string, ops: number, signerSeed = 7): EncodedOp[] {
  const admin = testSigner(signerSeed)
  const genesis = makeOp(admin, {
    doc: null,
    seq: 1,
    deps: [],
    type: 'audit.create',
    body: { name, bond: '1000' },
    time: 1_700_000_000_000,
  })
  const out = [genesis]
  for (let i = 1; i < ops; i++)
    out.push(
      makeOp(admin, {
        doc: genesis.id,
        seq: i + 1,
        deps: [out[i - 1]!.id],
        type: 'audit.item.add',
        body: { description: `lamp ${i}` },
        time: 1_700_000_000_000 + i,
      }),
    )
  return out
}

/** Submits signed ops through `POST /ops`, 1,000 a request, expecting every one accepted. */
async function submit(t: TestNode, ops: readonly EncodedOp[]): Promise<void> {
  for (let i = 0; i < ops.length; i += 1000) {
    const hex = ops.slice(i, i + 1000).map((op) => Buffer.from(op.bytes).toString('hex'))
    const { status, json } = await t.call('POST', '/ops', { body: { ops: hex } })
    expect(status).toBe(200)
    const refused = (json.results as { ok: boolean; status?: string }[]).filter(
      (r) => !r.ok || r.status !== 'accepted',
    )
    expect(refused).toEqual([])
  }
}

type OpsPage = { ops: string[]; from: number; next: number | null; total: number }

/** Walks `GET /docs/:doc/ops` page by page (bounded), checking each page's size. */
async function walkOps(t: TestNode, doc: OpId, limit?: number): Promise<string[]> {
  const ops: string[] = []
  let from: number | null = 0
  for (let pages = 0; from !== null && pages < 100; pages++) {
    const query: string = `?from=${from}${limit ? `&limit=${limit}` : ''}`
    const { status, json }: { status: number; json: OpsPage } = await t.call(
      'GET',
      `/docs/${doc}/ops${query}`,
    )
    expect(status).toBe(200)
    expect(json.ops.length).toBeLessThanOrEqual(limit ?? 1000)
    expect(json.from).toBe(from)
    ops.push(...json.ops)
    from = json.next
  }
  expect(from).toBeNull()
  return ops
}

describe('bounded reads', () => {
  test('GET /docs/:doc/ops answers bounded pages, and walking them returns every op in order', async () => {
    node = await TestNode.start()
    const audit = signedAudit('paged', 2500)
    await submit(node, audit)
    const hex = audit.map((op) => Buffer.from(op.bytes).toString('hex'))
    const first = await node.call('GET', `/docs/${audit[0]!.id}/ops`)
    expect([first.json.ops.length, first.json.from, first.json.next, first.json.total]).toEqual([
      1000, 0, 1000, 2500,
    ])
    expect(await walkOps(node, audit[0]!.id)).toEqual(hex)
    expect(await walkOps(node, audit[0]!.id, 333)).toEqual(hex)
    const tooMany = await node.call('GET', `/docs/${audit[0]!.id}/ops?limit=1001`)
    expect([tooMany.status, tooMany.json.error]).toEqual([400, 'ValidationError'])
    // The CLI's reader walks the pages too, checking every signature.
    const read = await new NodeClient(node.url).ops(audit[0]!.id)
    expect(read.map((op) => op.id)).toEqual(audit.map((op) => op.id))
  })

  test('a 3,000-op document reads the same with and without 20,000 other documents; listings stay paged', async () => {
    // Signed before any request: signing blocks this process (the node's too) for seconds, and
    // an idle keep-alive connection closed meanwhile would fail the next request.
    const audit = signedAudit('big', 3000)
    const others = Array.from({ length: 20_000 }, (_, n) => signedAudit(`other ${n}`, 1, 8)[0]!)
    node = await TestNode.start()
    const doc = audit[0]!.id
    await submit(node, audit)
    const alone = await walkOps(node, doc)
    expect(alone).toEqual(audit.map((op) => Buffer.from(op.bytes).toString('hex')))
    await submit(node, others)
    const crowded = await walkOps(node, doc)
    expect(crowded).toEqual(alone)

    // /status: a page of documents (bounded), and walking every page lists each document once.
    const status = await node.call('GET', '/status')
    expect(status.json.docs).toBe(20_001)
    expect(Object.keys(status.json.documents)).toHaveLength(100)
    const seen: OpId[] = []
    let after: string | null = null
    for (let pages = 0; pages < 100; pages++) {
      const query: string = after ? `&after=${after}` : ''
      const page: { json: { documents: object; next: string | null } } = await node.call(
        'GET',
        `/status?limit=1000${query}`,
      )
      const ids = Object.keys(page.json.documents) as OpId[]
      expect(ids.length).toBeLessThanOrEqual(1000)
      seen.push(...ids)
      after = page.json.next
      if (after === null) break
    }
    expect(after).toBeNull()
    expect(new Set(seen).size).toBe(20_001)
    expect(seen).toEqual([...seen].sort(compareOpIds))
    expect((await node.call('GET', '/status?limit=1001')).status).toBe(400)

    // /audits: pages by name, and walking them lists every audit once.
    const page = await node.call('GET', '/audits')
    expect([page.json.audits.length, typeof page.json.next]).toEqual([100, 'string'])
    const audits = await listAudits(new NodeClient(node.url))
    expect(audits).toHaveLength(20_001)
    expect(audits.map((a) => a.id)).toEqual(node.node.audits.list().map((a) => a.id))
    const unknown = await node.call('GET', `/audits?after=${doc.slice(0, -2)}aa`)
    expect([unknown.status, unknown.json.error]).toEqual([400, 'ValidationError'])

    // The dashboard's home page shows the first page of audits, not all of them.
    const home = await fetch(`${node.url}/`)
    const html = await home.text()
    expect(home.status).toBe(200)
    expect(html.match(/href="\/ui\/audits\//g)).toHaveLength(100)
  }, 120_000)
})

describe('hostile requests to the money routes', () => {
  test('fund, payouts owed and token units refuse junk clearly and change nothing', async () => {
    node = await TestNode.start()
    const admin = node.operatorToken
    const audit = (
      await node.call('POST', '/audits', { token: admin, body: { name: 'money', bond: '900' } })
    ).json.audit as string
    const fund = (body: unknown, token = admin, raw?: string) =>
      node!.call('POST', `/audits/${audit}/fund`, { token, body, ...(raw ? { raw } : {}) })
    // No token, a number (amounts are strings), junk fields, a body over the limit.
    expect((await fund({ amount: '1' }, '')).status).toBe(401)
    const numeric = await fund({ amount: 1000 })
    expect([numeric.status, numeric.json.message]).toEqual([400, expect.stringContaining('string')])
    expect((await fund({ amount: '1', to: 'me' })).status).toBe(400)
    expect((await fund(undefined, admin, `{"amount":"${'9'.repeat(2_000_000)}"}`)).status).toBe(413)
    // A well-formed request on a node without a chain says so.
    const noChain = await fund({ amount: '1' })
    expect([noChain.status, noChain.json.message]).toEqual([404, expect.stringMatching(/chain/)])
    expect(
      (
        await node.call('POST', '/audits/no-such-audit/fund', {
          token: admin,
          body: { amount: '1' },
        })
      ).status,
    ).toBe(404)
    // Addresses and tokens: junk, markup, over-long, a prototype name.
    for (const junk of ['0x12', '<script>', 'constructor', `0x${'a'.repeat(5000)}`]) {
      const owed = await node.call('GET', `/payouts/${encodeURIComponent(junk)}`)
      expect([junk.slice(0, 12), owed.status]).toEqual([junk.slice(0, 12), 400])
      // The error names what was sent, cut short: a 5,000-character address is not echoed whole.
      expect(owed.json.message.length).toBeLessThan(300)
      const unit = await node.call('GET', `/payouts/tokens/${encodeURIComponent(junk)}`)
      expect([junk.slice(0, 12), unit.status]).toEqual([junk.slice(0, 12), 400])
    }
    // The audit is as it was: nothing recorded by the refused requests.
    const view = (await node.call('GET', `/audits/${audit}`)).json
    expect(view.state).toBe('INITIALIZATION')
  })
})

describe('hostile requests to the impact routes', () => {
  test('malformed bodies on every impact POST route get 400 naming the field; a huge info is refused by size; a stranger cannot change the registry through POST /ops', async () => {
    node = await TestNode.start()
    const t = node
    const admin = t.operatorToken
    const created = await t.call('POST', '/impact', { token: admin, body: { name: 'Hostile' } })
    expect(created.status).toBe(200)
    const c = `/impact/${created.json.community}`
    const r = `${c}/requests/${created.json.community}`
    const cases: [path: string, body: unknown, field: string][] = [
      ['/impact', { name: 5 }, 'name'],
      [`${c}/categories`, { uid: 'one', description: 'Trees planted' }, 'uid'],
      [`${c}/actions`, { uid: 1, configuration: 7 }, 'configuration'],
      [`${c}/oracles`, { uid: 1, configuration: '{}' }, 'configuration'],
      [`${c}/auditors`, { account: 'nope', configuration: '{}', payout: '0x0' }, 'account'],
      [`${c}/proxies`, { uid: 0, account: 'a'.repeat(64) }, 'uid'],
      [`${c}/tokens`, { id: 1, address: 'nope' }, 'address'],
      [`${c}/governors`, { governors: 'everyone', threshold: 1 }, 'governors'],
      [`${c}/proposals/${created.json.community}/approve`, { junk: 1 }, 'junk'],
      [`${c}/requests`, { info: 42 }, 'info'],
      [`${r}/vote`, { vote: 'maybe' }, 'vote'],
      [`${r}/attest`, { otherinfo: 5 }, 'otherinfo'],
      [`${r}/assign`, { maxdays: 0 }, 'maxdays'],
      [`${r}/unassign`, { auditor: 'x' }, 'auditor'],
      [`${r}/decide`, { junk: 1 }, 'junk'],
      [`${r}/expire`, { junk: 1 }, 'junk'],
    ]
    for (const [path, body, field] of cases) {
      const { status, json } = await t.call('POST', path, { token: admin, body })
      expect([path, status, json.error], JSON.stringify(json)).toEqual([
        path,
        400,
        'ValidationError',
      ])
      expect(json.message, path).toContain(`"${field}"`)
      const list = await t.call('POST', path, { token: admin, raw: '[1,2]' })
      expect([path, list.status]).toEqual([path, 400])
    }

    // An approval request is at most 8192 bytes (not characters); a body past the node's limit
    // is refused before it is read.
    for (const info of ['x'.repeat(8193), 'é'.repeat(4097)]) {
      const { status, json } = await t.call('POST', `${c}/requests`, {
        token: admin,
        body: { info },
      })
      expect([status, json.error]).toEqual([400, 'ValidationError'])
      expect(json.message).toMatch(/"info": at most 8192 bytes/)
    }
    const huge = await t.call('POST', `${c}/requests`, {
      token: admin,
      raw: JSON.stringify({ info: 'x'.repeat(2_000_000) }),
    })
    expect([huge.status, huge.json.error]).toEqual([413, 'PayloadTooLargeError'])

    // A stranger's registry change, signed by the client, is refused at admission.
    await expect(
      new NodeClient(t.url).submit(testSigner(42), {
        doc: created.json.community,
        type: 'impact.category.create',
        body: { uid: 9, description: 'Stranger things' },
      }),
    ).rejects.toMatchObject({
      error: 'ImpactForbiddenError',
      message: expect.stringContaining('Only a governor of "Hostile"'),
    })
    const registry = await t.call('GET', c)
    expect([registry.json.categories, registry.json.proposals]).toEqual([[], []])
  })
})

describe('hostile requests to the feed routes', () => {
  test('malformed bodies and queries on every feed route get 400 naming the field; strangers cannot attest or change the feed; junk attestations from a registered oracle are evidence, never counted', async () => {
    node = await TestNode.start()
    const t = node
    const admin = t.operatorToken
    const me = (await t.call('GET', '/feed/signer')).json
    const oracle = testSigner(43)
    const oracleKey = Buffer.from(oracle.publicKey).toString('hex')
    const genesis = {
      pair: 'ETH/USD',
      decimals: 8,
      window: 10,
      heartbeat: 3600,
      deviation: 5000,
      minSources: 1,
      maxAge: 300,
      oracles: [oracleKey],
      signers: [{ key: me.key, address: '0x0000000000000000000000000000000000000001' }],
      threshold: 1,
    }
    const created = await t.call('POST', '/feed/feeds', { token: admin, body: genesis })
    expect(created.status).toBe(200)
    const f = `/feed/feeds/${created.json.feed}`
    const cases: [path: string, body: unknown, field: string][] = [
      ['/feed/feeds', { ...genesis, pair: 'ETHUSD' }, 'pair'],
      ['/feed/feeds', { ...genesis, decimals: 19 }, 'decimals'],
      ['/feed/feeds', { ...genesis, window: 0 }, 'window'],
      ['/feed/feeds', { ...genesis, oracles: 'all' }, 'oracles'],
      ['/feed/feeds', { ...genesis, signers: [] }, 'signers'],
      [`${f}/oracles`, { oracle: 'x' }, 'oracle'],
      [
        `${f}/signers`,
        { signers: [{ key: me.key, address: 'nope' }], threshold: 1 },
        'signers.0.address',
      ],
      [`${f}/chain`, { chainId: 0, aggregator: genesis.signers[0]!.address }, 'chainId'],
      [`${f}/params`, { heartbeat: -1 }, 'heartbeat'],
    ]
    for (const [path, body, field] of cases) {
      const { status, json } = await t.call('POST', path, { token: admin, body })
      expect([path, status, json.error], JSON.stringify(json)).toEqual([
        path,
        400,
        'ValidationError',
      ])
      expect(json.message, path).toContain(`"${field}"`)
      const list = await t.call('POST', path, { token: admin, raw: '[1,2]' })
      expect([path, list.status]).toEqual([path, 400])
    }
    for (const query of [
      '/aggregates?limit=5000',
      '/aggregates?from=-1',
      '/series?last=x',
      '/attestations?window=1e99',
      '/reports?limit=0',
    ]) {
      const { status, json } = await t.call('GET', `${f}${query}`)
      expect([query, status, json.error]).toEqual([query, 400, 'ValidationError'])
    }
    const huge = await t.call('POST', `${f}/params`, {
      token: admin,
      raw: JSON.stringify({ heartbeat: 'x'.repeat(2_000_000) }),
    })
    expect([huge.status, huge.json.error]).toEqual([413, 'PayloadTooLargeError'])

    const client = new NodeClient(t.url)
    const body = (price: string, timestamp: number, sources = 1) => ({
      price,
      confidence: 90,
      timestamp,
      sources: Array.from({ length: sources }, () => ({
        name: 's',
        price,
        volume: '1',
        timestamp,
      })),
      proof: { kind: 'simulated', ref: '' },
    })
    // A stranger's attestation and a stranger's change are refused at admission.
    await expect(
      client.submit(testSigner(44), {
        doc: created.json.feed,
        type: 'feed.attest',
        body: body('250000000000', Date.now()),
      }),
    ).rejects.toMatchObject({ error: 'FeedForbiddenError' })
    await expect(
      client.submit(testSigner(44), {
        doc: created.json.feed,
        type: 'feed.oracle.add',
        body: { oracle: oracleKey },
      }),
    ).rejects.toMatchObject({ error: 'FeedForbiddenError' })
    // The registered oracle's junk joins the log as evidence but never counts: a negative price,
    // too many sources, a timestamp an hour ahead, a body of the wrong shape.
    const now = Date.now()
    for (const junk of [
      body('-5', now),
      body('1', now, 17),
      body('250000000000', now + 3_600_000),
      { price: 1 },
    ])
      await expect(
        client.submit(oracle, {
          doc: created.json.feed,
          type: 'feed.attest',
          body: junk,
          time: now,
        }),
      ).rejects.toMatchObject({ status: 409 })
    const latest = await t.call('GET', `${f}/latest`)
    expect(latest.status).toBe(404)
    const oracles = (await t.call('GET', `${f}/oracles`)).json.oracles
    expect(oracles[0].anomalies.invalid).toBe(4)
  })
})

import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Database from 'better-sqlite3'
import { createPublicClient, http, keccak256, toHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll } from 'vitest'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import type { Devnet } from '../src/chain/devnet.ts'
import { depositAndOpenChannel, readNextChannelId } from '../src/chain/mpe.ts'
import { signClaim } from '../src/core/channel/claim.ts'
import { formatPaymentHeaders } from '../src/core/channel/payment.ts'
import { dev, devnetClients, hasAnvil } from './fixtures/escrow-chain.ts'

// Payment channels: a devnet node with a priced own route and an upstream behind the gateway.
// Every hostile request is refused with its status and error name, reaches neither the upstream
// nor the store, and charges nothing: the channel's first payment still pays the next call.
;(hasAnvil() ? describe : describe.skip)('hostile requests to the channel routes', () => {
  const PRICE = 10n
  let t: TestNode
  let upstream: Server
  /** What the upstream received: its path and headers, per call. */
  const reached: { url: string; headers: Record<string, unknown> }[] = []
  let channel: { channelId: bigint; account: ReturnType<typeof dev> }
  let mpe: `0x${string}`

  const payHeaders = async (amount: bigint, nonce = 0n, id = channel.channelId) =>
    formatPaymentHeaders({
      channelId: id,
      nonce,
      amount,
      signature: await signClaim(channel.account, mpe, id, nonce, amount),
    })

  /** The amount authorised on the channel, as the gateway's store has it. */
  const charged = async () =>
    (await t.node.channelGateway!.stored(channel.channelId))?.authorised ?? 0n

  /** A request sent as given (no URL normalisation, any header); answers status, body, headers. */
  const send = (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string | Buffer,
  ) =>
    new Promise<{ status: number; json: ChannelAnswer; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const { hostname, port } = new URL(t.url)
        const req = request({ hostname, port, method, path, headers }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let json: ChannelAnswer = { text }
            try {
              json = JSON.parse(text) as ChannelAnswer
            } catch {}
            resolve({ status: res.statusCode ?? 0, json, headers: res.headers })
          })
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body)
      },
    )

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      reached.push({ url: req.url ?? '', headers: req.headers })
      req.resume()
      req.on('end', () => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'set-cookie': 'up=1',
          connection: 'keep-alive, x-up-hop',
          'x-up-hop': 'private to the upstream hop',
          'x-up-end': 'kept',
        })
        res.end(JSON.stringify({ path: req.url }))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const port = (upstream.address() as AddressInfo).port
    t = await TestNode.startDevnet({
      extraConfig: [
        '[domains.channel]',
        'block_ttl_ms = 0',
        'prices = [{ route = "GET /status", price = 3 }]',
        // A base path: a traversal must not climb out of it either.
        `upstreams = [{ name = "echo", url = "http://127.0.0.1:${port}/base", price = "${PRICE}" }]`,
      ].join('\n'),
    })
    const info = t.node.chain!.info
    mpe = info.mpe!
    channel = { ...(await openChannelTo(t, dev(1))), account: dev(1) }
  }, 180_000)

  afterAll(async () => {
    await t?.stop()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  test('junk payment headers get 400 InvalidPaymentError (or the check they fail), and charge nothing', async () => {
    const good = await payHeaders(PRICE)
    const sig = (bytes: Buffer) => bytes.toString('base64')
    const raw = Buffer.from(good['snet-payment-channel-signature-bin']!, 'base64')
    const v29 = Buffer.from(raw)
    v29[64] = 29
    const invalid = (what: string, header: string, value: string) =>
      [what, { [`snet-payment-${header}`]: value }, 400, 'InvalidPaymentError'] as const
    const cases: (readonly [string, Record<string, string>, number, string])[] = [
      invalid('79-digit amount', 'channel-amount', '9'.repeat(79)),
      invalid('amount of 2^256', 'channel-amount', (2n ** 256n).toString()),
      invalid('negative amount', 'channel-amount', '-10'),
      invalid('hex amount', 'channel-amount', '0xa'),
      invalid('exponent amount', 'channel-amount', '1e1'),
      invalid('79-digit channel id', 'channel-id', '1'.repeat(79)),
      invalid('5000-digit nonce', 'channel-nonce', '9'.repeat(5000)),
      invalid('negative nonce', 'channel-nonce', '-1'),
      invalid('not base64', 'channel-signature-bin', '%%%not*base64%%%'),
      invalid('64-byte signature', 'channel-signature-bin', sig(raw.subarray(0, 64))),
      invalid(
        '66-byte signature',
        'channel-signature-bin',
        sig(Buffer.concat([raw, raw]).subarray(0, 66)),
      ),
      invalid('v of 29', 'channel-signature-bin', sig(v29)),
      invalid('hex signature', 'channel-signature-bin', `0x${raw.toString('hex')}`),
      invalid('10 kB signature', 'channel-signature-bin', 'A'.repeat(10_000)),
      invalid('empty signature', 'channel-signature-bin', ''),
      invalid('other payment type', 'type', 'free-call'),
      // Well formed, but the signature is of another amount: by nobody the channel knows.
      [
        'amount not the one signed',
        { 'snet-payment-channel-amount': '20' },
        401,
        'PaymentSignerError',
      ],
      ['amount of 0', { 'snet-payment-channel-amount': '0' }, 401, 'PaymentSignerError'],
      [
        'the largest channel id',
        { 'snet-payment-channel-id': (2n ** 256n - 1n).toString() },
        404,
        'UnknownChannelError',
      ],
    ]
    for (const [what, change, status, error] of cases) {
      const res = await send('GET', '/channel/call/echo/x', { ...good, ...change })
      expect([what, res.status, res.json.error], res.json.message).toEqual([what, status, error])
      expect(res.json.price).toBe(String(PRICE))
      expect(await charged(), what).toBe(0n)
    }
    // r or s of 0, or not below the curve's order (all ones), is no signature: 400, not a 500.
    const order = Buffer.from(
      'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141',
      'hex',
    )
    for (const [what, junk] of [
      ['zeros', Buffer.alloc(65, 0)],
      ['ones', Buffer.alloc(65, 0xff)],
      ['s = n', Buffer.concat([raw.subarray(0, 32), order, raw.subarray(64)])],
      ['r = n', Buffer.concat([order, raw.subarray(32)])],
    ] as const) {
      junk[64] = 27
      const res = await send('GET', '/channel/call/echo/x', {
        ...good,
        'snet-payment-channel-signature-bin': sig(junk),
      })
      expect([what, res.status, res.json.error]).toEqual([what, 400, 'InvalidPaymentError'])
      expect(res.json.message).toContain('secp256k1 order')
    }
    expect(reached).toEqual([])
    expect(await charged()).toBe(0n)
  })

  test('missing payment headers get 402 naming each of them, with the price', async () => {
    const good = await payHeaders(PRICE)
    const names = Object.keys(good)
    for (const missing of [
      ['snet-payment-channel-signature-bin'],
      ['snet-payment-channel-nonce', 'snet-payment-channel-amount'],
      names.filter((n) => n !== 'snet-payment-type'),
      names,
    ]) {
      const headers = Object.fromEntries(
        Object.entries(good).filter(([name]) => !missing.includes(name)),
      )
      const res = await send('POST', '/channel/call/echo/x', headers, 'body')
      expect([res.status, res.json.error]).toEqual([402, 'PaymentRequiredError'])
      expect(res.headers['snet-payment-price']).toBe(String(PRICE))
      for (const name of missing) expect(res.json.message).toContain(`"${name}"`)
      for (const name of names.filter((n) => !missing.includes(n)))
        expect(res.json.message).not.toContain(`"${name}"`)
    }
    // The node's own priced route names its own price.
    const own = await send('GET', '/status', {})
    expect([own.status, own.json.error, own.headers['snet-payment-price']]).toEqual([
      402,
      'PaymentRequiredError',
      '3',
    ])
    expect(reached).toEqual([])
    expect(await charged()).toBe(0n)
  })

  test('a flood of unknown channel ids and of strangers signatures: each refused, nothing stored, caches bounded', async () => {
    const gateway = t.node.channelGateway!
    for (let i = 0; i < 300; i++) {
      const id = 10n ** 20n + BigInt(i) * 7919n
      const res = await send('GET', '/channel/call/echo/x', await payHeaders(PRICE, 0n, id))
      expect([res.status, res.json.error]).toEqual([404, 'UnknownChannelError'])
    }
    // Strangers signing for a real channel: each refused; no stranger's key is kept.
    for (let i = 0; i < 100; i++) {
      const stranger = privateKeyToAccount(keccak256(toHex(`stranger ${i}`)))
      const signature = await signClaim(stranger, mpe, channel.channelId, 0n, PRICE)
      const res = await send(
        'GET',
        '/channel/call/echo/x',
        formatPaymentHeaders({ channelId: channel.channelId, nonce: 0n, amount: PRICE, signature }),
      )
      expect([res.status, res.json.error]).toEqual([401, 'PaymentSignerError'])
    }
    expect(gateway.verifier.size).toBeLessThanOrEqual(1)
    // The store holds no row for any of them: only channels a call began on are written.
    const db = new Database(join(t.dataDir, 'channels.sqlite'), { readonly: true })
    try {
      expect(db.prepare('SELECT count(*) AS n FROM channels').get()).toEqual({ n: 0 })
    } finally {
      db.close()
    }
    // An id refused as unknown a moment ago pays as soon as its channel is opened.
    const client = createPublicClient({ transport: http(t.node.chain!.info.rpcUrl) })
    const next = await readNextChannelId(client as never, mpe)
    const early = await send('GET', '/channel/call/echo/x', await payHeaders(PRICE, 0n, next))
    expect([early.status, early.json.error]).toEqual([404, 'UnknownChannelError'])
    const opened = await openChannelTo(t, dev(2))
    expect(opened.channelId).toBe(next)
    const signature = await signClaim(dev(2), mpe, next, 0n, PRICE)
    const paid = await send(
      'GET',
      '/channel/call/echo/late',
      formatPaymentHeaders({ channelId: next, nonce: 0n, amount: PRICE, signature }),
    )
    expect(paid.status).toBe(200)
    expect(reached.map((r) => r.url)).toEqual(['/base/late'])
    reached.length = 0
    expect(await charged()).toBe(0n)
  })

  test('POST /channel/state with bad bodies gets 400 naming the field', async () => {
    const ok = {
      channelId: String(channel.channelId),
      currentBlock: '1',
      signature: `0x${'1'.repeat(130)}`,
    }
    const cases: [body: string, status: number, error: string, names: string][] = [
      [JSON.stringify({ ...ok, channelId: 'x' }), 400, 'ValidationError', '"channelId"'],
      [JSON.stringify({ ...ok, channelId: '9'.repeat(79) }), 400, 'ValidationError', '"channelId"'],
      [JSON.stringify({ ...ok, channelId: 5 }), 400, 'ValidationError', '"channelId"'],
      [JSON.stringify({ ...ok, currentBlock: '-1' }), 400, 'ValidationError', '"currentBlock"'],
      [JSON.stringify({ ...ok, signature: '0x1234' }), 400, 'ValidationError', '"signature"'],
      [
        JSON.stringify({ ...ok, signature: `0x${'g'.repeat(130)}` }),
        400,
        'ValidationError',
        '"signature"',
      ],
      [JSON.stringify({ ...ok, extra: 1 }), 400, 'ValidationError', 'extra'],
      [JSON.stringify({ channelId: ok.channelId }), 400, 'ValidationError', '"currentBlock"'],
      [JSON.stringify([ok]), 400, 'ValidationError', 'list'],
      ['{"channelId":', 400, 'MalformedJsonError', 'not valid JSON'],
      [
        JSON.stringify({ ...ok, signature: 'x'.repeat(2_000_000) }),
        413,
        'PayloadTooLargeError',
        'larger',
      ],
    ]
    for (const [body, status, error, names] of cases) {
      const res = await send('POST', '/channel/state', { 'content-type': 'application/json' }, body)
      expect([body.slice(0, 60), res.status, res.json.error]).toEqual([
        body.slice(0, 60),
        status,
        error,
      ])
      expect(res.json.message).toContain(names)
    }
    // Well formed but unknown, or signed by nobody the channel knows: refused, nothing told.
    const unknown = await send(
      'POST',
      '/channel/state',
      { 'content-type': 'application/json' },
      JSON.stringify({ ...ok, channelId: '123456789' }),
    )
    expect([unknown.status, unknown.json.error]).toEqual([404, 'UnknownChannelError'])
    const forged = await send(
      'POST',
      '/channel/state',
      { 'content-type': 'application/json' },
      JSON.stringify(ok),
    )
    expect([forged.status, forged.json.error]).toEqual([401, 'ChannelStateRequestError'])
    expect(forged.json.currentSignedAmount).toBeUndefined()
  })

  test('the proxy: an oversized body gets 413, traversals stay under the upstream, an unknown upstream is 404; nothing is charged', async () => {
    const huge = Buffer.alloc(1_048_577, 0x61)
    const big = await send('POST', '/channel/call/echo/x', await payHeaders(PRICE), huge)
    expect([big.status, big.json.error]).toEqual([413, 'PayloadTooLargeError'])
    expect(reached).toEqual([])
    expect(await charged()).toBe(0n)
    // A traversal is resolved by the node's URL parsing before any routing: what climbs out of
    // /channel/call/echo/ is that other route of the node (free, or priced at its own price), and
    // never reaches the upstream; what stays in reaches the upstream under its base path, and
    // pays its price. Encoded slashes stay opaque bytes of one segment.
    const traversals: [
      path: string,
      status: number,
      error: string | undefined,
      upstream?: string,
    ][] = [
      ['/channel/call/echo/../../status', 404, 'NotFoundError'],
      ['/channel/call/echo/%2e%2e/%2e%2e/status', 404, 'NotFoundError'],
      // That is /status, the node's own route priced at 3: this payment of 10 does not fit it.
      ['/channel/call/echo/../../../status', 402, 'WrongPaymentAmountError'],
      ['/channel/call/echo/%2E%2E/%2e./%2e%2e/status', 402, 'WrongPaymentAmountError'],
      ['/channel/call/echo/%2e%2e', 404, 'NotFoundError'],
      ['/channel/call/echo/..%2f..%2fstatus', 200, undefined, '/base/..%2f..%2fstatus'],
      ['/channel/call/echo/x/..%5c..%5cstatus', 200, undefined, '/base/x/..%5c..%5cstatus'],
      ['/channel/call/echo//../status', 200, undefined, '/base/status'],
    ]
    for (const [path, status, error, at] of traversals) {
      reached.length = 0
      const before = await charged()
      const res = await send('GET', path, await payHeaders(before + PRICE))
      expect([path, res.status, res.json.error]).toEqual([path, status, error])
      expect(reached.map((r) => r.url)).toEqual(at === undefined ? [] : [at])
      expect(await charged(), path).toBe(at === undefined ? before : before + PRICE)
    }
    // However the upstream's path is spelled, no call reaches it unpaid.
    reached.length = 0
    for (const [path, status] of [
      ['/channel/call/%65cho/x', 402],
      ['/channel/call/ech%6F/x', 402],
      ['/channel/./call/echo/x', 402],
      ['/channel/call/echo/.', 402],
      ['/channel/call/echo', 402],
      ['/channel/call/echo?x', 402],
      ['http://127.0.0.1/channel/call/echo/absolute-form', 402],
      ['/channel/call/echo%2fx', 404],
      ['/channel%2fcall/echo/x', 404],
      ['/CHANNEL/call/echo/x', 404],
      ['/channel/call/ECHO/x', 404],
      ['/channel//call/echo/x', 404],
      ['/channel/call//echo/x', 404],
      ['/channel/call/echo;x=1/y', 404],
      ['/channel/call/echo%00/x', 404],
    ] as const) {
      const res = await send('GET', path, {})
      expect([path, res.status, res.json.error]).toEqual([
        path,
        status,
        status === 402 ? 'PaymentRequiredError' : 'NotFoundError',
      ])
    }
    expect(reached).toEqual([])
    // An unknown upstream: 404, not charged, with or without a payment.
    for (const headers of [{}, await payHeaders((await charged()) + PRICE)]) {
      const before = await charged()
      const res = await send('GET', '/channel/call/nope/x', headers)
      expect([res.status, res.json.error]).toEqual([404, 'NotFoundError'])
      expect(await charged()).toBe(before)
    }
    expect(reached).toEqual([])
  })

  test('hop-by-hop and credential headers do not travel upstream, nor a cookie back', async () => {
    const before = await charged()
    const res = await send('GET', '/channel/call/echo/h', {
      ...(await payHeaders(before + PRICE)),
      authorization: `Bearer ${t.operatorToken}`,
      cookie: 'session=secret',
      'proxy-authorization': 'Basic c2VjcmV0',
      connection: 'keep-alive, x-hop',
      'x-hop': 'private to this hop',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'x-end-to-end': 'kept',
    })
    expect(res.status).toBe(200)
    expect(res.headers['set-cookie']).toBeUndefined()
    expect(res.headers['x-up-hop']).toBeUndefined()
    expect(res.headers['x-up-end']).toBe('kept')
    expect(await charged()).toBe(before + PRICE)
    const [call] = reached
    expect(call?.url).toBe('/base/h')
    const sent = call!.headers
    for (const name of [
      'authorization',
      'cookie',
      'proxy-authorization',
      'x-hop',
      'keep-alive',
      'te',
      'snet-payment-type',
      'snet-payment-channel-id',
      'snet-payment-channel-nonce',
      'snet-payment-channel-amount',
      'snet-payment-channel-signature-bin',
    ])
      expect(sent[name], name).toBeUndefined()
    expect(sent['x-end-to-end']).toBe('kept')
    expect(sent.host).toBe(`127.0.0.1:${(upstream.address() as AddressInfo).port}`)
  })
})

/** A JSON answer of the channel routes (or `text` when it was not JSON). */
type ChannelAnswer = {
  error?: string
  message?: string
  price?: string
  text?: string
  [field: string]: unknown
}

/** Mints test tokens to `account` on `t`'s devnet and opens a channel from it to the node. */
async function openChannelTo(
  t: TestNode,
  account: ReturnType<typeof dev>,
): Promise<{ channelId: bigint }> {
  const chain = t.node.chain!
  const { client, walletOf } = devnetClients({
    chainId: chain.info.chainId,
    rpcUrl: chain.info.rpcUrl,
  } as Devnet)
  const mint = await chain.wallet.writeContract({
    address: chain.info.token!,
    abi: testTokenAbi,
    functionName: 'mint',
    args: [account.address, 10_000n],
  })
  await client.waitForTransactionReceipt({ hash: mint })
  await client.request({
    method: 'anvil_setBalance' as never,
    params: [account.address, '0x56bc75e2d63100000'] as never,
  })
  const terms = (await (await fetch(`${t.url}/channel`)).json()) as { groupId: `0x${string}` }
  const block = await client.getBlockNumber({ cacheTime: 0 })
  return depositAndOpenChannel(walletOf(account), client, chain.info.mpe!, {
    signer: account.address,
    recipient: chain.info.signer,
    groupId: terms.groupId,
    value: 10_000n,
    expiration: block + 10_000n,
  })
}

describe('hostile requests to the json routes', () => {
  test('oversized, malformed and mistyped patches, bad pointers and strangers are refused clearly and change nothing', async () => {
    node = await TestNode.start()
    const t = node
    const admin = t.operatorToken
    const created = await t.call('POST', '/json', {
      token: admin,
      body: { name: 'target', content: { title: 'T', body: { $text: 'hello' } } },
    })
    expect(created.status).toBe(200)
    const d = `/json/${created.json.doc}`
    const patch = (raw: string, token = admin, type = 'application/json-patch+json') =>
      rawRequest(t.url, 'PATCH', d, { 'content-type': type, authorization: `Bearer ${token}` }, raw)
    const replace = (value: unknown) => JSON.stringify([{ op: 'replace', path: '/title', value }])

    // Larger than [http] body_limit (1 MiB), then within it but larger than an op may be (64 KiB).
    const huge = await patch(replace('x'.repeat(1_100_000)))
    expect([huge.status, huge.json?.error]).toEqual([413, 'PayloadTooLargeError'])
    const big = await patch(replace('x'.repeat(100_000)))
    expect([big.status, big.json?.error]).toEqual([413, 'OpTooLargeError'])
    const tooManySplices = await t.call('POST', `${d}/text`, {
      token: admin,
      body: { path: '/body', base: 1, splices: Array.from({ length: 1001 }, () => [0, 0, 'x']) },
    })
    expect([tooManySplices.status, tooManySplices.json.message]).toEqual([
      400,
      expect.stringContaining('"splices"'),
    ])

    // Malformed: not JSON, not a patch, an unknown op, a body of another media type.
    expect((await patch('[{')).status).toBe(400)
    for (const raw of ['{"op":"add"}', '[{"op":"frobnicate","path":"/title"}]', '[42]']) {
      const answer = await patch(raw)
      expect([answer.status, answer.json?.message], raw).toEqual([422, expect.any(String)])
    }
    const typed = await patch(replace('y'), admin, 'text/plain')
    expect([typed.status, typed.json?.error]).toEqual([415, 'UnsupportedMediaTypeError'])

    // Bad pointers: no leading "/", a key that is not there, a text path that is no text.
    for (const path of ['title', '/nothing/here', '/title/0']) {
      const answer = await patch(JSON.stringify([{ op: 'replace', path, value: 1 }]))
      expect(answer.status, path).toBe(422)
    }
    for (const path of ['/nope', '/title', '', ['body', 3]]) {
      const answer = await t.call('POST', `${d}/text`, {
        token: admin,
        body: { path, base: 1, splices: [[0, 0, 'x']] },
      })
      expect(answer.status, JSON.stringify(path)).toBe(422)
    }
    const outside = await t.call('POST', `${d}/text`, {
      token: admin,
      body: { path: '/body', base: 1, splices: [[6, 0, 'x']] },
    })
    expect(outside.status).toBe(422)

    // A local account that is no editor: refused on every way to change the document.
    const stranger = (
      await t.call('POST', '/accounts', { token: admin, body: { name: 'stranger' } })
    ).json.token as string
    const refused = [
      await patch(replace('mine'), stranger),
      await t.call('POST', `${d}/text`, {
        token: stranger,
        body: { path: '/body', base: 1, splices: [[0, 0, 'x']] },
      }),
      await t.call('POST', `${d}/changes`, {
        token: stranger,
        body: { edits: [{ o: 'set', obj: null, k: 'title', v: 'mine' }] },
      }),
      // Nor may it change the editors (the owner's alone).
      await t.call('POST', `${d}/editors`, {
        token: stranger,
        body: { add: ['ab'.repeat(32)] },
      }),
    ]
    expect(refused.map((r) => [r.status, r.json?.error])).toEqual(
      Array(4).fill([403, 'JsonForbiddenError']),
    )
    // Editors changes: keys that are no keys, too many, unknown fields, an unknown audit.
    const editors = (body: unknown) => t.call('POST', `${d}/editors`, { token: admin, body })
    for (const body of [
      { add: ['not a key'] },
      { remove: 'ab'.repeat(32) },
      { add: Array.from({ length: 1001 }, (_, i) => i.toString(16).padStart(64, '0')) },
      { add: ['ab'.repeat(32)], owner: 'me' },
    ]) {
      const answer = await editors(body)
      expect([answer.status, answer.json?.error], JSON.stringify(body).slice(0, 80)).toEqual([
        400,
        'ValidationError',
      ])
    }
    const noAudit = await editors({ audit: 'no such audit' })
    expect([noAudit.status, noAudit.json?.message]).toEqual([
      422,
      expect.stringContaining('No audit is named'),
    ])
    expect((await t.call('GET', d)).json).toEqual({ body: 'hello', title: 'T' })
    const meta = (await t.call('GET', `${d}?meta=1`)).json
    expect([meta.version, meta.editors]).toEqual([1, [meta.owner]])
  })

  test('change feeds past [domains.json] max_streams get 503 until one closes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-json-streams-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    appendFileSync(join(dataDir, 'config.toml'), '\n[domains.json]\nmax_streams = 2\n')
    node = new TestNode(dataDir, root)
    await node.node.start()
    const t = node
    const { doc } = (
      await t.call('POST', '/json', { token: t.operatorToken, body: { name: 'feed' } })
    ).json
    const open = async () => {
      const controller = new AbortController()
      const response = await fetch(`${t.url}/json/${doc}/events`, { signal: controller.signal })
      return { response, controller }
    }
    const streams = [await open(), await open()]
    expect(streams.map((s) => s.response.status)).toEqual([200, 200])
    const third = await open()
    expect([
      third.response.status,
      ((await third.response.json()) as Answer['json'])?.error,
    ]).toEqual([503, 'JsonStreamsBusyError'])
    streams[0]!.controller.abort()
    let again = await open()
    for (let i = 0; i < 100 && again.response.status !== 200; i++) {
      await sleep(50)
      again = await open()
    }
    expect(again.response.status).toBe(200)
    for (const s of [streams[1]!, again]) s.controller.abort()
  })
})
