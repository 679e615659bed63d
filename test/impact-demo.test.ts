import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'
import { TestNode } from './node-fixture.ts'

// `rwa impact demo` against a node on its devnet: the node's proxy service and batch signer do
// their part; the demo's people sign their own ops, stake and withdraw on chain.

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
const MILLI = 10n ** 15n // 0.001 ETH, the demo's reward to a requester

let node: TestNode | undefined
afterAll(async () => {
  await node?.stop()
})

describe('rwa impact demo', () => {
  test('a community decides as its honest auditors see, pays on chain and everyone withdraws what it was owed', async () => {
    node = await TestNode.startDevnet()
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'impact', 'demo', '--json', '--node', node.url, '--data-dir', node.dataDir],
      { maxBuffer: 10 * 1024 * 1024 },
    )
    const r = JSON.parse(stdout)
    // Twenty requests: two missing their mandatory name are refused, naming the field.
    expect(r.refused).toHaveLength(2)
    for (const q of r.refused) expect(q.reason).toMatch(/"namesurname" is mandatory/)
    expect(r.requests).toHaveLength(18)
    // One careless auditor per area cannot outvote the two honest ones of its three seats.
    for (const q of r.requests) expect(q.status).toBe(q.truth ? 'APPROVED' : 'REFUSED')
    const approved = r.requests.filter((q: { truth: boolean }) => q.truth).length
    const paidToRequesters = r.requesters.reduce(
      (s: bigint, q: { withdrawn: string }) => s + BigInt(q.withdrawn),
      0n,
    )
    expect(paidToRequesters).toBe(BigInt(approved) * MILLI)
    // The contrary auditor errs on every vote it casts; two errors suspend it.
    const contrary = r.auditors.find((a: { careless: string }) => a.careless === 'contrary')
    expect(contrary.matched).toBe(0)
    expect(contrary.suspended).toBe(contrary.errors >= 2)
    // Every auditor withdrew what it earned, and a suspended one its stake left after slashing.
    // Each error slashes 0.0001 ETH from what is still staked: an error decided after the stake
    // went back (a vote cast before the suspension, decided after it) takes nothing.
    for (const a of r.auditors) {
      expect(BigInt(a.slashed)).toBeLessThanOrEqual(BigInt(a.errors) * 10n ** 14n)
      const stakeBack = a.suspended ? 5n * 10n ** 14n - BigInt(a.slashed) : 0n
      expect(BigInt(a.withdrawn)).toBe(BigInt(a.earned) + stakeBack)
    }
    // Every batch was settled on chain, and the pool accounts for every base unit.
    expect(r.batches.every((b: { tx?: string }) => typeof b.tx === 'string')).toBe(true)
    const p = r.pool
    expect(BigInt(p.deposited)).toBe(BigInt(p.free) + BigInt(p.stakes) + BigInt(p.batched))
    expect(p.paid).toBe(p.batched)
  }, 300_000)
})
