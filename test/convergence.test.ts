import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { makeGenesis, makeOp, memoryLedger, testSigner } from './helpers.ts'

const signers = [1, 2, 3, 4].map(testSigner)

type Step = { author: number; picks: number[]; fork: boolean }

/**
 * Builds a random DAG: each op by a random author depends on a random subset of earlier ops
 * (concurrent branches); a fork reuses its author's last seq (equivocation).
 */
function buildDag(steps: Step[]): { genesis: EncodedOp; ops: EncodedOp[] } {
  const genesis = makeGenesis(signers[0]!)
  const ops: EncodedOp[] = []
  const all: OpId[] = [genesis.id]
  const seqs = [1, 0, 0, 0]
  for (const [i, step] of steps.entries()) {
    const deps = [...new Set(step.picks.map((p) => all[p % all.length]!))]
    const reuse = step.fork && seqs[step.author]! > 0
    const seq = reuse ? seqs[step.author]! : seqs[step.author]! + 1
    seqs[step.author] = seq
    const op = makeOp(signers[step.author]!, {
      doc: genesis.id,
      seq,
      deps: deps.length ? deps : [genesis.id],
      body: { i },
    })
    ops.push(op)
    all.push(op.id)
  }
  return { genesis, ops }
}

/** Shuffles with a seeded generator (mulberry32), so fast-check can replay a failure. */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('convergence', () => {
  test('replicas given the same ops in any order, with duplicates, agree on heads, order and evidence', async () => {
    const step = fc.record({
      author: fc.nat(3),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      fork: fc.boolean(),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer(), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (steps, seeds, duplicates) => {
          const { genesis, ops } = buildDag(steps)
          const everything = [genesis, ...ops]
          const replicas = await Promise.all(seeds.map(() => memoryLedger()))
          for (const [r, ledger] of replicas.entries()) {
            const extra = duplicates.map((d) => everything[d % everything.length]!)
            const delivery = shuffle([...everything, ...extra], seeds[r]!)
            // Deliver in small random batches, as a network would.
            for (let i = 0; i < delivery.length; i += 4) {
              const results = await ledger.ingest(delivery.slice(i, i + 4).map((op) => op.bytes))
              for (const result of results) expect(result.ok).toBe(true)
            }
          }
          const [first, ...rest] = replicas.map((ledger) => ({
            heads: ledger.log.heads(genesis.id),
            order: ledger.log.order(genesis.id),
            evidence: ledger.log.equivocations(genesis.id),
            pending: ledger.log.pendingCount(),
          }))
          expect(first!.pending).toBe(0)
          expect(first!.order).toHaveLength(everything.length)
          for (const other of rest) expect(other).toEqual(first)
        },
      ),
      { numRuns: 60 },
    )
  })
})
