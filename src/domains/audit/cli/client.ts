import { type NodeClient, NodeRequestError } from '../../../cli/client.ts'
import type { Audit } from '../../../core/audit/reduce.ts'
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
  const { loadAudit } = await import('../../../core/audit/reduce.ts')
  return loadAudit(await client.ops(await auditIdOn(client, ref)))
}

/** One line of `GET /audits`. */
export type AuditListing = {
  id: string
  name: string
  state: string
  items: number
  auditors: number
}

/** Pages `listAudits` follows at most (a million audits at the default page size). */
const MAX_LIST_PAGES = 10_000

/** Every audit the node holds, by name, walking `GET /audits` page by page. */
export async function listAudits(client: NodeClient): Promise<AuditListing[]> {
  const audits: AuditListing[] = []
  let after: string | null = null
  for (let pages = 0; pages < MAX_LIST_PAGES; pages++) {
    const query: string = after === null ? '' : `?after=${encodeURIComponent(after)}`
    const page: { audits: AuditListing[]; next?: string | null } = await client.get(
      `/audits${query}`,
    )
    audits.push(...page.audits)
    // Old nodes answer every audit at once, with no next; a page that does not move on ends it.
    if (!page.next || page.next === after || page.audits.length === 0) break
    after = page.next
  }
  return audits
}

/** Whether an audit the node holds (its own or a stranger's) has this name. */
export async function isAuditNamed(client: NodeClient, name: string): Promise<boolean> {
  try {
    await auditIdOn(client, name)
    return true
  } catch (error) {
    if (error instanceof NodeRequestError && error.status === 404) return false
    // Several audits of that name (409): taken all the more.
    if (error instanceof NodeRequestError && error.status === 409) return true
    throw error
  }
}
