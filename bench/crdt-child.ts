// Replays the editing trace into one text CRDT in a fresh process and prints one JSON line:
// { impl, seconds, rssBytes, rssDeltaBytes, heapDeltaBytes, peakRssDeltaBytes, ok }.
// Usage: node --expose-gc --import tsx bench/crdt-child.ts <rwa | yjs | automerge | loro>
import { writeFileSync } from 'node:fs'
import { loadTrace } from '../test/fixtures/editing-trace.ts'
import { CRDT_IMPLS } from './crdt-impls.ts'

const impl = process.argv[2] ?? ''
const load = CRDT_IMPLS[impl]
if (!load)
  throw new Error(
    `Unknown implementation "${impl}"; use one of ${Object.keys(CRDT_IMPLS).join(', ')}.`,
  )
const gc = globalThis.gc
if (!gc) throw new Error('crdt-child.ts needs a full GC: start node with --expose-gc.')

/**
 * Resets the kernel's peak-RSS mark (Linux: "5" to /proc/self/clear_refs), so that the peak read
 * after the replay is the replay's own and not the trace's JSON parse; false where unsupported.
 */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
    return true
  } catch {
    return false
  }
}

/**
 * Collects garbage until RSS stops falling: V8 hands freed pages back to the system lazily, so one
 * GC after parsing the trace's 16 MB of JSON leaves a baseline that melts away during the replay.
 */
async function settledMemory(collect: () => void): Promise<NodeJS.MemoryUsage> {
  let usage = process.memoryUsage()
  for (let round = 0; round < 40; round++) {
    collect()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const next = process.memoryUsage()
    const settled = usage.rss - next.rss < 2 ** 20
    usage = next
    if (settled) break
  }
  return usage
}

const trace = loadTrace()
// The library's import (and Wasm instantiation) is not part of the replay: load it first.
const replay = await load()
const before = await settledMemory(gc)
const peakReset = resetPeakRss()
const start = process.hrtime.bigint()
const text = replay(trace)
const seconds = Number(process.hrtime.bigint() - start) / 1e9
// The replay returns only the text: its document is garbage by now, so the heap and RSS deltas
// after GC count what the replay retained, and the peak counts what the document needed.
const peakRssBytes = process.resourceUsage().maxRSS * 1024
const after = await settledMemory(gc)
const ok = text === trace.endContent
console.log(
  JSON.stringify({
    impl,
    seconds,
    rssBytes: after.rss,
    rssDeltaBytes: after.rss - before.rss,
    heapDeltaBytes: after.heapUsed - before.heapUsed,
    peakRssDeltaBytes: peakReset ? peakRssBytes - before.rss : null,
    patches: trace.length,
    ok,
  }),
)
if (!ok) process.exitCode = 1
