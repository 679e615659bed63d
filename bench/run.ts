// `npm run bench [-- name…]`: runs the benchmarks (all, or those whose name starts with a given
// prefix) and prints one JSON line per figure on stdout: {"bench","value","unit","limit",…}.
import { auditBenches } from './audit.ts'
import { chainBenches } from './chain.ts'
import { channelCallBenches } from './channel-call.ts'
import { channelGasBenches } from './channel-gas.ts'
import { cliBenches } from './cli.ts'
import { crdtBenches } from './crdt.ts'
import { feedAggregateBenches } from './feed-aggregate.ts'
import { feedGasBenches } from './feed-gas.ts'
import { impactBenches } from './impact.ts'
import { ledgerBenches } from './ledger.ts'
import { netBenches } from './net.ts'
import { nodeBenches } from './node.ts'
import { progress } from './report.ts'
import { swapBenches } from './swap.ts'

const benches = {
  ...ledgerBenches(),
  ...auditBenches(),
  ...impactBenches(),
  ...feedAggregateBenches(),
  ...nodeBenches(),
  ...chainBenches(),
  ...feedGasBenches(),
  ...channelGasBenches(),
  ...channelCallBenches(),
  ...cliBenches(),
  ...netBenches(),
  ...swapBenches(),
  ...crdtBenches(),
}
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    `usage: npm run bench [-- <name or prefix>…]\n\nbenchmarks:\n${Object.keys(benches)
      .map((n) => `  ${n}`)
      .join('\n')}`,
  )
  process.exit(0)
}
const selected = Object.entries(benches).filter(
  ([name]) => wanted.length === 0 || wanted.some((w) => name.startsWith(w)),
)
if (selected.length === 0) {
  console.error(
    `No benchmark matches ${wanted.map((w) => `"${w}"`).join(', ')}; run "npm run bench -- --help" for the list.`,
  )
  process.exit(2)
}
const ctx = {}
for (const [name, run] of selected) {
  progress(`running ${name}`)
  await run(ctx)
}
