import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { assignAuditors, assignmentSeed, SeededRandom } from '../src/core/audit/assign.ts'
import { commitAnswer } from '../src/core/audit/commitment.ts'
import { parseAuditParams } from '../src/core/audit/params.ts'
import { nextInspection } from '../src/core/audit/queries.ts'
import { createAuditReducer, reduceAudit } from '../src/core/audit/reduce.ts'
import { type TallyInspection, tally } from '../src/core/audit/tally.ts'
import type { Address } from '../src/core/identity.ts'
import { OpRefusedError } from '../src/ledger/errors.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { parseOpIdBytes } from '../src/ledger/op-id.ts'
import { AuditFixture, registrationBody, testAuditor } from './audit-fixture.ts'
import { makeOp, memoryLedger } from './helpers.ts'

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('assignment', () => {
  test('gives each item exactly k distinct auditors, loads within one, the same for the same seed', () => {
    fc.assert(
      fc.property(
        seedArb,
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 20 }),
        fc.constantFrom(3, 5, 7),
        (seed, items, extra, k) => {
          const auditors = k + extra
          const slots = assignAuditors({ seed, items, auditors, k })
          expect(slots).toHaveLength(items * k)
          for (let i = 0; i < items; i++)
            expect(new Set(slots.subarray(i * k, i * k + k)).size).toBe(k)
          const loads = new Array<number>(auditors).fill(0)
          for (const a of slots) {
            expect(a).toBeGreaterThanOrEqual(0)
            expect(a).toBeLessThan(auditors)
            loads[a]!++
          }
          expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1)
          expect(assignAuditors({ seed, items, auditors, k })).toEqual(slots)
        },
      ),
      { numRuns: 300 },
    )
  })

  test('draws uniformly without modulo bias (chi-square on 60,000 draws, p = 0.001)', () => {
    const random = new SeededRandom(new Uint8Array(32).fill(9))
    const counts = new Array<number>(6).fill(0)
    for (let i = 0; i < 60_000; i++) counts[random.below(6)]!++
    const chi = counts.reduce((sum, c) => sum + (c - 10_000) ** 2 / 10_000, 0)
    expect(chi).toBeLessThan(20.5) // p = 0.001 for 5 degrees of freedom
  })

  test('anyone can recompute an audit’s assignment from its start op and roster', async () => {
    const audit = await AuditFixture.create({})
    const auditors = [0, 1, 2, 3, 4].map(testAuditor)
    const state = await audit.runToAuditing({ items: ['A', 'B', 'C', 'D'], auditors })
    const start = state.transitions.find((t) => t.state === 'AUDITING')!.op
    const slots = assignAuditors({
      seed: assignmentSeed(parseOpIdBytes(start)),
      items: 4,
      auditors: 5,
      k: 3,
    })
    const expected = state.items.flatMap((item, i) =>
      [0, 1, 2].map((j) => `${item.id}:${state.auditors[slots[i * 3 + j]!]!.key}`),
    )
    expect(state.inspections.map((x) => `${x.item}:${x.auditor}`)).toEqual(expected)
  })
})

describe('money conservation', () => {
  const payouts = Array.from(
    { length: 8 },
    (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}` as Address,
  )
  /** A real inspection set: each item's k assigned auditors answer or not; plus reassigned-away no-shows (missing). */
  const inspectionsArb = (items: number, auditors: number, k = 3) =>
    fc
      .record({
        seed: seedArb,
        answers: fc.array(fc.constantFrom(true, false, undefined), {
          minLength: items * k,
          maxLength: items * k,
        }),
        noShows: fc.array(fc.record({ item: fc.nat(items - 1), auditor: fc.nat(auditors - 1) }), {
          maxLength: 4,
        }),
      })
      .map(({ seed, answers, noShows }): TallyInspection[] => {
        const slots = assignAuditors({ seed, items, auditors, k })
        const active = [...slots].map((auditor, n) => ({
          item: Math.floor(n / k),
          auditor,
          answer: answers[n],
        }))
        return [...active, ...noShows.map((x) => ({ ...x, answer: undefined }))]
      })

  test('classic: Σ payouts + remainder = bond, every payout ≥ 0', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 24n }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom('1/2', '0', '1', '2/3', '5'),
        fc.integer({ min: 3, max: 8 }),
        (bond, items, ratio, auditors) =>
          fc.assert(
            fc.property(inspectionsArb(items, auditors), (inspections: TallyInspection[]) => {
              const params = parseAuditParams(
                { name: 'p', bond: `${bond}`, slashingRatio: ratio },
                'aa'.repeat(32),
              )
              const r = tally({
                params,
                itemCount: items,
                payouts: payouts.slice(0, auditors),
                inspections,
              })
              const paid = r.auditors.reduce((sum, a) => sum + a.paid, 0n)
              for (const a of r.auditors) expect(a.paid).toBeGreaterThanOrEqual(0n)
              expect(paid + r.remainder).toBe(bond)
              expect(r.remainder).toBeGreaterThanOrEqual(0n)
            }),
            { numRuns: 5 },
          ),
      ),
      { numRuns: 60 },
    )
  })

  test('tally refuses an inconsistent inspection set rather than pay more than the bond', () => {
    const params = parseAuditParams({ name: 'p', bond: '1000' }, 'aa'.repeat(32))
    const inspections = [0, 1, 2, 3].map((auditor) => ({ item: 0, auditor, answer: true }))
    expect(() =>
      tally({ params, itemCount: 1, payouts: payouts.slice(0, 4), inspections }),
    ).toThrow('more than 3 answered inspections')
  })

  test('staked: Σ stakes + bond = Σ payouts + Σ returned + remainder', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.bigInt({ min: 1n, max: 10n ** 18n }),
        fc.constantFrom('1/2', '1', '1/3', '0'),
        fc.constantFrom('1/4', '1', '0', '3/7'),
        fc.integer({ min: 1, max: 6 }),
        (bond, stake, slashWrong, slashMissing, items) =>
          fc.assert(
            fc.property(inspectionsArb(items, 5), (inspections: TallyInspection[]) => {
              const params = parseAuditParams(
                {
                  name: 'p',
                  bond: `${bond}`,
                  reward: { mode: 'staked', stake: `${stake}`, slashWrong, slashMissing },
                },
                'aa'.repeat(32),
              )
              const r = tally({
                params,
                itemCount: items,
                payouts: payouts.slice(0, 5),
                inspections,
              })
              const stakes = stake * 5n
              const paid = r.auditors.reduce((sum, a) => sum + a.paid, 0n)
              const returned = r.auditors.reduce((sum, a) => sum + a.returned, 0n)
              expect(stakes + bond).toBe(paid + returned + r.remainder)
              for (const a of r.auditors) {
                expect(a.slashed).toBeLessThanOrEqual(stake)
                expect(a.returned).toBeGreaterThanOrEqual(0n)
              }
            }),
            { numRuns: 5 },
          ),
      ),
      { numRuns: 60 },
    )
  })
})

/** Serialises a state for comparison: bigints and bytes as text. */
const canonical = (value: unknown) =>
  JSON.stringify(value, (_, v) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  )

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items]
  let state = seed >>> 0 || 1
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const j = state % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('audit convergence', () => {
  test('replicas receiving a random audit’s ops in any order compute identical state and settlement', async () => {
    const pool = [0, 1, 2, 3, 4].map(testAuditor)
    const proofs = await Promise.all(pool.map(registrationBody))
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        fc.array(fc.constantFrom('yes', 'no', 'silent', 'late'), { minLength: 15, maxLength: 15 }),
        fc.array(fc.integer(), { minLength: 3, maxLength: 3 }),
        async (registered, items, lateRegistration, answers, seeds) => {
          const audit = await AuditFixture.create({ bond: '999' })
          for (let i = 0; i < items; i++)
            await audit.act('audit.item.add', { description: `item ${i}` })
          await audit.act('audit.open')
          for (let i = 0; i < registered; i++) {
            if (i >= 3 && lateRegistration[i]) continue
            await audit.act('audit.register', proofs[i]!, pool[i]!.signer)
          }
          const headsBeforeClose = audit.heads()
          await audit.act('audit.close')
          // Registrations that did not see close: concurrent, so excluded on every replica.
          for (let i = 3; i < registered; i++)
            if (lateRegistration[i])
              await audit.actOn(headsBeforeClose, 'audit.register', proofs[i]!, pool[i]!.signer)
          await audit.act('audit.start')
          const state = await audit.state()
          const late: [number, string, boolean][] = []
          state.inspections.forEach((inspection, n) => {
            const who = pool.findIndex((a) => a.key === inspection.auditor)
            const choice = answers[n % answers.length]!
            if (choice === 'late') late.push([who, inspection.item, true])
          })
          for (const [n, inspection] of state.inspections.entries()) {
            const choice = answers[n % answers.length]!
            if (choice !== 'yes' && choice !== 'no') continue
            const who = pool.find((a) => a.key === inspection.auditor)!
            await audit.act(
              'audit.answer',
              { item: inspection.item, answer: choice === 'yes' },
              who.signer,
            )
          }
          const headsBeforeStop = audit.heads()
          await audit.act('audit.stop', { force: true })
          for (const [who, item, answer] of late)
            await audit.actOn(headsBeforeStop, 'audit.answer', { item, answer }, pool[who]!.signer)
          const ops = await audit.ops()
          const reference = canonical(reduceAudit(ops))
          expect(JSON.parse(reference).state).toBe('WAITING_FOR_CONTRACT')
          // A stranger's admin command and an answer by a non-auditor: refused on their causal
          // past, so no replica may admit them, in whatever order it receives them.
          const stranger = testAuditor(9).signer
          const junk = [
            makeOp(stranger, {
              doc: audit.id,
              seq: 1,
              deps: headsBeforeStop,
              type: 'audit.stop',
              body: {},
            }),
            makeOp(stranger, {
              doc: audit.id,
              seq: 2,
              deps: headsBeforeStop,
              type: 'audit.answer',
              body: { item: state.items[0]!.id, answer: true },
            }),
          ]
          for (const seed of seeds) {
            // The incremental reducer sees ops in this replica's acceptance order, and admission
            // judges each op on it (BEC), as a node does.
            const incremental = createAuditReducer(ops[0]!)
            const replica = await memoryLedger({
              admit: (_doc, op) => {
                if (op.id === audit.id) return undefined
                const judgement = incremental.judge(op)
                return judgement && !judgement.tieBreak
                  ? new OpRefusedError(op.id, judgement.name, judgement.message)
                  : undefined
              },
            })
            replica.onAdded((accepted) => {
              for (const { op } of accepted) if (op.id !== audit.id) incremental.apply(op)
            })
            const delivery = shuffle([...ops, ...junk, ...ops.slice(0, 3)], seed)
            for (let i = 0; i < delivery.length; i += 5)
              await replica.ingest(delivery.slice(i, i + 5).map((op) => op.bytes))
            // Every honest op is admitted whatever the order; the junk never is.
            expect(replica.log.size(audit.id)).toBe(ops.length)
            expect(junk.every((op) => !replica.log.has(audit.id, op.id))).toBe(true)
            expect(replica.log.pendingCount()).toBe(0)
            // Each junk op was refused, at once or when its deps arrived: resent, it says so.
            const again = await replica.ingest(junk.map((op) => op.bytes))
            expect(again.map((r) => !r.ok && r.error.name)).toEqual(Array(2).fill('OpRefusedError'))
            const ordered = (await replica.getOps(
              audit.id,
              replica.log.order(audit.id),
            )) as EncodedOp[]
            expect(canonical(reduceAudit(ordered))).toBe(reference)
            expect(incremental.size).toBe(ops.length)
            if (!incremental.orderSensitive) expect(canonical(incremental.state())).toBe(reference)
            // The cheap per-auditor lookup agrees with the one computed from the whole state.
            const state = incremental.state()
            for (const { key } of state.auditors)
              expect(incremental.nextInspection(key)).toEqual(nextInspection(state, key))
            expect(incremental.stateName()).toBe(state.state)
            expect(incremental.counts()).toEqual({
              items: state.items.length,
              auditors: state.auditors.length,
            })
          }
        },
      ),
      { numRuns: 25 },
    )
  })
})

describe('incremental reducer', () => {
  test('flags order sensitivity when concurrent ops conflict, so the caller recomputes in log order', async () => {
    const audit = await AuditFixture.create({})
    const before = audit.heads()
    await audit.act('audit.item.add', { description: 'first' })
    await audit.actOn(before, 'audit.item.add', { description: 'concurrent' })
    const ops = await audit.ops()
    const reducer = createAuditReducer(ops[0]!)
    for (const op of ops.slice(1)) reducer.apply(op)
    expect(reducer.orderSensitive).toBe(true)
    expect(
      reducer
        .state()
        .items.map((i) => i.description)
        .sort(),
    ).toEqual(['concurrent', 'first'])
  })

  test('stays order-insensitive on a sequential audit and matches reduceAudit', async () => {
    const audit = await AuditFixture.create({})
    await audit.runToAuditing({ items: ['A', 'B'], auditors: [0, 1, 2].map(testAuditor) })
    const ops = await audit.ops()
    const reducer = createAuditReducer(ops[0]!)
    for (const op of ops.slice(1)) reducer.apply(op)
    expect(reducer.orderSensitive).toBe(false)
    expect(canonical(reducer.state())).toBe(canonical(reduceAudit(ops)))
  })
})

describe('commit–reveal across concurrency', () => {
  test('a reveal concurrent with finish is excluded, whichever of the two is applied first', async () => {
    const audit = await AuditFixture.create({ commitReveal: true })
    const pool = [0, 1, 2].map(testAuditor)
    const state = await audit.runToAuditing({ items: ['X'], auditors: pool })
    const item = state.items[0]!.id
    const salt = new Uint8Array(16).fill(7)
    for (const a of pool) {
      const commitment = commitAnswer({
        audit: audit.id,
        item,
        auditor: a.signer.publicKey,
        answer: true,
        salt,
      })
      await audit.act('audit.commit', { item, commitment }, a.signer)
    }
    await audit.act('audit.stop')
    await audit.act('audit.reveal', { item, answer: true, salt }, pool[0]!.signer)
    const before = audit.heads()
    const finish = await audit.act('audit.finish')
    const late = await audit.actOn(
      before,
      'audit.reveal',
      { item, answer: true, salt },
      pool[1]!.signer,
    )
    const ops = await audit.ops()
    const i = ops.findIndex((op) => op.id === finish.id)
    const j = ops.findIndex((op) => op.id === late.id)
    const swapped = [...ops]
    ;[swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!] // both orders are topological: the two are concurrent
    for (const order of [ops, swapped]) {
      const result = reduceAudit(order)
      expect(result.excluded.map((e) => e.id)).toEqual([late.id])
      expect(result.rejected).toEqual([])
      expect(result.results!.items[0]).toMatchObject({ yes: 1, missing: 2 })
    }
    expect(canonical(reduceAudit(ops))).toBe(canonical(reduceAudit(swapped)))
  })
})

describe('concurrency that used to depend on the apply order', () => {
  /** The two orders of a log in which the ops `a` and `b` are concurrent. */
  const bothOrders = (ops: EncodedOp[], a: EncodedOp, b: EncodedOp) => {
    const i = ops.findIndex((op) => op.id === a.id)
    const j = ops.findIndex((op) => op.id === b.id)
    const swapped = [...ops]
    ;[swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!]
    return [ops, swapped]
  }

  /**
   * One item, four auditors: two of the three assigned answer yes, the third misses its deadline
   * and is reassigned. `before` is the heads the no-show last saw; `backupAnswers` answers yes
   * as the backup.
   */
  async function missedInspection() {
    const pool = [0, 1, 2, 3].map(testAuditor)
    const audit = await AuditFixture.create({ inspectionDeadline: 60_000 })
    const state = await audit.runToAuditing({ items: ['X'], auditors: pool })
    const item = state.items[0]!.id
    const assigned = state.inspections.map((i) => i.auditor)
    const noShow = pool.find((a) => a.key === assigned[0])!
    for (const a of pool.filter((a) => assigned.includes(a.key) && a !== noShow))
      await audit.act('audit.answer', { item, answer: true }, a.signer)
    audit.time += 120_000
    const before = audit.heads()
    const reassign = await audit.act('audit.reassign', { item, auditor: noShow.key })
    const backupAnswers = async () => {
      const backupKey = (await audit.state()).inspections.find(
        (i) => i.status === 'outstanding',
      )!.auditor
      await audit.act(
        'audit.answer',
        { item, answer: true },
        pool.find((a) => a.key === backupKey)!.signer,
      )
    }
    /** The no-show answers at last, having seen only `before`. */
    const lateAnswer = () =>
      audit.actOn(before, 'audit.answer', { item, answer: false }, noShow.signer)
    return { audit, reassign, backupAnswers, lateAnswer }
  }

  test('an answer concurrent with its reassignment never counts, whichever is applied first', async () => {
    const { audit, reassign, backupAnswers, lateAnswer } = await missedInspection()
    const late = await lateAnswer()
    await backupAnswers()
    await audit.act('audit.stop')
    const orders = bothOrders(await audit.ops(), reassign, late)
    const states = orders.map((ops) => reduceAudit(ops))
    for (const result of states) {
      expect(result.state).toBe('WAITING_FOR_CONTRACT')
      expect(result.rejected).toEqual([])
      expect(result.excluded.map((e) => e.id)).toEqual([late.id])
      expect(result.results!.items[0]).toMatchObject({ yes: 3, no: 0, missing: 1 })
    }
    expect(canonical(states[0])).toBe(canonical(states[1]))
  })

  test('an answer concurrent with its reassignment and with stop is excluded alike in every order', async () => {
    const { audit, reassign, backupAnswers, lateAnswer } = await missedInspection()
    await backupAnswers()
    const stop = await audit.act('audit.stop')
    // Made having seen neither the reassignment nor the stop.
    const late = await lateAnswer()
    const rest = (await audit.ops()).filter((op) => op.id !== late.id)
    const at = (op: EncodedOp) => rest.findIndex((o) => o.id === op.id)
    // Before the reassignment, between it and the stop, after the stop: all topological.
    const orders = [at(reassign), at(reassign) + 1, at(stop) + 1].map((k) => [
      ...rest.slice(0, k),
      late,
      ...rest.slice(k),
    ])
    const states = orders.map((ops) => {
      const reducer = createAuditReducer(ops[0]!)
      for (const op of ops.slice(1)) reducer.apply(op)
      return reducer.state()
    })
    for (const result of states) {
      expect(result.excluded).toEqual([
        expect.objectContaining({
          id: late.id,
          message: 'the inspection had been reassigned after its deadline',
        }),
      ])
      expect(result.results!.items[0]).toMatchObject({ yes: 3, no: 0, missing: 1 })
    }
    expect(canonical(states[1]!)).toBe(canonical(states[0]!))
    expect(canonical(states[2]!)).toBe(canonical(states[0]!))
  })

  test('concurrent duplicate registrations are flagged, so the log order decides which payout counts', async () => {
    const [a1, a2, a3] = [0, 1, 2].map(testAuditor)
    const other = testAuditor(9)
    // The same Ed25519 key, registering twice with two payout addresses it controls.
    const twin = { ...a1!, account: other.account }
    const audit = await AuditFixture.create({})
    await audit.act('audit.item.add', { description: 'X' })
    await audit.act('audit.open')
    const before = audit.heads()
    const first = await audit.act('audit.register', await registrationBody(a1!), a1!.signer)
    const second = await audit.actOn(
      before,
      'audit.register',
      await registrationBody(twin),
      a1!.signer,
    )
    for (const a of [a2!, a3!])
      await audit.act('audit.register', await registrationBody(a), a.signer)
    const ops = await audit.ops()
    for (const order of bothOrders(ops, first, second)) {
      const reducer = createAuditReducer(order[0]!)
      for (const op of order.slice(1)) reducer.apply(op)
      expect(reducer.orderSensitive).toBe(true)
    }
  })

  test('concurrent deletes of one item are flagged, so the log order decides what start sees', async () => {
    const audit = await AuditFixture.create({})
    const item = await audit.act('audit.item.add', { description: 'X' })
    const before = audit.heads()
    const first = await audit.act('audit.item.delete', { item: item.id })
    const second = await audit.actOn(before, 'audit.item.delete', { item: item.id })
    for (const order of bothOrders(await audit.ops(), first, second)) {
      const reducer = createAuditReducer(order[0]!)
      for (const op of order.slice(1)) reducer.apply(op)
      expect(reducer.orderSensitive).toBe(true)
    }
  })

  test('an op body that breaks String() is refused, not thrown out of the reducer', async () => {
    const [a1, a2, a3] = [0, 1, 2].map(testAuditor)
    const audit = await AuditFixture.create({})
    await audit.runToAuditing({ items: ['X'], auditors: [a1!, a2!, a3!] })
    const hostile = { toString: 1 }
    const answer = await audit.act('audit.answer', { item: hostile, answer: true }, a1!.signer)
    const reassign = await audit.act('audit.reassign', { item: hostile, auditor: a1!.key })
    const params = await audit.act('audit.param.set', { name: hostile, value: hostile })
    const state = await audit.state()
    expect(state.rejected.map((r) => r.id).sort()).toEqual(
      [answer.id, reassign.id, params.id].sort(),
    )
    expect(state.rejected.find((r) => r.id === answer.id)!.message).toContain(
      'Item an object is not one of your open inspections',
    )
    // A genesis with such a body is not an audit, with a named error.
    const ledger = await memoryLedger()
    const genesis = await ledger.append(testAuditor(5).signer, {
      doc: null,
      type: 'audit.create',
      body: { name: 'x', bond: hostile },
      time: 0,
    })
    expect(() => createAuditReducer(genesis)).toThrow(/bond an object is not an amount/)
  })
})
