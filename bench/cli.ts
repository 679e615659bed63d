import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode } from '../src/node/node.ts'
import { type Figure, progress, report, round } from './report.ts'

/** Runs of each command; the figures are medians. */
const RUNS = Number(process.env.RWA_BENCH_CLI_RUNS ?? 9)
/** The target: a command starts within this many times a bare `node -e 0`. */
const MAX_RATIO = 3

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')

/** Milliseconds from spawning `node …args` to its exit; throws unless it exits 0. */
async function timeRun(args: readonly string[]): Promise<number> {
  const start = performance.now()
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk
    })
    child.once('error', reject)
    child.once('exit', (exitCode) => {
      if (exitCode !== 0) reject(new Error(`cli.start: "${args.join(' ')}" failed: ${stderr}`))
      resolve(exitCode)
    })
  })
  if (code !== 0) throw new Error(`cli.start: "${args.join(' ')}" exited ${code}`)
  return performance.now() - start
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * `rwa --version` and `rwa audit list` (against a node started here, without chain or peers)
 * next to a bare `node -e 0`, spawned in turn so that the machine's drift touches all three alike.
 */
async function cliStart(): Promise<Figure> {
  const root = mkdtempSync(join(tmpdir(), 'rwa-bench-cli-'))
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
    try {
      await node.actions.create(node.accounts.get(OPERATOR)!, { name: 'bench', bond: '1000' })
      const commands = {
        bare: ['-e', '0'],
        version: [bin, '--version'],
        list: [bin, 'audit', 'list', '--node', node.url],
      } as const
      // A first run builds the CLI when its sources changed; that is not start-up.
      for (const args of Object.values(commands)) await timeRun(args)
      progress(`timing ${RUNS} runs of each command`)
      const times = { bare: [] as number[], version: [] as number[], list: [] as number[] }
      for (let i = 0; i < RUNS; i++)
        for (const [name, args] of Object.entries(commands))
          times[name as keyof typeof times].push(await timeRun(args))
      const bare = median(times.bare)
      const figure = (command: string, ms: number): Figure =>
        report({
          bench: 'cli.start',
          command,
          value: round(ms),
          unit: 'ms',
          limit: round(bare * MAX_RATIO),
          limitIs: `${MAX_RATIO} × bare node (node -e 0)`,
          bareNode: round(bare),
          ratio: round(ms / bare, 2),
          runs: RUNS,
        })
      figure('rwa --version', median(times.version))
      return figure('rwa audit list', median(times.list))
    } finally {
      await node.stop()
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/** The CLI benchmarks, by name. */
export function cliBenches(): Record<string, () => Promise<Figure>> {
  return { 'cli.start': cliStart }
}
