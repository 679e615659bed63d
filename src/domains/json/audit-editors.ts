import { AuditNotFoundError } from '../../core/audit/errors.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { InvalidJsonInputError } from '../../core/json/ops.ts'
import { describeValue } from '../../core/text.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { DocIndex } from '../../node/doc-index.ts'

// `audit` in `POST /json` and `POST /json/:doc/editors`: the audit's registered auditors become
// editors. The audit is read from the audit domain's index, as the node holds it now.

/** The domain whose index holds audits. */
const AUDIT_DOMAIN = 'audit'

/** An audit named by id or name, and the Ed25519 keys (hex) of its registered auditors. */
export type AuditEditors = { readonly audit: OpId; readonly editors: readonly string[] }

/**
 * The auditors of the audit `ref` (its id, or its name as `rwa audit` resolves names).
 * @throws InvalidJsonInputError when no audit is named so (or the node has no audits), and the
 *   audit domain's AmbiguousAuditError when several are.
 */
export async function auditEditors(
  indexes: ReadonlyMap<string, DocIndex>,
  ref: string,
): Promise<AuditEditors> {
  const audits = indexes.get(AUDIT_DOMAIN)
  if (!audits)
    throw new InvalidJsonInputError(
      'This node runs no audit domain, so an audit cannot name the editors; name their keys instead.',
    )
  let audit: OpId
  try {
    audit = audits.resolve(ref.trim())
  } catch (error) {
    // The name is a field of the request: a 422 that says what to give, not a 404 of the route.
    if (error instanceof AuditNotFoundError)
      throw new InvalidJsonInputError(
        `No audit is named ${describeValue(ref)} on this node; give an audit's name or id (rwa audit list), or name the editors.`,
      )
    throw error
  }
  const state = (await audits.reducer(audit)).state() as AuditState
  return { audit, editors: state.auditors.map((a) => a.key) }
}
