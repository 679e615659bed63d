import { type Domain, hashState } from '../domain.ts'
import { AmbiguousAuditError, AuditNotFoundError } from './errors.ts'
import { AUDIT_OP_TYPES } from './ops.ts'
import { type AuditReducer, createAuditReducer } from './reduce.ts'
import type { AuditState } from './state.ts'
import { AUDIT_OP, type AuditStateName } from './states.ts'

/** One line of the audit list. */
export type AuditSummary = {
  readonly name: string
  readonly state: AuditStateName
  readonly items: number
  readonly auditors: number
}

/** Audits (Real World Auditor), as a domain: their op types, reducer, state hash and listing. */
export const auditDomain: Domain<AuditState, AuditReducer, AuditSummary> = {
  name: 'audit',
  genesisType: AUDIT_OP.create,
  opTypes: AUDIT_OP_TYPES,
  createReducer: createAuditReducer,
  stateHash: hashState,
  summary: (reducer) => ({
    name: reducer.params().name,
    state: reducer.stateName(),
    ...reducer.counts(),
  }),
  notFound: (ref) => new AuditNotFoundError(ref),
  ambiguous: (ref, ids) => new AmbiguousAuditError(ref, ids),
}
