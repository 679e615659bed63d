import { join } from 'node:path'
import type { MiddlewareHandler } from 'hono'
import { readTokenUnit } from '../../chain/token-units.ts'
import type { TokenUnit } from '../../core/amount.ts'
import type { ChannelReducer, ChannelState, ChannelSummary } from '../../core/channel/domain.ts'
import { priceOf } from '../../core/channel/routes.ts'
import { errorResponse } from '../../http/errors.ts'
import { explorerAt } from '../../web/explorer.ts'
import type { NodePart } from '../plugin.ts'
import { createGateway, type Gateway } from './gateway.ts'
import { createChannelWeb } from './pages.ts'
import { sqlitePaymentStore } from './payment-store.ts'
import { channelRoutes, NoChannelServiceError } from './routes.ts'
import {
  type ChannelSettings,
  channelSettings,
  defaultGroupId,
  pricedRoutes,
  upstreamsOf,
} from './settings.ts'
import { createTreasurer } from './treasurer.ts'
import { addTreasurerRoutes } from './treasurer-routes.ts'
import type { ChannelsOverview, Treasurer } from './types.ts'
import { createChannelWatch } from './watch.ts'

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** The paid-call gateway, when the node's chain has a MultiPartyEscrow (after `start`). */
    readonly channelGateway: Gateway | undefined
    /** The service's treasurer, with the gateway (after `start`). */
    readonly treasurer: Treasurer | undefined
  }
}

/**
 * The node side of payment channels: the paid-call gateway in front of the priced routes (the
 * node's own and the upstreams it proxies), the `/channel` routes (terms, GetChannelState), and
 * the channels page.
 */
export const channelNode: NodePart<ChannelState, ChannelReducer, ChannelSummary> = {
  settings: channelSettings,
  create({ config, logger, accounts, chain, metrics, settings }) {
    const s = settings as ChannelSettings
    const routes = pricedRoutes(s)
    const upstreams = upstreamsOf(s)
    const log = logger.child({ part: 'channel' })
    const calls = metrics.counter({
      name: 'paid_calls_total',
      help: 'Calls through the paid-call gateway, by outcome (paid, replayed, refused, failed).',
      labelNames: ['outcome'],
    })
    const escrow = chain?.info.mpe
    if (chain === undefined || escrow === undefined) {
      if (routes.length > 0)
        log.warn(
          'priced routes are configured but the node has no chain with a MultiPartyEscrow: they answer 404 until it has one',
        )
      // Priced routes are never served free: without a chain they are refused.
      const refuse: MiddlewareHandler = async (c, next) => {
        if (priceOf(routes, c.req.method, c.req.path) === undefined) return next()
        const { status, body } = errorResponse(
          new NoChannelServiceError(
            'This route is priced but the node has no chain with a MultiPartyEscrow to be paid through; nothing can be paid for it now.',
          ),
        )
        return c.json(body, status as 404)
      }
      return {
        extend: { channelGateway: undefined, treasurer: undefined },
        middleware: [refuse],
        routes: [
          channelRoutes({
            accounts,
            bodyLimit: config.http.bodyLimit,
            logger: log,
            service: undefined,
          }),
        ],
        web: createChannelWeb({ node: config.name, overview: async () => undefined }),
      }
    }
    const recipient = chain.wallet.account.address
    const store = sqlitePaymentStore({
      path: join(config.dataDir, 'channels.sqlite'),
      escrow,
      durability: s.durability,
    })
    const gateway = createGateway({
      store,
      client: chain.client,
      escrow,
      recipient,
      expirationThreshold: BigInt(s.expiration_threshold),
      routes,
      logger: log,
      maxAnswerBytes: s.max_answer_bytes,
      blockTtlMs: s.block_ttl_ms,
      onCall: (outcome) => calls.inc({ outcome }),
    })
    let unit: Promise<TokenUnit> | undefined
    const token = () => {
      unit ??= (async () => {
        const { readMpeToken } = await import('../../chain/mpe.ts')
        return readTokenUnit(chain.client, await readMpeToken(chain.client, escrow))
      })().catch((error) => {
        unit = undefined
        throw error
      })
      return unit
    }
    // The treasurer needs the token's unit, read from the chain once the node starts.
    let started: Treasurer | undefined
    const live = (): Treasurer => {
      if (started !== undefined) return started
      throw new NoChannelServiceError(
        'The channel treasurer has not started yet; retry in a moment.',
      )
    }
    const treasurer: Treasurer = {
      reconcile: () => live().reconcile(),
      list: () => live().list(),
      claim: (ids) => live().claim(ids),
      claimAll: () => live().claimAll(),
      claimExpiring: (blocks) => live().claimExpiring(blocks),
    }
    // The dashboard refreshes every few seconds: one chain read per channel at most once a second.
    let shown: { at: number; overview: Promise<ChannelsOverview> } | undefined
    const overview = () => {
      if (shown === undefined || Date.now() - shown.at > 1000) {
        const listed = treasurer.list()
        listed.catch(() => {
          shown = undefined
        })
        shown = { at: Date.now(), overview: listed }
      }
      return shown.overview
    }
    return {
      extend: { channelGateway: gateway, treasurer },
      middleware: [gateway.middleware],
      routes: [
        channelRoutes({
          accounts,
          bodyLimit: config.http.bodyLimit,
          logger: log,
          service: {
            gateway,
            escrow,
            recipient,
            groupId: (s.group_id as `0x${string}` | undefined) ?? defaultGroupId(recipient),
            chainId: chain.info.chainId,
            rpcUrl: chain.info.rpcUrl,
            token,
            expirationThreshold: BigInt(s.expiration_threshold),
            // The node's own priced routes (the upstreams are listed apart).
            routes: routes.slice(0, s.prices.length),
            upstreams,
            signHash: (hash) =>
              chain.wallet.signMessage({ account: chain.wallet.account, message: { raw: hash } }),
          },
          extra: (group) => addTreasurerRoutes(group, treasurer),
        }),
      ],
      services: [
        {
          name: 'channel.gateway',
          async start() {
            const report = await store.recover()
            for (const p of report.committed)
              log.warn(
                { channel: p.channelId.toString(), amount: p.amount.toString() },
                'a paid call was under way when the node stopped: its payment is committed, and the client may retry it once free',
              )
            for (const e of report.refused) log.error({ err: e }, 'channel store row refused')
            started = createTreasurer({
              store,
              client: chain.client,
              wallet: chain.wallet,
              escrow,
              token: await token(),
              logger: log.child({ part: 'channel.treasurer' }),
              onChange: (ids) => gateway.invalidate(ids),
            })
            // The store agrees with the chain before the first paid call (claims a stop cut short
            // are finished); a chain that does not answer now is retried by the watch.
            try {
              const reconciled = await started.reconcile()
              if (reconciled.finished.length > 0 || reconciled.advanced.length > 0)
                log.info(
                  {
                    finished: reconciled.finished.map((c) => c.channelId.toString()),
                    advanced: reconciled.advanced.map((id) => id.toString()),
                  },
                  'channel store reconciled with the chain',
                )
            } catch (error) {
              log.warn({ err: error }, 'could not reconcile the channel store with the chain')
            }
          },
          stop: () => store.close(),
        },
        createChannelWatch({
          treasurer,
          logger: log.child({ part: 'channel.watch' }),
          intervalMs: s.watch_interval_ms,
          warnBlocks: BigInt(s.warn_blocks),
          claimBlocks: BigInt(s.claim_blocks),
          autoClaim: s.auto_claim,
          metrics,
        }),
      ],
      web: createChannelWeb({
        node: config.name,
        explorer: explorerAt(config.explorerUrl),
        overview,
        warnBlocks: BigInt(s.warn_blocks),
      }),
    }
  },
}
