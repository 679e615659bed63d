import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAccount } from 'viem/accounts'
import { assignAuditors } from '../src/core/audit/assign.ts'
import { parseAuditParams } from '../src/core/audit/params.ts'
import { type AuditReducer, createAuditReducer, reduceAudit } from '../src/core/audit/reduce.ts'
import { buildSettlement } from '../src/core/audit/settlement.ts'
import { tally } from '../src/core/audit/tally.ts'
import { type Address, identityMessage } from '../src/core/identity.ts'
import { type BatchVerifier, openLedger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import type { Store } from '../src/ledger/store.ts'
import { verifyStore } from '../src/ledger/verify-store.ts'
import { createVerifyPool } from '../src/node/verify-pool.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { makeSigners, rawVerifyRate } from './fixtures.ts'
import { type Figure, progress, report, round, secondsSince } from './report.ts'

/** Results + settlement for 100,000 items × 5 auditors each (500,000 answers). */
async function auditTally(): Promise<Figure> {
  const items = 100_000
  const k = 5
  const auditors = 1_000
  const params = parseAuditParams(
    { name: 'bench', bond: '1000000000000000000000', auditsPerItem: k },
    'aa'.repeat(32),
  )
  const payouts = Array.from(
    { length: auditors },
    (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}` as Address,
  )
  const slots = assignAuditors({ seed: new Uint8Array(32).fill(1), items, auditors, k })
  const inspections = [...slots].map((auditor, n) => ({
    item: Math.floor(n / k),
    auditor,
    answer: (n * 7919) % 10 < 7,
  }))
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint()
    const results = tally({ params, itemCount: items, payouts, inspections })
    const settlement = buildSettlement(results)
    best = Math.min(best, secondsSince(start))
    if (settlement.payees.length === 0) throw new Error('audit.tally: nobody was paid')
  }
  return report({
    bench: 'audit.tally',
    value: round(best, 3),
    unit: 's',
    limit: 1,
    answers: inspections.length,
    pass: best <= 1,
  })
}

/** Assignment of 10,000 auditors to 100,000 items (k = 3). */
async function auditAssign(): Promise<Figure> {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint()
    assignAuditors({ seed: new Uint8Array(32).fill(round), items: 100_000, auditors: 10_000, k: 3 })
    best = Math.min(best, secondsSince(start))
  }
  return report({
    bench: 'audit.assign',
    value: round(best, 3),
    unit: 's',
    limit: 1,
    auditors: 10_000,
    items: 100_000,
    pass: best <= 1,
  })
}

/**
 * Writes an audit of about `count` ops to a SQLite store: items, 100 registered auditors, and
 * every inspection answered (k = 5), then stop.
 */
export async function writeAudit(path: string, count: number): Promise<OpId> {
  const ledger = await openLedger({ store: sqliteStore({ path }) })
  const [admin] = makeSigners(1)
  const auditors = makeSigners(100)
  const items = Math.floor((count - 110) / 6)
  let time = 1_700_000_000_000
  const act = (type: string, body: unknown, signer = admin!) =>
    ledger.append(signer, { doc: audit, type, body, time: ++time })
  const audit = (
    await ledger.append(admin!, {
      doc: null,
      type: 'audit.create',
      body: { name: 'replay', bond: '1000000', auditsPerItem: 5 },
      time,
    })
  ).id
  for (let i = 0; i < items; i++) await act('audit.item.add', { description: `item ${i}` })
  await act('audit.open', {})
  for (const [n, auditor] of auditors.entries()) {
    const account = privateKeyToAccount(`0x${(n + 1).toString(16).padStart(64, '0')}`)
    const proof = await account.signMessage({ message: identityMessage(auditor.publicKey) })
    await act('audit.register', { payout: account.address, proof }, auditor)
  }
  await act('audit.close', {})
  await act('audit.start', {})
  const ops = (await ledger.getOps(audit, ledger.log.order(audit))) as EncodedOp[]
  const state = reduceAudit(ops)
  const byKey = new Map(auditors.map((a) => [Buffer.from(a.publicKey).toString('hex'), a]))
  for (const [n, inspection] of state.inspections.entries()) {
    await act(
      'audit.answer',
      { item: inspection.item, answer: n % 4 !== 0 },
      byKey.get(inspection.auditor)!,
    )
    if (n % 100_000 === 0) progress(`  ${n} answers written`)
  }
  await act('audit.stop', {})
  await ledger.close()
  return audit
}

/** Rebuilds a ~500,000-op audit from its SQLite store: decode, verify, accept, reduce. */
async function auditReplay(): Promise<Figure> {
  const count = Number(process.env.RWA_BENCH_REPLAY_OPS ?? 500_000)
  const dir = mkdtempSync(join(tmpdir(), 'rwa-bench-'))
  try {
    const path = join(dir, 'audit.sqlite')
    progress(`writing an audit of about ${count} ops (a minute or two)`)
    const audit = await writeAudit(path, count)
    const sample: Uint8Array[] = []
    const source = sqliteStore({ path })
    for await (const page of source.accepted()) {
      for (const op of page) sample.push(new Uint8Array(op.bytes))
      if (sample.length >= 20_000) break
    }
    await source.close()
    const limit = rawVerifyRate(sample)
    const pool = createVerifyPool()
    progress('replaying with the verification pool (all cores), as a node does')
    const parallel = await replay(path, audit, pool.verify)
    await pool.close()
    progress('replaying on one core')
    const single = await replay(path, audit, undefined)
    return report({
      bench: 'audit.replay',
      value: round(parallel.rate),
      unit: 'ops/s',
      limit: round(limit),
      limitIs: 'ledger.verify_raw (one core)',
      ratio: round(parallel.rate / limit, 3),
      target: 0.8,
      pass: parallel.rate / limit >= 0.8,
      cores: availableParallelism(),
      oneCore: round(single.rate),
      oneCoreRatio: round(single.rate / limit, 3),
      ops: parallel.ops,
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Recomputes an audit from its store as anyone can: decode, verify, re-link and reduce every op. */
export async function replay(sourcePath: string, audit: OpId, verifier: BatchVerifier | undefined) {
  const store = sqliteStore({ path: sourcePath })
  const start = process.hrtime.bigint()
  // The reducer follows the verified ops: each op is applied once it is linked, and none is kept.
  let reducer: AuditReducer | undefined
  const { log, ops } = await verifyStore({
    store,
    verifier,
    onAccepted(accepted) {
      for (const { op } of accepted) {
        if (reducer) reducer.apply(op)
        else reducer = createAuditReducer(op)
      }
    },
  })
  // Only an order-sensitive history needs the canonical (deterministic-order) recomputation.
  const state = reducer!.orderSensitive
    ? reduceAudit(
        await readOps(
          store,
          log.order(audit).map((id) => log.position(id, audit)!),
        ),
      )
    : reducer!.state()
  const seconds = secondsSince(start)
  await store.close()
  if (state.state !== 'WAITING_FOR_CONTRACT' || state.rejected.length > 0) {
    throw new Error(
      `audit.replay: ended in ${state.state} with ${state.rejected.length} rejected ops`,
    )
  }
  return { rate: ops / seconds, ops }
}

async function readOps(store: Store, positions: number[]): Promise<EncodedOp[]> {
  return (await store.read(positions)).map((stored) => decodeOp(stored!.bytes))
}

/** The audit benchmarks, by name. */
export function auditBenches(): Record<string, () => Promise<Figure>> {
  return { 'audit.tally': auditTally, 'audit.assign': auditAssign, 'audit.replay': auditReplay }
}
