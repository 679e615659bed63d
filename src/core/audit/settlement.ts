import { encodeAbiParameters, type Hex } from 'viem'
import type { Address } from '../identity.ts'
import type { AuditResults } from './tally.ts'

/** What the chain pays: one amount per address (aggregated, sorted), and the remainder to the payer. */
export type Settlement = {
  readonly payees: readonly Address[]
  readonly amounts: readonly bigint[]
  readonly total: bigint
  readonly remainder: bigint
  /** `abi.encode(address[] payees, uint256[] amounts)`, as the RWA data_dump route answers. */
  readonly encoded: Hex
}

/**
 * Aggregates each auditor's payment (paid + returned stake) per payout address, drops zero
 * amounts, and orders payees by address (lowercase hex, ascending) so every node builds the
 * same settlement.
 */
export function buildSettlement(results: AuditResults): Settlement {
  const byAddress = new Map<string, { address: Address; amount: bigint }>()
  for (const auditor of results.auditors) {
    const amount = auditor.paid + auditor.returned
    const key = auditor.payout.toLowerCase()
    const entry = byAddress.get(key)
    if (entry) entry.amount += amount
    else byAddress.set(key, { address: auditor.payout, amount })
  }
  const entries = [...byAddress.entries()]
    .filter(([, e]) => e.amount > 0n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const payees = entries.map(([, e]) => e.address)
  const amounts = entries.map(([, e]) => e.amount)
  return {
    payees,
    amounts,
    total: amounts.reduce((sum, a) => sum + a, 0n),
    remainder: results.remainder,
    encoded: encodeSettlement(payees, amounts),
  }
}

/** `abi.encode(address[], uint256[])`; empty arrays while there is nothing to settle, as the original. */
export function encodeSettlement(payees: readonly Address[], amounts: readonly bigint[]): Hex {
  return encodeAbiParameters([{ type: 'address[]' }, { type: 'uint256[]' }], [payees, amounts])
}
