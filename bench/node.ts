import { spawn } from 'node:child_process'
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import autocannon from 'autocannon'
import { Hono } from 'hono'
import { pino } from 'pino'
import { openLedger } from '../src/ledger/ledger.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode } from '../src/node/node.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { makeSigners } from './fixtures.ts'
import { type Figure, progress, report, round } from './report.ts'

const CONNECTIONS = 10
/** Seconds of load per measurement: autocannon ends runs on whole-second ticks, so runs are timed, not counted. */
const SECONDS = Number(process.env.RWA_BENCH_HTTP_SECONDS ?? 5)
/** Alternating rounds of answer and bare-route runs. */
const ROUNDS = Number(process.env.RWA_BENCH_HTTP_ROUNDS ?? 3)

type Load = { rate: number; p50: number; p99: number; ok: number; failed: number }

/** A bounded autocannon run: `SECONDS` of load over `CONNECTIONS` connections, cycling through `requests`. */
async function load(url: string, requests: autocannon.Request[]): Promise<Load> {
  // One worker thread generates the load, so the server under test keeps the main thread.
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests,
    timeout: 10,
    workers: 1,
  })
  return {
    rate: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
  }
}

/** The same framework and server with a route that parses a JSON body and answers JSON. */
async function startBareRoute(): Promise<{ measure(): Promise<Load>; close(): void }> {
  const app = new Hono()
  app.post('/answer', async (c) => c.json({ ok: true, answer: (await c.req.json()).answer }))
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  const { port } = server.address() as { port: number }
  return {
    measure: () =>
      load(`http://127.0.0.1:${port}`, [
        {
          method: 'POST',
          path: '/answer',
          headers: { 'content-type': 'application/json' },
          body: '{"answer":"yes"}',
        },
      ]),
    close: () => server.close(),
  }
}

/** The median of a few numbers. */
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Raw node:crypto Ed25519 signatures per second on one core: the least an answer costs the node. */
function rawSignRate(): number {
  const { privateKey } = generateKeyPairSync('ed25519')
  const message = Buffer.alloc(45, 7)
  for (let i = 0; i < 2000; i++) sign(null, message, privateKey)
  const start = performance.now()
  for (let i = 0; i < 20_000; i++) sign(null, message, privateKey)
  return 20_000 / ((performance.now() - start) / 1000)
}

/** Answer submissions per second through the HTTP API, next to a bare route of the same stack. */
async function httpAnswer(): Promise<Figure> {
  const root = mkdtempSync(join(tmpdir(), 'rwa-bench-'))
  // Enough inspections that no auditor runs out within the run (each answer takes one, and
  // each item has 3): room for 12,000 answers/s, nearly twice the fastest rate measured.
  const items = Number(
    process.env.RWA_BENCH_HTTP_ITEMS ?? Math.ceil((12_000 * SECONDS * ROUNDS) / 3),
  )
  const auditors = 60
  try {
    const dataDir = join(root, 'node')
    initNode({ name: 'bench', dataDir })
    const node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      chain: { mode: 'none' },
      net: { enabled: false },
    })
    await node.start()
    const admin = node.accounts.get(OPERATOR)!
    progress(`setting up an audit of ${items} items × 3 with ${auditors} local auditors`)
    const audit = (await node.actions.create(admin, { name: 'bench', bond: '1000000' })).id
    for (let i = 0; i < items; i++) await node.actions.addItem(admin, audit, `item ${i}`)
    await node.actions.control(admin, audit, 'open')
    const tokens: string[] = []
    for (let i = 0; i < auditors; i++) {
      const { account, token } = node.accounts.create({ name: `a${i}` })
      await node.actions.register(account, audit)
      tokens.push(token)
    }
    await node.actions.control(admin, audit, 'close')
    await node.actions.control(admin, audit, 'start')
    // Each connection cycles through every auditor (no functions: the load runs in a worker).
    const answerRequests = tokens.map((token, i) => ({
      method: 'POST' as const,
      path: `/audits/${audit}/answer`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: i % 2 ? '{"answer":"yes"}' : '{"answer":"no"}',
    }))
    // This machine's speed drifts by tens of percent within minutes: the answer and bare runs
    // alternate, and the figure is the median of the rounds' ratios.
    const bareRoute = await startBareRoute()
    const rounds: { answered: Load; bare: Load; signRate: number }[] = []
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        progress(
          `round ${round}/${ROUNDS}: answers over HTTP, then the bare route, ${SECONDS} s each`,
        )
        const answered = await load(node.url, answerRequests)
        const bare = await bareRoute.measure()
        rounds.push({ answered, bare, signRate: rawSignRate() })
      }
    } finally {
      bareRoute.close()
    }
    const acknowledged = rounds.reduce((sum, r) => sum + r.answered.ok, 0)
    const failed = rounds.reduce((sum, r) => sum + r.answered.failed, 0)
    // Refusals answer faster than answers: a run with any is not a measurement of answers.
    if (failed > 0)
      throw new Error(
        `http.answer: ${failed} answers were refused or failed (auditors out of inspections?); raise RWA_BENCH_HTTP_ITEMS above ${items}.`,
      )
    const state = await node.audits.state(audit)
    const counted = state.inspections.filter((i) => i.status === 'answered').length
    // Requests in flight when a run ends are counted by the node but not by autocannon.
    if (counted < acknowledged || counted > acknowledged + CONNECTIONS * ROUNDS)
      throw new Error(`http.answer: ${acknowledged} answers acknowledged but ${counted} counted`)
    await node.stop()
    const ratios = rounds.map((r) => r.answered.rate / r.bare.rate)
    const ratio = median(ratios)
    // The round whose ratio is the median supplies the other figures.
    const typical = rounds[ratios.indexOf(ratio)] ?? rounds[0]!
    return report({
      bench: 'http.answer',
      value: round(median(rounds.map((r) => r.answered.rate))),
      unit: 'answers/s',
      limit: round(median(rounds.map((r) => r.bare.rate))),
      limitIs: 'bare Hono route on @hono/node-server, same load, alternating with the answer runs',
      ratio: round(ratio, 3),
      target: 0.5,
      pass: ratio >= 0.5,
      // An answer needs at least the bare route's work plus one Ed25519 signature: the best
      // ratio any implementation could reach on this machine's one server core.
      ceiling: round(
        median(rounds.map((r) => 1 / r.bare.rate / (1 / r.bare.rate + 1 / r.signRate))),
        3,
      ),
      signsPerSecond: round(median(rounds.map((r) => r.signRate))),
      p50ms: typical.answered.p50,
      p99ms: typical.answered.p99,
      bareP50ms: typical.bare.p50,
      bareP99ms: typical.bare.p99,
      rounds: rounds.map((r) => ({
        answers: round(r.answered.rate),
        bare: round(r.bare.rate),
        ratio: round(r.answered.rate / r.bare.rate, 3),
      })),
      answers: acknowledged,
      counted,
    })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/** Time from `rwa start` (a new process) to HTTP ready, with 100,000 ops in the store. */
async function nodeStart(): Promise<Figure> {
  const ops = Number(process.env.RWA_BENCH_START_OPS ?? 100_000)
  const root = mkdtempSync(join(tmpdir(), 'rwa-bench-'))
  try {
    const dataDir = join(root, 'node')
    initNode({ name: 'bench', dataDir })
    progress(`writing ${ops} ops into the node's store`)
    const ledger = await openLedger({ store: sqliteStore({ path: join(dataDir, 'rwa.sqlite') }) })
    const [admin] = makeSigners(1)
    const genesis = await ledger.append(admin!, {
      doc: null,
      type: 'audit.create',
      body: { name: 'start', bond: '1000' },
      time: 0,
    })
    const pending: Promise<unknown>[] = []
    for (let i = 1; i < ops; i++) {
      pending.push(
        ledger.append(admin!, {
          doc: genesis.id,
          type: 'audit.item.add',
          body: { description: `item ${i}` },
          time: i,
        }),
      )
      if (pending.length === 1000) await Promise.all(pending.splice(0))
    }
    await Promise.all(pending)
    await ledger.close()
    progress('starting the node')
    const seconds = await timeStart(dataDir)
    const config = loadConfig(dataDir)
    return report({
      bench: 'node.start',
      value: round(seconds, 2),
      unit: 's',
      limit: ops,
      limitIs: 'ops in the store',
      opsPerSecond: round(ops / seconds),
      store: config.store.path.endsWith('.sqlite') ? 'sqlite' : 'other',
    })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/** Spawns `rwa start` and waits for run.json (written once HTTP listens), then stops it. */
async function timeStart(dataDir: string): Promise<number> {
  const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
  const start = performance.now()
  const child = spawn(
    process.execPath,
    [bin, 'start', 'bench', '--data-dir', dataDir, '--port', '0'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  try {
    for (let i = 0; i < 1200; i++) {
      try {
        const { url } = JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as {
          url: string
        }
        const response = await fetch(`${url}/status`)
        if (response.ok) return (performance.now() - start) / 1000
      } catch {
        // Not ready yet.
      }
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error('node.start: the node did not become ready within 30 s')
  } finally {
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }
}

/** The node benchmarks, by name. */
export function nodeBenches(): Record<string, () => Promise<Figure>> {
  return { 'http.answer': httpAnswer, 'node.start': nodeStart }
}
