import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type DecidedRequest,
  type DecisionAmounts,
  decide,
  ImpactNotDecidedError,
  ImpactPoolShortError,
  type ImpactVote,
  InvalidImpactDecisionError,
  MAX_SEATS,
  payouts,
  settleBatch,
  suspensions,
} from '../src/core/impact/decide.ts'

/** Votes from a compact string: 'YN-' gives a Y to a, an N to b, and c stays silent. */
function votesOf(pattern: string): { assigned: string[]; votes: ImpactVote[] } {
  const assigned = [...pattern].map((_, i) => String.fromCharCode(97 + i))
  const votes = [...pattern].flatMap((v, i): ImpactVote[] =>
    v === 'Y' || v === 'N' ? [{ auditor: assigned[i]!, vote: v }] : [],
  )
  return { assigned, votes }
}

const action: DecisionAmounts = {
  rewardstoken: 0,
  rewardsamount: 1000n,
  rewardsoracle: 20n,
  rewardsauditors: 100n,
  slashingsauditors: 7n,
}

describe('decide', () => {
  // required, pattern of seats (Y, N, or - for silent, in vote order), expected status.
  const cases: [number, string, 'pending' | 'approved' | 'refused'][] = [
    [1, '', 'pending'],
    [1, '-', 'pending'],
    [1, 'Y', 'approved'],
    [1, 'N', 'refused'],
    [2, 'YY', 'approved'],
    [2, 'YN', 'refused'],
    [2, 'NY', 'refused'],
    [2, 'Y-', 'pending'],
    [2, 'N-', 'refused'],
    [2, '--', 'pending'],
    [2, 'YYN', 'approved'],
    [2, 'YNY', 'approved'],
    [2, 'NYY', 'approved'],
    [2, 'YNN', 'refused'],
    [2, 'NNY', 'refused'],
    [2, 'NN-', 'refused'],
    [2, 'YN-', 'pending'],
    [2, 'N--', 'pending'],
    [2, 'Y--', 'pending'],
    [3, 'YYY', 'approved'],
    [3, 'YYN', 'refused'],
    [2, 'YNNY', 'approved'],
    [2, 'NNYY', 'approved'],
    [2, 'YYNN', 'approved'],
    [2, 'NNN-', 'refused'],
    [2, 'NN--', 'pending'],
    [3, 'YY', 'pending'],
    [3, 'N', 'refused'],
  ]
  test.each(cases)('required %i, votes "%s" → %s', (required, pattern, expected) => {
    const { assigned, votes } = votesOf(pattern)
    const decision = decide({ required, assigned, votes })
    expect(decision.status).toBe(expected)
    expect(decision.seats).toBe(Math.max(required, assigned.length))
  })

  test('a tie of Y and N among four seats with two required approves at the second Y', () => {
    const { assigned, votes } = votesOf('YNNY')
    const d = decide({ required: 2, assigned, votes })
    expect(d).toMatchObject({
      status: 'approved',
      matched: ['a', 'd'],
      contradicted: ['b', 'c'],
      late: [],
      silent: [],
      decidedBy: 3,
    })
  })

  test('votes after the deciding one are late, neither matched nor contradicted', () => {
    const { assigned, votes } = votesOf('YYNN')
    const d = decide({ required: 2, assigned, votes })
    expect(d).toMatchObject({
      matched: ['a', 'b'],
      contradicted: [],
      late: ['c', 'd'],
      decidedBy: 1,
    })
  })

  test('a refusal matches the N votes and contradicts the Y votes, the silent seat listed', () => {
    const { assigned, votes } = votesOf('YNN-')
    const d = decide({ required: 3, assigned, votes })
    expect(d).toMatchObject({
      status: 'refused',
      matched: ['b', 'c'],
      contradicted: ['a'],
      silent: ['d'],
      decidedBy: 2,
    })
  })

  test('a pending request matches and contradicts nobody but lists the votes so far', () => {
    const { assigned, votes } = votesOf('YN-')
    const d = decide({ required: 2, assigned, votes })
    expect(d).toMatchObject({
      status: 'pending',
      approvals: ['a'],
      refusals: ['b'],
      matched: [],
      contradicted: [],
      silent: ['c'],
      decidedBy: -1,
    })
  })

  test('a seat nobody fills yet still counts, so one Y of two required with one assigned stays pending', () => {
    expect(
      decide({ required: 2, assigned: ['a'], votes: [{ auditor: 'a', vote: 'Y' }] }).status,
    ).toBe('pending')
    expect(decide({ required: 2, assigned: [], votes: [] })).toMatchObject({
      status: 'pending',
      seats: 2,
    })
  })

  test('a seat whose auditor missed its deadline keeps counting: Y,N with the third unassigned stays pending', () => {
    const votes: ImpactVote[] = [
      { auditor: 'a', vote: 'Y' },
      { auditor: 'b', vote: 'N' },
    ]
    // c missed its deadline and was unassigned; the request was drawn with three seats.
    expect(decide({ required: 2, assigned: ['a', 'b'], votes, seats: 3 }).status).toBe('pending')
    expect(decide({ required: 2, assigned: ['a', 'b'], votes }).status).toBe('refused')
    const replaced = [...votes, { auditor: 'd', vote: 'Y' } as const]
    expect(
      decide({ required: 2, assigned: ['a', 'b', 'd'], votes: replaced, seats: 3 }),
    ).toMatchObject({ status: 'approved', matched: ['a', 'd'], contradicted: ['b'] })
    expect(() => decide({ required: 2, assigned: ['a', 'b', 'd'], votes, seats: 2 })).toThrow(
      /seats 2 is out of range; give a whole number from 3/,
    )
  })

  test('refuses a vote by an auditor not assigned, naming it', () => {
    expect(() =>
      decide({ required: 1, assigned: ['a'], votes: [{ auditor: 'z', vote: 'Y' }] }),
    ).toThrow(/votes\[0\]\.auditor "z" is not assigned/)
  })

  test('refuses a second vote by the same auditor', () => {
    const votes: ImpactVote[] = [
      { auditor: 'a', vote: 'N' },
      { auditor: 'a', vote: 'Y' },
    ]
    expect(() => decide({ required: 2, assigned: ['a', 'b', 'c'], votes })).toThrow(
      /votes\[1\]\.auditor "a" already voted/,
    )
  })

  test('refuses a vote that is not exactly Y or N', () => {
    const votes = [{ auditor: 'a', vote: 'y' }] as unknown as ImpactVote[]
    expect(() => decide({ required: 1, assigned: ['a'], votes })).toThrow(
      InvalidImpactDecisionError,
    )
  })

  test('refuses a bad required count, a duplicate seat and too many seats', () => {
    expect(() => decide({ required: 0, assigned: [], votes: [] })).toThrow(/required/)
    expect(() => decide({ required: 1.5, assigned: [], votes: [] })).toThrow(/required/)
    expect(() => decide({ required: 1, assigned: ['a', 'a'], votes: [] })).toThrow(/listed twice/)
    const many = Array.from({ length: MAX_SEATS + 1 }, (_, i) => `x${i}`)
    expect(() => decide({ required: 1, assigned: many, votes: [] })).toThrow(/assigned/)
  })
})

describe('payouts', () => {
  test('an approval pays the requester, the oracle and the matching auditors 100 split three ways', () => {
    const { assigned, votes } = votesOf('YYYN')
    const d = decide({ required: 3, assigned, votes })
    const p = payouts(d, action, { requester: 'r', oracle: 'o' })
    expect(p.payments).toEqual([
      { account: 'r', role: 'requester', amount: 1000n },
      { account: 'o', role: 'oracle', amount: 20n },
      { account: 'a', role: 'auditor', amount: 33n },
      { account: 'b', role: 'auditor', amount: 33n },
      { account: 'c', role: 'auditor', amount: 33n },
    ])
    expect(p.remainder).toBe(1n)
    expect(p.funded).toBe(1000n + 20n + 100n)
    expect(p.errors).toEqual([])
  })

  test('without an attesting oracle the oracle reward is not funded', () => {
    const d = decide({ required: 1, assigned: ['a'], votes: [{ auditor: 'a', vote: 'Y' }] })
    const p = payouts(d, action, { requester: 'r' })
    expect(p.payments.map((x) => x.role)).toEqual(['requester', 'auditor'])
    expect(p.funded).toBe(1100n)
  })

  test('a refusal pays the requester and the oracle nothing and the matching auditors their split', () => {
    const { assigned, votes } = votesOf('YNN')
    const d = decide({ required: 2, assigned, votes })
    const p = payouts(d, action, { requester: 'r', oracle: 'o', stakes: new Map([['a', 50n]]) })
    expect(p.payments).toEqual([
      { account: 'b', role: 'auditor', amount: 50n },
      { account: 'c', role: 'auditor', amount: 50n },
    ])
    expect(p.funded).toBe(100n)
    expect(p.slashes).toEqual([{ auditor: 'a', due: 7n, taken: 7n, shortfall: 0n }])
    expect(p.errors).toEqual(['a'])
    expect(p.stakes.get('a')).toBe(43n)
  })

  test('slashing is capped by the stake held, and the shortfall is reported', () => {
    const { assigned, votes } = votesOf('YNY')
    const d = decide({ required: 2, assigned, votes })
    const withStake = payouts(d, action, { requester: 'r', stakes: new Map([['b', 3n]]) })
    expect(withStake.slashes).toEqual([{ auditor: 'b', due: 7n, taken: 3n, shortfall: 4n }])
    expect(withStake.stakes.get('b')).toBe(0n)
    const noStake = payouts(d, action, { requester: 'r' })
    expect(noStake.slashes).toEqual([{ auditor: 'b', due: 7n, taken: 0n, shortfall: 7n }])
    expect(noStake.errors).toEqual(['b'])
  })

  test('a contradicting auditor gets its error even when slashing is 0', () => {
    const { assigned, votes } = votesOf('YN')
    const split = decide({ required: 2, assigned, votes })
    const p = payouts(split, { ...action, slashingsauditors: 0n }, { requester: 'r' })
    expect(p.errors).toEqual(['a'])
    expect(p.slashes).toEqual([{ auditor: 'a', due: 0n, taken: 0n, shortfall: 0n }])
  })

  test('refuses a pending decision', () => {
    const d = decide({ required: 2, assigned: ['a', 'b'], votes: [] })
    expect(() => payouts(d, action, { requester: 'r' })).toThrow(ImpactNotDecidedError)
  })

  test('refuses a negative or non-bigint amount, naming the field', () => {
    const d = decide({ required: 1, assigned: ['a'], votes: [{ auditor: 'a', vote: 'Y' }] })
    expect(() => payouts(d, { ...action, rewardsauditors: -1n }, { requester: 'r' })).toThrow(
      /rewardsauditors -1 is not an amount/,
    )
    const bad = { ...action, rewardsamount: 5 } as unknown as DecisionAmounts
    expect(() => payouts(d, bad, { requester: 'r' })).toThrow(/rewardsamount 5/)
  })
})

describe('suspensions', () => {
  test('suspends an auditor at exactly maxerrorsauditor errors, not one before', () => {
    const errors = new Map([
      ['c', 3],
      ['a', 2],
      ['b', 4],
      ['d', 0],
    ])
    expect(suspensions(errors, 3)).toEqual(['b', 'c'])
    expect(suspensions(errors, 5)).toEqual([])
    expect(suspensions(errors, 1)).toEqual(['a', 'b', 'c'])
  })

  test('refuses maxerrorsauditor 0 and a negative count', () => {
    expect(() => suspensions(new Map(), 0)).toThrow(/maxerrorsauditor/)
    expect(() => suspensions(new Map([['a', -1]]), 2)).toThrow(/errors of "a"/)
  })

  test('slashing down to suspension: two wrong votes with maxerrorsauditor 2', () => {
    const first = decide({
      required: 2,
      assigned: ['a', 'b', 'c'],
      votes: [
        { auditor: 'a', vote: 'Y' },
        { auditor: 'c', vote: 'N' },
        { auditor: 'b', vote: 'Y' },
      ],
    })
    const second = decide({
      required: 1,
      assigned: ['c', 'a'],
      votes: [
        { auditor: 'c', vote: 'Y' },
        { auditor: 'a', vote: 'N' },
      ],
    })
    expect(second.contradicted).toEqual([])
    const third = decide({
      required: 2,
      assigned: ['c', 'a'],
      votes: [
        { auditor: 'c', vote: 'Y' },
        { auditor: 'a', vote: 'N' },
      ],
    })
    const batch = settleBatch({
      pool: 10_000n,
      stakes: new Map([['c', 10n]]),
      requests: [first, second, third].map((decision) => ({ decision, action, requester: 'r' })),
    })
    expect(batch.errors).toEqual(new Map([['c', 2]]))
    expect(batch.stakes.get('c')).toBe(0n)
    expect(batch.slashed).toBe(10n)
    expect(batch.shortfall).toBe(4n)
    expect(suspensions(batch.errors, 2)).toEqual(['c'])
    expect(suspensions(batch.errors, 3)).toEqual([])
  })
})

describe('settleBatch', () => {
  const approved = decide({
    required: 1,
    assigned: ['0xA'],
    votes: [{ auditor: '0xA', vote: 'Y' }],
  })

  test('merges payees per account case-insensitively, sorts them and reports what the pool keeps', () => {
    const requests: DecidedRequest[] = [
      { decision: approved, action, requester: '0xb', oracle: '0xa' },
      { decision: approved, action, requester: '0xB' },
    ]
    const s = settleBatch({ pool: 5000n, requests })
    // The first spelling met is kept: the requester 0xb, then the oracle 0xa.
    expect(s.payees).toEqual(['0xa', '0xb'])
    expect(s.amounts).toEqual([20n + 100n + 100n, 2000n])
    expect(s.total).toBe(2220n)
    expect(s.kept).toBe(5000n - 2220n)
    expect(s.remainder).toBe(0n)
  })

  test('refuses the whole batch when the pool cannot cover it, saying how much is missing', () => {
    const requests: DecidedRequest[] = [{ decision: approved, action, requester: 'r' }]
    let caught: unknown
    try {
      settleBatch({ pool: 1099n, requests })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ImpactPoolShortError)
    expect((caught as ImpactPoolShortError).needed).toBe(1100n)
    expect((caught as ImpactPoolShortError).shortMessage).toMatch(/at least 1 more/)
    expect(settleBatch({ pool: 1100n, requests }).kept).toBe(0n)
  })

  test('refuses a batch that mixes tokens and an empty batch', () => {
    const requests: DecidedRequest[] = [
      { decision: approved, action, requester: 'r' },
      { decision: approved, action: { ...action, rewardstoken: 1 }, requester: 'r' },
    ]
    expect(() => settleBatch({ pool: 10_000n, requests })).toThrow(/requests\[1\] pays in token 1/)
    expect(() => settleBatch({ pool: 10_000n, requests: [] })).toThrow(/requests/)
  })

  test('conserves money: paid + kept = pool + slashed, stakes lose only what was slashed, nothing negative', () => {
    const amount = fc.bigInt({ min: 0n, max: 10n ** 6n })
    const requestArb = fc
      .record({
        required: fc.integer({ min: 1, max: 4 }),
        extra: fc.integer({ min: 0, max: 3 }),
        votes: fc.array(fc.constantFrom<'Y' | 'N' | '-'>('Y', 'N', '-'), { maxLength: 7 }),
        order: fc.array(fc.nat(), { maxLength: 7 }),
        pool: fc.constantFrom(['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']),
        oracle: fc.option(fc.constantFrom('o', 'a', 'r'), { nil: undefined }),
        action: fc.record({
          rewardstoken: fc.constant(0),
          rewardsamount: fc.bigInt({ min: 1n, max: 10n ** 6n }),
          rewardsoracle: amount,
          rewardsauditors: amount,
          slashingsauditors: amount,
        }),
      })
      .map((r) => {
        const assigned = r.pool.slice(0, Math.min(r.pool.length, r.required + r.extra))
        // Shuffle the seats deterministically so vote order differs from seat order.
        const seats = [...assigned]
        for (const [i, j] of r.order.entries()) {
          const k = i % seats.length
          const m = j % seats.length
          ;[seats[k], seats[m]] = [seats[m]!, seats[k]!]
        }
        const votes = seats.flatMap((auditor, i) => {
          const v = r.votes[i] ?? '-'
          return v === '-' ? [] : [{ auditor, vote: v }]
        })
        return { decision: decide({ required: r.required, assigned, votes }), r }
      })
    const seen = { settled: 0, short: 0, slashed: 0, shortfall: 0 }
    fc.assert(
      fc.property(
        fc.array(requestArb, { minLength: 1, maxLength: 8 }),
        fc.bigInt({ min: 0n, max: 10n ** 7n }),
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), amount)),
        (drawn, pool, stakeList) => {
          const decided = drawn.filter((d) => d.decision.status !== 'pending')
          fc.pre(decided.length > 0)
          const stakes = new Map(stakeList)
          const requests: DecidedRequest[] = decided.map(({ decision, r }) => ({
            decision,
            action: r.action,
            requester: 'r',
            oracle: r.oracle,
          }))
          const funded = decided.reduce((sum, { decision, r }) => {
            const auditors = r.action.rewardsauditors
            if (decision.status === 'refused') return sum + auditors
            const oracle = r.oracle === undefined ? 0n : r.action.rewardsoracle
            return sum + r.action.rewardsamount + oracle + auditors
          }, 0n)
          let s: ReturnType<typeof settleBatch>
          try {
            s = settleBatch({ pool, requests, stakes })
          } catch (error) {
            expect(error).toBeInstanceOf(ImpactPoolShortError)
            expect(pool).toBeLessThan(funded)
            seen.short++
            return
          }
          seen.settled++
          if (s.slashed > 0n) seen.slashed++
          if (s.shortfall > 0n) seen.shortfall++
          expect(s.total + s.remainder).toBe(funded)
          expect(s.total + s.kept).toBe(pool + s.slashed)
          const before = [...stakes.values()].reduce((sum, x) => sum + x, 0n)
          const after = [...s.stakes.values()].reduce((sum, x) => sum + x, 0n)
          expect(before - after).toBe(s.slashed)
          const due = s.requests.flatMap((p) => p.slashes).reduce((sum, x) => sum + x.due, 0n)
          expect(s.slashed + s.shortfall).toBe(due)
          for (const value of [
            ...s.amounts,
            ...s.stakes.values(),
            s.kept,
            s.remainder,
            s.shortfall,
          ])
            expect(value).toBeGreaterThanOrEqual(0n)
          for (const a of s.amounts) expect(a).toBeGreaterThan(0n)
          const keys = s.payees.map((p) => p.toLowerCase())
          expect(keys).toEqual([...new Set(keys)].sort())
        },
      ),
      { numRuns: 500 },
    )
    // The property must have exercised both outcomes and both kinds of slashing to mean anything.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0)
  })
})

describe('decide (properties)', () => {
  test('a decision is reached exactly at a threshold and the counts add up', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.constantFrom<'Y' | 'N' | '-'>('Y', 'N', '-'), { maxLength: 8 }),
        (required, n, pattern) => {
          const { assigned, votes } = votesOf(
            Array.from({ length: n }, (_, i) => pattern[i] ?? '-').join(''),
          )
          const d = decide({ required, assigned, votes })
          const y = d.approvals.length
          const no = d.refusals.length
          if (d.status === 'approved') expect(y).toBe(required)
          if (d.status === 'refused') expect(no).toBe(d.seats - required + 1)
          if (d.status === 'pending') {
            expect(y).toBeLessThan(required)
            expect(no).toBeLessThanOrEqual(d.seats - required)
            expect(d.late).toEqual([])
          }
          expect(y + no + d.late.length + d.silent.length).toBe(assigned.length)
          expect(d.matched.length + d.contradicted.length).toBe(d.status === 'pending' ? 0 : y + no)
        },
      ),
    )
  })
})
