import { describe, expect, test } from 'vitest'
import { createServingPolicies } from '../src/net/serving.ts'
import { answerPull } from '../src/net/sync-answer.ts'
import { makeAuditGenesis, makeMerge, memoryLedger, testSigner } from './helpers.ts'

// A serving policy's budget bounds what one pull answer carries (SWAP keeps a debtor's answers
// within its room under the disconnect threshold); the puller asks again for the rest.

async function chain(length: number) {
  const ledger = await memoryLedger()
  const author = testSigner(7)
  const g = makeAuditGenesis(author)
  const ops = [g.bytes]
  let previous = g.id
  for (let seq = 2; seq <= length; seq++) {
    const op = makeMerge(author, { doc: g.id, seq, deps: [previous] })
    ops.push(op.bytes)
    previous = op.id
  }
  expect((await ledger.ingest(ops)).every((r) => r.ok)).toBe(true)
  return { ledger, doc: g.id, sizes: ops.map((op) => op.length) }
}

const opsIn = (answer: Awaited<ReturnType<typeof answerPull>>) =>
  answer.response.t === 'ops' ? answer.response.docs.flatMap((d) => d.ops) : []

describe('pull answers within a budget', () => {
  test('no budget: the whole document; an op budget: that many ops, with more to come', async () => {
    const { ledger, doc } = await chain(50)
    const want = [{ doc, heads: [], skip: 0 }]
    expect(opsIn(await answerPull(ledger, want))).toHaveLength(50)
    const bounded = await answerPull(ledger, want, { ops: 7 })
    expect(opsIn(bounded)).toHaveLength(7)
    expect(bounded.response.t === 'ops' && bounded.response.docs[0]!.more).toBe(true)
  })

  test('a byte budget stops before the op that would pass it; the first op always goes', async () => {
    const { ledger, doc, sizes } = await chain(20)
    const want = [{ doc, heads: [], skip: 0 }]
    const three = sizes.slice(0, 3).reduce((a, b) => a + b, 0)
    expect(opsIn(await answerPull(ledger, want, { bytes: three }))).toHaveLength(3)
    expect(opsIn(await answerPull(ledger, want, { bytes: three - 1 }))).toHaveLength(2)
    expect(opsIn(await answerPull(ledger, want, { bytes: 1, ops: 0 }))).toHaveLength(1)
  })

  test('the policies’ budgets combine to the smallest of each', () => {
    const serving = createServingPolicies()
    serving.open()
    expect(serving.budget('p')).toBeUndefined()
    serving.add({ budget: () => ({ ops: 10 }) })
    serving.add({ budget: () => ({ ops: 4, bytes: 900 }) })
    serving.add({ budget: () => undefined })
    expect(serving.budget('p')).toEqual({ ops: 4, bytes: 900 })
  })
})
