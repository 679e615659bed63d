import '../src/net/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import { OPERATOR, openAccounts } from '../src/node/accounts.ts'
import type { RwaNode } from '../src/node/node.ts'
import { auditStream, feed, median, type NodeSetup, type Run, startCluster } from './net.ts'
import { type Figure, progress, report, round } from './report.ts'

// swap.overhead (issue 22): the converged ops/s of net.cluster's three nodes with SWAP in hard
// mode (chequebooks on one anvil, cheques signed, checked against the chain and cashed), against
// the same cluster with SWAP off, in the same run: runs alternate between the two clusters on
// fresh streams, and the medians are compared.

const TOKENS = 10n ** 24n

/** SWAP in hard mode: prices and a low threshold so that cheques flow during the runs. */
const hardSwap = (token: string | undefined) => ({
  swap: {
    mode: 'hard',
    price_per_op: 1000,
    price_per_byte: 1,
    payment_threshold: 50_000,
    refresh_rate: 0,
    auto_cash: 1,
    settle_interval_ms: 200,
    ...(token ? { token, initial_deposit: '1000000000000000000000' } : {}),
  },
})

/**
 * Node 0 runs the devnet and funds the others' operator keys; they reach it over RPC. Both
 * clusters run on a chain, so that SWAP is the only difference between them.
 */
const chainSetup =
  (swap: boolean): NodeSetup =>
  async (i, dataDir, nodes) => {
    const domains = (token: string | undefined) => (swap ? hardSwap(token) : {})
    if (i === 0) return { chain: { mode: 'devnet' }, domains: domains(undefined) }
    const chain = nodes[0]!.chain!
    const operator = openAccounts(dataDir).get(OPERATOR)!.address
    await chain.client.request({
      method: 'anvil_setBalance' as never,
      params: [operator, `0x${(10n ** 21n).toString(16)}`] as never,
    })
    const hash = await chain.wallet.writeContract({
      address: chain.info.token!,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [operator, TOKENS],
    })
    await chain.client.waitForTransactionReceipt({ hash })
    return {
      chain: { mode: 'rpc', rpcUrl: chain.info.rpcUrl, escrow: chain.info.escrow },
      domains: domains(chain.info.token),
    }
  }

/** Cheques the cluster's nodes took, and what they were served in all (base units). */
function swapTotals(nodes: readonly RwaNode[]) {
  let cheques = 0
  let served = 0n
  let cashed = 0n
  for (const node of nodes) {
    const keeper = node.swap.bookkeeper
    if (!keeper) continue
    cheques += keeper.cheques('in').length
    for (const view of keeper.views()) {
      served += view.served.amount
      cashed += view.lastReceived?.cashed ?? 0n
    }
  }
  return { chequeSenders: cheques, served: served.toString(), cashed: cashed.toString() }
}

async function swapOverhead(): Promise<Figure> {
  const count = Number(process.env.RWA_BENCH_SWAP_OPS ?? 10_000)
  const rounds = Number(process.env.RWA_BENCH_SWAP_ROUNDS ?? 5)
  progress(`signing ${2 * rounds} streams of ${count} ops from 8 authors`)
  const streams = Array.from({ length: 2 * rounds }, (_, r) => auditStream(count, 8, `swap ${r}`))
  const rootOff = mkdtempSync(join(tmpdir(), 'rwa-bench-swap-off-'))
  const rootHard = mkdtempSync(join(tmpdir(), 'rwa-bench-swap-hard-'))
  const clusters: RwaNode[][] = []
  try {
    progress('starting three nodes with SWAP off, and three in hard mode on one anvil')
    const off = await startCluster(rootOff, chainSetup(false))
    clusters.push(off)
    const hard = await startCluster(rootHard, chainSetup(true))
    clusters.push(hard)
    const offRuns: Run[] = []
    const hardRuns: Run[] = []
    // Each round runs both clusters, the first of them alternating: a machine that warms up or
    // slows down over the runs weighs on both alike.
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['off', 'hard'] as const) : (['hard', 'off'] as const)
      for (const which of order) {
        progress(`run ${r + 1}/${rounds}: SWAP ${which}`)
        const stream = streams[2 * r + (which === 'off' ? 0 : 1)]!
        if (which === 'off') offRuns.push(await feed(off, stream, Number.POSITIVE_INFINITY))
        else hardRuns.push(await feed(hard, stream, Number.POSITIVE_INFINITY))
      }
    }
    const offRate = median(offRuns.map((run) => run.rate))
    const hardRate = median(hardRuns.map((run) => run.rate))
    const ratio = hardRate / offRate
    return report({
      bench: 'swap.overhead',
      value: round(ratio, 3),
      unit: 'converged ops/s with SWAP hard ÷ SWAP off (3 nodes, medians of alternating runs)',
      limit: round(offRate),
      limitIs: 'converged ops/s of the same cluster with SWAP off, in this run',
      hardRate: round(hardRate),
      target: 0.95,
      pass: ratio >= 0.95,
      offRuns: offRuns.map((run) => ({ ...run, rate: round(run.rate) })),
      hardRuns: hardRuns.map((run) => ({ ...run, rate: round(run.rate) })),
      swap: swapTotals(hard),
    })
  } finally {
    for (const nodes of clusters.reverse())
      for (const node of [...nodes].reverse()) await node.stop().catch(() => undefined)
    rmSync(rootOff, { recursive: true, force: true })
    rmSync(rootHard, { recursive: true, force: true })
  }
}

export function swapBenches(): Record<string, () => Promise<Figure>> {
  return { 'swap.overhead': swapOverhead }
}
