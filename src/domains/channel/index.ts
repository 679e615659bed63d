import {
  type ChannelReducer,
  type ChannelState,
  type ChannelSummary,
  channelDomain,
} from '../../core/channel/domain.ts'
import type { DomainPlugin } from '../plugin.ts'

/**
 * Payment channels (SingularityNET's Multi-Party Escrow): the service offers on the ledger in
 * src/core/channel, the paid-call gateway, treasurer and watch here.
 */
export const channelPlugin: DomainPlugin<ChannelState, ChannelReducer, ChannelSummary> = {
  domain: channelDomain,
  node: async () => (await import('./node.ts')).channelNode,
  cli: async () => (await import('./cli/commands.ts')).channelCli,
}
