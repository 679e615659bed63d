import '../src/net/polyfill.ts'
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { CheckedApi, type Json, until } from './impact-api.ts'

// JSON documents on real nodes: the /json routes (checked against /openapi.json), the change
// feed over SSE, text splices rebased from a stale version, and two replicating nodes editing one
// text at once through their HTTP APIs.

const roots: string[] = []
const running: RwaNode[] = []
afterEach(async () => {
  for (const node of running.splice(0).reverse()) await node.stop().catch(() => undefined)
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** Started nodes; each after the first dials the first when `net`. */
async function startNodes(n: number, { net = false, config = '' } = {}): Promise<RwaNode[]> {
  const root = mkdtempSync(join(tmpdir(), 'rwa-json-test-'))
  roots.push(root)
  const nodes: RwaNode[] = []
  for (let i = 0; i < n; i++) {
    const dataDir = join(root, `n${i + 1}`)
    initNode({ name: `n${i + 1}`, dataDir })
    if (config) appendFileSync(join(dataDir, 'config.toml'), `\n${config}\n`)
    const peers = i > 0 && net ? [nodes[0]!.replicator!.multiaddrs()[0]!] : []
    const node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: net, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
    })
    running.push(node)
    await node.start()
    nodes.push(node)
  }
  return nodes
}

const tokenOf = (node: RwaNode) => readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim()

/** A request to a node as its operator unless `token` says otherwise. */
async function call(
  node: RwaNode,
  method: string,
  path: string,
  body?: unknown,
  { token = tokenOf(node), type = 'application/json' } = {},
): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: { 'content-type': type, authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, json: (await response.json()) as Json }
}

/** Like `call`, expecting 200. */
async function ok(node: RwaNode, method: string, path: string, body?: unknown): Promise<Json> {
  const { status, json } = await call(node, method, path, body)
  expect(status, `${method} ${path}: ${JSON.stringify(json)}`).toBe(200)
  return json
}

/** A change feed read with fetch: its events, as they come. */
class Feed {
  readonly events: { event: string; data: Json }[] = []
  private readonly controller = new AbortController()
  private done: Promise<void> = Promise.resolve()
  status = 0

  static async open(url: string): Promise<Feed> {
    const feed = new Feed()
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream' },
      signal: feed.controller.signal,
    })
    feed.status = response.status
    if (response.ok) feed.done = feed.read(response.body!)
    else await response.body?.cancel()
    return feed
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = [...block.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).join('\n')
          if (event) this.events.push({ event, data: JSON.parse(data) as Json })
        }
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error
    }
  }

  /** Waits for the n-th event (from 0). */
  async nth(n: number): Promise<{ event: string; data: Json }> {
    await until(`event ${n}`, () => this.events.length > n, 20_000)
    return this.events[n]!
  }

  async close(): Promise<void> {
    this.controller.abort()
    await this.done
  }

  /** Resolves when the node ends the stream. */
  ended(): Promise<void> {
    return this.done
  }
}

describe('JSON documents on a node', () => {
  test('create, read, PATCH, raw edits and history round trip, every answer as documented', async () => {
    const [node] = await startNodes(1)
    const api = await CheckedApi.open(node!.url)
    const admin = tokenOf(node!)
    const content = {
      title: 'Minutes',
      body: { $text: 'hello world' },
      votes: { $counter: 2 },
      tags: ['a'],
    }
    await api.expect(401, 'post', '/json', { body: { name: 'minutes' } })
    await api.expect(400, 'post', '/json', { token: admin, body: { name: '' } })
    await api.expect(422, 'post', '/json', {
      token: admin,
      body: { name: 'bad', content: { n: Number.MAX_SAFE_INTEGER, c: { $counter: 1.5 } } },
    })
    const created = await api.expect(200, 'post', '/json', {
      token: admin,
      body: { name: 'minutes', content },
    })
    await api.expect(409, 'post', '/json', { token: admin, body: { name: 'minutes' } })
    const params = { doc: created.doc }
    expect(await api.expect(200, 'get', '/json/{doc}', { params })).toEqual({
      body: 'hello world',
      tags: ['a'],
      title: 'Minutes',
      votes: 2,
    })
    const meta = await api.expect(200, 'get', '/json/{doc}', {
      params: { doc: 'minutes' },
      query: '?meta=1',
    })
    expect(meta).toMatchObject({ id: created.doc, name: 'minutes', version: 1, texts: [['body']] })
    expect(meta.editors).toEqual(created.editors)
    await api.expect(404, 'get', '/json/{doc}', { params: { doc: 'nothing' } })

    const patched = await call(
      node!,
      'PATCH',
      `/json/${created.doc}`,
      [
        { op: 'replace', path: '/title', value: 'Minutes of May' },
        { op: 'add', path: '/tags/1', value: 'b' },
        { op: 'remove', path: '/votes' },
      ],
      { type: 'application/json-patch+json' },
    )
    expect(patched.status, JSON.stringify(patched.json)).toBe(200)
    expect(patched.json.version).toBe(2)
    const edits = await api.expect(200, 'post', '/json/{doc}/changes', {
      params,
      token: admin,
      body: { edits: [{ o: 'set', obj: null, k: 'done', v: true }] },
    })
    expect(edits.version).toBe(3)
    await api.expect(422, 'post', '/json/{doc}/changes', {
      params,
      token: admin,
      body: { edits: [{ o: 'set', obj: ['bnothing', 0], k: 'x', v: 1 }] },
    })
    expect(await api.expect(200, 'get', '/json/{doc}', { params })).toEqual({
      body: 'hello world',
      done: true,
      tags: ['a', 'b'],
      title: 'Minutes of May',
    })
    const listed = await api.expect(200, 'get', '/json', {})
    expect(listed.documents).toEqual([{ id: created.doc, name: 'minutes', editors: 1, changes: 2 }])

    const first = await api.expect(200, 'get', '/json/{doc}/history', { params, query: '?limit=2' })
    expect(first.items.map((i: Json) => [i.type, i.edits, i.seq])).toEqual([
      ['json.create', 4, 1],
      ['json.change', expect.any(Number), 2],
    ])
    expect(first.items[0].op).toBe(created.doc)
    expect(first.items[0].author).toBe(created.editors[0])
    const rest = await api.expect(200, 'get', '/json/{doc}/history', {
      params,
      query: `?after=${first.next}`,
    })
    expect(rest.items.map((i: Json) => [i.type, i.edits])).toEqual([['json.change', 1]])
    expect(rest.next).toBeNull()
    const status = await ok(node!, 'GET', '/status')
    expect(status.domains.json).toEqual({ documents: 1, changes: 2, streams: 0 })
  })

  test("an audit's registered auditors become editors of a document created with it", async () => {
    const [node] = await startNodes(1)
    const auditors: { key: string; token: string }[] = []
    for (const name of ['ann', 'bob'])
      auditors.push(
        (await ok(node!, 'POST', '/accounts', { name })) as { key: string; token: string },
      )
    const { audit } = await ok(node!, 'POST', '/audits', { name: 'lights', bond: '900' })
    await ok(node!, 'POST', `/audits/${audit}/items`, { description: 'Lamp 1' })
    await ok(node!, 'POST', `/audits/${audit}/open`)
    for (const a of auditors)
      expect(
        (await call(node!, 'POST', `/audits/${audit}/register`, undefined, { token: a.token }))
          .status,
      ).toBe(200)
    const unknown = await call(node!, 'POST', '/json', { name: 'report', audit: 'no such audit' })
    expect([unknown.status, unknown.json.message]).toEqual([
      422,
      expect.stringContaining('No audit is named'),
    ])
    const created = await ok(node!, 'POST', '/json', {
      name: 'report',
      audit: 'lights',
      content: { findings: [] },
    })
    expect(created.editors).toEqual(
      [...auditors.map((a) => a.key), (await ok(node!, 'GET', '/accounts/me')).key].sort(),
    )
    const meta = await ok(node!, 'GET', `/json/${created.doc}?meta=1`)
    expect([meta.audit, meta.editors]).toEqual([audit, created.editors])
    const byId = await ok(node!, 'POST', '/json', { name: 'report 2', audit })
    expect(byId.editors).toEqual(created.editors)
    // An auditor edits; a local account that is not one may not.
    const added = await call(
      node!,
      'PATCH',
      `/json/${created.doc}`,
      [{ op: 'add', path: '/findings/0', value: 'ok' }],
      {
        token: auditors[0]!.token,
      },
    )
    expect(added.status).toBe(200)
    const carol = await ok(node!, 'POST', '/accounts', { name: 'carol' })
    const refused = await call(
      node!,
      'PATCH',
      `/json/${created.doc}`,
      [{ op: 'add', path: '/x', value: 1 }],
      {
        token: carol.token,
      },
    )
    expect([refused.status, refused.json.error]).toEqual([403, 'JsonForbiddenError'])
    expect((await ok(node!, 'GET', `/json/${created.doc}`)).findings).toEqual(['ok'])
  })

  test('the owner adds auditors who registered after the document was made, and removes an editor', async () => {
    const [node] = await startNodes(1)
    const account = async (name: string) =>
      (await ok(node!, 'POST', '/accounts', { name })) as { key: string; token: string }
    const [ann, bob] = [await account('ann'), await account('bob')]
    const { audit } = await ok(node!, 'POST', '/audits', { name: 'roads', bond: '900' })
    await ok(node!, 'POST', `/audits/${audit}/items`, { description: 'Bridge' })
    await ok(node!, 'POST', `/audits/${audit}/open`)
    const register = (a: { token: string }) =>
      call(node!, 'POST', `/audits/${audit}/register`, undefined, { token: a.token })
    expect((await register(ann)).status).toBe(200)
    const { doc } = await ok(node!, 'POST', '/json', { name: 'criteria', audit: 'roads' })
    expect((await register(bob)).status).toBe(200)
    const patch = (token: string, value: string) =>
      call(node!, 'PATCH', `/json/${doc}`, [{ op: 'add', path: `/${value}`, value }], { token })
    expect((await patch(bob.token, 'early')).status).toBe(403)
    // Only the owner changes the editors.
    const byBob = await call(node!, 'POST', `/json/${doc}/editors`, { add: [bob.key] }, bob)
    expect([byBob.status, byBob.json.error]).toEqual([403, 'JsonForbiddenError'])
    const me = (await ok(node!, 'GET', '/accounts/me')).key as string
    const refreshed = await ok(node!, 'POST', `/json/${doc}/editors`, { audit: 'roads' })
    expect(refreshed.op).toEqual(expect.any(String))
    expect(refreshed.editors).toEqual([ann.key, bob.key, me].sort())
    expect((await patch(bob.token, 'bob')).status).toBe(200)
    const removed = await ok(node!, 'POST', `/json/${doc}/editors`, { remove: [ann.key] })
    expect(removed.editors).toEqual([bob.key, me].sort())
    const refused = await patch(ann.token, 'ann')
    expect([refused.status, refused.json.message]).toEqual([
      403,
      expect.stringContaining('rwa doc editors'),
    ])
    // Nothing to change signs nothing; contradictions and removing the owner say what is wrong.
    const again = await ok(node!, 'POST', `/json/${doc}/editors`, { add: [bob.key] })
    expect([again.op, again.version]).toEqual([null, removed.version])
    const both = await call(node!, 'POST', `/json/${doc}/editors`, {
      add: [ann.key],
      remove: [ann.key],
    })
    expect([both.status, both.json.message]).toEqual([422, expect.stringContaining('both added')])
    const owner = await call(node!, 'POST', `/json/${doc}/editors`, { remove: [me] })
    expect([owner.status, owner.json.message]).toEqual([
      422,
      expect.stringContaining('always edits'),
    ])
    const meta = await ok(node!, 'GET', `/json/${doc}?meta=1`)
    expect([meta.editors, meta.audit]).toEqual([removed.editors, audit])
    expect(await ok(node!, 'GET', `/json/${doc}`)).toEqual({ bob: 'bob' })
    const history = await ok(node!, 'GET', `/json/${doc}/history`)
    expect((history.items as { type: string }[]).map((i) => i.type)).toEqual([
      'json.create',
      'json.editors',
      'json.change',
      'json.editors',
    ])
  })

  test('the change feed sends a snapshot, then every change with its patches and version', async () => {
    const [node] = await startNodes(1)
    const { doc } = await ok(node!, 'POST', '/json', {
      name: 'live',
      content: { body: { $text: 'abc' } },
    })
    const feed = await Feed.open(`${node!.url}/json/${doc}/events`)
    expect(feed.status).toBe(200)
    expect(await feed.nth(0)).toEqual({
      event: 'snapshot',
      data: { version: 1, content: { body: 'abc' } },
    })
    const text = await ok(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 1,
      splices: [[3, 0, 'def']],
    })
    await ok(node!, 'PATCH', `/json/live`, [{ op: 'add', path: '/n', value: 7 }])
    const change = await feed.nth(1)
    expect(change).toEqual({
      event: 'change',
      data: {
        version: 2,
        op: text.op,
        type: 'json.change',
        author: expect.stringMatching(/^[0-9a-f]{64}$/),
        patches: [{ action: 'splice', path: ['body'], index: 3, remove: 0, insert: 'def' }],
      },
    })
    expect((await feed.nth(2)).data).toMatchObject({
      version: 3,
      patches: [{ action: 'put', path: ['n'], value: 7 }],
    })
    expect((await ok(node!, 'GET', '/status')).domains.json.streams).toBe(1)
    await feed.close()
    await until(
      'the stream to close',
      async () => (await ok(node!, 'GET', '/status')).domains.json.streams === 0,
    )
    // A node stopping ends its feeds cleanly: the fetch reading one sees the end, not the reset
    // of a connection cut when the node's grace period is over.
    const open = await Feed.open(`${node!.url}/json/${doc}/events`)
    expect((await open.nth(0)).data.version).toBe(3)
    await node!.stop()
    await open.ended()
    expect(open.events.length).toBe(1)
  })

  test('/text rebases splices made on an old version onto what changed since; too old is 409', async () => {
    const [node] = await startNodes(1, { config: '[domains.json]\nring_versions = 3' })
    const { doc } = await ok(node!, 'POST', '/json', {
      name: 'notes',
      content: { body: { $text: 'hello world' } },
    })
    const meta = await ok(node!, 'GET', `/json/${doc}?meta=1`)
    expect(meta.version).toBe(1)
    // Another client inserts at the start and replaces "world"; this one, still on version 1,
    // puts "!" after "world" and " dear" after "hello".
    await ok(node!, 'POST', `/json/${doc}/text`, {
      path: ['body'],
      base: 1,
      splices: [[0, 0, 'Oh, ']],
    })
    await ok(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 2,
      splices: [[10, 5, 'there']],
    })
    const rebased = await ok(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 1,
      splices: [
        [11, 0, '!'],
        [5, 0, ' dear'],
      ],
    })
    expect(rebased.version).toBe(4)
    expect((await ok(node!, 'GET', `/json/${doc}`)).body).toBe('Oh, hello dear there!')
    // Ring of 3 versions: after one more change, version 1 is gone.
    await ok(node!, 'POST', `/json/${doc}/text`, { path: '/body', base: 4, splices: [[0, 0, '>']] })
    const stale = await call(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 1,
      splices: [[0, 0, 'x']],
    })
    expect([stale.status, stale.json.error]).toEqual([409, 'JsonConflictError'])
    expect(stale.json.message).toContain('too old')
    const ahead = await call(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 99,
      splices: [[0, 0, 'x']],
    })
    expect(ahead.status).toBe(409)
    // A text replaced after the base version is not the one the splices were made on.
    await ok(node!, 'PATCH', `/json/${doc}`, [
      { op: 'remove', path: '/body' },
      { op: 'add', path: '/body', value: { $text: 'new' } },
    ])
    const replaced = await call(node!, 'POST', `/json/${doc}/text`, {
      path: '/body',
      base: 5,
      splices: [[0, 0, 'x']],
    })
    expect([replaced.status, replaced.json.message]).toEqual([
      409,
      expect.stringContaining('replaced'),
    ])
    const notText = await call(node!, 'POST', `/json/${doc}/text`, {
      path: '',
      base: 6,
      splices: [[0, 0, 'x']],
    })
    expect(notText.status).toBe(422)
  })

  test('two replicating nodes edit one text at once through their APIs and converge with every edit', async () => {
    const [n1, n2] = await startNodes(2, { net: true })
    const key2 = (await ok(n2!, 'GET', '/accounts/me')).key
    const { doc } = await ok(n1!, 'POST', '/json', {
      name: 'shared',
      editors: [key2],
      content: { body: { $text: '|' } },
    })
    await until(
      'the document on n2',
      async () => (await call(n2!, 'GET', `/json/${doc}`)).status === 200,
    )
    const rounds = 12
    // n1's client reads once and keeps editing on that version: each edit goes at the end of the
    // text as it read it, so the node rebases it over everything since, its own edits included.
    const writer1 = async () => {
      const { version, content } = await ok(n1!, 'GET', `/json/${doc}?meta=1`)
      for (let i = 0; i < rounds; i++)
        await ok(n1!, 'POST', `/json/${doc}/text`, {
          path: '/body',
          base: version,
          splices: [[content.body.length, 0, `<a${i}>`]],
        })
    }
    // n2's client reads before each edit and types at the start.
    const writer2 = async () => {
      for (let i = 0; i < rounds; i++) {
        const { version } = await ok(n2!, 'GET', `/json/${doc}?meta=1`)
        await ok(n2!, 'POST', `/json/${doc}/text`, {
          path: ['body'],
          base: version,
          splices: [[0, 0, `<b${i}>`]],
        })
      }
    }
    await Promise.all([writer1(), writer2()])
    let texts: string[] = []
    await until('both nodes to hold the same text', async () => {
      texts = await Promise.all(
        [n1!, n2!].map(async (n) => (await ok(n, 'GET', `/json/${doc}`)).body as string),
      )
      return texts[0] === texts[1] && texts[0]!.length === 1 + rounds * 8 + (rounds - 10) * 2
    })
    const text = texts[0]!
    const a = [...text.matchAll(/<a(\d+)>/g)].map((m) => Number(m[1]))
    expect(a).toEqual([...Array(rounds).keys()])
    // n2 typed each at the start: its edits read newest first, all before the bar; n1's follow
    // it in the order it sent them.
    const [before, after] = text.split('|')
    expect(before).toBe(
      [...Array(rounds).keys()]
        .reverse()
        .map((i) => `<b${i}>`)
        .join(''),
    )
    expect(after).toBe([...Array(rounds).keys()].map((i) => `<a${i}>`).join(''))
  })
})
