import { describe, expect, test } from 'vitest'
import { createFeedReducer, feedDomain } from '../src/core/feed/domain.ts'
import { FEED_OP } from '../src/core/feed/ops.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { attestBody, FEED_ROLES, FeedDoc, feedGenesis, keyOf, T0, usd } from './feed-fixture.ts'
import { memoryLedger } from './helpers.ts'

// The feed's rules on its own causal past: who may attest, when, how often; reports signed by the
// registered nodes; the owner's changes.

const W = 10_000 // ms per window
const w0 = Math.floor(T0 / W)
const at = (window: number, offset = 1000) => window * W + offset

const verdictOf = (doc: FeedDoc, id: string) => doc.reducer.verdict(id as never)

describe('attestations', () => {
  test('registered oracles attest; the window aggregates them', () => {
    const doc = new FeedDoc()
    for (let i = 0; i < 5; i++) doc.attest(i, usd(2500 + i), at(w0 + 1, 1000 + i))
    const a = doc.reducer.aggregate(w0 + 1)!
    expect(a.observations).toBe(5)
    expect(a.answer).toBe(usd(2502))
    expect(doc.reducer.oracles().filter((o) => o.attestations === 1)).toHaveLength(5)
  })

  test('an unregistered oracle is refused outright (a ledger refuses it at ingest)', () => {
    const doc = new FeedDoc()
    const op = doc.make(FEED_ROLES.stranger, FEED_OP.attest, attestBody(usd(2500), at(w0 + 1)), {
      time: at(w0 + 1),
    })
    const judgement = doc.reducer.judge(op)
    expect(judgement?.name).toBe('FeedForbiddenError')
    expect(judgement?.tieBreak).toBe(false)
    doc.apply(op)
    expect(verdictOf(doc, op.id)?.name).toBe('FeedForbiddenError')
    expect(doc.reducer.aggregate(w0 + 1)).toBeUndefined()
  })

  test("a timestamp more than 60 s ahead of the signers' clock is refused and counted as invalid", () => {
    const doc = new FeedDoc()
    // Threshold 2: the clock reads the second latest signer time an op has seen.
    doc.tick(0, T0 + 5000)
    doc.tick(1, T0 + 9000)
    const ahead = doc.make(FEED_ROLES.oracle(0), FEED_OP.attest, attestBody(usd(2500), T0 + 65_001))
    expect(doc.reducer.judge(ahead)).toBeUndefined() // kept in the log as evidence
    doc.apply(ahead)
    expect(verdictOf(doc, ahead.id)?.message).toMatch(/ahead of the feed's signer clock/)
    const fine = doc.attest(2, usd(2500), T0 + 64_000)
    expect(verdictOf(doc, fine.id)).toBeUndefined()
    const oracle0 = doc.reducer.oracles().find((o) => o.oracle === keyOf(FEED_ROLES.oracle(0)))!
    expect(oracle0.anomalies.invalid).toBe(1)
    expect(oracle0.recent[0]?.kind).toBe('invalid')
  })

  test("an attestation older than maxAge against the signers' clock is refused as stale", () => {
    const doc = new FeedDoc()
    doc.tick(0, T0 + 400_000)
    doc.tick(1, T0 + 400_000)
    const old = doc.attest(0, usd(2500), T0 + 400_000 - 301_000)
    expect(verdictOf(doc, old.id)?.message).toMatch(/older than the feed's signer clock/)
    const ok = doc.attest(2, usd(2500), T0 + 400_000 - 299_000)
    expect(verdictOf(doc, ok.id)).toBeUndefined()
    const oracle0 = doc.reducer.oracles().find((o) => o.oracle === keyOf(FEED_ROLES.oracle(0)))!
    expect(oracle0.anomalies.stale).toBe(1)
  })

  test('no stranger, oracle or lone signer can move the clock: a far-future merge, attestation time or tick changes nothing', () => {
    const doc = new FeedDoc()
    const far = T0 + 10 * 365 * 86_400_000
    // A stranger's merge op with a far-future time, a registered oracle's op time far ahead,
    // and one faulty signer's far-future tick (the threshold is 2).
    doc.add(FEED_ROLES.stranger, 'merge', null, { time: far })
    doc.attest(1, usd(2500), T0 + 1000, {}, undefined)
    doc.add(FEED_ROLES.oracle(2), FEED_OP.attest, attestBody(usd(2500), T0 + 2000), { time: far })
    doc.tick(0, far)
    const honest = doc.attest(3, usd(2501), T0 + 3000)
    expect(verdictOf(doc, honest.id)).toBeUndefined()
    // A second signer agreeing moves it: now the same attestation time is stale.
    doc.tick(1, far)
    const late = doc.attest(4, usd(2501), T0 + 4000)
    expect(verdictOf(doc, late.id)?.message).toMatch(/older than/)
  })

  test('too few sources are refused', () => {
    const doc = new FeedDoc(feedGenesis({ minSources: 2 }))
    const op = doc.attest(0, usd(2500), at(w0 + 1))
    expect(verdictOf(doc, op.id)?.message).toMatch(/needs at least 2/)
    expect(doc.reducer.aggregate(w0 + 1)).toBeUndefined()
  })

  test('a draft that breaks a rule is refused before it is signed', () => {
    const doc = new FeedDoc()
    const check = () =>
      doc.reducer.check({
        author: FEED_ROLES.oracle(0).publicKey,
        type: FEED_OP.attest,
        body: attestBody(usd(2500), T0 + 120_000),
        time: T0,
      })
    expect(check).toThrow(/ahead of the feed's signer clock/)
  })

  test('a duplicate for the same oracle and window in its causal past is refused', () => {
    const doc = new FeedDoc()
    doc.attest(0, usd(2500), at(w0 + 1, 1000))
    const again = doc.make(
      FEED_ROLES.oracle(0),
      FEED_OP.attest,
      attestBody(usd(2600), at(w0 + 1, 5000)),
    )
    expect(doc.reducer.judge(again)?.name).toBe('FeedRefusedError')
    expect(doc.reducer.judge(again)?.tieBreak).toBe(false)
    doc.apply(again)
    expect(doc.reducer.aggregate(w0 + 1)!.answer).toBe(usd(2500))
  })

  test('concurrent duplicates: the smaller op id counts, in either apply order', () => {
    const build = (order: 'ab' | 'ba') => {
      const doc = new FeedDoc()
      const base = doc.heads()
      const a = doc.make(
        FEED_ROLES.oracle(0),
        FEED_OP.attest,
        attestBody(usd(2500), at(w0 + 1, 1000)),
        {
          deps: base,
          time: at(w0 + 1, 1000),
        },
      )
      const b = doc.make(
        FEED_ROLES.oracle(0),
        FEED_OP.attest,
        attestBody(usd(2700), at(w0 + 1, 2000)),
        {
          deps: base,
          time: at(w0 + 1, 2000),
        },
      )
      for (const op of order === 'ab' ? [a, b] : [b, a]) doc.apply(op)
      return { doc, a, b }
    }
    const one = build('ab')
    const two = build('ba')
    const winner = one.a.id < one.b.id ? one.a : one.b
    expect(one.doc.reducer.aggregate(w0 + 1)!.contributing).toEqual([winner.id])
    expect(two.doc.reducer.aggregate(w0 + 1)!.contributing).toEqual([winner.id])
    expect(feedDomain.stateHash(one.doc.reducer.state())).toBe(
      feedDomain.stateHash(two.doc.reducer.state()),
    )
    const loser = winner === one.a ? one.b : one.a
    expect(verdictOf(one.doc, loser.id)?.name).toBe('ExcludedByCausalCut')
    expect(verdictOf(two.doc, loser.id)?.name).toBe('ExcludedByCausalCut')
    expect(one.doc.reducer.oracles()[0]).toBeDefined()
  })

  test('a duplicate of any attestation in its past is refused in every apply order (A ∥ B, then D after A)', () => {
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
    ]
    const hashes = new Set<string>()
    const answers = new Set<bigint>()
    const doc = new FeedDoc()
    const base = doc.heads()
    const w = w0 + 1
    const a = doc.make(FEED_ROLES.oracle(0), FEED_OP.attest, attestBody(usd(2500), at(w, 1000)), {
      deps: base,
      time: at(w, 1000),
    })
    const b = doc.make(FEED_ROLES.oracle(0), FEED_OP.attest, attestBody(usd(2600), at(w, 2000)), {
      deps: base,
      time: at(w, 2000),
    })
    const d = doc.make(FEED_ROLES.oracle(0), FEED_OP.attest, attestBody(usd(2700), at(w, 3000)), {
      deps: [a.id],
      time: at(w, 3000),
    })
    const ops = [a, b, d]
    for (const order of orders) {
      const r = createFeedReducer(doc.ops[0]!)
      for (const i of order) r.apply(ops[i]!)
      expect(r.verdict(d.id)?.name).toBe('FeedRefusedError')
      hashes.add(feedDomain.stateHash(r.state()))
      answers.add(r.aggregate(w)!.answer)
    }
    expect(hashes.size).toBe(1)
    expect(answers.size).toBe(1)
  })

  test('a forged attestation (signature not by its author) never reaches the feed', async () => {
    const ledger = await memoryLedger()
    const doc = new FeedDoc()
    await ledger.ingest([doc.ops[0]!.bytes])
    const honest = doc.make(FEED_ROLES.oracle(0), FEED_OP.attest, attestBody(usd(2500), at(w0 + 1)))
    // The same bytes with the price changed: the signature no longer covers them.
    const bytes = Buffer.from(honest.bytes)
    const where = bytes.indexOf(Buffer.from(usd(2500).toString()))
    expect(where).toBeGreaterThan(0)
    bytes.write('9', where)
    const forged = { bytes: new Uint8Array(bytes) }
    const results = await ledger.ingest([forged.bytes])
    expect(results[0]?.ok).toBe(false)
  })

  test('an oracle the owner removes is refused from ops that see the removal', () => {
    const doc = new FeedDoc()
    doc.add(FEED_ROLES.owner, FEED_OP.removeOracle, { oracle: keyOf(FEED_ROLES.oracle(0)) })
    const op = doc.attest(0, usd(2500), at(w0 + 1))
    expect(verdictOf(doc, op.id)?.name).toBe('FeedForbiddenError')
    doc.add(FEED_ROLES.owner, FEED_OP.addOracle, { oracle: keyOf(FEED_ROLES.stranger) })
    const stranger = doc.add(
      FEED_ROLES.stranger,
      FEED_OP.attest,
      attestBody(usd(2500), at(w0 + 1)),
      {
        time: at(w0 + 1),
      },
    )
    expect(verdictOf(doc, stranger.id)).toBeUndefined()
  })
})

describe('the owner', () => {
  test('only the owner changes the registry', () => {
    const doc = new FeedDoc()
    const op = doc.make(FEED_ROLES.stranger, FEED_OP.addOracle, {
      oracle: keyOf(FEED_ROLES.stranger),
    })
    expect(doc.reducer.judge(op)?.name).toBe('FeedForbiddenError')
  })

  test('signers and threshold follow n > 3f: at least f+1, at most n', () => {
    const doc = new FeedDoc()
    const signers = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        key: keyOf(FEED_ROLES.node(i)),
        address: FEED_ROLES.nodeEvm(i).address,
      }))
    const set = (n: number, threshold: number) =>
      doc.reducer.judge(
        doc.make(FEED_ROLES.owner, FEED_OP.setSigners, { signers: signers(n), threshold }),
      )
    expect(set(4, 1)?.message).toMatch(/from 2 \(f\+1/)
    expect(set(4, 2)).toBeUndefined()
    expect(set(3, 2)).toBeUndefined()
    expect(set(3, 4)?.name).toBe('InvalidFeedInputError')
    expect(() => createFeedReducer(new FeedDoc().ops[0]!)).not.toThrow()
    expect(() => new FeedDoc(feedGenesis({ threshold: 1 }, 5, 4))).toThrow(/from 2/)
  })
})

describe('reports', () => {
  test('registered signer nodes sign a window; the threshold completes it', async () => {
    const doc = new FeedDoc()
    for (let i = 0; i < 5; i++) doc.attest(i, usd(2500 + i), at(w0 + 1, 1000 + i))
    await doc.signReport(0, w0 + 1)
    expect(doc.reducer.reports()[0]?.complete).toBe(false)
    await doc.signReport(1, w0 + 1)
    const [report] = doc.reducer.reports()
    expect(report?.complete).toBe(true)
    expect(report?.counted).toBe(2)
    expect(doc.reducer.newestComplete(31337, report!.aggregator)?.signatures).toHaveLength(2)
  })

  test('one signer signing the same report twice concurrently: both admitted, the same state in either order', async () => {
    const doc = new FeedDoc()
    doc.attest(0, usd(2500), at(w0 + 1))
    const first = await doc.signReport(0, w0 + 1)
    const body = first.op.body as Record<string, unknown>
    const base = first.op.deps as never
    // The same body again on the same deps (a restarted node): concurrent with the first.
    const second = doc.make(FEED_ROLES.node(0), FEED_OP.signReport, body, {
      deps: base,
      time: T0 + 1,
    })
    const one = createFeedReducer(doc.ops[0]!)
    const two = createFeedReducer(doc.ops[0]!)
    const before = doc.ops.slice(1, -1)
    for (const op of before) {
      one.apply(op)
      two.apply(op)
    }
    expect(one.judge(second)).toBeUndefined()
    one.apply(first)
    expect(one.judge(second)).toBeUndefined()
    one.apply(second)
    two.apply(second)
    two.apply(first)
    expect(feedDomain.stateHash(one.state())).toBe(feedDomain.stateHash(two.state()))
    expect(one.reports()[0]?.counted).toBe(1)
  })

  test('a report of fewer observations than the feed needs is refused', async () => {
    const doc = new FeedDoc(feedGenesis({ minObservations: 2 }))
    doc.attest(0, usd(2500), at(w0 + 1))
    const one = await doc.signReport(0, w0 + 1)
    expect(verdictOf(doc, one.id)?.message).toMatch(/needs at least 2 per window/)
    doc.attest(1, usd(2501), at(w0 + 1, 2000))
    const two = await doc.signReport(0, w0 + 1)
    expect(verdictOf(doc, two.id)).toBeUndefined()
  })

  test('a signature that does not recover to the signer, or by a stranger, is refused', async () => {
    const doc = new FeedDoc()
    doc.attest(0, usd(2500), at(w0 + 1))
    const a = doc.reducer.aggregate(w0 + 1)!
    // Node 1 publishes node 0's EVM signature as its own.
    const signed = await doc.signReport(0, w0 + 1)
    const body = signed.op.body as Record<string, unknown>
    const stolen = doc.add(FEED_ROLES.node(1), FEED_OP.signReport, body)
    expect(verdictOf(doc, stolen.id)?.message).toMatch(/does not recover/)
    const stranger = doc.make(FEED_ROLES.stranger, FEED_OP.signReport, body)
    expect(doc.reducer.judge(stranger)?.name).toBe('FeedForbiddenError')
    // A changed answer breaks the signature.
    const changed = doc.add(FEED_ROLES.node(0), FEED_OP.signReport, {
      ...body,
      answer: (a.answer + 1n).toString(),
    })
    expect(verdictOf(doc, changed.id)?.message).toMatch(/does not recover/)
    // The same signer twice for the same report.
    const twice = doc.make(FEED_ROLES.node(0), FEED_OP.signReport, body)
    expect(doc.reducer.judge(twice)?.message).toMatch(/already/)
  })
})

describe('partition and heal', () => {
  test('replicas that saw different halves reach the same aggregate for every window once healed', () => {
    // The whole history, made as two halves of the network would: each half's oracles see only
    // their half's ops for windows 1–3, then everything.
    const doc = new FeedDoc(feedGenesis({}, 7))
    const genesis = doc.heads()
    const halves: [number[], OpId[]][] = [
      [[0, 1, 2], [...genesis]],
      [[3, 4, 5, 6], [...genesis]],
    ]
    const made: ReturnType<FeedDoc['make']>[] = []
    for (let w = 1; w <= 3; w++)
      for (const [oracles, heads] of halves)
        for (const i of oracles) {
          const price = i >= 5 ? usd(3000) : usd(2500 + i)
          const op = doc.make(
            FEED_ROLES.oracle(i),
            FEED_OP.attest,
            attestBody(price, at(w0 + w, 100 * i)),
            {
              deps: heads.splice(0),
              time: at(w0 + w, 100 * i),
            },
          )
          heads.push(op.id)
          made.push(op)
        }
    // Replica A applies half one first, replica B half two first: each a valid topological order.
    const a = createFeedReducer(doc.ops[0]!)
    const b = createFeedReducer(doc.ops[0]!)
    const byHalf = (h: number) =>
      made.filter((op) =>
        halves[h]![0].some(
          (i) => keyOf(FEED_ROLES.oracle(i)) === Buffer.from(op.op.author).toString('hex'),
        ),
      )
    for (const op of [...byHalf(0), ...byHalf(1)]) a.apply(op)
    for (const op of [...byHalf(1), ...byHalf(0)]) b.apply(op)
    for (let w = 1; w <= 3; w++) {
      expect(a.aggregate(w0 + w)).toEqual(b.aggregate(w0 + w))
      expect(a.aggregate(w0 + w)!.observations).toBe(7)
    }
    expect(feedDomain.stateHash(a.state())).toBe(feedDomain.stateHash(b.state()))
    // The Byzantine pair (+20%) did not move the median.
    expect(a.aggregate(w0 + 3)!.answer).toBeLessThan(usd(2510))
  })
})
