import { get } from 'node:http'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { afterEach, describe, expect, test } from 'vitest'
import { z } from 'zod'
import { DOMAINS } from '../src/domains/index.ts'
import { buildOpenApi } from '../src/http/openapi.ts'
import { createRouteGroup } from '../src/http/route-group.ts'
import { TestNode } from './node-fixture.ts'

// Every route's answers, success and error, checked against the schema /openapi.json gives for
// that route and status: the document is what generated clients trust.

// biome-ignore lint/suspicious/noExplicitAny: answers are checked by their schemas, not by type
type Json = Record<string, any>
type Operation = { responses: Record<string, { content?: Record<string, { schema: Json }> }> }
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Json } }

let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

/** Calls routes by their template in the document, checks each answer against its schema, and notes what was exercised. */
class ApiChecker {
  /** `get /audits/{audit} 200`, … for each answer checked. */
  readonly seen = new Set<string>()
  private readonly ajv = new Ajv2020({ strict: true, allErrors: true })
  private readonly compiled = new Map<string, ValidateFunction>()

  constructor(
    readonly node: TestNode,
    readonly doc: Doc,
  ) {}

  static async open(node: TestNode): Promise<ApiChecker> {
    const response = await fetch(`${node.url}/openapi.json`)
    return new ApiChecker(node, (await response.json()) as Doc)
  }

  /** Every operation in the document, as `method path`. */
  operations(): string[] {
    return Object.entries(this.doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    )
  }

  /** The schema the document gives for an answer (the shared error schema resolved). */
  schemaOf(method: string, path: string, status: number): Json {
    const operation = this.doc.paths[path]?.[method]
    expect(operation, `${method} ${path} is in the document`).toBeDefined()
    const response = operation!.responses[String(status)]
    expect(response, `${method} ${path} declares status ${status}`).toBeDefined()
    const schema = Object.values(response!.content ?? {})[0]!.schema
    return schema.$ref === '#/components/schemas/Error' ? this.doc.components.schemas.Error : schema
  }

  /** Calls `method path` (a template of the document, `{name}` filled from `params`) and checks the answer. */
  async call(
    method: 'get' | 'post' | 'delete',
    path: string,
    {
      params = {},
      query = '',
      token,
      body,
      raw,
      headers = {},
    }: {
      params?: Record<string, string>
      query?: string
      token?: string | undefined
      body?: unknown
      raw?: string
      headers?: Record<string, string>
    } = {},
  ): Promise<{ status: number; json: Json }> {
    const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      expect(params[name], `parameter ${name}`).toBeDefined()
      return encodeURIComponent(params[name]!)
    })
    const response = await fetch(`${this.node.url}${url}${query}`, {
      method: method.toUpperCase(),
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(raw !== undefined
        ? { body: raw }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
    })
    // Prometheus text is checked as the string its schema says; everything else is JSON.
    const json = (
      (response.headers.get('content-type') ?? '').includes('json')
        ? await response.json()
        : await response.text()
    ) as Json
    this.check(method, path, response.status, json)
    return { status: response.status, json }
  }

  /** Checks an answer against the schema of its route and status, and notes it as exercised. */
  check(method: string, path: string, status: number, json: Json): void {
    const key = `${method} ${path} ${status}`
    let validate = this.compiled.get(key)
    if (!validate) {
      validate = this.ajv.compile(this.schemaOf(method, path, status))
      this.compiled.set(key, validate)
    }
    const valid = validate(json)
    expect(
      valid ? [] : validate.errors,
      `${key} answers ${JSON.stringify(json).slice(0, 400)}`,
    ).toEqual([])
    this.seen.add(key)
  }

  /** Calls and expects `status`. */
  async expect(
    status: number,
    ...args: Parameters<ApiChecker['call']>
  ): Promise<{ status: number; json: Json }> {
    const answer = await this.call(...args)
    expect(answer.status, `${args[0]} ${args[1]}: ${JSON.stringify(answer.json)}`).toBe(status)
    return answer
  }
}

/** Whether a JSON Schema says what its fields are: not a bare `{"type":"object"}`. */
function describesFields(schema: Json): boolean {
  const branches = schema.anyOf ?? schema.oneOf
  if (branches) return (branches as Json[]).every(describesFields)
  if (schema.type !== 'object') return typeof schema.type === 'string' || 'const' in schema
  const properties = Object.keys(schema.properties ?? {}).length > 0
  const values = typeof schema.additionalProperties === 'object'
  return properties || values
}

/** Creates `names` local accounts through the operator; answers their tokens. */
async function accounts(api: ApiChecker, names: string[]): Promise<string[]> {
  const tokens: string[] = []
  for (const name of names) {
    const { json } = await api.expect(200, 'post', '/accounts', {
      token: api.node.operatorToken,
      body: { name },
    })
    tokens.push(json.token)
  }
  return tokens
}

/** Adds items, opens, registers every token, closes and starts an audit. */
async function toAuditing(api: ApiChecker, audit: string, items: string[], tokens: string[]) {
  const admin = api.node.operatorToken
  const params = { audit }
  for (const description of items)
    await api.expect(200, 'post', '/audits/{audit}/items', {
      params,
      token: admin,
      body: { description },
    })
  await api.expect(200, 'post', '/audits/{audit}/open', { params, token: admin })
  for (const token of tokens)
    await api.expect(200, 'post', '/audits/{audit}/register', { params, token })
  await api.expect(200, 'post', '/audits/{audit}/close', { params, token: admin })
  await api.expect(200, 'post', '/audits/{audit}/start', { params, token: admin })
}

/** Each token answers its inspections, as `next` gives them, `yes`. */
async function answerAll(api: ApiChecker, audit: string, tokens: string[]) {
  for (const token of tokens)
    for (;;) {
      const { json } = await api.expect(200, 'get', '/audits/{audit}/next', {
        params: { audit },
        token,
      })
      if (!json.inspection) break
      await api.expect(200, 'post', '/audits/{audit}/answer', {
        params: { audit },
        token,
        body: { answer: 'yes' },
      })
    }
}

/** A commit–reveal audit of two items (a third added and deleted) run to WAITING_FOR_CONTRACT. */
async function runCommitReveal(api: ApiChecker, tokens: string[]): Promise<string> {
  const admin = api.node.operatorToken
  const created = await api.expect(200, 'post', '/audits', {
    token: admin,
    body: { name: 'Street lights', bond: '900', commitReveal: true },
  })
  const audit = created.json.audit as string
  const params = { audit }
  await api.expect(200, 'post', '/audits/{audit}/items', {
    params,
    token: admin,
    body: { description: 'a mistake' },
  })
  await api.expect(200, 'delete', '/audits/{audit}/items/{number}', {
    params: { audit, number: '1' },
    token: admin,
  })
  await api.expect(200, 'post', '/audits/{audit}/params', {
    params,
    token: admin,
    body: { name: 'slashing_ratio', value: '1/3' },
  })
  await toAuditing(api, audit, ['light 12 works', 'light 13 works'], tokens)
  await answerAll(api, audit, tokens)
  const stopped = await api.expect(200, 'post', '/audits/{audit}/stop', {
    params,
    token: admin,
    body: { force: false },
  })
  expect(stopped.json.state).toBe('AUDITING_FINISHED')
  for (const token of tokens)
    await api.expect(200, 'post', '/audits/{audit}/reveal', { params, token })
  const finished = await api.expect(200, 'post', '/audits/{audit}/finish', { params, token: admin })
  expect(finished.json.state).toBe('WAITING_FOR_CONTRACT')
  return audit
}

/** The read routes of an audit with results, each answering real data. */
async function readAudit(api: ApiChecker, audit: string, auditor: string) {
  const params = { audit }
  const view = (await api.expect(200, 'get', '/audits/{audit}', { params })).json
  expect([view.results.items.length, view.settlement.payees.length]).toEqual([2, 3])
  await api.expect(200, 'get', '/audits/{audit}/items', { params })
  await api.expect(200, 'get', '/audits/{audit}/outstanding', { params })
  const results = (await api.expect(200, 'get', '/audits/{audit}/results', { params })).json
  expect(results.results.auditors[0].paid).toBe('300')
  await api.expect(200, 'get', '/audits/{audit}/settlement', { params })
  const one = await api.expect(200, 'get', '/audits/{audit}/auditors/{key}', {
    params: { audit, key: auditor },
  })
  expect(one.json.result.aligned).toBe(2)
  await api.expect(200, 'get', '/audits', { query: '?limit=10' })
}

/** An audit whose deadline passes: an admin gives a missed inspection to the backup auditor. */
async function reassignLate(api: ApiChecker, tokens: string[]) {
  const admin = api.node.operatorToken
  const created = await api.expect(200, 'post', '/audits', {
    token: admin,
    body: { name: 'late', bond: '900', inspectionDeadline: 1000 },
  })
  const audit = created.json.audit as string
  await toAuditing(api, audit, ['x'], tokens)
  const [missed] = (
    await api.expect(200, 'get', '/audits/{audit}/outstanding', { params: { audit } })
  ).json.outstanding
  const early = await api.expect(409, 'post', '/audits/{audit}/reassign', {
    params: { audit },
    token: admin,
    body: { item: 1, auditor: missed.auditor },
  })
  expect(early.json.message).toContain('due at')
  await new Promise((resolve) => setTimeout(resolve, 1100)) // past the 1 s deadline
  await api.expect(200, 'post', '/audits/{audit}/reassign', {
    params: { audit },
    token: admin,
    body: { item: 1, auditor: missed.auditor },
  })
}

/** The Chainlink adapter routes: create an audit, and hand a settlement over (no chain: COMPLETE). */
async function chainlink(api: ApiChecker) {
  const registered = await api.expect(200, 'post', '/register_audit/', {
    body: { id: 'job-1', data: { name: 'Adapter audit', bond: '100' } },
  })
  expect(registered.json.jobRunID).toBe('job-1')
  const empty = await api.expect(200, 'post', '/data_dump/', {
    body: { id: 7, data: { name: 'Adapter audit' } },
  })
  expect(empty.json.data.state).toBe('INITIALIZATION')
  const dump = await api.expect(200, 'post', '/data_dump/', {
    body: { id: 'job-2', data: { name: 'Street lights' } },
  })
  expect(dump.json.data.state).toBe('COMPLETE')
  // Errors in the EA shape.
  await api.expect(415, 'post', '/register_audit/', {
    raw: '{}',
    headers: { 'content-type': 'text/plain' },
  })
  await api.expect(400, 'post', '/register_audit/', { raw: '{"id": "j", "data": ' })
  await api.expect(422, 'post', '/register_audit/', {
    body: { id: 'j', data: { name: 'Bad bond', bond: '0' } },
  })
  await api.expect(404, 'post', '/data_dump/', { body: { id: 'j', data: { name: 'nobody' } } })
}

/** The ledger routes: heads, ops, and ops submitted by a client. */
async function ledgerRoutes(api: ApiChecker, audit: string, author: string) {
  const params = { doc: audit }
  const heads = await api.expect(200, 'get', '/docs/{doc}/heads', {
    params,
    query: `?author=${author}`,
  })
  expect(heads.json.nextSeq).toBeGreaterThan(1)
  const ops = await api.expect(200, 'get', '/docs/{doc}/ops', { params, query: '?limit=5' })
  expect(ops.json.next).toBe(5)
  // The last byte (in the signature) flipped, so the op is always broken: setting it to 00 left
  // it valid once in 256 runs.
  const op = ops.json.ops[1] as string
  const flipped = (Number.parseInt(op.slice(-2), 16) ^ 0xff).toString(16).padStart(2, '0')
  const submitted = await api.expect(200, 'post', '/ops', {
    body: { ops: [ops.json.ops[0], `${op.slice(0, -2)}${flipped}`] },
  })
  expect(submitted.json.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, false])
  await api.expect(404, 'get', '/docs/{doc}/heads', { params: { doc: 'b'.padEnd(59, 'a') } })
  await api.expect(400, 'get', '/docs/{doc}/ops', { params, query: '?limit=0' })
}

/** The node's own routes, and errors of each kind. */
async function nodeRoutesAndErrors(api: ApiChecker, audit: string, auditorToken: string) {
  const status = await api.expect(200, 'get', '/status', { query: '?limit=2' })
  expect(status.json.next).not.toBeNull()
  const me = await api.expect(200, 'get', '/accounts/me', { token: auditorToken })
  expect(me.json.name).toBe('auditor1')
  expect((await api.expect(200, 'get', '/health')).json).toEqual({ status: 'ok' })
  expect((await api.expect(200, 'get', '/ready')).json.ready).toBe(true)
  expect(String((await api.expect(200, 'get', '/metrics')).json)).toContain(
    'rwa_ops_accepted_total',
  )
  await api.expect(401, 'get', '/accounts/me')
  await api.expect(403, 'post', '/accounts', { token: auditorToken, body: { name: 'x' } })
  await api.expect(404, 'get', '/chain')
  await api.expect(404, 'post', '/payouts/withdraw', { token: auditorToken })
  await api.expect(404, 'get', '/audits/{audit}', { params: { audit: 'nothing-here' } })
  await api.expect(403, 'post', '/audits/{audit}/open', { params: { audit }, token: auditorToken })
  await api.expect(409, 'post', '/audits/{audit}/reveal', {
    params: { audit },
    token: auditorToken,
  })
  await api.expect(400, 'post', '/audits', { token: api.node.operatorToken, raw: '{' })
  await api.expect(422, 'post', '/audits', {
    token: api.node.operatorToken,
    body: { name: 'bad', bond: '0' },
  })
  await api.expect(413, 'post', '/audits', {
    token: api.node.operatorToken,
    raw: JSON.stringify({ name: 'x'.repeat(2_000_000), bond: '1' }),
  })
  // The Host guard answers for every route (fetch may not set Host: node:http may).
  const misdirected = await new Promise<{ status: number; json: Json }>((resolve, reject) => {
    const url = new URL('/status', api.node.url)
    get(url, { headers: { host: 'evil.example' } }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
      })
      response.on('end', () => resolve({ status: response.statusCode!, json: JSON.parse(text) }))
    }).on('error', reject)
  })
  expect([misdirected.status, misdirected.json.error]).toEqual([403, 'MisdirectedRequestError'])
  api.check('get', '/status', misdirected.status, misdirected.json)
}

describe('createRouteGroup', () => {
  test('a route with a media type answers its text as is, and the document says so', async () => {
    const group = createRouteGroup({
      prefix: '/',
      accounts: undefined as never, // no route here needs a token
      bodyLimit: 1024,
    })
    const type = 'text/plain; version=0.0.4; charset=utf-8'
    group.route(
      {
        method: 'get',
        path: '/metrics',
        summary: 'Metrics.',
        tag: 'node',
        response: z.string().describe('Prometheus text.'),
        mediaType: type,
      },
      () => 'up 1\n',
    )
    const response = await group.app.request('/metrics')
    expect([response.headers.get('content-type'), await response.text()]).toEqual([type, 'up 1\n'])
    const doc = buildOpenApi(group.docs, '0') as Doc
    expect(doc.paths['/metrics']!.get!.responses['200']).toEqual({
      description: 'Prometheus text.',
      content: { [type]: { schema: expect.objectContaining({ type: 'string' }) } },
    })
  })
})

describe('/openapi.json', () => {
  test('is a valid OpenAPI 3.1 document whose every success answer describes its fields', async () => {
    node = await TestNode.start()
    const api = await ApiChecker.open(node)
    const result = await new Validator().validate(
      api.doc as unknown as Parameters<Validator['validate']>[0],
    )
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    const vague = api.operations().filter((op) => {
      const [method, path] = op.split(' ') as [string, string]
      return !describesFields(api.schemaOf(method, path, 200))
    })
    expect(vague).toEqual([])
  })

  test('every answer of a whole audit through HTTP, success and error, matches its route’s schema', async () => {
    node = await TestNode.start()
    const api = await ApiChecker.open(node)
    const tokens = await accounts(api, ['auditor1', 'auditor2', 'auditor3', 'auditor4'])
    const audit = await runCommitReveal(api, tokens.slice(0, 3))
    const me = (await api.expect(200, 'get', '/accounts/me', { token: tokens[0] })).json
    await readAudit(api, audit, me.key)
    await reassignLate(api, tokens)
    await chainlink(api)
    await ledgerRoutes(api, audit, me.key)
    await nodeRoutesAndErrors(api, audit, tokens[0]!)

    // Every route answered with real data, but those that need a chain (the next test covers them).
    const succeeded = new Set(
      [...api.seen].filter((s) => s.endsWith(' 200')).map((s) => s.replace(/ 200$/, '')),
    )
    // Every other domain's routes (under /<its name>) are exercised, and checked against these
    // schemas, in its own node test (impact-node.test.ts, feed-node.test.ts).
    const others = DOMAINS.map((p) => p.domain.name)
      .filter((name) => name !== 'audit')
      .map((name) => ` /${name}/`)
    const missing = api
      .operations()
      .filter((op) => !succeeded.has(op) && !others.some((prefix) => `${op}/`.includes(prefix)))
    expect(missing.sort()).toEqual(
      [
        'get /chain',
        'get /payouts/tokens/{token}',
        'get /payouts/{address}',
        'post /audits/{audit}/fund',
        'post /payouts/withdraw',
      ].sort(),
    )
    // And errors of every status the routes declare most.
    const errors = new Set([...api.seen].map((s) => s.split(' ')[2]).filter((s) => s !== '200'))
    expect([...errors].sort()).toEqual(['400', '401', '403', '404', '409', '413', '415', '422'])
  }, 120_000)

  test('the chain routes answer as documented on the devnet', async () => {
    node = await TestNode.startDevnet()
    const api = await ApiChecker.open(node)
    const info = (await api.expect(200, 'get', '/chain')).json
    expect(info.devnet).toBe(true)
    const tokens = await accounts(api, ['a1', 'a2', 'a3'])
    const admin = node.operatorToken
    const audit = (
      await api.expect(200, 'post', '/audits', {
        token: admin,
        body: { name: 'paid', bond: '900' },
      })
    ).json.audit as string
    await toAuditing(api, audit, ['A'], tokens)
    await answerAll(api, audit, tokens)
    await api.expect(200, 'post', '/audits/{audit}/stop', { params: { audit }, token: admin })
    // Funded through the API, as the dashboard's Fund button does; a bad amount is a 422.
    await api.expect(422, 'post', '/audits/{audit}/fund', {
      params: { audit },
      token: admin,
      body: { amount: '1.5 RWAT' },
    })
    const funded = await api.expect(200, 'post', '/audits/{audit}/fund', {
      params: { audit },
      token: admin,
      body: { amount: '900' },
    })
    expect(funded.json.token).toEqual({ address: 'native', symbol: 'ETH', decimals: 18 })
    let state = ''
    for (let i = 0; i < 200 && state !== 'COMPLETE'; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100))
      state = (await api.expect(200, 'get', '/audits/{audit}', { params: { audit } })).json.state
    }
    expect(state, 'the node settles the funded audit').toBe('COMPLETE')
    const unit = await api.expect(200, 'get', '/payouts/tokens/{token}', {
      params: { token: 'native' },
    })
    expect(unit.json.symbol).toBe('ETH')
    const me = (await api.expect(200, 'get', '/accounts/me', { token: tokens[0] })).json
    const owed = await api.expect(200, 'get', '/payouts/{address}', {
      params: { address: me.address },
    })
    expect(owed.json.owed).toContainEqual({ token: unit.json, amount: '300' })
    const paid = await api.expect(200, 'post', '/payouts/withdraw', { token: tokens[0] })
    expect(paid.json.withdrawn).toMatchObject([{ amount: '300' }])
    await api.expect(409, 'post', '/payouts/withdraw', { token: tokens[0] })
  }, 120_000)
})
