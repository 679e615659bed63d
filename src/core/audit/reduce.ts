import type { EncodedOp } from '../../ledger/op.ts'
import { CausalReducer } from '../causal/reducer.ts'
import type { DomainReducer, Draft } from '../domain.ts'
import { InvalidAuditInputError } from './errors.ts'
import { AuditMachine } from './machine.ts'
import type { AuditParams } from './params.ts'
import type { AuditState, Inspection } from './state.ts'
import { AUDIT_STATES, type AuditStateName } from './states.ts'

/**
 * Computes an audit's state from its ops, given in the log's deterministic topological order
 * (the genesis `audit.create` first). Pure: replicas with the same ops get identical state.
 *
 * Rules (ARCHITECTURE §1): an op is judged against its own causal past. Admin control ops (open,
 * close, start, stop, finish, settled, set, reassign) form a chain: each must causally follow every
 * earlier valid one, so the state an op "sees" is fixed by the longest chain prefix in its causal
 * past. `close` freezes the roster to the registrations in its causal past; `stop` freezes the
 * tally to the answers (or commitments) in its causal past; `finish` does the same for reveals.
 * Ops that were valid but fall outside a freeze are kept and listed in `excluded`.
 */
export function reduceAudit(ops: Iterable<EncodedOp>): AuditState {
  return fold(ops).snapshot()
}

function fold(ops: Iterable<EncodedOp>): AuditMachine {
  let machine: AuditMachine | undefined
  for (const op of ops) {
    if (machine) machine.apply(op)
    else machine = new AuditMachine(op)
  }
  if (!machine)
    throw new InvalidAuditInputError('An audit needs at least its "audit.create" genesis op.')
  return machine
}

/** An audit's state together with `check`, which tells whether a new op would be accepted now. */
export type Audit = AuditState & {
  /** Throws the refusal (a named error naming the state and what is allowed) for a draft op made on the current heads. */
  check(draft: Draft): void
}

/** Like `reduceAudit`, keeping what `check` needs to judge a draft op exactly as the log will. */
export function loadAudit(ops: Iterable<EncodedOp>): Audit {
  const machine = fold(ops)
  return {
    ...machine.snapshot(),
    check: (draft) => machine.engine.check(machine.id, draft, machine),
  }
}

/**
 * An audit reducer fed one op at a time, in any topological order (e.g. as a ledger accepts
 * them), holding no ops. When `orderSensitive` stays false the state equals `reduceAudit` over
 * the log's deterministic order; when it turns true (concurrent control ops, duplicates, concurrent
 * item adds), recompute with `reduceAudit(log order)` to get the canonical state.
 */
export interface AuditReducer extends DomainReducer<AuditState> {
  /** The current parameters. */
  params(): AuditParams
  /** How many items and auditors the audit has, without building the whole state. */
  counts(): { items: number; auditors: number }
  /** The current state's name, without building the whole state. */
  stateName(): AuditStateName
  /** Like `nextInspection(state(), key)`, without building the whole state. */
  nextInspection(auditorKey: string): (Inspection & { description: string }) | undefined
}

/** An audit's incremental reducer: the engine's, with the audit's state and cheap queries. */
class IncrementalAudit extends CausalReducer<AuditState> implements AuditReducer {
  constructor(private readonly machine: AuditMachine) {
    super(machine.engine, machine)
  }

  state(): AuditState {
    return this.machine.snapshot()
  }

  stateName(): AuditStateName {
    return AUDIT_STATES[this.machine.state]!
  }

  params(): AuditParams {
    return this.machine.params
  }

  counts(): { items: number; auditors: number } {
    const { machine } = this
    return {
      items:
        machine.items?.length ?? machine.itemAdds.filter((i) => i.deleted === undefined).length,
      auditors: machine.roster?.length ?? machine.registrations.size,
    }
  }

  nextInspection(auditorKey: string): (Inspection & { description: string }) | undefined {
    const next = this.machine.nextOutstanding(auditorKey)
    if (!next) return undefined
    const { item, auditor, status, answer } = next
    return { item, auditor, status, answer, description: this.machine.describe(item) }
  }
}

/** Starts an incremental reducer from an audit's genesis op. */
export function createAuditReducer(genesis: EncodedOp): AuditReducer {
  return new IncrementalAudit(new AuditMachine(genesis))
}
