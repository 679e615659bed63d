import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { DomainReducer, Draft, Judgement } from '../domain.ts'
import type { CausalEngine, Rules } from './engine.ts'
import type { OpNote } from './notes.ts'

/**
 * What every domain's reducer is, given its rules on the causal engine: apply, check, judge,
 * verdict and the order-sensitivity it reports. A domain extends it with `state()` and its own
 * cheap queries.
 * @example
 * class PollReducer extends CausalReducer<PollState> {
 *   state() { return this.machine.snapshot() }
 * }
 */
export abstract class CausalReducer<State> implements DomainReducer<State> {
  constructor(
    protected readonly engine: CausalEngine,
    protected readonly rules: Rules,
  ) {}

  apply(op: EncodedOp): void {
    this.engine.apply(op, this.rules)
  }

  get size(): number {
    return this.engine.size
  }

  get tieBreaks(): number {
    return this.engine.tieBreaks
  }

  get orderSensitive(): boolean {
    return this.engine.orderSensitive
  }

  check(draft: Draft): void {
    this.engine.check(this.engine.ids[0]!, draft, this.rules)
  }

  judge(op: EncodedOp): Judgement | undefined {
    return this.engine.judge(op, this.rules)
  }

  verdict(id: OpId): OpNote | undefined {
    return this.engine.notes.of(id)
  }

  abstract state(): State
}
