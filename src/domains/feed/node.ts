import { z } from 'zod'
import type { FeedReducer, FeedState, FeedSummary } from '../../core/feed/domain.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { explorerAt } from '../../web/explorer.ts'
import type { NodePart } from '../plugin.ts'
import { createFeedActions, type FeedActions, type FeedIndex } from './actions.ts'
import { createFeedWeb } from './pages.ts'
import { createFeedReporter } from './reporter.ts'
import { feedRoutes } from './routes.ts'
import { seriesOf } from './wire.ts'

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
  create({ config, logger, ledger, accounts, index, chain, metrics, settings }) {
    const s = settings as z.infer<typeof feedSettings>
    const actions = createFeedActions(ledger, index)
    return {
      extend: { feeds: index, feedActions: actions },
      web: createFeedWeb({
        node: config.name,
        explorer: explorerAt(config.explorerUrl),
        series: async (ref, last) => {
          let id: OpId
          try {
            id = index.resolve(ref)
          } catch {
            return undefined
          }
          return seriesOf(await index.reducer(id), last)
        },
      }),
      routes: [feedRoutes({ index, actions, accounts, bodyLimit: config.http.bodyLimit, chain })],
      services: chain
        ? [
            createFeedReporter({
              index,
              accounts,
              actions,
              chain,
              logger: logger.child({ part: 'feed.reporter' }),
              intervalMs: s.interval_ms,
              graceMs: s.grace_ms,
              transmit: s.transmit,
              metrics: {
                signed: metrics.counter({
                  name: 'report_signatures_total',
                  help: 'Feed report signatures this node published, by outcome (signed, refused).',
                  labelNames: ['outcome'],
                }),
                transmissions: metrics.counter({
                  name: 'report_transmissions_total',
                  help: 'Feed reports this node tried to post on chain, by outcome (posted, refused).',
                  labelNames: ['outcome'],
                }),
              },
            }),
          ]
        : [],
    }
  },
}
