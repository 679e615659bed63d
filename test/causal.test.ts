import { describe, expect, test } from 'vitest'
import { CausalEngine, CausalOrderError, type Mode, type Rules } from '../src/core/causal/engine.ts'
import { BaseError } from '../src/errors/base.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { makeGenesis, makeOp, testSigner } from './helpers.ts'

class Refused extends BaseError {
  override name = 'Refused' as const
  override readonly kind = 'conflict' as const
}

/**
 * A toy document: `test.lock` ops form the control chain (each must see every earlier one),
 * `test.claim` ops claim a word once (a concurrent second claim is a first-wins tie-break).
 */
class LockRules implements Rules {
  readonly claims = new Map<string, number>()
  constructor(readonly engine: CausalEngine) {}
  handle(op: EncodedOp, view: Parameters<Rules['handle']>[1], mode: Mode): void {
    const { engine } = this
    if (op.op.type === 'test.lock') {
      if (view.seen < engine.control.length) {
        engine.tieBreak(mode)
        throw new Refused('made without seeing the latest lock')
      }
      if (mode.commit) engine.control.append(view.position)
      return
    }
    const word = (op.op.body as { word: string }).word
    const earlier = this.claims.get(word)
    if (earlier !== undefined) {
      if (!view.isAncestor(earlier)) engine.tieBreak(mode)
      throw new Refused(`"${word}" is claimed already`)
    }
    if (mode.commit) this.claims.set(word, view.position)
  }
}

const alice = testSigner(1)
const bob = testSigner(2)

function setup() {
  const genesis = makeGenesis(alice)
  const engine = new CausalEngine(genesis)
  const rules = new LockRules(engine)
  const op = (signer: typeof alice, seq: number, deps: EncodedOp[], type: string, body = {}) =>
    makeOp(signer, { doc: genesis.id, seq, deps: deps.map((d) => d.id), type, body })
  return { genesis, engine, rules, op }
}

describe('CausalEngine', () => {
  test('a control op made without seeing the latest one is refused and counted as a tie-break', () => {
    const { genesis, engine, rules, op } = setup()
    const first = op(alice, 2, [genesis], 'test.lock')
    const concurrent = op(bob, 1, [genesis], 'test.lock')
    const after = op(alice, 3, [first], 'test.lock')
    for (const o of [first, concurrent, after]) engine.apply(o, rules)
    expect(engine.control.members).toEqual([1, 3])
    expect(engine.notes.of(concurrent.id)).toEqual({
      id: concurrent.id,
      type: 'test.lock',
      name: 'Refused',
      message: 'made without seeing the latest lock',
    })
    expect(engine.notes.of(first.id)).toBeUndefined()
    expect([engine.tieBreaks, engine.orderSensitive]).toEqual([1, true])
    expect(engine.notes.rejected().map((n) => n.id)).toEqual([concurrent.id])
  })

  test('judge tells an op refused on its own causal past from one that lost a tie-break, and applies nothing', () => {
    const { genesis, engine, rules, op } = setup()
    const claim = op(alice, 2, [genesis], 'test.claim', { word: 'oak' })
    engine.apply(claim, rules)
    const seenTwice = op(bob, 1, [claim], 'test.claim', { word: 'oak' })
    const concurrent = op(bob, 1, [genesis], 'test.claim', { word: 'oak' })
    const fresh = op(bob, 1, [claim], 'test.claim', { word: 'elm' })
    expect(engine.judge(seenTwice, rules)).toMatchObject({ name: 'Refused', tieBreak: false })
    expect(engine.judge(concurrent, rules)).toMatchObject({ name: 'Refused', tieBreak: true })
    expect(engine.judge(fresh, rules)).toBeUndefined()
    expect([engine.size, engine.tieBreaks, rules.claims.size]).toEqual([2, 0, 1])
    const unknownDep = op(bob, 2, [fresh], 'test.claim', { word: 'ash' })
    expect(() => engine.judge(unknownDep, rules)).toThrow(CausalOrderError)
  })

  test('check judges a draft on the current heads: every applied op is in its past', () => {
    const { genesis, engine, rules, op } = setup()
    engine.apply(op(alice, 2, [genesis], 'test.lock'), rules)
    const draft = { author: bob.publicKey, type: 'test.lock', body: {}, time: 0 }
    expect(() => engine.check(genesis.id, draft, rules)).not.toThrow()
    engine.apply(op(alice, 3, [genesis], 'test.claim', { word: 'oak' }), rules)
    const claim = { ...draft, type: 'test.claim', body: { word: 'oak' } }
    expect(() => engine.check(genesis.id, claim, rules)).toThrow('"oak" is claimed already')
    expect(engine.tieBreaks).toBe(0)
  })

  test('a lenient sequence tells a member that saw every earlier one from a concurrent one', () => {
    const { genesis, engine, op } = setup()
    const adds = engine.sequence()
    const rules: Rules = {
      handle(_op, view, mode) {
        if (!mode.commit) return
        if (!adds.seesAll(view.position)) engine.tieBreak(mode)
        adds.append(view.position)
      },
    }
    const a = op(alice, 2, [genesis], 'test.add')
    const b = op(alice, 3, [a], 'test.add')
    const c = op(bob, 1, [a], 'test.add') // concurrent with b
    for (const o of [a, b, c]) engine.apply(o, rules)
    expect(adds.members).toEqual([1, 2, 3])
    expect([adds.seenBy(2), adds.seenBy(3), engine.tieBreaks]).toEqual([2, 3, 1])
  })

  test('reaches and seenIn answer like isAncestor and the sequence, when applying, judging and checking', () => {
    const { genesis, engine, op } = setup()
    const marks = engine.sequence()
    const seen: { reaches: boolean[]; ancestors: boolean[]; seenIn: number }[] = []
    const rules: Rules = {
      handle(o, view, mode) {
        const targets = [0, 1, 2, 3].filter((t) => t < view.position)
        seen.push({
          reaches: targets.map((t) => view.reaches(t)),
          ancestors: targets.map((t) => view.isAncestor(t)),
          seenIn: view.seenIn(marks),
        })
        if (mode.commit && (o.op.body as { mark?: boolean }).mark) marks.append(view.position)
      },
    }
    const a = op(alice, 2, [genesis], 'test.a', { mark: true }) // 1
    const b = op(bob, 1, [genesis], 'test.b') // 2, concurrent with a
    const c = op(alice, 3, [a], 'test.c', { mark: true }) // 3
    const d = op(bob, 2, [b, c], 'test.d') // 4
    for (const o of [a, b, c, d]) engine.apply(o, rules)
    for (const s of seen) expect(s.reaches).toEqual(s.ancestors)
    expect(seen.at(-1)).toEqual({
      reaches: [true, true, true, true],
      ancestors: [true, true, true, true],
      seenIn: 2,
    })
    // c saw a (a mark) but not b.
    expect(seen[2]).toMatchObject({ reaches: [true, true, false], seenIn: 1 })
    // Judging an op on b alone: it saw the genesis and b, no mark.
    seen.length = 0
    engine.judge(op(bob, 3, [b], 'test.e'), rules)
    expect(seen[0]).toEqual({
      reaches: [true, false, true, false],
      ancestors: [true, false, true, false],
      seenIn: 0,
    })
    // A draft sees everything.
    seen.length = 0
    engine.check(genesis.id, { author: alice.publicKey, type: 'test.f', body: {}, time: 0 }, rules)
    expect(seen[0]).toMatchObject({ reaches: [true, true, true, true], seenIn: 2 })
  })

  test('an op applied before its deps is an error, and nothing of it is recorded', () => {
    const { genesis, engine, rules, op } = setup()
    const a = op(alice, 2, [genesis], 'test.lock')
    const b = op(alice, 3, [a], 'test.lock')
    expect(() => engine.apply(b, rules)).toThrow(CausalOrderError)
    expect(engine.size).toBe(1)
    engine.apply(a, rules)
    engine.apply(b, rules)
    expect(engine.control.members).toEqual([1, 2])
  })

  test('an excluded op is noted once, and a rule fault that is no BaseError is thrown', () => {
    const { genesis, engine, rules, op } = setup()
    const a = op(alice, 2, [genesis], 'test.claim', { word: 'oak' })
    engine.apply(a, rules)
    engine.exclude(1, 'after the freeze')
    engine.exclude(1, 'again')
    expect(engine.notes.excluded()).toEqual([
      { id: a.id, type: 'test.claim', name: 'ExcludedByCausalCut', message: 'after the freeze' },
    ])
    const broken: Rules = {
      handle() {
        throw new TypeError('a bug')
      },
    }
    expect(() => engine.apply(op(bob, 1, [a], 'test.claim'), broken)).toThrow(TypeError)
  })
})

describe('the causal clock', () => {
  test("an op's causalTime is the latest time in its strict causal past, on apply, judge and draft", () => {
    const genesis = makeOp(alice, {
      doc: null,
      seq: 1,
      deps: [],
      type: 'test.create',
      body: {},
      time: 1000,
    })
    const engine = new CausalEngine(genesis)
    const seen: number[] = []
    const rules: Rules = { handle: (_op, view) => void seen.push(view.causalTime) }
    const doc = genesis.id
    // Two concurrent branches with times 5000 and 3000, then a join, then one on the 3000 branch only.
    const a = makeOp(alice, { doc, seq: 2, deps: [doc], type: 'test.x', time: 5000 })
    const b = makeOp(bob, { doc, seq: 1, deps: [doc], type: 'test.x', time: 3000 })
    engine.apply(a, rules)
    engine.apply(b, rules)
    const join = makeOp(alice, { doc, seq: 3, deps: [a.id, b.id], type: 'test.x', time: 10 })
    const onB = makeOp(bob, { doc, seq: 2, deps: [b.id], type: 'test.x', time: 9000 })
    engine.judge(onB, rules)
    engine.apply(join, rules)
    engine.apply(onB, rules)
    engine.check(doc, { author: alice.publicKey, type: 'test.x', body: {}, time: 0 }, rules)
    // a and b saw the genesis (1000); onB judged: 3000; the join saw 5000 (not its own 10);
    // onB applied: 3000 (the join is not in its past); a draft sees everything: 9000.
    expect(seen).toEqual([1000, 1000, 3000, 5000, 3000, 9000])
  })
})
