import { execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'
import type { FeedDemoResult } from '../src/domains/feed/cli/demo-run.ts'
import { RWA_BIN } from './node-fixture.ts'

const roots: string[] = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

/** The lower median of the honest attestations of a window, computed here from the demo's record. */
function honestMedian(result: FeedDemoResult, window: number): bigint {
  const prices = result.attestations
    .filter((a) => a.window === window && !a.byzantine)
    .map((a) => BigInt(a.price))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const median = prices[Math.floor((prices.length - 1) / 2)]
  if (median === undefined) throw new Error(`no honest attestation in window ${window}`)
  return median
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('rwa feeds demo', () => {
  test('at reduced size: the nodes agree on every closed window after the partitions heal, every on-chain report is within 0.5% of the honest median, and Byzantine oracles rank last', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rwa-feed-demo-'))
    roots.push(out)
    // The defaults: the market swings ±1% around 2500 and honest oracles read it within ±0.1%, so
    // a report over 0.5% off the window's honest median was moved by the Byzantine oracles.
    const args = ['feeds', 'demo', '--duration', '12', '--split-every', '4']
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [RWA_BIN, ...args, '--json', '--out', out],
      { maxBuffer: 64 * 1024 * 1024 },
    )
    const result = JSON.parse(stdout) as FeedDemoResult
    expect(JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8'))).toEqual(result)
    expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\s*$/)
    expect(result.partitions.map((p) => p.kind)).toEqual(['split', 'heal'])
    expect(result.partitions[0]!.sides).toEqual([['a'], ['b', 'c']])
    // Just before the heal, each side had counted exactly its own oracles' attestations.
    const views = result.partitions[1]!.views!
    expect(views.length).toBeGreaterThan(0)
    for (const { window, observations } of views) {
      const inWindow = result.attestations.filter((a) => a.window === window)
      const onA = inWindow.filter((a) => a.node === 'a').length
      expect(onA).toBeGreaterThan(0)
      expect(observations).toEqual({ a: onA, b: inWindow.length - onA, c: inWindow.length - onA })
    }

    // Every window the oracles attested in, on every node, over every attestation, identical.
    const attested = new Map<number, number>()
    for (const a of result.attestations) attested.set(a.window, (attested.get(a.window) ?? 0) + 1)
    expect(attested.size).toBeGreaterThanOrEqual(10)
    for (const [window, count] of attested) {
      const row = result.windows.find((w) => w.window === window)!
      const [a, b, c] = (['a', 'b', 'c'] as const).map((n) => row.nodes[n])
      expect(a?.observations).toBe(count)
      expect(b).toEqual(a)
      expect(c).toEqual(a)
    }
    expect(result.agree).toBe(true)

    expect(result.reports.length).toBeGreaterThan(0)
    for (const report of result.reports) {
      const median = honestMedian(result, Number(report.window))
      const answer = BigInt(report.answer)
      const off = answer > median ? answer - median : median - answer
      expect(off * 1000n, `report of window ${report.window}`).toBeLessThanOrEqual(median * 5n)
    }
    const rounds = result.reports.map((r) => Number(r.round))
    expect(rounds).toEqual(rounds.map((_, i) => i + 1))

    const quality = (byzantine: boolean) =>
      result.oracles.filter((o) => o.byzantine === byzantine).map((o) => o.quality!)
    expect(Math.max(...quality(true))).toBeLessThan(Math.min(...quality(false)))
  }, 240_000)

  test('Ctrl-C stops the devnet and every node process it started', async () => {
    const demo = spawn(process.execPath, [RWA_BIN, 'feeds', 'demo', '--duration', '120'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    demo.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve))
    const deadline = Date.now() + 120_000
    while (!/oracles attesting/.test(stderr)) {
      if (Date.now() > deadline || demo.exitCode !== null)
        throw new Error(`the demo did not get going: ${stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(demo.pid)], {
      encoding: 'utf8',
    })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0)
    expect(children).toHaveLength(4) // anvil and three nodes
    const match = /starting nodes a, b, c in (\S+)/.exec(stderr)
    demo.kill('SIGINT')
    expect(await exited).toBe(1)
    expect(stderr).toMatch(/interrupted/)
    for (const pid of children) expect(alive(pid), `process ${pid}`).toBe(false)
    expect(existsSync(match![1]!)).toBe(false)
  }, 240_000)

  test('refuses options out of range before starting anything', async () => {
    const run = promisify(execFile)(process.execPath, [
      RWA_BIN,
      'feeds',
      'demo',
      '--oracles',
      '7',
      '--byzantine',
      '9',
    ])
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--byzantine must be a whole number from 0 to 7; got "9"/),
    })
  })
})
