import { type NodeClient, NodeRequestError } from '../../../cli/client.ts'
import { ETH_UNIT, type TokenUnit, toTokenUnit, unknownUnit } from '../../../core/amount.ts'
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

/** The escrow's funding of an audit, as `GET /audits/:audit` tells it. */
export type FundingView = { funded: bigint; needed: bigint; escrowToken: string; settled: boolean }

/** An audit recomputed here, with its token's unit and funding as the node reports them. */
export type AuditWithMoney = { audit: Audit; unit: TokenUnit; funding: FundingView | null }

/**
 * Like `fetchAudit`, with the unit of the audit's token and the escrow's funding from the node's
 * view (no request more). The node's word on them is checked for shape, and a unit that does not
 * fit falls back to base units.
 */
export async function fetchAuditWithMoney(
  client: NodeClient,
  ref: string,
): Promise<AuditWithMoney> {
  const view = await client.get<{ id: OpId; token?: unknown; funding?: unknown }>(
    `/audits/${encodeURIComponent(ref)}`,
  )
  const { loadAudit } = await import('../../../core/audit/reduce.ts')
  const audit = loadAudit(await client.ops(view.id))
  return {
    audit,
    unit: unitFromNode(view.token, audit.params.token),
    funding: fundingFromNode(view.funding),
  }
}

/** A token's unit as a node reported it, if it is the token asked about and well formed. */
export function unitFromNode(reported: unknown, token: string): TokenUnit {
  if (token === 'native') return ETH_UNIT
  const r = (reported ?? {}) as { address?: unknown; symbol?: unknown; decimals?: unknown }
  if (typeof r.address !== 'string' || r.address.toLowerCase() !== token.toLowerCase())
    return unknownUnit(token)
  return toTokenUnit(token, r.symbol, r.decimals)
}

/** A token's unit, asked of the node (`GET /payouts/tokens/:token`); base units if it cannot tell. */
export async function tokenUnitOn(client: NodeClient, token: string): Promise<TokenUnit> {
  if (token === 'native') return ETH_UNIT
  try {
    return unitFromNode(await client.get(`/payouts/tokens/${encodeURIComponent(token)}`), token)
  } catch (error) {
    if (error instanceof NodeRequestError && error.status === 404) return unknownUnit(token)
    throw error
  }
}

const BASE_UNITS = /^\d{1,78}$/

function fundingFromNode(reported: unknown): FundingView | null {
  const f = (reported ?? {}) as Record<string, unknown>
  if (typeof f.funded !== 'string' || typeof f.needed !== 'string') return null
  if (!BASE_UNITS.test(f.funded) || !BASE_UNITS.test(f.needed)) return null
  return {
    funded: BigInt(f.funded),
    needed: BigInt(f.needed),
    escrowToken: typeof f.escrowToken === 'string' ? f.escrowToken : '',
    settled: f.settled === true,
  }
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
