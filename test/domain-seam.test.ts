import '../src/net/polyfill.ts'
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { z } from 'zod'
import { NodeClient } from '../src/cli/client.ts'
import { createProgram } from '../src/cli/program.ts'
import { hashState } from '../src/core/domain.ts'
import { DOMAIN_ENTRIES } from '../src/domains/entries.ts'
import { DOMAINS } from '../src/domains/index.ts'
import type { AnyPlugin } from '../src/domains/plugin.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { readKeyFile } from '../src/store/key-file.ts'
import { pollEntry } from './domains/poll/entry.ts'
import { pollPlugin } from './domains/poll/index.ts'
import { createPollReducer, POLL_OP } from './domains/poll/rules.ts'
import { testSigner } from './helpers.ts'

// The proof that the seam works: a poll domain written entirely in test/domains/poll/ and
// registered here, with no edit to any shared file, gets routes, verdicts, state hashes, a
// dashboard card, a CLI command and replication.

const domains = [...DOMAINS, pollPlugin]
const roots: string[] = []
const running: RwaNode[] = []

afterEach(async () => {
  vi.restoreAllMocks()
  for (const node of running.splice(0)) await node.stop().catch(() => undefined)
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** Started nodes hosting the audits and the polls; each after the first dials the first. */
async function startNodes(n: number, { net = false } = {}): Promise<RwaNode[]> {
  const root = mkdtempSync(join(tmpdir(), 'rwa-seam-test-'))
  roots.push(root)
  const nodes: RwaNode[] = []
  for (let i = 0; i < n; i++) {
    const dataDir = join(root, `n${i + 1}`)
    initNode({ name: `n${i + 1}`, dataDir })
    const peers = i > 0 ? [nodes[0]!.replicator!.multiaddrs()[0]!] : []
    const node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: net, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
      domains,
    })
    running.push(node)
    await node.start()
    nodes.push(node)
  }
  return nodes
}

const tokenOf = (node: RwaNode) => readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim()

/** A JSON request to a node, as the operator unless `token` is null. */
async function call(node: RwaNode, method: string, path: string, body?: unknown, token?: null) {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${tokenOf(node)}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the routes under test
  return { status: response.status, json: (await response.json()) as any }
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('a domain plugged in from one folder', () => {
  test('gets its routes in /openapi.json, verdicts on POST /ops, a /status state hash and a dashboard card', async () => {
    const [node] = await startNodes(1)
    const openapi = (await call(node!, 'GET', '/openapi.json')).json
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/polls', '/polls/{poll}', '/polls/{poll}/vote', '/audits']),
    )
    const vote = openapi.paths['/polls/{poll}/vote'].post
    expect([vote.security, vote.requestBody.content['application/json'].schema.required]).toEqual([
      [{ bearer: [] }],
      ['option'],
    ])

    const created = await call(node!, 'POST', '/polls', {
      question: 'Lunch?',
      options: ['pizza', 'salad'],
    })
    expect(created.status).toBe(200)
    const poll = created.json.poll as OpId
    expect((await call(node!, 'POST', `/polls/${poll}/vote`, { option: 1 })).status).toBe(200)
    const again = await call(node!, 'POST', `/polls/${poll}/vote`, { option: 0 })
    expect([again.status, again.json.error]).toEqual([409, 'PollRefusedError'])
    expect((await call(node!, 'GET', '/polls/Lunch%3F')).json.tally).toEqual([0, 1])

    // A stranger's close, signed by the client: the poll's rules refuse it at admission, so it
    // never joins the document.
    const client = new NodeClient(node!.url)
    await expect(
      client.submit(testSigner(42), { doc: poll, type: POLL_OP.close, body: {} }),
    ).rejects.toMatchObject({
      error: 'PollRefusedError',
      message: expect.stringContaining('Only the creator of a poll may close it'),
    })

    // /status hashes the poll as every replica would, recomputed here from its signed ops.
    const [genesis, ...ops] = await client.ops(poll)
    const reducer = createPollReducer(genesis!)
    for (const op of ops) reducer.apply(op)
    const status = (await call(node!, 'GET', '/status')).json
    expect(status.documents[poll].stateHash).toBe(hashState(reducer.state()))
    expect(reducer.state().rejected).toEqual([])

    const home = await (await fetch(node!.url)).text()
    expect(home).toContain('<section id="polls"')
    expect(home).toMatch(/<td>Lunch\?<\/td><td>OPEN<\/td><td class="num">1<\/td>/)
    expect(home).toContain('<section id="audits"')
    // The plug-in's extension is on the node, as the audit plug-in's are.
    expect((node as unknown as { polls: { list(): unknown[] } }).polls.list()).toHaveLength(1)
  })

  test('gets its CLI commands, which sign here and check against the recomputed poll', async () => {
    const [node] = await startNodes(1)
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const rwa = async (...args: string[]) => {
      lines.length = 0
      const program = (
        await createProgram({ domains: [...DOMAIN_ENTRIES, pollEntry] })
      ).exitOverride()
      const options = ['--node', node!.url, '--data-dir', node!.config.dataDir, '--json']
      await program.parseAsync(['node', 'rwa', ...args, ...options])
      return JSON.parse(lines.join('\n'))
    }
    const created = await rwa('poll', 'create', 'Tea or coffee?', 'tea', 'coffee')
    expect(created).toMatchObject({ question: 'Tea or coffee?', state: 'OPEN', tally: [0, 0] })
    expect(await rwa('poll', 'vote', 'Tea or coffee?', '1')).toMatchObject({ tally: [0, 1] })
    await expect(rwa('poll', 'vote', 'Tea or coffee?', '0')).rejects.toThrow('voted already')
    expect(await rwa('poll', 'list')).toEqual([
      { id: created.id, name: 'Tea or coffee?', state: 'OPEN', votes: 1 },
    ])
    const operator = readKeyFile(join(node!.config.dataDir, 'keys', 'operator.key'))
    expect(created.creator).toBe(Buffer.from(operator.publicKey).toString('hex'))
  })

  test('replicates across three nodes, which reach equal state hashes', async () => {
    const [n1, n2, n3] = await startNodes(3, { net: true })
    const nodes = [n1!, n2!, n3!]
    const poll = (
      await call(n1!, 'POST', '/polls', { question: 'Which park?', options: ['north', 'south'] })
    ).json.poll as OpId
    await until('every node to hold the poll', async () =>
      nodes.every((n) => n.indexes.get('poll')?.has(poll)),
    )
    for (const [i, node] of nodes.entries())
      expect((await call(node, 'POST', `/polls/${poll}/vote`, { option: i % 2 })).status).toBe(200)
    const hashes = () =>
      Promise.all(nodes.map(async (n) => (await call(n, 'GET', '/status', undefined, null)).json))
    await until(
      'three votes everywhere',
      async () =>
        (await hashes()).every(
          (s, _, all) =>
            s.documents[poll]?.stateHash === all[0]!.documents[poll]?.stateHash &&
            s.documents[poll]?.stateHash !== null,
        ) && (await call(n3!, 'GET', `/polls/${poll}`)).json.votes.length === 3,
    )
    expect((await call(n1!, 'POST', `/polls/${poll}/close`)).status).toBe(200)
    await until('the close everywhere, with equal hashes', async () => {
      const states = await Promise.all(
        nodes.map(async (n) => (await call(n, 'GET', `/polls/${poll}`)).json),
      )
      const all = await hashes()
      return (
        states.every((s) => s.state === 'CLOSED') &&
        new Set(all.map((s) => s.documents[poll].stateHash)).size === 1
      )
    })
    for (const node of nodes)
      expect((await call(node, 'GET', `/polls/${poll}`)).json.tally).toEqual([2, 1])
    // The network seam: each node's serving policy saw the sync answers it served and pulled,
    // and what was served is what was pulled (each answer counted once on each side).
    await Promise.all(nodes.map((n) => n.replicator!.syncAll()))
    await until('the sync answers counted on both sides', async () => {
      const status = await hashes()
      const sum = (key: 'served' | 'pulled') =>
        status.reduce((total, s) => total + s.domains.poll[key], 0)
      return sum('served') > 0 && sum('served') === sum('pulled')
    })
    for (const s of await hashes()) expect(s.domains.poll.network).toBe(true)
  }, 90_000)
})

describe("a domain's own settings in config.toml", () => {
  /** The polls with a settings schema, keeping what the node gave their part. */
  function settingsPoll(seen: Record<string, unknown>[]) {
    return {
      ...pollPlugin,
      node: async () => {
        const part = await pollPlugin.node()
        return {
          settings: z.object({ max_options: z.number().int().min(2).default(10) }).strict(),
          create: (components: Parameters<typeof part.create>[0]) => {
            seen.push(components.settings)
            return part.create(components)
          },
        }
      },
    }
  }

  async function start(table: string, plugins: readonly AnyPlugin[]) {
    const root = mkdtempSync(join(tmpdir(), 'rwa-settings-test-'))
    roots.push(root)
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    appendFileSync(join(dataDir, 'config.toml'), `\n${table}\n`)
    const node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: false },
      domains: plugins,
    })
    running.push(node)
    await node.start()
    return node
  }

  test('a [domains.<name>] table reaches its part parsed by its schema, defaults filled in', async () => {
    const seen: Record<string, unknown>[] = []
    await start('[domains.poll]\nmax_options = 4', [...DOMAINS, settingsPoll(seen)])
    expect(seen).toEqual([{ max_options: 4 }])
    seen.length = 0
    await start('', [...DOMAINS, settingsPoll(seen)])
    expect(seen).toEqual([{ max_options: 10 }])
  })

  test.each([
    ['[domains.poll]\nmax_options = 1', /\[domains\.poll\] max_options: .*fix it/],
    ['[domains.poll]\ncolour = "red"', /\[domains\.poll\] .*colour/],
    [
      '[domains.nope]\nx = 1',
      /there is no domain "nope" \(domains: audit, impact, feed, channel, swap, json, poll\)/,
    ],
    [
      '[domains.audit]\nx = 1',
      /the audit domain takes no settings; remove the \[domains\.audit\] table/,
    ],
    ['[domains.impact]\nmax_days = 0', /\[domains\.impact\] max_days: /],
  ])('a node refuses to start on %j, naming the table and key', async (table, message) => {
    await expect(start(table, [...DOMAINS, settingsPoll([])])).rejects.toThrow(message)
  })
})
