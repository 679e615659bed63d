import type { CausalEngine, View } from '../causal/engine.ts'

/** Stamps by signer key: the latest op time of each report signer. */
export type Stamps = ReadonlyMap<string, number>

const EMPTY: Stamps = new Map()

/**
 * A feed's causal clock, kept by its report signers. Every op of a registered signer (a report
 * signature, a posted report, a `feed.clock` tick) stamps its time; for each op, the clock holds
 * the latest stamp of each signer in the op's causal past, and the time it reads is the
 * `threshold`-th latest of them. So fewer than `threshold` faulty signers (the feed's f+1 rule)
 * cannot move the clock past what an honest signer saw, and nothing a stranger or an oracle
 * signs moves it at all. Stamps are shared between ops while unchanged: memory grows with the
 * signers' ops and with concurrency, not with every op.
 */
export class SignerClock {
  /** Per position: the stamps in the op's causal past, itself included once recorded. */
  private readonly at: (Stamps | undefined)[] = [EMPTY]
  /** Every stamp applied: what a draft on the current heads sees. */
  private readonly everything = new Map<string, number>()

  constructor(
    private readonly engine: CausalEngine,
    /** The genesis op's time: the clock's floor. */
    readonly genesisTime: number,
  ) {}

  /** The stamps in the strict causal past of the op with `view` (a draft: everything applied). */
  past(view: View): Stamps {
    if (view.deps.length === 0) return this.everything
    return this.merge(view.deps.map((d) => this.of(d)))
  }

  /** Records the op being applied at `position`: its past, and its own stamp if a signer's. */
  record(position: number, past: Stamps, stamp?: { key: string; time: number }): void {
    if (!stamp || (past.get(stamp.key) ?? -1) >= stamp.time) {
      this.at[position] = past
    } else {
      const next = new Map(past)
      next.set(stamp.key, stamp.time)
      this.at[position] = next
    }
    if (stamp && (this.everything.get(stamp.key) ?? -1) < stamp.time)
      this.everything.set(stamp.key, stamp.time)
  }

  /** The latest time `key` stamped among the ops applied, if any. */
  latest(key: string): number | undefined {
    return this.everything.get(key)
  }

  /** The time the clock reads for `signers` and `threshold`: the threshold-th latest stamp. */
  time(stamps: Stamps, signers: readonly string[], threshold: number): number {
    const times: number[] = []
    for (const key of signers) {
      const t = stamps.get(key)
      if (t !== undefined) times.push(t)
    }
    if (times.length < threshold) return this.genesisTime
    times.sort((a, b) => b - a)
    return Math.max(this.genesisTime, times[threshold - 1]!)
  }

  /** The stamps of the op at `position` (a merge, or an op the rules never recorded: its deps'). */
  private of(position: number): Stamps {
    const known = this.at[position]
    if (known) return known
    const dag = this.engine.dag
    const stack = [position]
    while (stack.length > 0) {
      const p = stack.at(-1)!
      if (this.at[p]) {
        stack.pop()
        continue
      }
      const deps: number[] = []
      let missing = false
      for (let k = dag.depsStart(p); k < dag.depsEnd(p); k++) {
        const d = dag.dep(k)
        deps.push(d)
        if (!this.at[d]) {
          stack.push(d)
          missing = true
        }
      }
      if (missing) continue
      this.at[p] = this.merge(deps.map((d) => this.at[d]!))
      stack.pop()
    }
    return this.at[position]!
  }

  /** The latest stamp per signer over several pasts (one of them as it is when it holds all). */
  private merge(pasts: readonly Stamps[]): Stamps {
    if (pasts.length === 0) return EMPTY
    let widest = pasts[0]!
    for (const p of pasts) if (p.size > widest.size) widest = p
    let merged: Map<string, number> | undefined
    for (const p of pasts) {
      if (p === widest) continue
      for (const [key, t] of p) {
        const current = (merged ?? widest).get(key)
        if (current === undefined || current < t) {
          merged ??= new Map(widest)
          merged.set(key, t)
        }
      }
    }
    return merged ?? widest
  }
}
