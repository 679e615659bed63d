import type { AuditState } from '../../core/audit/state.ts'
import type { Ledger } from '../../ledger/ledger.ts'

/** The transaction in which an escrow paid an audit out, as its `audit.settled` op records it. */
export type SettledTransaction = {
  readonly hash: `0x${string}`
  readonly chainId: number | undefined
  readonly escrow: string | undefined
}

const TX_HASH = /^0x[0-9a-fA-F]{64}$/

/**
 * The settlement transaction of a COMPLETE audit, read from the op that completed it; undefined
 * before, and for an audit handed over through the Chainlink route (its op names none).
 */
export async function settledTransaction(
  ledger: Ledger,
  state: AuditState,
): Promise<SettledTransaction | undefined> {
  const completed = state.transitions.find((t) => t.state === 'COMPLETE')
  if (!completed) return undefined
  const [settled] = await ledger.getOps(state.id, [completed.op])
  const body = settled?.op.body as { tx?: unknown; chainId?: unknown; escrow?: unknown } | undefined
  // The op's author is an admin, not the chain: keep to what a hash looks like.
  if (typeof body?.tx !== 'string' || !TX_HASH.test(body.tx)) return undefined
  return {
    hash: body.tx as `0x${string}`,
    chainId: typeof body.chainId === 'number' ? body.chainId : undefined,
    escrow: typeof body.escrow === 'string' ? body.escrow : undefined,
  }
}
