import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { createImpactReducer, impactDomain } from '../src/core/impact/domain.ts'
import { FAST_BODIES, MAX_BATCH_PAYEES } from '../src/core/impact/machine.ts'
import { BODIES, IMPACT_OP } from '../src/core/impact/ops.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import {
  actionConfig,
  addressOf,
  auditorConfig,
  Community,
  keyOf,
  ROLES,
  requestInfo,
} from './impact-fixture.ts'

const g = ROLES.governor

/** A community with one request assigned: the request op and its three auditors' signers. */
function assigned(options: Parameters<Community['setup']>[0] = {}) {
  const c = new Community().setup(options)
  const req = c.request(ROLES.requester(0))
  const { auditors } = c.assign(req.id)
  return { c, req, voters: auditors.map(Community.auditorSigner) }
}

describe('impact registry: the spec examples and malformed variants', () => {
  test("every JSON example of the spec is accepted verbatim through the registry's ops", () => {
    const c = new Community()
    c.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    c.ok(g, IMPACT_OP.createCategory, { uid: 2, description: 'Plastic recycled' })
    // The spec's impact action, byte for byte.
    const action =
      '{"description":"Planting a tree","category":1,"auditors":1,"blockstart":1,"blockend":1000000,"rewardstoken":0,"rewardsamount":1000,"rewardsoracle":0,"rewardsauditors":50,"slashingsauditors":0,"maxerrorsauditor":10,"fields":[{"fieldname":"namesurname","fieldtype":"S","mandatory":"Y"},{"fieldname":"phonenumber","fieldtype":"S","mandatory":"Y"}]}'
    c.ok(g, IMPACT_OP.createImpactAction, { uid: 2, configuration: action })
    const auditor =
      '{"description":"John Smith","categories":[1,2],"area":"41.40338,2.17403","otherinfo":"<ipfs cid>","stakesmin":0}'
    c.ok(g, IMPACT_OP.createAuditor, {
      account: keyOf(ROLES.auditor(0)),
      configuration: auditor,
      payout: addressOf(100),
    })
    c.ok(g, IMPACT_OP.createProxy, { uid: 1, account: keyOf(ROLES.proxy) })
    const request =
      '{"impactactionid":2,"description":"Planted a new tree","namesurname":"Jhone Smith","phonenumber":"+13489383845"}'
    const req = c.request(ROLES.requester(0), request)
    expect(c.verdict(req)).toBeUndefined()
    const { auditors } = c.assign(req.id)
    expect(auditors).toEqual([keyOf(ROLES.auditor(0))])
    const vote = c.add(ROLES.auditor(0), IMPACT_OP.vote, {
      request: req.id,
      vote: '{"vote":"Y","otherinfo":"<ipfs cid>"}',
    })
    expect(c.verdict(vote)).toBeUndefined()
    expect(c.verdict(c.decide(req.id))).toBeUndefined()
    expect(c.reducer.request(req.id)!.status).toBe('APPROVED')
    // The misspelt keys of the original's documentation are read too, and stored once.
    const misspelt = action
      .replace('"rewardsoracle"', '"rewardoracle"')
      .replace('"slashingsauditors"', '"slashingauditors"')
    c.ok(g, IMPACT_OP.createImpactAction, { uid: 3, configuration: misspelt })
    const stored = c.reducer.state().actions.find((a) => a.uid === 3)!
    expect(stored.configuration).toContain('"slashingsauditors"')
  })

  test.each([
    [
      'a space after a colon is fine',
      actionConfig().replace('"auditors":2', '"auditors": 2'),
      undefined,
    ],
    [
      'reordered keys are fine',
      JSON.stringify({ ...JSON.parse(actionConfig()), description: 'Reordered key order' }),
      undefined,
    ],
    ['wrong type', actionConfig({ auditors: '2' }), /auditors/],
    ['out of range', actionConfig({ rewardsamount: 0 }), /rewardsamount/],
    ['blockend before blockstart', actionConfig({ blockstart: 10, blockend: 5 }), /blockend/],
    ['unknown category', actionConfig({ category: 9 }), /category 9/],
    [
      'bad field type',
      actionConfig({ fields: [{ fieldname: 'x', fieldtype: 'Q', mandatory: 'Y' }] }),
      /fieldtype/,
    ],
  ])('createImpactAction: %s', (_, configuration, error) => {
    const c = new Community()
    c.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    const op = c.add(g, IMPACT_OP.createImpactAction, { uid: 5, configuration })
    if (error === undefined) expect(c.verdict(op)).toBeUndefined()
    else expect(c.verdict(op)?.message).toMatch(error)
  })

  test.each([
    ['an empty mandatory field', requestInfo({ namesurname: '' }), /namesurname/],
    ['a missing mandatory field', requestInfo({ phonenumber: undefined }), /phonenumber/],
    ['a non-numeric N field', requestInfo({ trees: 'three' }), /trees/],
    ['an unknown action', requestInfo({ impactactionid: 7 }), /impactactionid/],
    ['more than 8192 bytes', requestInfo({ note: 'x'.repeat(9000) }), /8192|info/],
    ['not JSON', '{"impactactionid":1,', /JSON|request/],
  ])('requestApproval refuses %s, naming the field', (_, info, error) => {
    const c = new Community().setup({
      action: {
        fields: [
          { fieldname: 'namesurname', fieldtype: 'S', mandatory: 'Y' },
          { fieldname: 'phonenumber', fieldtype: 'S', mandatory: 'Y' },
          { fieldname: 'trees', fieldtype: 'N', mandatory: 'N' },
        ],
      },
    })
    const op = c.request(ROLES.requester(0), info)
    expect(c.verdict(op)?.message).toMatch(error)
  })
})

describe('impact permissions: every role is refused what another role does', () => {
  const registry = (c: Community): [string, unknown][] => [
    [IMPACT_OP.createCategory, { uid: 7, description: 'Another category' }],
    [IMPACT_OP.destroyCategory, { uid: 1 }],
    [IMPACT_OP.createImpactAction, { uid: 7, configuration: actionConfig() }],
    [IMPACT_OP.destroyImpactAction, { uid: 1 }],
    [
      IMPACT_OP.createOracle,
      {
        uid: 7,
        configuration: `{"description":"An oracle","account":"${keyOf(ROLES.stranger)}"}`,
      },
    ],
    [IMPACT_OP.destroyOracle, { uid: 1 }],
    [
      IMPACT_OP.createAuditor,
      { account: keyOf(ROLES.stranger), configuration: auditorConfig(), payout: addressOf(1) },
    ],
    [IMPACT_OP.destroyAuditor, { account: keyOf(ROLES.auditor(0)) }],
    [IMPACT_OP.createProxy, { uid: 7, account: keyOf(ROLES.stranger) }],
    [IMPACT_OP.destroyProxy, { uid: 1 }],
    [IMPACT_OP.setToken, { id: 1, address: addressOf(9) }],
    [IMPACT_OP.setGovernors, { governors: [keyOf(ROLES.stranger)], threshold: 1 }],
    [IMPACT_OP.decide, { request: c.ops.at(-1)!.id, block: 99 }],
    [IMPACT_OP.expire, { request: c.ops.at(-1)!.id, block: 99 }],
  ]

  test('registry and proxy ops by the requester, an auditor, the oracle and a stranger', () => {
    const { c, req } = assigned()
    const registryOps = registry(c)
    for (const signer of [ROLES.requester(0), ROLES.auditor(0), ROLES.oracle, ROLES.stranger])
      for (const [type, body] of registryOps) {
        const op = c.add(signer, type, body)
        expect(c.verdict(op)?.name, `${type} by ${keyOf(signer).slice(0, 6)}`).toBe(
          'ImpactForbiddenError',
        )
      }
    // The proxy's ops by a governor.
    for (const [type, body] of [
      [
        IMPACT_OP.assignAuditor,
        { request: req.id, auditors: [], maxdays: 1, block: 99, entropy: `0x${'0'.repeat(64)}` },
      ],
      [IMPACT_OP.decide, { request: req.id, block: 99 }],
      [
        IMPACT_OP.deposit,
        {
          token: 0,
          from: addressOf(1),
          amount: '5',
          memo: `0x${'0'.repeat(64)}`,
          tx: `0x${'1'.repeat(64)}`,
          logIndex: 0,
          block: 99,
        },
      ],
    ] as const) {
      const op = c.add(g, type, body)
      expect(c.verdict(op)?.name, type).toBe('ImpactForbiddenError')
    }
  })

  test('a vote by the requester, an unassigned auditor, the proxy or a governor; an attestation by a non-oracle', () => {
    const { c, req, voters } = assigned({ auditors: 5 })
    const unassigned = [0, 1, 2, 3, 4]
      .map(ROLES.auditor)
      .find((s) => !voters.some((v) => keyOf(v) === keyOf(s)))!
    for (const signer of [ROLES.requester(0), unassigned, ROLES.proxy, g, ROLES.oracle]) {
      const op = c.vote(signer, req.id, 'Y')
      expect(c.verdict(op)?.name).toBe('ImpactForbiddenError')
    }
    for (const signer of [ROLES.requester(0), voters[0]!, ROLES.proxy, g]) {
      const op = c.add(signer, IMPACT_OP.attest, { request: req.id })
      expect(c.verdict(op)?.name).toBe('ImpactForbiddenError')
    }
  })

  test('an auditor votes once; a vote must be Y or N', () => {
    const { c, req, voters } = assigned()
    expect(c.verdict(c.vote(voters[0]!, req.id, 'Y'))).toBeUndefined()
    expect(c.verdict(c.vote(voters[0]!, req.id, 'N'))?.message).toMatch(/once/)
    const bad = c.add(voters[1]!, IMPACT_OP.vote, { request: req.id, vote: '{"vote":"y"}' })
    expect(c.verdict(bad)?.message).toMatch(/vote/)
  })
})

describe('impact governance: m of n governors', () => {
  test('a change applies at the threshold of approvals; each governor approves once', () => {
    const keys = [ROLES.governor, ROLES.governor2, ROLES.governor3].map(keyOf)
    const c = new Community({ name: 'Council', governors: keys, threshold: 2 })
    const proposal = c.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    expect(c.reducer.state().categories).toEqual([])
    expect(c.reducer.state().proposals.map((p) => p.id)).toEqual([proposal.id])
    expect(c.verdict(c.add(g, IMPACT_OP.approve, { proposal: proposal.id }))?.message).toMatch(
      /approved the change already; it needs 1 more/,
    )
    expect(
      c.verdict(c.add(ROLES.stranger, IMPACT_OP.approve, { proposal: proposal.id }))?.name,
    ).toBe('ImpactForbiddenError')
    c.ok(ROLES.governor3, IMPACT_OP.approve, { proposal: proposal.id })
    expect(c.reducer.state().categories).toEqual([{ uid: 1, description: 'Trees planted' }])
    expect(c.reducer.state().proposals).toEqual([])
    // The governors may replace themselves: afterwards the old ones are strangers.
    const change = c.ok(g, IMPACT_OP.setGovernors, {
      governors: [keyOf(ROLES.stranger)],
      threshold: 1,
    })
    c.ok(ROLES.governor2, IMPACT_OP.approve, { proposal: change.id })
    expect(c.reducer.state().governors).toEqual([keyOf(ROLES.stranger)])
    expect(
      c.verdict(c.add(g, IMPACT_OP.createCategory, { uid: 2, description: 'More things' }))?.name,
    ).toBe('ImpactForbiddenError')
    c.ok(ROLES.stranger, IMPACT_OP.createCategory, { uid: 2, description: 'More things' })
  })

  test('approvals that crossed count only where seen: no replica applies the change on an approval it has not seen', () => {
    const keys = [ROLES.governor, ROLES.governor2, ROLES.governor3].map(keyOf)
    const c = new Community({ name: 'Council', governors: keys, threshold: 3 })
    const p = c.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    const a2 = c.make(ROLES.governor2, IMPACT_OP.approve, { proposal: p.id }, [p.id])
    const a3 = c.make(ROLES.governor3, IMPACT_OP.approve, { proposal: p.id }, [p.id])
    const hashes = new Set<string>()
    for (const order of [
      [a2, a3],
      [a3, a2],
    ]) {
      const r = createImpactReducer(c.ops[0]!)
      r.apply(p)
      for (const op of order) r.apply(op)
      // Each saw two of three approvals: the change waits, whatever the order.
      expect(r.state().categories).toEqual([])
      expect(r.orderSensitive).toBe(false)
      hashes.add(impactDomain.stateHash(r.state()))
    }
    expect(hashes.size).toBe(1)
    for (const op of [a2, a3]) c.apply(op)
    // G2, now seeing both, approves again: that applies it.
    const again = c.add(ROLES.governor2, IMPACT_OP.approve, { proposal: p.id }, [a2.id, a3.id])
    expect(c.verdict(again)).toBeUndefined()
    expect(c.reducer.state().categories.map((x) => x.uid)).toEqual([1])
  })

  test('two approvals that each apply a change: the later in log order is a tie-break, never refused at ingest', () => {
    const keys = [ROLES.governor, ROLES.governor2, ROLES.governor3].map(keyOf)
    const c = new Community({ name: 'Council', governors: keys, threshold: 2 })
    const p = c.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    const a2 = c.make(ROLES.governor2, IMPACT_OP.approve, { proposal: p.id }, [p.id])
    const a3 = c.make(ROLES.governor3, IMPACT_OP.approve, { proposal: p.id }, [p.id])
    for (const [first, second] of [
      [a2, a3],
      [a3, a2],
    ] as const) {
      const r = createImpactReducer(c.ops[0]!)
      r.apply(p)
      r.apply(first)
      expect(r.judge(second)).toMatchObject({ tieBreak: true })
      r.apply(second)
      expect(r.verdict(second.id)?.message).toMatch(/applied already|concurrently/)
      expect(r.state().categories.map((x) => x.uid)).toEqual([1])
      expect(r.orderSensitive).toBe(true)
    }
  })

  test('two concurrent registry changes: the second applied is refused, the same on every replica', () => {
    const c = new Community()
    const base = c.ops.at(-1)!.id
    const a = c.make(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' }, [base])
    const b = c.make(g, IMPACT_OP.createCategory, { uid: 2, description: 'Plastic recycled' }, [
      base,
    ])
    const one = createImpactReducer(c.ops[0]!)
    one.apply(a)
    one.apply(b)
    expect(one.verdict(b.id)?.message).toMatch(/concurrently/)
    expect(one.orderSensitive).toBe(true)
  })
})

describe('impact deadlines, replacement, ties, slashing and suspension', () => {
  test('a missed deadline unassigns the auditor, lowers its ranking and a replacement is drawn', () => {
    const { c, req, voters } = assigned({ auditors: 6 })
    const late = voters[2]!
    const seat = c.reducer.request(req.id)!.assignments.find((a) => a.auditor === keyOf(late))!
    // Before the deadline the proxy may not unassign.
    const early = c.add(ROLES.proxy, IMPACT_OP.destroyAssignedAuditor, {
      request: req.id,
      auditor: keyOf(late),
      block: c.nextBlock(),
    })
    expect(c.verdict(early)?.message).toMatch(/until block/)
    c.nextBlock(seat.deadline - c.currentBlock)
    c.ok(ROLES.proxy, IMPACT_OP.destroyAssignedAuditor, {
      request: req.id,
      auditor: keyOf(late),
      block: c.nextBlock(),
    })
    expect(c.reducer.auditor(keyOf(late))!.missed).toBe(1)
    expect(c.reducer.auditor(keyOf(late))!.ranking).toBe(-2)
    expect(c.reducer.request(req.id)!.status).toBe('WAITING_FOR_AUDITORS')
    expect(c.verdict(c.vote(late, req.id, 'Y'))?.message).toMatch(/unassigned/)
    const { auditors: replacement } = c.assign(req.id)
    expect(replacement).toHaveLength(1)
    expect(voters.map(keyOf)).not.toContain(replacement[0])
    expect(c.reducer.request(req.id)!.status).toBe('VOTING')
  })

  test('a vote concurrent with its unassignment is excluded on every replica', () => {
    const { c, req, voters } = assigned()
    const seat = c.reducer.request(req.id)!.assignments[0]!
    const head = c.ops.at(-1)!.id
    const vote = c.make(
      voters.find((v) => keyOf(v) === seat.auditor)!,
      IMPACT_OP.vote,
      { request: req.id, vote: '{"vote":"Y"}' },
      [head],
    )
    const unassign = c.make(
      ROLES.proxy,
      IMPACT_OP.destroyAssignedAuditor,
      { request: req.id, auditor: seat.auditor, block: seat.deadline + 1 },
      [head],
    )
    for (const order of [
      [vote, unassign],
      [unassign, vote],
    ]) {
      const r = createImpactReducer(c.ops[0]!)
      for (const op of c.ops.slice(1)) r.apply(op)
      for (const op of order) r.apply(op)
      expect(r.verdict(vote.id)?.name).toBe('ExcludedByCausalCut')
      expect(r.verdict(unassign.id)).toBeUndefined()
      expect(r.request(req.id)!.votes).toEqual([])
      expect(r.orderSensitive).toBe(false)
    }
  })

  test('split votes: with 2 of 3 seats, Y and N wait for the third; a refusal slashes the Y voter', () => {
    const { c, req, voters } = assigned({ stakesmin: 0 })
    c.deposit(100n, voters[0])
    c.vote(voters[0]!, req.id, 'Y')
    c.vote(voters[1]!, req.id, 'N')
    expect(c.verdict(c.decide(req.id))?.message).toMatch(/2 matching votes decide/)
    c.vote(voters[2]!, req.id, 'N')
    c.decide(req.id)
    const r = c.reducer.request(req.id)!
    expect(r.status).toBe('REFUSED')
    // A refusal pays the requester nothing and the matching auditors their split.
    expect(r.decision!.payments.map((p) => [p.role, p.amount])).toEqual([
      ['auditor', 25n],
      ['auditor', 25n],
    ])
    expect(r.decision!.slashes).toEqual([{ auditor: keyOf(voters[0]!), due: 20n, taken: 20n }])
    expect(c.reducer.auditor(keyOf(voters[0]!))!.stakes).toEqual({ '0': 80n })
  })

  test('errors up to maxerrorsauditor suspend an auditor: it votes no more, is drawn no more, and its stake comes back', () => {
    const c = new Community().setup({ auditors: 3, action: { auditors: 1, maxerrorsauditor: 2 } })
    // With one seat nobody contradicts; use 2 approvals of 3 seats and a lone dissenter.
    c.ok(g, IMPACT_OP.createImpactAction, {
      uid: 2,
      configuration: actionConfig({ auditors: 2, maxerrorsauditor: 2 }),
    })
    const careless = ROLES.auditor(0)
    c.deposit(30n, careless)
    c.deposit(5000n)
    for (let i = 0; i < 2; i++) {
      const req = c.request(ROLES.requester(i), requestInfo({ impactactionid: 2 }))
      const { auditors } = c.assign(req.id)
      expect(auditors).toContain(keyOf(careless))
      for (const key of auditors)
        c.vote(Community.auditorSigner(key), req.id, key === keyOf(careless) ? 'N' : 'Y')
      c.ok(ROLES.proxy, IMPACT_OP.decide, { request: req.id, block: c.nextBlock() })
    }
    const auditor = c.reducer.auditor(keyOf(careless))!
    expect(auditor).toMatchObject({ errors: 2, suspended: true, ranking: 2 * 0 - 6 })
    expect(auditor.stakes).toEqual({ '0': 0n })
    const req = c.request(ROLES.requester(9), requestInfo({ impactactionid: 2 }))
    const { auditors } = c.assign(req.id)
    expect(auditors).toHaveLength(2)
    expect(auditors).not.toContain(keyOf(careless))
    expect(c.reducer.request(req.id)!.note).toMatch(/suspended/)
  })

  test('a suspended auditor with stake left gets it back in the next batch', () => {
    const c = new Community().setup({
      auditors: 3,
      action: { auditors: 2, maxerrorsauditor: 1, slashingsauditors: 10 },
    })
    const careless = ROLES.auditor(1)
    c.deposit(100n, careless)
    c.deposit(5000n)
    const req = c.request(ROLES.requester(0))
    const { auditors } = c.assign(req.id)
    for (const key of auditors)
      c.vote(Community.auditorSigner(key), req.id, key === keyOf(careless) ? 'N' : 'Y')
    c.ok(ROLES.proxy, IMPACT_OP.decide, { request: req.id, block: c.nextBlock() })
    c.ok(ROLES.proxy, IMPACT_OP.batch, {
      token: 0,
      batch: 0,
      block: c.nextBlock(),
      chainId: 31337,
      escrow: addressOf(777),
    })
    const batch = c.reducer.pool(0).batches[0]!
    const i = batch.payees.indexOf(addressOf(101))
    expect(batch.amounts[i]).toBe(90n)
    const pool = c.reducer.pool(0)
    expect(pool.stakes).toBe(0n)
    expect(pool.deposited).toBe(pool.free + pool.stakes + pool.batched)
  })
})

describe('impact destroy semantics: no orphans', () => {
  test('a category in use cannot be destroyed; an unused one can', () => {
    const c = new Community().setup()
    expect(c.verdict(c.add(g, IMPACT_OP.destroyCategory, { uid: 1 }))?.message).toMatch(/in use/)
    c.ok(g, IMPACT_OP.createCategory, { uid: 2, description: 'Unused category' })
    c.ok(g, IMPACT_OP.destroyCategory, { uid: 2 })
    expect(c.reducer.state().categories.map((x) => x.uid)).toEqual([1])
  })

  test('destroying an action refuses new requests, lets the proxy expire open ones, and keeps queries whole', () => {
    const c = new Community().setup()
    const req = c.request(ROLES.requester(0))
    c.ok(g, IMPACT_OP.destroyImpactAction, { uid: 1 })
    expect(c.verdict(c.request(ROLES.requester(1)))?.message).toMatch(/impactactionid/)
    c.ok(ROLES.proxy, IMPACT_OP.expire, { request: req.id, block: c.nextBlock() })
    const request = c.reducer.request(req.id)!
    expect(request.status).toBe('EXPIRED')
    expect(request.action.rewardsamount).toBe(1000n)
    expect(c.reducer.state().requests).toHaveLength(2 - 1)
  })

  test('a destroyed auditor votes no more; the proxy unassigns it at once, without a ranking penalty', () => {
    const { c, req, voters } = assigned()
    c.ok(g, IMPACT_OP.destroyAuditor, { account: keyOf(voters[0]!) })
    expect(c.verdict(c.vote(voters[0]!, req.id, 'Y'))?.message).toMatch(/destroyed/)
    c.ok(ROLES.proxy, IMPACT_OP.destroyAssignedAuditor, {
      request: req.id,
      auditor: keyOf(voters[0]!),
      block: c.nextBlock(),
    })
    const auditor = c.reducer.auditor(keyOf(voters[0]!))!
    expect(auditor).toMatchObject({ destroyed: true, missed: 0 })
    expect(c.reducer.state().auditors.map((a) => a.account)).toContain(keyOf(voters[0]!))
  })

  test('a destroyed proxy signs no more; a new one takes over', () => {
    const c = new Community().setup()
    const req = c.request(ROLES.requester(0))
    c.ok(g, IMPACT_OP.destroyProxy, { uid: 1 })
    expect(c.verdict(c.assign(req.id).op)?.name).toBe('ImpactForbiddenError')
    c.ok(g, IMPACT_OP.createProxy, { uid: 2, account: keyOf(ROLES.proxy) })
    expect(c.verdict(c.assign(req.id).op)).toBeUndefined()
  })
})

describe('impact windows and the block clock', () => {
  test('requests after the window are refused once the proxy has claimed a later block; assignment checks the window', () => {
    const c = new Community().setup({ action: { blockstart: 20, blockend: 40 } })
    const early = c.request(ROLES.requester(0))
    expect(c.verdict(early)).toBeUndefined()
    // Block 11 is before the window: the proxy may not assign yet.
    expect(c.verdict(c.assign(early.id).op)?.message).toMatch(/outside/)
    c.nextBlock(9)
    expect(c.verdict(c.assign(early.id).op)).toBeUndefined()
    c.nextBlock(20)
    c.deposit(1n)
    expect(c.verdict(c.request(ROLES.requester(1)))?.message).toMatch(/until block 40/)
    // A proxy claim may not go back in time.
    const back = c.add(ROLES.proxy, IMPACT_OP.decide, { request: early.id, block: 3 })
    expect(c.verdict(back)?.message).toMatch(/before block/)
  })

  test('with no eligible auditor the request says so and waits', () => {
    const c = new Community().setup({ auditors: 2 })
    const far = c.request(ROLES.requester(0), requestInfo({ coordinates: '-33.86,151.21' }))
    const { auditors } = c.assign(far.id)
    expect(auditors).toEqual([])
    const request = c.reducer.request(far.id)!
    expect(request.status).toBe('WAITING_FOR_AUDITORS')
    expect(request.note).toMatch(/none eligible now \(.*outside the area/)
  })
})

describe('impact replicas: one state whatever the order', () => {
  /** Applies `ops` (genesis first) to a fresh reducer in a random topological order. */
  function replay(ops: readonly EncodedOp[], seed: number) {
    const r = createImpactReducer(ops[0]!)
    const pending = ops.slice(1)
    const applied = new Set([ops[0]!.id])
    let x = seed
    while (pending.length > 0) {
      const ready = pending.filter((op) => op.op.deps.every((d) => applied.has(d)))
      x = (x * 1103515245 + 12345) % 2 ** 31
      const op = ready[x % ready.length]!
      pending.splice(pending.indexOf(op), 1)
      r.apply(op)
      applied.add(op.id)
    }
    return r
  }

  test('votes and attestations made concurrently reach the same state hash in any order', () => {
    const c = new Community().setup({ auditors: 5 })
    c.deposit(10_000n)
    const reqs = [0, 1, 2].map((i) => c.request(ROLES.requester(i)))
    for (const req of reqs) {
      const { op, auditors } = c.assign(req.id)
      // Each auditor votes on the assignment alone: concurrent with every other vote.
      const votes = auditors.map((key) =>
        c.make(
          Community.auditorSigner(key),
          IMPACT_OP.vote,
          { request: req.id, vote: '{"vote":"Y"}' },
          [op.id],
        ),
      )
      for (const vote of votes) c.apply(vote)
      const decide = c.make(
        ROLES.proxy,
        IMPACT_OP.decide,
        { request: req.id, block: c.nextBlock() },
        votes.map((v) => v.id),
      )
      c.apply(decide)
    }
    expect(c.reducer.requests({ status: 'APPROVED' })).toHaveLength(3)
    const hashes = new Set<string>()
    for (let seed = 1; seed <= 6; seed++)
      hashes.add(impactDomain.stateHash(replay(c.ops, seed).state()))
    expect(hashes.size).toBe(1)
  })
})

describe('impact money: conservation', () => {
  test('property: whatever the votes, deposits and batches, every base unit is free, staked or batched, and batches pay what decisions owed', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            votes: fc.array(fc.constantFrom<'Y' | 'N'>('Y', 'N'), { minLength: 3, maxLength: 3 }),
            funding: fc.bigInt({ min: 0n, max: 3000n }),
            batch: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.bigInt({ min: 0n, max: 50n }),
        (rounds, stake) => {
          const c = new Community().setup({ auditors: 4, action: { maxerrorsauditor: 3 } })
          if (stake > 0n) for (let i = 0; i < 4; i++) c.deposit(stake, ROLES.auditor(i))
          let batches = 0
          for (const [n, round] of rounds.entries()) {
            if (round.funding > 0n) c.deposit(round.funding)
            const req = c.request(ROLES.requester(n))
            const { auditors } = c.assign(req.id)
            if (auditors.length < 3) continue
            auditors.forEach((key, i) => {
              c.vote(Community.auditorSigner(key), req.id, round.votes[i]!)
            })
            c.decide(req.id)
            if (round.batch) {
              const op = c.add(ROLES.proxy, IMPACT_OP.batch, {
                token: 0,
                batch: batches,
                block: c.nextBlock(),
                chainId: 1,
                escrow: addressOf(777),
              })
              if (!c.verdict(op)) {
                c.ok(ROLES.proxy, IMPACT_OP.settled, {
                  token: 0,
                  batch: batches,
                  tx: `0x${String(batches).padStart(64, '0')}`,
                  block: c.nextBlock(),
                })
                batches++
              }
            }
          }
          const pool = c.reducer.pool(0)
          expect(pool.deposited).toBe(pool.free + pool.stakes + pool.batched)
          expect(pool.free >= 0n && pool.stakes >= 0n).toBe(true)
          const state = c.reducer.state()
          const owed = state.requests.flatMap((r) => r.decision?.payments ?? [])
          const batchedPayments = owed
            .filter((p) => p.batch !== undefined)
            .reduce((s, p) => s + p.amount, 0n)
          const returned = pool.batches.reduce((s, b) => s + b.returned, 0n)
          const totals = pool.batches.reduce((s, b) => s + b.total, 0n)
          expect(totals).toBe(batchedPayments + returned)
          // What was never batched is still queued, in decision order.
          const queued = owed
            .filter((p) => p.batch === undefined)
            .reduce((s, p) => s + p.amount, 0n)
          expect(pool.queued).toBe(queued)
          expect(pool.paid).toBe(totals)
          // Stakes held equal what auditors hold.
          expect(state.auditors.reduce((s, a) => s + (a.stakes['0'] ?? 0n), 0n)).toBe(pool.stakes)
        },
      ),
      { numRuns: 40 },
    )
  })
})

describe('impact body fast paths', () => {
  test('property: a body a fast check takes is one its schema takes unchanged', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 3 }),
      fc.string({ minLength: 95, maxLength: 105 }),
      fc.constant('x'.repeat(2048)),
      fc.constant('x'.repeat(2049)),
      fc.constant('x'.repeat(8192)),
      fc.constant('x'.repeat(8193)),
    )
    const value = fc.oneof(
      text,
      fc.integer({ min: -2, max: 400 }),
      fc.constantFrom(0.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, null, true),
      fc.constantFrom(`0x${'a'.repeat(64)}`, `0x${'A'.repeat(64)}`, `0x${'a'.repeat(63)}`),
      fc.constantFrom(addressOf(1), addressOf(1).toLowerCase(), `${addressOf(1)}0`),
      fc.array(fc.constantFrom(keyOf(ROLES.auditor(0)), 'zz', 'A'.repeat(64)), { maxLength: 3 }),
      fc.constant(Array.from({ length: 257 }, () => keyOf(ROLES.auditor(1)))),
    )
    const valid: Record<string, Record<string, unknown>> = {
      [IMPACT_OP.vote]: { request: 'r'.repeat(50), vote: '{"vote":"Y"}' },
      [IMPACT_OP.requestApproval]: { info: requestInfo(), payout: addressOf(1) },
      [IMPACT_OP.assignAuditor]: {
        request: 'r'.repeat(50),
        auditors: [keyOf(ROLES.auditor(0))],
        maxdays: 3,
        block: 7,
        entropy: `0x${'a'.repeat(64)}`,
      },
      [IMPACT_OP.decide]: { request: 'r'.repeat(50), block: 7 },
    }
    const keys = [
      'request',
      'vote',
      'info',
      'payout',
      'auditors',
      'maxdays',
      'block',
      'entropy',
      'x',
    ]
    // A valid body with up to two keys changed, removed (null) or added.
    const edits = fc.array(fc.tuple(fc.constantFrom(...keys), fc.option(value)), { maxLength: 2 })
    const types = Object.keys(FAST_BODIES) as (keyof typeof BODIES)[]
    let taken = 0
    fc.assert(
      fc.property(fc.constantFrom(...types), edits, (type, changes) => {
        const b: Record<string, unknown> = { ...valid[type] }
        for (const [key, v] of changes)
          if (v === null) delete b[key]
          else b[key] = v
        if (!FAST_BODIES[type]!(b)) return
        taken++
        const parsed = BODIES[type].safeParse(b)
        expect(parsed.success).toBe(true)
        expect(parsed.data).toEqual(b)
      }),
      { numRuns: 20_000 },
    )
    // The generator reaches bodies the fast checks take, so the property is not vacuous.
    expect(taken).toBeGreaterThan(2000)
  })
})

describe('impact settlement batches: bounded, and computed on their own past', () => {
  test(`a batch pays at most ${MAX_BATCH_PAYEES} addresses; the rest waits for the next`, () => {
    const c = new Community().setup({ auditors: 3, action: { auditors: 1 } })
    c.deposit(10n ** 9n)
    for (let i = 0; i < MAX_BATCH_PAYEES + 5; i++) {
      const req = c.request(ROLES.requester(i % 50), requestInfo(), addressOf(1000 + i))
      const { auditors } = c.assign(req.id)
      c.vote(Community.auditorSigner(auditors[0]!), req.id, 'Y')
      c.ok(ROLES.proxy, IMPACT_OP.decide, { request: req.id, block: c.nextBlock() })
    }
    const batch = (n: number) =>
      c.ok(ROLES.proxy, IMPACT_OP.batch, {
        token: 0,
        batch: n,
        block: c.nextBlock(),
        chainId: 1,
        escrow: addressOf(777),
      })
    batch(0)
    expect(c.reducer.pool(0).batches[0]!.payees).toHaveLength(MAX_BATCH_PAYEES)
    c.ok(ROLES.proxy, IMPACT_OP.settled, {
      token: 0,
      batch: 0,
      tx: `0x${'1'.repeat(64)}`,
      block: c.nextBlock(),
    })
    batch(1)
    const pool = c.reducer.pool(0)
    expect(pool.queued).toBe(0n)
    expect(pool.batches[1]!.payees.length).toBeGreaterThan(0)
    expect(pool.batches[1]!.payees.length).toBeLessThanOrEqual(MAX_BATCH_PAYEES)
  })

  test("a batch returns a departed auditor's stake to the payout address its own past holds", () => {
    const c = new Community().setup({ auditors: 3 })
    const a0 = ROLES.auditor(0)
    c.deposit(500n, a0)
    c.ok(g, IMPACT_OP.destroyAuditor, { account: keyOf(a0) })
    const base = c.ops.at(-1)!.id
    const batch = c.make(
      ROLES.proxy,
      IMPACT_OP.batch,
      { token: 0, batch: 0, block: 99, chainId: 1, escrow: addressOf(7) },
      [base],
    )
    // Concurrently the governors register the same key again, paid elsewhere.
    const again = c.make(
      g,
      IMPACT_OP.createAuditor,
      { account: keyOf(a0), configuration: auditorConfig(), payout: addressOf(777) },
      [base],
    )
    const hashes = new Set<string>()
    for (const order of [
      [batch, again],
      [again, batch],
    ]) {
      const r = createImpactReducer(c.ops[0]!)
      for (const op of [...c.ops.slice(1), ...order]) r.apply(op)
      expect(r.pool(0).batches[0]!.payees).toEqual([addressOf(100)])
      hashes.add(impactDomain.stateHash(r.state()))
    }
    expect(hashes.size).toBe(1)
  })

  test('the zero address is refused as a payout: what is paid there is lost', () => {
    const c = new Community().setup()
    const op = c.request(ROLES.requester(0), requestInfo(), `0x${'0'.repeat(40)}`)
    expect(c.verdict(op)?.message).toMatch(/"payout" is the zero address/)
  })
})

describe('impact stakes sent too early', () => {
  test('a stake for a key that is no auditor yet goes back to its sender in the next batch, not into the pool', () => {
    const c = new Community().setup({ auditors: 3 })
    const early = ROLES.auditor(20)
    c.deposit(300n, early) // not registered: held for its sender
    c.deposit(1000n)
    let pool = c.reducer.pool(0)
    expect(pool).toMatchObject({ deposited: 1300n, stakes: 300n, refunding: 300n, free: 1000n })
    c.ok(ROLES.proxy, IMPACT_OP.batch, {
      token: 0,
      batch: 0,
      block: c.nextBlock(),
      chainId: 1,
      escrow: addressOf(7),
    })
    pool = c.reducer.pool(0)
    const batch = pool.batches[0]!
    expect([batch.payees, batch.amounts, batch.returned]).toEqual([[addressOf(900)], [300n], 300n])
    expect(pool).toMatchObject({ stakes: 0n, refunding: 0n, free: 1000n })
    expect(pool.deposited).toBe(pool.free + pool.stakes + pool.batched)
  })
})
