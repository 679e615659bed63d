// crdt.* benchmarks: the JSON CRDT's text on the automerge-paper editing trace, beside Yjs,
// Automerge and Loro on the same trace, each replay in a fresh process (bench/crdt-child.ts).
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { crdtLedgerBenches } from './crdt-ledger.ts'
import { progress, report, round } from './report.ts'

/** What bench/crdt-child.ts prints for one replay. */
type ChildResult = {
  impl: string
  seconds: number
  rssBytes: number
  rssDeltaBytes: number
  heapDeltaBytes: number
  peakRssDeltaBytes: number | null
  patches: number
  ok: boolean
}

/** The libraries rwa is measured beside (RWA_BENCH_CRDT_OTHERS=0 skips them). */
const OTHERS = ['yjs', 'automerge', 'loro'] as const
/** Automerge takes tens of seconds on this trace, one change per edit; a hung child is killed. */
const CHILD_TIMEOUT_MS = 10 * 60_000
const MB = 2 ** 20

const run = promisify(execFile)

/** Replays the trace into `impl` in a fresh node process and returns its measurements. */
async function replayInChild(impl: string): Promise<ChildResult> {
  const child = join(import.meta.dirname, 'crdt-child.ts')
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', child, impl], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    maxBuffer: 16 * MB,
  })
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult
  if (!result.ok || result.impl !== impl)
    throw new Error(`crdt.trace: the ${impl} replay did not end with the trace's text.`)
  const peak =
    result.peakRssDeltaBytes === null ? '' : `, peak +${round(result.peakRssDeltaBytes / MB)} MB`
  progress(
    `  ${impl}: ${round(result.seconds, 3)} s, RSS ${round(result.rssBytes / MB)} MB ` +
      `(after GC +${round(result.rssDeltaBytes / MB)} MB${peak})`,
  )
  return result
}

/**
 * The automerge-paper trace (259,778 single-character edits, each its own transaction) replayed
 * into rwa's JSON CRDT text, with Yjs, Automerge and Loro on the same trace for comparison.
 */
async function trace(): Promise<void> {
  const rwa = await replayInChild('rwa')
  const others: Record<string, object> = {}
  if (process.env.RWA_BENCH_CRDT_OTHERS !== '0') {
    for (const impl of OTHERS) {
      const r = await replayInChild(impl)
      others[impl] = {
        seconds: round(r.seconds, 3),
        rssBytes: r.rssBytes,
        rssDeltaBytes: r.rssDeltaBytes,
        peakRssDeltaBytes: r.peakRssDeltaBytes,
      }
    }
  }
  report({
    bench: 'crdt.trace',
    value: round(rwa.seconds, 3),
    unit: 's',
    limit: 1.0,
    limitIs: 'target: the whole trace, one transaction per edit, within a second',
    patches: rwa.patches,
    rssBytes: rwa.rssBytes,
    rssDeltaBytes: rwa.rssDeltaBytes,
    heapDeltaBytes: rwa.heapDeltaBytes,
    peakRssDeltaBytes: rwa.peakRssDeltaBytes,
    others,
  })
}

/** The crdt.* benchmarks, by name. */
export function crdtBenches(): Record<string, (ctx: object) => Promise<void>> {
  return {
    'crdt.trace': trace,
    ...crdtLedgerBenches,
  }
}
