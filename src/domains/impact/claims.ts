import type { Hex } from 'viem'
import type { ChainService } from '../../chain/chain-service.ts'
import { ChainError } from '../../chain/errors.ts'
import type { ImpactReducer } from '../../core/impact/domain.ts'
import type { OpId } from '../../ledger/op-id.ts'

// The chain facts a proxy signs: the block it claims (the community's only clock) and the draw
// that block's hash seeds. Shared by the proxy service and the proxy's HTTP routes.

/** The block a proxy op claims: the settlement chain's latest block, and its hash (the draw's entropy). */
export type BlockClaim = { readonly block: number; readonly hash: Hex }

/** The default deadline of an assigned auditor's vote, in days of the community's `blocksPerDay`. */
export const DEFAULT_MAXDAYS = 7

/**
 * Reads the chain's latest block as a claim.
 * @throws ChainError when the node has no chain or the chain does not answer.
 */
export async function latestBlock(chain: ChainService | undefined): Promise<BlockClaim> {
  if (!chain)
    throw new ChainError(
      'This node runs without a chain, so it cannot claim a block; proxy ops need a node started with a chain (rwa start without --no-chain).',
    )
  try {
    const block = await chain.client.getBlock({ blockTag: 'latest' })
    if (block.hash === null) throw new Error('the latest block has no hash')
    return { block: Number(block.number), hash: block.hash }
  } catch (cause) {
    throw new ChainError(
      `The chain at ${chain.info.rpcUrl} did not give its latest block; check that it runs, then retry.`,
      { cause },
    )
  }
}

/**
 * The body of an assignment of `request` at `claim`: the auditors the seeded draw gives with the
 * claimed block's hash as entropy (what every replica checks).
 */
export function assignBody(
  reducer: ImpactReducer,
  request: OpId,
  claim: BlockClaim,
  maxdays = DEFAULT_MAXDAYS,
) {
  const { auditors } = reducer.drawFor(request, claim.hash)
  return { request, auditors, maxdays, block: claim.block, entropy: claim.hash }
}
