import { type AuditSummary, auditDomain } from '../../core/audit/domain.ts'
import type { AuditParams } from '../../core/audit/params.ts'
import type { AuditReducer } from '../../core/audit/reduce.ts'
import type { AuditState } from '../../core/audit/state.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { createDocIndex, type DocIndex, type DocIndexOptions } from '../../node/doc-index.ts'

/** The audits of a node: the document index, with the audit's cheap queries. */
export interface AuditIndex extends DocIndex<AuditState, AuditReducer, AuditSummary> {
  /** The audit's current parameters (cheap). */
  params(id: OpId): Promise<AuditParams>
  /** The current state's name (cheap). */
  stateName(id: OpId): Promise<string>
  /** An auditor's current inspection (cheap). */
  next(id: OpId, auditorKey: string): Promise<ReturnType<AuditReducer['nextInspection']>>
}

/** Adds the audit's cheap queries to an index of audits. */
export function withAuditQueries(
  index: DocIndex<AuditState, AuditReducer, AuditSummary>,
): AuditIndex {
  return Object.assign(index, {
    params: async (id: OpId) => (await index.reducer(id)).params(),
    stateName: async (id: OpId) => (await index.reducer(id)).stateName(),
    next: async (id: OpId, auditorKey: string) =>
      (await index.reducer(id)).nextInspection(auditorKey),
  })
}

/** Creates the audit index of a ledger (the node builds it through the plug-in seam). */
export function createAuditIndex(ledger: Ledger, options: DocIndexOptions = {}): AuditIndex {
  return withAuditQueries(createDocIndex(ledger, auditDomain, options))
}
