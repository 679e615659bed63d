import type { NodeClient } from '../../../cli/client.ts'
import { type Audit, loadAudit } from '../../../core/audit/reduce.ts'
import type { OpId } from '../../../ledger/op-id.ts'

/** Resolves an audit's name or id to its id, on the node. */
export async function auditIdOn(client: NodeClient, ref: string): Promise<OpId> {
  return (await client.get<{ id: OpId }>(`/audits/${encodeURIComponent(ref)}`)).id
}

/**
 * Downloads an audit's ops and recomputes it here, every signature checked: the CLI trusts the
 * log, not the node's word about it.
 */
export async function fetchAudit(client: NodeClient, ref: string): Promise<Audit> {
  return loadAudit(await client.ops(await auditIdOn(client, ref)))
}
