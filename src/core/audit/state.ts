import type { Hex } from 'viem'
import type { OpId } from '../../ledger/op-id.ts'
import type { OpNote } from '../causal/notes.ts'
import type { Address } from '../identity.ts'
import type { AuditParams } from './params.ts'
import type { Settlement } from './settlement.ts'
import type { SettlementDomain } from './settlement-report.ts'
import type { AuditStateName } from './states.ts'
import type { AuditResults } from './tally.ts'

/** An item of the audit; `number` is its 1-based place in the current list (what `del` takes). */
export type AuditItem = { readonly id: OpId; readonly description: string; readonly number: number }

/** A registered auditor: its Ed25519 key (hex), payout address and registration op. */
export type AuditAuditor = {
  readonly key: string
  readonly payout: Address
  readonly registration: OpId
}

/** One (item, auditor) inspection. `reassigned`: the deadline passed and a backup took it. */
export type Inspection = {
  readonly item: OpId
  readonly auditor: string
  readonly status: 'outstanding' | 'answered' | 'committed' | 'revealed' | 'reassigned' | 'missing'
  /** The counted answer, once known (after the reveal in commit–reveal mode). */
  readonly answer: boolean | undefined
}

/** The state of one audit, recomputed from its ops; identical on every replica with the same ops. */
export type AuditState = {
  readonly id: OpId
  readonly params: AuditParams
  readonly state: AuditStateName
  readonly stateIndex: number
  readonly items: readonly AuditItem[]
  readonly auditors: readonly AuditAuditor[]
  readonly inspections: readonly Inspection[]
  readonly results: AuditResults | undefined
  readonly settlement: Settlement | undefined
  /** Nodes' EIP-712 signatures of the settlement report, by signer address (then chain, escrow). */
  readonly settlementSignatures: readonly SettlementSignature[]
  /** Ops refused against their own causal past, with the error each got. */
  readonly rejected: readonly OpNote[]
  /** Valid ops left out by a causal cut (late registrations, answers after `stop`…). */
  readonly excluded: readonly OpNote[]
  /** The states passed through, with the op that caused each step. */
  readonly transitions: readonly { readonly state: AuditStateName; readonly op: OpId }[]
}

/** A node's signature of the settlement report, for one chain and escrow contract. */
export type SettlementSignature = SettlementDomain & {
  readonly signer: Address
  readonly signature: Hex
  readonly op: OpId
}
