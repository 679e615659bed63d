import { decodeAbiParameters } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import { parseAnswer } from '../src/core/audit/answer.ts'
import { commitAnswer } from '../src/core/audit/commitment.ts'
import { parseAuditParams } from '../src/core/audit/params.ts'
import {
  auditorSummary,
  nextInspection,
  outstandingInspections,
} from '../src/core/audit/queries.ts'
import type { Audit } from '../src/core/audit/reduce.ts'
import { auditIdOf, settlementTypedData } from '../src/core/audit/settlement-report.ts'
import { AuditFixture, registrationBody, type TestAuditor, testAuditor } from './audit-fixture.ts'

const auditors = [0, 1, 2, 3, 4, 5].map(testAuditor) as TestAuditor[]
const [a1, a2, a3, a4, a5] = auditors as [
  TestAuditor,
  TestAuditor,
  TestAuditor,
  TestAuditor,
  TestAuditor,
]

/** Auditors' payments by payout address. */
const paidBy = (state: Audit) =>
  Object.fromEntries(state.results!.auditors.map((r) => [r.payout, r.paid]))

describe('audit lifecycle', () => {
  test("the spec's worked example: bond 1000, one item, true/true/false → 333, 333, 0, remainder 334", async () => {
    const audit = await AuditFixture.create({ bond: '1000' })
    await audit.runToAuditing({ items: ['street light 12 works'], auditors: [a1, a2, a3] })
    await audit.answerAll(a1, () => true)
    await audit.answerAll(a2, () => true)
    await audit.answerAll(a3, () => false)
    await audit.act('audit.stop')
    const state = await audit.state()
    expect(state.rejected).toEqual([])
    expect(state.state).toBe('WAITING_FOR_CONTRACT')
    expect(state.transitions.map((t) => t.state)).toEqual([
      'INITIALIZATION',
      'AUDITOR_REGISTRATION',
      'AUDITOR_REGISTRATION_COMPLETE',
      'AUDITING',
      'AUDITING_FINISHED',
      'CALCULATED_ITEM_RESULTS',
      'CALCULATED_AUDIT_RESULTS',
      'CALCULATED_AUDITOR_RESULTS',
      'WAITING_FOR_CONTRACT',
    ])
    expect(state.results!.items[0]).toMatchObject({ yes: 2, no: 1, result: true })
    expect(paidBy(state)).toEqual({
      [a1.account.address]: 333n,
      [a2.account.address]: 333n,
      [a3.account.address]: 0n,
    })
    expect(state.results!.remainder).toBe(334n)
    expect(state.results!.inspectionReward).toBe('1000/3')
    const summary = auditorSummary(state, a3.key)
    expect(summary.auditor?.payout).toBe(a3.account.address)
    expect(summary.inspections.map((i) => [i.status, i.answer])).toEqual([['answered', false]])
    expect(summary.result).toMatchObject({
      aligned: 0,
      misaligned: 1,
      missing: 0,
      units: '0',
      paid: 0n,
    })
    const settlement = state.settlement!
    expect(settlement.total).toBe(666n)
    const [payees, amounts] = decodeAbiParameters(
      [{ type: 'address[]' }, { type: 'uint256[]' }],
      settlement.encoded,
    )
    expect(payees).toEqual(settlement.payees)
    expect(amounts).toEqual([333n, 333n])
    await audit.act('audit.settled', { tx: '0xabc' })
    expect((await audit.state()).state).toBe('COMPLETE')
  })

  // Hand-computed: k = 5 with 5 auditors, so everyone inspects all three items; reward per
  // inspection = 1500 / (3 × 5) = 100. Truth: A yes, B no, C yes. a4 is wrong on A; a5 on A and B.
  // ratio 1/2: a1–a3 3 × 100 = 300; a4 (2 − 1/2) × 100 = 150; a5 max(0, 1 − 1) = 0; remainder 450.
  // ratio 1/3: a4 (2 − 1/3) × 100 = 166.67 → 166; a5 (1 − 2/3) × 100 = 33.33 → 33; remainder 401.
  test.each([
    ['1/2', { a4: 150n, a5: 0n, remainder: 450n }],
    ['1/3', { a4: 166n, a5: 33n, remainder: 401n }],
  ])(
    'a larger hand-computed audit with misaligned auditors (slashing ratio %s)',
    async (ratio, expected) => {
      const audit = await AuditFixture.create({
        bond: '1500',
        auditsPerItem: 5,
        slashingRatio: ratio,
      })
      await audit.runToAuditing({ items: ['A', 'B', 'C'], auditors: [a1, a2, a3, a4, a5] })
      const truth: Record<string, boolean> = { A: true, B: false, C: true }
      for (const honest of [a1, a2, a3]) await audit.answerAll(honest, (d) => truth[d]!)
      await audit.answerAll(a4, (d) => (d === 'A' ? !truth[d] : truth[d]!))
      await audit.answerAll(a5, (d) => (d === 'C' ? truth[d]! : !truth[d]))
      await audit.act('audit.stop')
      const state = await audit.state()
      expect(state.results!.items.map((i) => i.result)).toEqual([true, false, true])
      expect(paidBy(state)).toEqual({
        [a1.account.address]: 300n,
        [a2.account.address]: 300n,
        [a3.account.address]: 300n,
        [a4.account.address]: expected.a4,
        [a5.account.address]: expected.a5,
      })
      expect(state.results!.remainder).toBe(expected.remainder)
      const a4Result = state.results!.auditors.find((r) => r.payout === a4.account.address)!
      expect(a4Result).toMatchObject({ aligned: 2, misaligned: 1, missing: 0 })
    },
  )

  test('a tie counts as false by default, and as true when the audit says so', async () => {
    for (const [tie, result] of [
      [undefined, false],
      [true, true],
    ] as const) {
      const audit = await AuditFixture.create({
        auditsPerItem: 3,
        ...(tie === undefined ? {} : { tie }),
      })
      await audit.runToAuditing({ items: ['X'], auditors: [a1, a2, a3] })
      await audit.answerAll(a1, () => true)
      await audit.answerAll(a2, () => false)
      await audit.act('audit.stop', { force: true }) // a3 missing: 1 yes, 1 no
      const state = await audit.state()
      expect(state.results!.items[0]).toMatchObject({ yes: 1, no: 1, missing: 1, result })
    }
  })

  test('staked mode: slashes wrong and missing answers, pays the pool to aligned auditors, returns the rest', async () => {
    // tie: true, so a1's yes against a2's no (a3 silent) makes the item true.
    const audit = await AuditFixture.create({
      bond: '900',
      tie: true,
      reward: { mode: 'staked', stake: '100', slashWrong: '1/2', slashMissing: '1/4' },
    })
    await audit.runToAuditing({ items: ['X'], auditors: [a1, a2, a3] })
    await audit.answerAll(a1, () => true)
    await audit.answerAll(a2, () => false)
    await audit.act('audit.stop', { force: true })
    const state = await audit.state()
    const r = Object.fromEntries(state.results!.auditors.map((x) => [x.payout, x]))
    // reward per inspection 900 / 3 = 300; a2 slashed 50 (1/2 of 100), a3 slashed 25 (1/4); pool 75 → a1.
    expect(r[a1.account.address]).toMatchObject({
      reward: 300n,
      slashed: 0n,
      share: 75n,
      returned: 100n,
      paid: 375n,
    })
    expect(r[a2.account.address]).toMatchObject({
      reward: 0n,
      slashed: 50n,
      share: 0n,
      returned: 50n,
      paid: 0n,
    })
    expect(r[a3.account.address]).toMatchObject({
      reward: 0n,
      slashed: 25n,
      share: 0n,
      returned: 75n,
      paid: 0n,
    })
    expect(state.results!.remainder).toBe(600n) // 900 − 300 rewarded
    expect(state.settlement!.total).toBe(375n + 100n + 50n + 75n)
  })

  test('staked mode: after close, a bond that would make a payment exceed 2^256 − 1 is refused', async () => {
    const stake = 2n ** 250n
    const audit = await AuditFixture.create({
      bond: '900',
      reward: { mode: 'staked', stake: `${stake}`, slashWrong: '1/2', slashMissing: '1/4' },
    })
    await audit.act('audit.item.add', { description: 'X' })
    await audit.act('audit.open')
    for (const a of [a1, a2, a3])
      await audit.act('audit.register', await registrationBody(a), a.signer)
    await audit.act('audit.close')
    const tooMuch = 2n ** 256n - 1n - 3n * stake + 1n
    const refused = await audit.act('audit.param.set', { name: 'bond', value: `${tooMuch}` })
    await audit.act('audit.param.set', { name: 'bond', value: `${tooMuch - 1n}` })
    let state = await audit.state()
    expect(state.rejected).toEqual([
      expect.objectContaining({
        id: refused.id,
        message: expect.stringMatching(/exceeds 2\^256 − 1 base units; lower the bond/),
      }),
    ])
    expect(state.params.bond).toBe(tooMuch - 1n)
    // Run to the end with everyone's answers and the settlement encodes.
    await audit.act('audit.start')
    for (const a of [a1, a2, a3]) await audit.answerAll(a, () => true)
    await audit.act('audit.stop')
    state = await audit.state()
    expect(state.state).toBe('WAITING_FOR_CONTRACT')
    expect(state.settlement!.total).toBe(tooMuch - 1n + 3n * stake)
  })
})

describe('audit queries', () => {
  test('outstanding inspections, the next inspection of an auditor, and stop refused while any is open', async () => {
    const audit = await AuditFixture.create({})
    const state = await audit.runToAuditing({ items: ['X', 'Y'], auditors: [a1, a2, a3] })
    expect(outstandingInspections(state)).toHaveLength(6)
    const next = nextInspection(state, a1.key)!
    expect(['X', 'Y']).toContain(next.description)
    await audit.act('audit.answer', { item: next.item, answer: true }, a1.signer)
    const after = await audit.state()
    expect(outstandingInspections(after)).toHaveLength(5)
    expect(nextInspection(after, a1.key)?.item).not.toBe(next.item)
    expect(() =>
      after.check({
        author: audit.admin.publicKey,
        type: 'audit.stop',
        body: {},
        time: audit.time,
      }),
    ).toThrow(/has 5 outstanding inspections/)
  })
})

describe('refusals: every command in every state', () => {
  const commands = [
    'add',
    'del',
    'set',
    'open',
    'close',
    'start',
    'stop',
    'finish',
    'settled',
    'register',
    'answer',
    'reassign',
  ] as const
  type Command = (typeof commands)[number]
  const allowedIn: Record<Command, string[]> = {
    add: ['INITIALIZATION'],
    del: ['INITIALIZATION', 'AUDITOR_REGISTRATION', 'AUDITOR_REGISTRATION_COMPLETE'],
    set: ['INITIALIZATION', 'AUDITOR_REGISTRATION', 'AUDITOR_REGISTRATION_COMPLETE'],
    open: ['INITIALIZATION'],
    close: ['AUDITOR_REGISTRATION'],
    start: ['AUDITOR_REGISTRATION_COMPLETE'],
    stop: ['AUDITING'],
    finish: [],
    settled: ['WAITING_FOR_CONTRACT'],
    register: ['AUDITOR_REGISTRATION'],
    answer: ['AUDITING'],
    reassign: ['AUDITING'],
  }
  const type: Record<Command, string> = {
    add: 'audit.item.add',
    del: 'audit.item.delete',
    set: 'audit.param.set',
    open: 'audit.open',
    close: 'audit.close',
    start: 'audit.start',
    stop: 'audit.stop',
    finish: 'audit.finish',
    settled: 'audit.settled',
    register: 'audit.register',
    answer: 'audit.answer',
    reassign: 'audit.reassign',
  }

  /** Builds an audit in `target` state, with 3 items and (from registration on) 4 auditors. */
  async function auditIn(target: string): Promise<AuditFixture> {
    const audit = await AuditFixture.create({})
    for (const description of ['X', 'Y', 'Z']) await audit.act('audit.item.add', { description })
    const steps: (() => Promise<unknown>)[] = [
      () => audit.act('audit.open'),
      async () => {
        for (const a of [a1, a2, a3, a4])
          await audit.act('audit.register', await registrationBody(a), a.signer)
      },
      () => audit.act('audit.close'),
      () => audit.act('audit.start'),
      () => audit.act('audit.stop', { force: true }),
      () => audit.act('audit.settled'),
    ]
    const after = [
      'AUDITOR_REGISTRATION',
      'AUDITOR_REGISTRATION',
      'AUDITOR_REGISTRATION_COMPLETE',
      'AUDITING',
      'WAITING_FOR_CONTRACT',
      'COMPLETE',
    ]
    const stepsNeeded =
      target === 'INITIALIZATION'
        ? 0
        : after.indexOf(target) + (target === 'AUDITOR_REGISTRATION' ? 2 : 1)
    for (const step of steps.slice(0, stepsNeeded)) await step()
    expect((await audit.state()).state).toBe(target)
    return audit
  }

  async function bodyFor(
    command: Command,
    state: Audit,
    audit: AuditFixture,
  ): Promise<{ body: Record<string, unknown>; signer: AuditFixture['admin'] }> {
    const admin = audit.admin
    const mine = state.inspections.find((i) => i.auditor === a1.key && i.status === 'outstanding')
    switch (command) {
      case 'add':
        return { body: { description: 'W' }, signer: admin }
      case 'del':
        return { body: { item: state.items[0]!.id }, signer: admin }
      case 'set':
        return { body: { name: 'num_audits_per_item', value: '3' }, signer: admin }
      case 'stop':
        return { body: { force: true }, signer: admin }
      case 'register':
        return { body: await registrationBody(a5), signer: a5.signer }
      case 'answer':
        return { body: { item: mine?.item ?? state.items[0]!.id, answer: true }, signer: a1.signer }
      case 'reassign':
        return { body: { item: mine?.item ?? state.items[0]!.id, auditor: a1.key }, signer: admin }
      default:
        return { body: {}, signer: admin }
    }
  }

  for (const stateName of [
    'INITIALIZATION',
    'AUDITOR_REGISTRATION',
    'AUDITOR_REGISTRATION_COMPLETE',
    'AUDITING',
    'WAITING_FOR_CONTRACT',
    'COMPLETE',
  ]) {
    test(`in ${stateName}`, async () => {
      const audit = await auditIn(stateName)
      const state = await audit.state()
      for (const command of commands) {
        const { body, signer } = await bodyFor(command, state, audit)
        const draft = {
          author: signer.publicKey,
          type: type[command],
          body,
          time: audit.time + 10 * 24 * 3600 * 1000,
        }
        const allowed = allowedIn[command].includes(stateName)
        if (allowed) {
          expect(() => state.check(draft), `${command} in ${stateName}`).not.toThrow()
        } else if (command === 'finish') {
          expect(() => state.check(draft)).toThrow(
            'takes plain answers; it finishes by itself at "stop"',
          )
        } else {
          const where = allowedIn[command].join(' or ')
          expect(() => state.check(draft), `${command} in ${stateName}`).toThrow(
            `is in state ${stateName}; "${command}" is only allowed in ${where}.`,
          )
        }
      }
    })
  }

  test('a refused op that reaches the log is kept and reported with the same error', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.item.add', { description: 'X' })
    await audit.act('audit.open')
    const late = await audit.act('audit.item.add', { description: 'too late' })
    const state = await audit.state()
    expect(state.items.map((i) => i.description)).toEqual(['X'])
    expect(state.rejected).toEqual([
      {
        id: late.id,
        type: 'audit.item.add',
        name: 'AuditOpRefusedError',
        message:
          'Audit "Downtown Street Lights" is in state AUDITOR_REGISTRATION; "add" is only allowed in INITIALIZATION.',
      },
    ])
  })

  test('an op type that is not an audit op, or a second create, is refused by name', async () => {
    const audit = await AuditFixture.create({})
    const state = await audit.state()
    for (const type of ['audit.bogus', 'audit.create']) {
      expect(() => state.check({ author: a1.signer.publicKey, type, body: {}, time: 0 })).toThrow(
        expect.objectContaining({
          name: 'InvalidAuditInputError',
          message: expect.stringContaining(`"${type}" is not an audit op`),
        }),
      )
    }
  })

  test('admin commands from another key are refused as a permission error', async () => {
    const audit = await AuditFixture.create({})
    const state = await audit.state()
    expect(() =>
      state.check({ author: a1.signer.publicKey, type: 'audit.open', body: {}, time: 0 }),
    ).toThrow(
      expect.objectContaining({
        name: 'AuditPermissionError',
        message: expect.stringContaining(
          'Only an admin of audit "Downtown Street Lights" may open',
        ),
      }),
    )
  })

  test('close needs k registered auditors, start needs items', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.open')
    await audit.act('audit.register', await registrationBody(a1), a1.signer)
    const state = await audit.state()
    expect(() =>
      state.check({ author: audit.admin.publicKey, type: 'audit.close', body: {}, time: 0 }),
    ).toThrow('has 1 registered auditors but needs at least 3 (audits per item) before "close"')
  })
})

describe('auditor registration', () => {
  test('needs a checksummed payout address and a matching EIP-191 proof', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.open')
    const state = await audit.state()
    const draft = (body: Record<string, unknown>) => ({
      author: a1.signer.publicKey,
      type: 'audit.register',
      body,
      time: 0,
    })
    const good = await registrationBody(a1)
    expect(() => state.check(draft(good))).not.toThrow()
    expect(() => state.check(draft({ ...good, payout: good.payout.toLowerCase() }))).toThrow(
      /no EIP-55 checksum/,
    )
    const otherProof = (await registrationBody(a2)).proof
    expect(() => state.check(draft({ ...good, proof: otherProof }))).toThrow(
      /does not prove control of/,
    )
    // Someone else's proof for the same address does not work for another key either.
    expect(() => state.check({ ...draft(good), author: a2.signer.publicKey })).toThrow(
      /does not prove control of/,
    )
    await audit.act('audit.register', good, a1.signer)
    const after = await audit.state()
    expect(() => after.check(draft(good))).toThrow(/already registered/)
  })
})

describe('answers and parameters', () => {
  test.each([
    ['yes', true],
    [' TRUE ', true],
    ['1', true],
    ['Y', true],
    ['t', true],
    ['no', false],
    ['False', false],
    ['0', false],
    ['n', false],
    [' F', false],
  ])('parses %j as %s', (text, value) => {
    expect(parseAnswer(text)).toBe(value)
  })

  test.each(['maybe', '', 'yess', '2', 'oui'])('refuses %j, listing the accepted words', (text) => {
    expect(() => parseAnswer(text)).toThrow(
      'reply with one of yes, true, 1, y, t for yes, or no, false, 0, n, f for no.',
    )
  })

  test.each([
    [{ name: 'x', bond: '1000', auditsPerItem: 4 }, /odd number of at least 3/],
    [{ name: 'x', bond: '1000', auditsPerItem: 1 }, /odd number of at least 3/],
    [{ name: 'x', bond: '1000', slashingRatio: '-1/2' }, /not a valid slashing ratio/],
    [{ name: 'x', bond: '0' }, /bond must be greater than 0/],
    [{ name: 'x', bond: '-5' }, /is not an amount/],
    [{ name: 'x', bond: 1.5 }, /is not an amount/],
    [{ name: '', bond: '1' }, /needs a name/],
    [{ name: 'lights\u001b[31m red', bond: '1' }, /must not contain control characters/],
    [{ name: 'two\nlines', bond: '1' }, /must not contain control characters/],
    [{ name: 'x', bond: '1', reward: { mode: 'lottery' } }, /"classic" or "staked"/],
    [{ name: 'x', bond: `${2n ** 256n}` }, /is too large; an amount is at most 2\^256 − 1/],
    [{ name: 'x', bond: { toString: 1 } }, /bond an object is not an amount/],
    [{ name: 'x', bond: '1', reward: 'classic' }, /reward must be an object/],
    [{ name: 'x', bond: '1', reward: { mode: 'classic', stake: '5' } }, /"stake" is not a setting/],
    [
      { name: 'x', bond: '1', reward: { mode: 'staked', stake: { toString: 1 } } },
      /stake an object is not an amount/,
    ],
    [{ name: 'x', bond: '1', auditsPerItem: [3] }, /audits per item a list of 1 is not allowed/],
  ])('refuses bad parameters %j', (body, message) => {
    expect(() => parseAuditParams(body, 'aa'.repeat(32))).toThrow(message)
  })

  test('accepts the largest amount the escrow can pay', () => {
    const params = parseAuditParams({ name: 'x', bond: `${2n ** 256n - 1n}` }, 'aa'.repeat(32))
    expect(params.bond).toBe(2n ** 256n - 1n)
  })

  test('set refuses an even k with the same message, and accepts the original names', async () => {
    const audit = await AuditFixture.create({})
    const state = await audit.state()
    const set = (name: string, value: string) =>
      state.check({
        author: audit.admin.publicKey,
        type: 'audit.param.set',
        body: { name, value },
        time: 0,
      })
    expect(() => set('num_audits_per_item', '4')).toThrow(/odd number of at least 3/)
    expect(() => set('slashing_ratio', '0.25')).not.toThrow()
    expect(() => set('colour', 'blue')).toThrow(/"colour" is not a parameter you can set/)
    // Object.prototype's members are not parameters.
    for (const name of ['__proto__', 'toString', 'constructor'])
      expect(() => set(name, '1')).toThrow(/is not a parameter you can set/)
    await audit.act('audit.param.set', { name: 'num_audits_per_item', value: '5' })
    expect((await audit.state()).params.auditsPerItem).toBe(5)
  })
})

describe('commit–reveal', () => {
  const salt = (n: number) => new Uint8Array(16).fill(n)

  test('commitments are revealed after stop; a mismatch is refused; a non-reveal counts as missing; a copied commitment cannot be revealed', async () => {
    const audit = await AuditFixture.create({ commitReveal: true })
    const state = await audit.runToAuditing({ items: ['X'], auditors: [a1, a2, a3] })
    const item = state.items[0]!.id
    const commit = (a: TestAuditor, answer: boolean) =>
      commitAnswer({ audit: audit.id, item, auditor: a.signer.publicKey, answer, salt: salt(1) })
    // Plain answers are refused in a commit–reveal audit.
    expect(() =>
      state.check({
        author: a1.signer.publicKey,
        type: 'audit.answer',
        body: { item, answer: true },
        time: 0,
      }),
    ).toThrow(/uses commit–reveal/)
    await audit.act('audit.commit', { item, commitment: commit(a1, true) }, a1.signer)
    await audit.act('audit.commit', { item, commitment: commit(a1, true) }, a2.signer) // a2 copies a1's commitment
    await audit.act('audit.commit', { item, commitment: commit(a3, false) }, a3.signer)
    // Reveals are refused before stop.
    const committed = await audit.state()
    expect(() =>
      committed.check({
        author: a1.signer.publicKey,
        type: 'audit.reveal',
        body: { item, answer: true, salt: salt(1) },
        time: 0,
      }),
    ).toThrow('is in state AUDITING; "reveal" is only allowed in AUDITING_FINISHED.')
    await audit.act('audit.stop')
    expect((await audit.state()).state).toBe('AUDITING_FINISHED')
    await audit.act('audit.reveal', { item, answer: true, salt: salt(1) }, a1.signer)
    const copied = await audit.act('audit.reveal', { item, answer: true, salt: salt(1) }, a2.signer)
    const wrong = await audit.act('audit.reveal', { item, answer: true, salt: salt(1) }, a3.signer) // a3 committed false
    await audit.act('audit.finish')
    const final = await audit.state()
    expect(final.rejected.map((r) => r.id).sort()).toEqual([copied.id, wrong.id].sort())
    for (const r of final.rejected) expect(r.message).toMatch(/do not match your commitment/)
    const byKey = Object.fromEntries(final.inspections.map((i) => [i.auditor, i.status]))
    expect(byKey).toEqual({ [a1.key]: 'revealed', [a2.key]: 'missing', [a3.key]: 'missing' })
    expect(final.results!.items[0]).toMatchObject({ yes: 1, no: 0, missing: 2, result: true })
    expect(final.state).toBe('WAITING_FOR_CONTRACT')
  })
})

describe('deadlines', () => {
  test('a missed inspection is reassigned to a backup after its deadline; the no-show counts as missing', async () => {
    const audit = await AuditFixture.create({ inspectionDeadline: 60_000 })
    const state = await audit.runToAuditing({ items: ['X'], auditors: [a1, a2, a3, a4] })
    const item = state.items[0]!.id
    const assigned = state.inspections.map((i) => i.auditor)
    const noShow = auditors.find((a) => a.key === assigned[0])!
    const others = auditors.filter((a) => assigned.includes(a.key) && a !== noShow)
    for (const a of others) await audit.act('audit.answer', { item, answer: true }, a.signer)
    // Before the deadline: refused.
    const early = await audit.state()
    expect(() =>
      early.check({
        author: audit.admin.publicKey,
        type: 'audit.reassign',
        body: { item, auditor: noShow.key },
        time: audit.time,
      }),
    ).toThrow(/can be reassigned only after its deadline/)
    audit.time += 120_000
    await audit.act('audit.reassign', { item, auditor: noShow.key })
    const after = await audit.state()
    expect(after.rejected).toEqual([])
    const backupKey = after.inspections.find((i) => i.status === 'outstanding')!.auditor
    expect(backupKey).not.toBe(noShow.key)
    expect(assigned).not.toContain(backupKey)
    const backup = auditors.find((a) => a.key === backupKey)!
    // The no-show's late answer is refused: the inspection is no longer theirs.
    expect(() =>
      after.check({
        author: noShow.signer.publicKey,
        type: 'audit.answer',
        body: { item, answer: true },
        time: audit.time,
      }),
    ).toThrow(/not one of your open inspections/)
    await audit.act('audit.answer', { item, answer: false }, backup.signer)
    await audit.act('audit.stop')
    const final = await audit.state()
    const result = (key: string) =>
      final.results!.auditors[final.auditors.findIndex((a) => a.key === key)]!
    expect(result(noShow.key)).toMatchObject({ missing: 1, aligned: 0, paid: 0n })
    expect(result(backup.key)).toMatchObject({ misaligned: 1, aligned: 0 })
    expect(final.results!.items[0]).toMatchObject({ yes: 2, no: 1, missing: 1, result: true })
  })
})

describe('causal cuts', () => {
  test('a registration concurrent with close is kept but excluded from the roster', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.item.add', { description: 'X' })
    await audit.act('audit.open')
    for (const a of [a1, a2, a3])
      await audit.act('audit.register', await registrationBody(a), a.signer)
    const before = audit.heads()
    await audit.act('audit.close')
    const late = await audit.actOn(before, 'audit.register', await registrationBody(a4), a4.signer) // did not see close
    const state = await audit.state()
    expect(state.auditors.map((a) => a.key)).not.toContain(a4.key)
    expect(state.excluded).toEqual([
      expect.objectContaining({
        id: late.id,
        message: expect.stringContaining('concurrent with "close"'),
      }),
    ])
    expect(state.rejected).toEqual([])
  })

  test('an answer concurrent with stop, or back-dated before it, is excluded', async () => {
    const audit = await AuditFixture.create({})
    const state = await audit.runToAuditing({ items: ['X'], auditors: [a1, a2, a3] })
    const item = state.items[0]!.id
    await audit.act('audit.answer', { item, answer: true }, a1.signer)
    const before = audit.heads()
    await audit.act('audit.stop', { force: true })
    audit.time -= 3_600_000 // the author's clock claims an earlier time: it does not matter
    const late = await audit.actOn(before, 'audit.answer', { item, answer: false }, a2.signer)
    const final = await audit.state()
    expect(final.excluded.map((e) => e.id)).toEqual([late.id])
    expect(final.results!.items[0]).toMatchObject({ yes: 1, no: 0, missing: 2 })
  })

  test('of two concurrent control ops, the earlier in the deterministic order wins, the other is refused', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.item.add', { description: 'X' })
    const before = audit.heads()
    const open = await audit.act('audit.open')
    const stale = await audit.actOn(before, 'audit.param.set', { name: 'bond', value: '5' })
    const state = await audit.state()
    const order = audit.ledger.log.order(audit.id)
    const [first, second] =
      order.indexOf(open.id) < order.indexOf(stale.id) ? [open, stale] : [stale, open]
    expect(state.rejected).toEqual([
      expect.objectContaining({
        id: second.id,
        message: expect.stringContaining('was made without seeing'),
      }),
    ])
    expect(state.params.bond).toBe(first === stale ? 5n : 1000n)
    expect(state.state).toBe(first === open ? 'AUDITOR_REGISTRATION' : 'INITIALIZATION')
  })
})

describe('settlement signatures', () => {
  test('nodes sign the settlement report once each; garbage, duplicates and early signatures are refused', async () => {
    const audit = await AuditFixture.create({ bond: '900' })
    await audit.runToAuditing({ items: ['A'], auditors: [a1, a2, a3] })
    const domain = { chainId: 31337, escrow: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const }
    const node = privateKeyToAccount(generatePrivateKey())
    const early = await audit.act('audit.settlement.sign', {
      ...domain,
      signature: `0x${'11'.repeat(65)}`,
    })
    await audit.answerAll(a1, () => true)
    await audit.answerAll(a2, () => true)
    await audit.answerAll(a3, () => false)
    await audit.act('audit.stop')
    const before = await audit.state()
    const typed = settlementTypedData({
      ...domain,
      auditId: auditIdOf(audit.id),
      payees: before.settlement!.payees,
      amounts: before.settlement!.amounts,
    })
    const signature = await node.signTypedData(typed)
    const signed = await audit.act('audit.settlement.sign', { ...domain, signature })
    const again = await audit.act('audit.settlement.sign', { ...domain, signature })
    const garbage = await audit.act('audit.settlement.sign', { ...domain, signature: '0x12' })
    const noChain = await audit.act('audit.settlement.sign', { escrow: domain.escrow, signature })
    const state = await audit.state()
    expect(state.settlementSignatures).toEqual([
      { ...domain, signer: node.address, signature, op: signed.id },
    ])
    const refused = Object.fromEntries(state.rejected.map((r) => [r.id, r]))
    expect(refused[early.id]).toMatchObject({
      name: 'AuditOpRefusedError',
      message: expect.stringContaining('AUDITING'),
    })
    expect(refused[again.id]).toMatchObject({
      name: 'AuditOpRefusedError',
      message: expect.stringContaining('already signed'),
    })
    expect(refused[garbage.id]?.name).toBe('InvalidAuditInputError')
    expect(refused[noChain.id]?.message).toContain('chainId')
  })
})
