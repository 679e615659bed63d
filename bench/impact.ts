import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { getAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { CausalEngine, type Rules } from '../src/core/causal/engine.ts'
import { createImpactReducer, type ImpactReducer, impactDomain } from '../src/core/impact/domain.ts'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import {
  batchSettlementTypedData,
  impactPoolId,
  stakeMemo,
} from '../src/core/impact/pool-report.ts'
import { type Signer, signerFromSeed } from '../src/ledger/keys.ts'
import { openLedger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { ingestAll } from './ledger.ts'
import { type Figure, progress, report, round, secondsSince } from './report.ts'

// `impact.decide`: a community's whole log (100,000 requests, each assigned by the draw, voted by
// its 3 seats and decided by the proxy, with stakes, funding and settlement batches) reduced from
// decoded ops. The target is 1 s of reducer time; the ledger's ingest of the same ops (signature
// checks and a SQLite store, one core) is reported beside it, and the state hash after it.

/** Requests in the log (RWA_BENCH_IMPACT_REQUESTS to try a smaller one). */
const REQUESTS = Number(process.env.RWA_BENCH_IMPACT_REQUESTS ?? 100_000)
/** Requests between two settlement batches. */
const BATCH_EVERY = 25_000
/** Auditors of the community (each action takes 2 approvals: 3 seats). */
const AUDITORS = 20
/** Distinct requesters (fewer signers than requests keeps the key cache warm, as a busy node's). */
const REQUESTERS = 50
/** Every this-many-th request gets one contradicting vote (a slash and an error). */
const SPLIT_EVERY = 100
/** Reducer runs per order; the figure is the fastest (the machine's cost, not its noise). */
const ROUNDS = Number(process.env.RWA_BENCH_IMPACT_ROUNDS ?? 3)
/** Requests in flight at once in the second order: votes arrive over the next this-many requests. */
const IN_FLIGHT = 1000
/** The reducer-time target of the issue, in seconds. */
const TARGET_SECONDS = 1

/** How the log is ordered: a request's whole life at once, or `IN_FLIGHT` requests interleaved. */
export type Order = 'chain' | 'inflight'

/** A deterministic signer: seed bytes all 7 but the first, `n`. */
const seed = (n: number) =>
  signerFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? n : 7)))
const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')
const addressOf = (n: number) => getAddress(`0x${(0x1000 + n).toString(16).padStart(40, '0')}`)
const hash32 = (text: string) => `0x${createHash('sha256').update(text).digest('hex')}` as const

const ACTION = JSON.stringify({
  description: 'Planting a tree',
  category: 1,
  auditors: 2,
  blockstart: 1,
  blockend: 1_000_000_000,
  rewardstoken: 0,
  rewardsamount: 1000,
  rewardsoracle: 10,
  rewardsauditors: 50,
  slashingsauditors: 20,
  maxerrorsauditor: 1_000_000,
  fields: [
    { fieldname: 'namesurname', fieldtype: 'S', mandatory: 'Y' },
    { fieldname: 'phonenumber', fieldtype: 'S', mandatory: 'Y' },
  ],
})

const auditorConfig = (n: number) =>
  JSON.stringify({
    description: `Auditor ${n}`,
    categories: [1],
    area: '41.40338,2.17403',
    otherinfo: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
    stakesmin: 100,
  })

const requestInfo = (n: number) =>
  JSON.stringify({
    impactactionid: 1,
    description: `Planted tree ${n}`,
    namesurname: 'Jhone Smith',
    phonenumber: '+13489383845',
    coordinates: '41.40338,2.17403',
  })

/** A built log: the community's ops in apply order (each one counted by the builder's reducer). */
type Log = { readonly ops: EncodedOp[]; readonly community: OpId; readonly order: Order }

/**
 * Builds the community op by op, each on the previous op (a chain, as one busy node writes it),
 * applying each to a reducer to draw the seats and to check that every op counts.
 */
export async function buildLog(order: Order, requests: number): Promise<Log> {
  const governor = seed(1)
  const proxy = seed(2)
  const auditors = Array.from({ length: AUDITORS }, (_, i) => seed(10 + i))
  const requesters = Array.from({ length: REQUESTERS }, (_, i) => seed(100 + i))
  const bySeat = new Map(auditors.map((a) => [keyOf(a), a]))
  const batchSigner = privateKeyToAccount(`0x${'ab'.repeat(32)}`)
  const seqs = new Map<Signer, number>()
  const ops: EncodedOp[] = []
  let reducer: ImpactReducer | undefined
  let community: OpId | null = null
  let block = 10
  const add = (signer: Signer, type: string, body: unknown): EncodedOp => {
    const seq = (seqs.get(signer) ?? 0) + 1
    seqs.set(signer, seq)
    const prev = ops.at(-1)
    const op = signOp(
      {
        v: 1,
        doc: community,
        author: signer.publicKey,
        seq,
        deps: prev ? [prev.id] : [],
        time: 1_763_720_000_000 + ops.length,
        type,
        body,
      },
      signer,
    )
    ops.push(op)
    if (!reducer) {
      reducer = createImpactReducer(op)
      community = op.id
    } else {
      reducer.apply(op)
      const note = reducer.verdict(op.id)
      if (note) throw new Error(`impact bench: ${type} #${ops.length} refused: ${note.message}`)
    }
    if (ops.length % 100_000 === 0) progress(`  ${ops.length} ops signed (${order})`)
    return op
  }
  const proxyOp = (type: string, body: Record<string, unknown>) =>
    add(proxy, type, { ...body, block: ++block })

  add(governor, IMPACT_OP.create, { name: 'Bench forest' })
  add(governor, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
  add(governor, IMPACT_OP.createImpactAction, { uid: 1, configuration: ACTION })
  add(governor, IMPACT_OP.createProxy, { uid: 1, account: keyOf(proxy) })
  for (const [i, auditor] of auditors.entries())
    add(governor, IMPACT_OP.createAuditor, {
      account: keyOf(auditor),
      configuration: auditorConfig(i),
      payout: addressOf(i),
    })
  let tx = 0
  const deposit = (amount: bigint, memo: `0x${string}`) =>
    proxyOp(IMPACT_OP.deposit, {
      token: 0,
      from: addressOf(999),
      amount: String(amount),
      memo,
      tx: hash32(`deposit ${++tx}`),
      logIndex: 0,
    })
  for (const auditor of auditors) deposit(10n ** 18n, stakeMemo(keyOf(auditor)))
  deposit(10n ** 30n, `0x${'0'.repeat(64)}`)

  const ids: OpId[] = []
  const seats: string[][] = []
  const open = (r: number) => {
    const request = add(requesters[r % REQUESTERS]!, IMPACT_OP.requestApproval, {
      info: requestInfo(r),
      payout: addressOf(500 + (r % REQUESTERS)),
    })
    ids[r] = request.id
    const claim = block + 1
    const entropy = hash32(`block ${claim}`)
    const drawn = reducer!.drawFor(request.id, entropy).auditors
    proxyOp(IMPACT_OP.assignAuditor, { request: request.id, auditors: drawn, maxdays: 30, entropy })
    seats[r] = drawn
  }
  const vote = (r: number, k: number) => {
    const no = k === 2 && r % SPLIT_EVERY === 0
    add(bySeat.get(seats[r]![k]!)!, IMPACT_OP.vote, {
      request: ids[r],
      vote: JSON.stringify({ vote: no ? 'N' : 'Y', otherinfo: 'bafybeigdyrzt5sf' }),
    })
  }
  let batches = 0
  const decide = async (r: number) => {
    proxyOp(IMPACT_OP.decide, { request: ids[r] })
    if ((r + 1) % BATCH_EVERY !== 0 && r !== requests - 1) return
    const batch = batches++
    proxyOp(IMPACT_OP.batch, { token: 0, batch, chainId: 31337, escrow: addressOf(777) })
    const b = reducer!.pool(0).batches[batch]!
    const signature = await batchSigner.signTypedData(
      batchSettlementTypedData({
        chainId: b.chainId,
        escrow: b.escrow,
        poolId: impactPoolId(community!, 0),
        batch: BigInt(batch),
        payees: b.payees,
        amounts: b.amounts,
      }),
    )
    add(governor, IMPACT_OP.signBatch, { token: 0, batch, signer: batchSigner.address, signature })
    proxyOp(IMPACT_OP.settled, { token: 0, batch, tx: hash32(`settle ${batch}`) })
  }

  if (order === 'chain') {
    for (let r = 0; r < requests; r++) {
      open(r)
      for (let k = 0; k < 3; k++) vote(r, k)
      await decide(r)
    }
  } else {
    // Each step opens a request; its three votes come a third, two thirds and all of
    // `IN_FLIGHT` steps later, and the last one is followed by the decision.
    const third = Math.floor(IN_FLIGHT / 3)
    for (let t = 0; t < requests + 3 * third; t++) {
      if (t < requests) open(t)
      for (let k = 0; k < 3; k++) {
        const r = t - (k + 1) * third
        if (r >= 0 && r < requests) vote(r, k)
      }
      const r = t - 3 * third
      if (r >= 0 && r < requests) await decide(r)
    }
  }
  const counts = reducer!.counts
  if (counts.decided !== requests)
    throw new Error(`impact bench: ${counts.decided} of ${requests} requests were decided`)
  return { ops, community: community!, order }
}

/**
 * Applies every op to a fresh reducer; answers the fastest of `ROUNDS` runs, the garbage
 * collector's pauses within it, and the last reducer.
 */
async function reduceAll(
  ops: readonly EncodedOp[],
): Promise<{ seconds: number; gcSeconds: number; reducer: ImpactReducer }> {
  const pauses: { start: number; end: number }[] = []
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      pauses.push({ start: e.startTime, end: e.startTime + e.duration })
  })
  observer.observe({ entryTypes: ['gc'] })
  let best = { seconds: Number.POSITIVE_INFINITY, from: 0, to: 0 }
  let reducer: ImpactReducer | undefined
  for (let r = 0; r < ROUNDS; r++) {
    const from = performance.now()
    const start = process.hrtime.bigint()
    reducer = createImpactReducer(ops[0]!)
    for (let i = 1; i < ops.length; i++) reducer.apply(ops[i]!)
    const seconds = secondsSince(start)
    if (seconds < best.seconds) best = { seconds, from, to: performance.now() }
    progress(`  reducer round ${r + 1}: ${round(seconds, 3)} s`)
  }
  // GC entries are delivered after the synchronous rounds: let them arrive.
  await new Promise((resolve) => setTimeout(resolve, 100))
  observer.disconnect()
  let gc = 0
  for (const p of pauses) gc += Math.max(0, Math.min(p.end, best.to) - Math.max(p.start, best.from))
  const rejected = reducer!.state().rejected
  if (rejected.length > 0)
    throw new Error(
      `impact bench: the reducer refused ${rejected.length} ops (${rejected[0]!.message})`,
    )
  return { seconds: best.seconds, gcSeconds: gc / 1000, reducer: reducer! }
}

/**
 * The floor under the reducer: the same ops through the causal engine alone (its DAG, positions,
 * the control chain and a second sequence, as the impact machine keeps) with rules that do
 * nothing; the fastest of `ROUNDS` runs.
 */
function engineFloorSeconds(ops: readonly EncodedOp[]): number {
  const nothing: Rules = { handle() {} }
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    const engine = new CausalEngine(ops[0]!)
    engine.sequence()
    for (let i = 1; i < ops.length; i++) engine.apply(ops[i]!, nothing)
    best = Math.min(best, secondsSince(start))
  }
  return best
}

/** The ledger's ingest of the ops' bytes on one core (inline signature checks, a SQLite store). */
async function ingestSeconds(bytes: Uint8Array[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-bench-'))
  try {
    const ledger = await openLedger({ store: sqliteStore({ path: join(dir, 'rwa.sqlite') }) })
    const start = process.hrtime.bigint()
    await ingestAll(ledger, bytes, 1)
    const seconds = secondsSince(start)
    await ledger.close()
    return seconds
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Builds one order's log, decodes it as a node reading its store would, and times reducer and ingest. */
async function measure(order: Order): Promise<Figure> {
  progress(`signing a community of ${REQUESTS} requests (${order} order; about a minute)`)
  let start = process.hrtime.bigint()
  const built = await buildLog(order, REQUESTS)
  const buildSeconds = secondsSince(start)
  const bytes = built.ops.map((op) => op.bytes)
  built.ops.length = 0
  const ops = bytes.map((b) => decodeOp(b))
  progress(`reducing ${ops.length} ops`)
  const { seconds, gcSeconds, reducer } = await reduceAll(ops)
  const floor = engineFloorSeconds(ops)
  progress('ingesting the same ops into a SQLite ledger (one core)')
  const ingest = await ingestSeconds(bytes)
  const figure = report({
    bench: order === 'chain' ? 'impact.decide' : 'impact.decide_inflight',
    value: round(seconds, 3),
    unit: 's',
    limit: TARGET_SECONDS,
    limitIs: 'the issue target: reducer time of the whole log',
    pass: seconds <= TARGET_SECONDS,
    order:
      order === 'chain'
        ? 'each request whole, deps = previous op'
        : `${IN_FLIGHT} requests in flight, deps = previous op`,
    requests: REQUESTS,
    ops: ops.length,
    opsPerSecond: round(ops.length / seconds),
    gcSeconds: round(gcSeconds, 3),
    engineFloorSeconds: round(floor, 3),
    engineFloorIs: 'the same ops through the causal engine with rules that do nothing',
    ingestSeconds: round(ingest, 2),
    ingestOpsPerSecond: round(ops.length / ingest),
    reducerShareOfIngest: round(seconds / ingest, 3),
    buildSeconds: round(buildSeconds, 1),
  })
  if (order === 'chain') {
    start = process.hrtime.bigint()
    const state = reducer.state()
    const snapshot = secondsSince(start)
    const hash = impactDomain.stateHash(state)
    const total = secondsSince(start)
    report({
      bench: 'impact.state_hash',
      value: round(total, 3),
      unit: 's',
      limit: round(seconds, 3),
      limitIs: 'the reducer time of the same log (impact.decide)',
      snapshotSeconds: round(snapshot, 3),
      hashSeconds: round(total - snapshot, 3),
      requests: state.requests.length,
      hash: hash.slice(0, 16),
    })
  }
  return figure
}

/** The impact benchmarks, by name. */
export function impactBenches(): Record<string, () => Promise<Figure>> {
  return {
    'impact.decide': () => measure('chain'),
    'impact.decide_inflight': () => measure('inflight'),
  }
}
