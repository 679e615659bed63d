import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import { addressOf, Community, keyOf, ROLES } from './impact-fixture.ts'

describe('impact: one request through its life', () => {
  test('request, draw, votes, decision, batch, signatures and settlement', async () => {
    const c = new Community().setup({ auditors: 5, stakesmin: 100 })
    for (let i = 0; i < 5; i++) c.deposit(100n, ROLES.auditor(i))
    c.deposit(10_000n)
    const req = c.request(ROLES.requester(0))
    expect(c.verdict(req)).toBeUndefined()
    c.ok(ROLES.oracle, IMPACT_OP.attest, { request: req.id })
    const { op: assign, auditors } = c.assign(req.id)
    expect(c.verdict(assign)).toBeUndefined()
    expect(auditors).toHaveLength(3)
    expect(c.reducer.request(req.id)!.status).toBe('VOTING')
    const [a, b, x] = auditors.map(Community.auditorSigner)
    expect(c.verdict(c.vote(a!, req.id, 'Y'))).toBeUndefined()
    expect(c.verdict(c.vote(x!, req.id, 'N'))).toBeUndefined()
    // One Y and one N of three seats: not decided yet.
    expect(c.verdict(c.decide(req.id))?.message).toMatch(/1 Y and 1 N/)
    c.vote(b!, req.id, 'Y')
    expect(c.verdict(c.decide(req.id))).toBeUndefined()
    const request = c.reducer.request(req.id)!
    expect(request.status).toBe('APPROVED')
    expect(request.decision!.payments.map((p) => [p.role, p.amount])).toEqual([
      ['requester', 1000n],
      ['oracle', 10n],
      ['auditor', 25n],
      ['auditor', 25n],
    ])
    expect(request.decision!.slashes).toEqual([{ auditor: keyOf(x!), due: 20n, taken: 20n }])
    expect(c.reducer.auditor(keyOf(x!))!.errors).toBe(1)
    const batch = c.add(ROLES.proxy, IMPACT_OP.batch, {
      token: 0,
      batch: 0,
      block: c.nextBlock(),
      chainId: 31337,
      escrow: addressOf(777),
    })
    expect(c.verdict(batch)).toBeUndefined()
    const pool = c.reducer.pool(0)
    expect(pool.batches[0]!.total).toBe(1060n)
    // Conservation: what came in is free, held as stakes, or batched.
    expect(pool.deposited).toBe(pool.free + pool.stakes + pool.batched)
    expect(pool.stakes).toBe(500n - 20n)
    const signer = privateKeyToAccount(`0x${'ab'.repeat(32)}`)
    const signature = await signer.signTypedData(c.batchTypedData(0, 0))
    const sign = c.add(ROLES.stranger, IMPACT_OP.signBatch, {
      token: 0,
      batch: 0,
      signer: signer.address,
      signature,
    })
    expect(c.verdict(sign)).toBeUndefined()
    const forged = c.add(ROLES.stranger, IMPACT_OP.signBatch, {
      token: 0,
      batch: 0,
      signer: addressOf(3),
      signature,
    })
    expect(c.verdict(forged)?.name).toBe('InvalidImpactInputError')
    c.ok(ROLES.proxy, IMPACT_OP.settled, {
      token: 0,
      batch: 0,
      tx: `0x${'12'.repeat(32)}`,
      block: c.nextBlock(),
    })
    expect(c.reducer.pool(0).paid).toBe(1060n)
    expect(c.reducer.state().rejected.map((n) => n.type)).toEqual(
      expect.arrayContaining([IMPACT_OP.decide, IMPACT_OP.signBatch]),
    )
  })
})
