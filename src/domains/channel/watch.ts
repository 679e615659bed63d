import type { Logger } from 'pino'
import { formatAmount } from '../../core/amount.ts'
import { BaseError } from '../../errors/base.ts'
import type { DomainMetrics } from '../../node/metrics.ts'
import type { ChannelRow, ChannelWatch, ClaimResult, Treasurer, WatchReport } from './types.ts'

// The channel watch (issue 21): SingularityNET's users lose money when a channel with signed,
// unclaimed payments expires and its sender takes the value back. Every interval the watch warns
// of such channels a configurable distance before their expiry, and claims them closer to it.

/** Options of `createChannelWatch`. */
export type ChannelWatchOptions = {
  readonly treasurer: Treasurer
  readonly logger: Logger
  /** Milliseconds between looks (`watch_interval_ms`). */
  readonly intervalMs: number
  /** Warn of channels with money unclaimed within this many blocks of expiry (`warn_blocks`). */
  readonly warnBlocks: bigint
  /** Claim channels with money unclaimed within this many blocks of expiry (`claim_blocks`). */
  readonly claimBlocks: bigint
  /** Whether to claim them (`auto_claim`); else only warn. */
  readonly autoClaim: boolean
  readonly metrics: DomainMetrics
}

/** Thrown when a watch option cannot be used. */
export class ChannelWatchOptionError extends BaseError {
  override name = 'ChannelWatchOptionError' as const
  override readonly kind = 'invalid' as const
}

/**
 * Creates the channel watch, a node service named "channel.watch": every `intervalMs` it lists
 * the channels, warns once per channel and nonce of those with money unclaimed within
 * `warnBlocks` of expiry, and claims those within `claimBlocks` when `autoClaim`.
 * @example
 * const watch = createChannelWatch({ treasurer, logger, intervalMs: 15_000, warnBlocks: 200n, claimBlocks: 50n, autoClaim: true, metrics })
 */
export function createChannelWatch({
  treasurer,
  logger,
  intervalMs,
  warnBlocks,
  claimBlocks,
  autoClaim,
  metrics,
}: ChannelWatchOptions): ChannelWatch {
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 100)
    throw new ChannelWatchOptionError(
      `The watch interval ${String(intervalMs)} ms is not a whole number of at least 100; set watch_interval_ms.`,
    )
  if (warnBlocks < 0n || claimBlocks < 0n)
    throw new ChannelWatchOptionError(
      `The watch distances (warn ${warnBlocks}, claim ${claimBlocks} blocks) must not be negative; set warn_blocks and claim_blocks.`,
    )
  const instruments = instrumentsOf(metrics)
  // "<channel>:<nonce>" of the channels warned of, so each is logged once per nonce.
  let warned = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined

  function warn(rows: readonly ChannelRow[], unit: Parameters<typeof formatAmount>[1]): void {
    const now = new Set<string>()
    for (const row of rows) {
      const key = `${row.channelId}:${row.nonce}`
      now.add(key)
      if (warned.has(key)) continue
      logger.warn(
        {
          channel: `${row.channelId}`,
          sender: row.sender,
          unclaimed: `${row.unclaimed}`,
          expiration: `${row.expiration}`,
          blocksLeft: `${row.blocksLeft}`,
        },
        `channel ${row.channelId} holds ${formatAmount(row.unclaimed, unit)} unclaimed and expires in ${row.blocksLeft} blocks`,
      )
    }
    // Only the channels still close are remembered: the set stays as small as the warning list.
    warned = now
  }

  async function autoClaimRows(rows: readonly ChannelRow[]): Promise<ClaimResult | undefined> {
    if (!autoClaim || rows.length === 0) return undefined
    try {
      const result = await treasurer.claim(rows.map((r) => r.channelId))
      instruments.claims.inc({ outcome: 'claimed' }, result.claimed.length)
      instruments.claims.inc({ outcome: 'skipped' }, result.skipped.length)
      for (const { channelId, reason } of result.skipped)
        logger.warn({ channel: `${channelId}`, reason }, 'channel watch could not claim a channel')
      return result
    } catch (err) {
      instruments.claims.inc({ outcome: 'failed' }, rows.length)
      logger.error({ err }, 'channel watch could not claim; retrying at the next look')
      return undefined
    }
  }

  async function check(): Promise<WatchReport> {
    const overview = await treasurer.list()
    const open = overview.channels.filter((row) => row.unclaimed > 0n)
    const close = open.filter((row) => row.blocksLeft <= warnBlocks)
    warn(close, overview.token)
    instruments.expiring.set(close.length)
    // A gauge is a float: fine to watch a trend, never read back as money.
    instruments.unclaimed.set(Number(open.reduce((sum, row) => sum + row.unclaimed, 0n)))
    const claimed = await autoClaimRows(close.filter((row) => row.blocksLeft <= claimBlocks))
    return { warned: close, claimed }
  }

  const look = () => {
    if (running) return
    running = check()
      .catch((err: unknown) => logger.warn({ err }, 'channel watch could not look; retrying'))
      .finally(() => {
        running = undefined
      })
  }

  return {
    name: 'channel.watch',
    start(): void {
      look()
      timer = setInterval(look, intervalMs)
      timer.unref()
    },
    async stop(): Promise<void> {
      clearInterval(timer)
      timer = undefined
      await running
    },
    check,
  }
}

function instrumentsOf(metrics: DomainMetrics) {
  return {
    expiring: metrics.gauge({
      name: 'expiring_channels',
      help: 'Channels with money unclaimed within the warning distance of their expiry.',
    }),
    unclaimed: metrics.gauge({
      name: 'unclaimed',
      help: 'Money signed to the service and not claimed yet, in base units of the escrow token.',
    }),
    claims: metrics.counter({
      name: 'auto_claims_total',
      help: 'Channels the watch claimed near expiry, by outcome (claimed, skipped, failed).',
      labelNames: ['outcome'] as const,
    }),
  }
}
