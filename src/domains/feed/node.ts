import { z } from 'zod'
import type { FeedReducer, FeedState, FeedSummary } from '../../core/feed/domain.ts'
import type { NodePart } from '../plugin.ts'
import { createFeedActions, type FeedActions, type FeedIndex } from './actions.ts'
import { feedRoutes } from './routes.ts'

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** The node's price feeds (after `start`). */
    readonly feeds: FeedIndex
    /** Feed ops signed for local accounts (after `start`). */
    readonly feedActions: FeedActions
  }
}

/** `[domains.feed]` in config.toml: the report signer and transmitter. */
const feedSettings = z
  .object({
    /** Whether this node posts complete reports on chain (signing needs only a registered key). */
    transmit: z.boolean().default(true),
    /** Milliseconds between the reporter's ticks. */
    interval_ms: z.number().int().min(100).max(3_600_000).default(500),
    /** Milliseconds after a window's end before its report is signed. */
    grace_ms: z.number().int().min(0).max(600_000).default(2000),
  })
  .strict()

/**
 * The node side of price feeds: the `/feed` routes, the dashboard's feed pages and, with a chain,
 * the reporter (signs each closed window's report when the node's operator is a registered
 * signer, and posts complete reports on heartbeat or deviation).
 */
export const feedNode: NodePart<FeedState, FeedReducer, FeedSummary> = {
  settings: feedSettings,
  create({ config, ledger, accounts, index, chain }) {
    const actions = createFeedActions(ledger, index)
    return {
      extend: { feeds: index, feedActions: actions },
      routes: [feedRoutes({ index, actions, accounts, bodyLimit: config.http.bodyLimit, chain })],
    }
  },
}
