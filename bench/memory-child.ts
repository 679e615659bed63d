// Reopens a store in a fresh process and reports its memory, so the writer's garbage is not counted.
import { openLedger } from '../src/ledger/ledger.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'

const path = process.argv[2]
if (!path) throw new Error('usage: memory-child.ts <sqlite path>')
const mb = (n: number) => n / 2 ** 20
globalThis.gc?.()
const baselineMB = mb(process.memoryUsage().rss)
const baselineHeapMB = mb(process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers)
const start = process.hrtime.bigint()
const ledger = await openLedger({ store: sqliteStore({ path }) })
const seconds = Number(process.hrtime.bigint() - start) / 1e9
const ops = ledger.log.docs().reduce((sum, doc) => sum + ledger.log.size(doc), 0)
globalThis.gc?.()
const usage = process.memoryUsage()
console.log(
  JSON.stringify({
    rssMB: mb(usage.rss),
    heapMB: mb(usage.heapUsed),
    heapTotalMB: mb(usage.heapTotal),
    arrayBuffersMB: mb(usage.arrayBuffers),
    baselineMB,
    baselineHeapMB,
    ops,
    seconds,
  }),
)
await ledger.close()
