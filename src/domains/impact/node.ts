import { z } from 'zod'
import type { ImpactReducer, ImpactSummary } from '../../core/impact/domain.ts'
import type { ImpactState } from '../../core/impact/state.ts'
import { explorerAt } from '../../web/explorer.ts'
import type { NodePart } from '../plugin.ts'
import { createImpactActions, type ImpactActions, type ImpactIndex } from './actions.ts'
import { createImpactChat } from './chat.ts'
import { createImpactWeb } from './pages.ts'
import { createImpactProxy, type ImpactProxy } from './proxy.ts'
import { impactRoutes } from './routes.ts'
import { createBatchSigner } from './signer.ts'

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** The node's impact communities (after `start`). */
    readonly impact: ImpactIndex
    /** Impact ops signed for local accounts (after `start`). */
    readonly impactActions: ImpactActions
    /** The proxy service (idle without a chain or a local proxy account): pause it to sign proxy ops by hand. */
    readonly impactProxy: ImpactProxy
  }
}

/** `[domains.impact]` in config.toml: the proxy service's settings. */
const impactSettings = z
  .object({
    /** The first block whose pool deposits the proxy reads (on a long chain: the escrow's deployment). */
    deposits_from_block: z.number().int().min(0).default(0),
    /** Milliseconds between the proxy's ticks (ops arriving also start one). */
    proxy_interval_ms: z.number().int().min(100).max(3_600_000).default(1000),
    /** Days an auditor the proxy assigns has to vote. */
    max_days: z.number().int().min(1).max(365).default(7),
    /** The most proxy ops signed per community per tick. */
    max_ops_per_tick: z.number().int().min(1).max(10_000).default(50),
  })
  .strict()

/**
 * The node side of impact actions: actions for local accounts, the `/impact` routes, and with a
 * chain the proxy service (for communities one of whose proxies is a local account) and the
 * batch signer (every node with an operator Ethereum key signs each open batch once).
 */
export const impactNode: NodePart<ImpactState, ImpactReducer, ImpactSummary> = {
  settings: impactSettings,
  create({ config, logger, ledger, accounts, index, chain, metrics, settings }) {
    const s = settings as z.infer<typeof impactSettings>
    const actions = createImpactActions(ledger, index)
    const proxy = createImpactProxy({
      ledger,
      index,
      accounts,
      actions,
      chain,
      logger: logger.child({ part: 'impact.proxy' }),
      intervalMs: s.proxy_interval_ms,
      maxdays: s.max_days,
      maxOpsPerTick: s.max_ops_per_tick,
      fromBlock: BigInt(s.deposits_from_block),
      metrics: {
        ops: metrics.counter({
          name: 'proxy_ops_total',
          help: 'Impact proxy ops this node tried to sign, by op type and outcome (signed, refused).',
          labelNames: ['type', 'outcome'],
        }),
        ticks: metrics.counter({
          name: 'proxy_ticks_total',
          help: 'Impact proxy ticks that ran to the end.',
        }),
        errors: metrics.counter({
          name: 'proxy_errors_total',
          help: 'Impact proxy ticks that failed on a chain or ledger error (retried next tick).',
        }),
        settlements: metrics.counter({
          name: 'settlement_transactions_total',
          help: 'settleBatch transactions this node sent, by outcome (success, reverted, failed).',
          labelNames: ['outcome'],
        }),
      },
    })
    return {
      extend: { impact: index, impactActions: actions, impactProxy: proxy },
      web: createImpactWeb({
        index,
        actions,
        accounts,
        config,
        explorer: explorerAt(config.explorerUrl),
      }),
      chat: (context) =>
        createImpactChat(
          { index, actions, accounts, ledger, logger: logger.child({ part: 'impact.chat' }) },
          context,
        ),
      routes: [
        impactRoutes({
          index,
          actions,
          accounts,
          bodyLimit: config.http.bodyLimit,
          chain,
          maxdays: s.max_days,
        }),
      ],
      services: chain
        ? [
            proxy,
            createBatchSigner({
              ledger,
              index,
              accounts,
              actions,
              chain,
              logger: logger.child({ part: 'impact.signer' }),
              signatures: metrics.counter({
                name: 'batch_signatures_total',
                help: 'Impact batch signatures this node published, by outcome (signed, failed).',
                labelNames: ['outcome'],
              }),
            }),
          ]
        : [proxy],
    }
  },
}
