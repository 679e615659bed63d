import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createPublicClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Devnet, startDevnet } from '../src/chain/devnet.ts'
import { NATIVE } from '../src/chain/escrow.ts'
import { fundAudit } from '../src/chain/payments.ts'
import { auditIdOf } from '../src/core/audit/settlement-report.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { formatHumanLine } from '../src/node/logger.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { readEthKeyFile } from '../src/store/key-file.ts'
import { makeAuditGenesis, makeOp, testSigner } from './helpers.ts'
import { stoppedAudit, TestNode } from './node-fixture.ts'

// ---- a strict parser of the Prometheus text format (0.0.4) ----

type Sample = { name: string; labels: Record<string, string>; value: number }
type Family = { help?: string; type?: string; samples: Sample[] }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/** A sample value as Prometheus reads it (Go's ParseFloat: NaN and Inf in any case). */
function parseValue(text: string, line: string): number {
  if (/^\+?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY
  if (/^nan$/i.test(text)) return Number.NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`bad value in: ${line}`)
  return Number(text)
}

/** The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length)
    if (name.endsWith(suffix) && ['histogram', 'summary'].includes(families.get(base)?.type ?? ''))
      return base
  }
  return name
}

function parseSample(line: string): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0]
  if (!name) throw new Error(`bad sample: ${line}`)
  let rest = line.slice(name.length)
  const labels: Record<string, string> = {}
  if (rest.startsWith('{')) {
    rest = rest.slice(1)
    while (!rest.startsWith('}')) {
      const match = LABEL.exec(rest)
      if (!match) throw new Error(`bad label in: ${line}`)
      if (match[1]! in labels) throw new Error(`duplicate label in: ${line}`)
      labels[match[1]!] = match[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1')
      rest = rest.slice(match[0].length)
      if (rest.startsWith(',')) rest = rest.slice(1)
      else if (!rest.startsWith('}')) throw new Error(`bad label list in: ${line}`)
    }
    rest = rest.slice(1)
  }
  const parts = rest.split(' ')
  if (parts[0] !== '' || parts.length < 2 || parts.length > 3)
    throw new Error(`bad sample: ${line}`)
  if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`bad time: ${line}`)
  return { name, labels, value: parseValue(parts[1]!, line) }
}

/** Parses a scrape; throws on any line that is not well formed, or a sample with no HELP and TYPE. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const family = (name: string) => {
    let f = families.get(name)
    if (!f) {
      f = { samples: [] }
      families.set(name, f)
    }
    return f
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta) {
      const [, kind, name, rest] = meta
      if (!METRIC_NAME.test(name!)) throw new Error(`bad metric name: ${line}`)
      const f = family(name!)
      if (f.samples.length > 0) throw new Error(`${kind} after samples: ${line}`)
      if (kind === 'HELP') f.help = rest!
      else if (TYPES.has(rest!)) f.type = rest!
      else throw new Error(`bad type: ${line}`)
      continue
    }
    if (line.startsWith('#')) continue
    const sample = parseSample(line)
    const f = families.get(familyOf(sample.name, families))
    if (f?.help === undefined || f.type === undefined)
      throw new Error(`sample without HELP and TYPE: ${line}`)
    f.samples.push(sample)
  }
  return families
}

/** The value of the sample `name` whose labels include `labels` (undefined when there is none). */
function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const f = families.get(familyOf(name, families))
  return f?.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value
}

async function scrape(t: TestNode): Promise<Map<string, Family>> {
  const response = await fetch(`${t.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheus(await response.text())
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

describe('the Prometheus text parser of these tests', () => {
  test('refuses a sample without HELP and TYPE, a bad label and a bad value', () => {
    expect(() => parsePrometheus('x 1\n')).toThrow(/without HELP/)
    expect(() => parsePrometheus('# HELP x h\n# TYPE x gauge\nx{a=1} 1\n')).toThrow(/bad label/)
    expect(() => parsePrometheus('# HELP x h\n# TYPE x gauge\nx one\n')).toThrow(/bad value/)
    const ok = parsePrometheus('# HELP x h\n# TYPE x counter\nx{a="q\\"z"} 2\n')
    expect(sampleValue(ok, 'x', { a: 'q"z' })).toBe(2)
  })
})

describe('GET /metrics', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await TestNode.start()
  })
  afterAll(async () => {
    await t.stop()
  })

  test('is well-formed Prometheus text with process metrics and every node metric described', async () => {
    const families = await scrape(t)
    for (const name of [
      'rwa_ops_accepted_total',
      'rwa_ops_refused_total',
      'rwa_ops_pending',
      'rwa_ops_pending_bytes',
      'rwa_documents',
      'rwa_peers',
      'rwa_peer_strikes_total',
      'rwa_peer_bans_total',
      'rwa_gossip_dropped_total',
      'rwa_sync_bytes_total',
      'rwa_chain_rpc_errors_total',
      'rwa_http_requests_total',
      'rwa_http_request_duration_seconds',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ])
      expect(families.get(name)?.help, name).toBeTruthy()
    expect(families.get('rwa_http_request_duration_seconds')?.type).toBe('histogram')
    expect(sampleValue(families, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })

  test('accepted and refused ops, documents by state and HTTP requests by route move with what the node does', async () => {
    const before = await scrape(t)
    const accepted0 = sampleValue(before, 'rwa_ops_accepted_total')!
    const admin = testSigner(41)
    const genesis = makeAuditGenesis(admin, 'metered')
    // A stranger may not add items to someone else's audit: refused at ingest.
    const stranger = makeOp(testSigner(42), {
      doc: genesis.id,
      seq: 1,
      deps: [genesis.id],
      type: 'audit.item.add',
      body: { description: 'lamp' },
    })
    const posted = await t.call('POST', '/ops', { body: { ops: [hex(genesis.bytes)] } })
    expect(posted.json.results[0]).toMatchObject({ ok: true, status: 'accepted' })
    const refused = await t.call('POST', '/ops', { body: { ops: [hex(stranger.bytes)] } })
    const reason = refused.json.results[0].error as string
    expect(reason).toMatch(/Error$/)
    // Garbage bytes are refused too, with their own reason.
    await t.call('POST', '/ops', { body: { ops: ['00ff'] } })
    const unknown = await t.call('GET', `/audits/nothing-here`)
    expect(unknown.status).toBe(404)

    const after = await scrape(t)
    expect(sampleValue(after, 'rwa_ops_accepted_total')).toBe(accepted0 + 1)
    expect(sampleValue(after, 'rwa_ops_refused_total', { reason })).toBe(
      (sampleValue(before, 'rwa_ops_refused_total', { reason }) ?? 0) + 1,
    )
    const reasons = after.get('rwa_ops_refused_total')!.samples.map((s) => s.labels.reason)
    expect(reasons.length).toBeGreaterThanOrEqual(2)
    expect(
      sampleValue(after, 'rwa_documents', { domain: 'audit', state: 'INITIALIZATION' }),
    ).toBeGreaterThanOrEqual(1)
    // Routes are labelled by pattern, not by URL.
    expect(
      sampleValue(after, 'rwa_http_requests_total', {
        method: 'GET',
        route: '/audits/:audit',
        status: '404',
      }),
    ).toBe(1)
    expect(
      sampleValue(after, 'rwa_http_requests_total', {
        method: 'POST',
        route: '/ops',
        status: '200',
      }),
    ).toBe((sampleValue(before, 'rwa_http_requests_total', { route: '/ops' }) ?? 0) + 3)
    expect(
      sampleValue(after, 'rwa_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/audits/:audit',
      }),
    ).toBe(1)
    expect(await (await fetch(`${t.url}/metrics`)).text()).not.toContain('nothing-here')

    // The audit's state moves: it leaves INITIALIZATION for AUDITOR_REGISTRATION.
    const open = makeOp(admin, {
      doc: genesis.id,
      seq: 2,
      deps: [genesis.id],
      type: 'audit.open',
      body: null,
    })
    const opened = await t.call('POST', '/ops', { body: { ops: [hex(open.bytes)] } })
    expect(opened.json.results[0]).toMatchObject({ ok: true })
    const later = await scrape(t)
    expect(
      sampleValue(later, 'rwa_documents', { domain: 'audit', state: 'AUDITOR_REGISTRATION' }),
    ).toBe(1)
    const initializing = (f: Map<string, Family>) =>
      sampleValue(f, 'rwa_documents', { domain: 'audit', state: 'INITIALIZATION' }) ?? 0
    expect(initializing(later)).toBe(initializing(after) - 1)
  })

  test('two nodes in one process keep their own registries', async () => {
    const other = await TestNode.start()
    try {
      await fetch(`${other.url}/health`)
      await fetch(`${other.url}/health`)
      const mine = await scrape(t)
      const theirs = await scrape(other)
      const health = { method: 'GET', route: '/health', status: '200' }
      expect(sampleValue(theirs, 'rwa_http_requests_total', health)).toBe(2)
      expect(sampleValue(mine, 'rwa_http_requests_total', health)).toBeUndefined()
    } finally {
      await other.stop()
    }
  })
})

describe('on a chain (anvil)', () => {
  let chain: Devnet
  let t: TestNode
  beforeAll(async () => {
    chain = await startDevnet()
    t = await TestNode.start()
    await t.node.stop()
    const operator = privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'operator.eth')))
    await createPublicClient({ transport: http(chain.rpcUrl) }).request({
      method: 'anvil_setBalance' as never,
      params: [operator.address, '0x56BC75E2D63100000'] as never,
    })
    t.node = TestNode.create(t.dataDir, { mode: 'rpc', rpcUrl: chain.rpcUrl })
    await t.node.start()
  }, 60_000)
  afterAll(async () => {
    await t.stop()
    await chain.stop()
  })

  test('a settlement counts one settle transaction and its gas', async () => {
    const before = await scrape(t)
    expect(
      sampleValue(before, 'rwa_audit_settlement_transactions_total', { outcome: 'success' }),
    ).toBeUndefined()
    expect(sampleValue(before, 'rwa_audit_settlement_gas_total')).toBe(0)
    const { id } = await stoppedAudit(t, 'metered on chain')
    const info = (await t.call('GET', '/chain')).json
    await fundAudit({
      info,
      account: privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'operator.eth'))),
      auditId: auditIdOf(id as OpId),
      token: NATIVE,
      amount: 900n,
    })
    for (let i = 0; i < 300 && (await t.node.audits.stateName(id as OpId)) !== 'COMPLETE'; i++)
      await new Promise((r) => setTimeout(r, 100))
    expect(await t.node.audits.stateName(id as OpId)).toBe('COMPLETE')
    const after = await scrape(t)
    expect(
      sampleValue(after, 'rwa_audit_settlement_transactions_total', { outcome: 'success' }),
    ).toBe(1)
    expect(sampleValue(after, 'rwa_audit_settlement_gas_total')).toBeGreaterThan(21_000)
    expect(sampleValue(after, 'rwa_documents', { domain: 'audit', state: 'COMPLETE' })).toBe(1)
  }, 120_000)

  test('/health answers 200; /ready is 200 while the chain answers, and 503 naming the chain once it stops', async () => {
    const health = await t.call('GET', '/health')
    expect([health.status, health.json]).toEqual([200, { status: 'ok' }])
    const ready = await t.call('GET', '/ready')
    expect(ready.status).toBe(200)
    expect(ready.json).toMatchObject({
      ready: true,
      checks: { store: { ok: true }, chain: { ok: true }, net: { ok: true } },
    })
    await chain.stop()
    const down = await t.call('GET', '/ready')
    expect(down.status).toBe(503)
    expect(down.json.ready).toBe(false)
    expect(down.json.checks.store.ok).toBe(true)
    expect(down.json.checks.chain).toMatchObject({
      ok: false,
      detail: expect.stringContaining(new URL(chain.rpcUrl).host),
    })
    // Named by host only: /ready is open to anyone, and provider URLs carry API keys.
    expect(down.json.checks.chain.detail).not.toContain(chain.rpcUrl)
    expect((await t.call('GET', '/health')).status).toBe(200)
  }, 60_000)
})

describe('replication metrics', () => {
  test('peers and sync bytes in and out move when two nodes replicate', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-metrics-net-'))
    const nodes: RwaNode[] = []
    const start = async (name: string, peers: string[]) => {
      const dataDir = join(root, name)
      initNode({ name, dataDir })
      const node = createNode(loadConfig(dataDir), {
        port: 0,
        logger: pino({ level: 'silent' }),
        verifyPool: false,
        chain: { mode: 'none' },
        net: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
      })
      nodes.push(node)
      await node.start()
      return node
    }
    try {
      const n1 = await start('n1', [])
      const created = await n1.actions.create(n1.accounts.get(OPERATOR)!, {
        name: 'replicated',
        bond: '10',
      })
      const n2 = await start('n2', n1.replicator!.multiaddrs())
      for (let i = 0; i < 300 && !n2.audits.has(created.id); i++)
        await new Promise((r) => setTimeout(r, 100))
      expect(n2.audits.has(created.id)).toBe(true)
      const m1 = parsePrometheus((await n1.metrics.render()).text)
      const m2 = parsePrometheus((await n2.metrics.render()).text)
      expect(sampleValue(m1, 'rwa_peers')).toBe(1)
      expect(sampleValue(m2, 'rwa_peers')).toBe(1)
      // n2 pulled the audit from n1: n1 served it, n2 received it.
      expect(sampleValue(m1, 'rwa_sync_bytes_total', { direction: 'out' })).toBeGreaterThan(0)
      expect(sampleValue(m2, 'rwa_sync_bytes_total', { direction: 'in' })).toBeGreaterThan(0)
      expect(sampleValue(m2, 'rwa_documents', { domain: 'audit', state: 'INITIALIZATION' })).toBe(1)
      const ready = await fetch(`${n2.url}/ready`)
      expect(((await ready.json()) as { checks: { net: unknown } }).checks.net).toEqual({
        ok: true,
        detail: 'Replication runs (1 peers).',
      })
    } finally {
      for (const node of nodes.reverse()) await node.stop()
      rmSync(root, { recursive: true, force: true })
    }
  }, 90_000)
})

describe('/ready without a chain', () => {
  test('is 200 and says no chain is configured', async () => {
    const t = await TestNode.start()
    try {
      const ready = await t.call('GET', '/ready')
      expect(ready.status).toBe(200)
      expect(ready.json.checks.chain).toEqual({ ok: true, detail: 'No chain configured.' })
      const paths = Object.keys((await t.call('GET', '/openapi.json')).json.paths)
      expect(paths).toEqual(expect.arrayContaining(['/health', '/ready', '/metrics']))
    } finally {
      await t.stop()
    }
  })
})

describe('formatHumanLine', () => {
  test('puts time, level and message first, then the fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: 0,
      node: 'n',
      msg: 'request',
      method: 'GET',
      route: '/audits/:audit',
      status: 200,
      ms: 1.5,
    })
    expect(formatHumanLine(line)).toBe(
      '00:00:00 INFO  request method=GET route=/audits/:audit status=200 ms=1.5',
    )
    expect(formatHumanLine('not json')).toBe('not json')
  })
})

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')

describe('rwa start with stdout piped', () => {
  test('writes only JSON lines to stdout, with a request log line per request; the banner goes to stderr', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-logs-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    const child = spawn(
      process.execPath,
      [bin, 'start', 'n1', '--data-dir', dataDir, '--port', '0', '--no-chain', '--no-net'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      for (let i = 0; i < 1200 && !/running at (http:\S+)/.test(stderr); i++) {
        if (child.exitCode !== null) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const url = /running at (http:\S+)/.exec(stderr)?.[1]
      expect(url, stderr).toBeDefined()
      expect((await fetch(`${url}/health`)).status).toBe(200)
      expect((await fetch(`${url}/audits/none`)).status).toBe(404)
      expect((await fetch(`${url}/metrics`)).status).toBe(200)
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    rmSync(root, { recursive: true, force: true })
    const lines = stdout.split('\n').filter((l) => l !== '')
    expect(lines.length).toBeGreaterThanOrEqual(5)
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(entries).toContainEqual(
      expect.objectContaining({
        msg: 'request',
        method: 'GET',
        route: '/audits/:audit',
        status: 404,
        ms: expect.any(Number),
      }),
    )
    expect(entries).toContainEqual(expect.objectContaining({ msg: 'node ready' }))
    expect(stderr).toContain('dashboard and API')
  }, 150_000)
})
