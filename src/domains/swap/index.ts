import {
  type SwapBookReducer,
  type SwapBookState,
  type SwapBookSummary,
  swapDomain,
} from '../../core/swap/domain.ts'
import type { DomainPlugin } from '../plugin.ts'

/**
 * SWAP accounting (Swarm's, as Waku meant to adopt it): the chequebook bindings on the ledger in
 * src/core/swap, the per-peer balances, `/rwa/swap/1`, cheques and the chequebook here.
 */
export const swapPlugin: DomainPlugin<SwapBookState, SwapBookReducer, SwapBookSummary> = {
  domain: swapDomain,
  node: async () => (await import('./node.ts')).swapNode,
  cli: async () => (await import('./cli/commands.ts')).swapCli,
}
