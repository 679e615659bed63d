import { type AuditSummary, auditDomain } from '../../core/audit/domain.ts'
import type { AuditReducer } from '../../core/audit/reduce.ts'
import type { AuditState } from '../../core/audit/state.ts'
import type { DomainPlugin } from '../plugin.ts'

/** Audits (Real World Auditor): the rules in src/core/audit, the node and CLI parts here. */
export const auditPlugin: DomainPlugin<AuditState, AuditReducer, AuditSummary> = {
  domain: auditDomain,
  node: async () => (await import('./node.ts')).auditNode,
  cli: async () => (await import('./cli/commands.ts')).auditCli,
}
