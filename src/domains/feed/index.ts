import {
  type FeedReducer,
  type FeedState,
  type FeedSummary,
  feedDomain,
} from '../../core/feed/domain.ts'
import type { DomainPlugin } from '../plugin.ts'

/** Price feeds (the oracle network): the rules in src/core/feed, the node part here. */
export const feedPlugin: DomainPlugin<FeedState, FeedReducer, FeedSummary> = {
  domain: feedDomain,
  node: async () => (await import('./node.ts')).feedNode,
  cli: async () => (await import('./cli/commands.ts')).feedCli,
}
