import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import type { Address, Hex } from 'viem'
import type { ChainService } from '../../chain/chain-service.ts'
import { FeedAggregatorError, readLatestRound, transmitReport } from '../../chain/feeds.ts'
import type { FeedReducer } from '../../core/feed/domain.ts'
import { FEED_OP } from '../../core/feed/ops.ts'
import { feedReportDigest } from '../../core/feed/report.ts'
import { BaseError } from '../../errors/base.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { type Accounts, OPERATOR } from '../../node/accounts.ts'
import type { Startable } from '../../node/startable.ts'
import type { FeedActions, FeedIndex } from './actions.ts'

/** How long after a failed post (the RPC, signatures the contract does not count) it is tried again. */
const RETRY_MS = 5000

/** What the feed reporter needs from the node. */
export type FeedReporterOptions = {
  readonly index: FeedIndex
  readonly accounts: Accounts
  readonly actions: FeedActions
  readonly chain: ChainService
  readonly logger: Logger
  /** ms between ticks. */
  readonly intervalMs: number
  /** ms after a window's end before this node signs its report (late attestations still count). */
  readonly graceMs: number
  /** Whether this node posts complete reports on chain (any node may: the signatures make them valid). */
  readonly transmit: boolean
  readonly now?: () => number
  readonly metrics?: {
    readonly signed: Counter<'outcome'>
    readonly transmissions: Counter<'outcome'>
  }
}

/**
 * The report signer and transmitter of a node, one service (OCR's two roles): for every feed
 * that names this node's operator key and chain address among its signers and names a chain
 * aggregator on this node's chain,
 * - signs the newest closed window's report once (`feed.report.sign`), from the aggregate its log
 *   gives (a window closes `graceMs` after its end on this node's clock);
 * - posts the newest report with the threshold of signatures when the answer moved by the feed's
 *   deviation from the answer on chain, or its heartbeat passed since the last update (as
 *   Chainlink's feeds do), then records the transaction (`feed.report.posted`). Several nodes may
 *   race to post: the contract takes one report per window, and the others' attempts fail in
 *   simulation, before any gas is spent.
 */
export function createFeedReporter(options: FeedReporterOptions): Startable {
  const { index, accounts, actions, chain, logger, metrics } = options
  const now = options.now ?? Date.now
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const me = chain.info.signer
  /** Windows this node signed or tried to, per feed (a refused signature is not retried). */
  const signedUpTo = new Map<OpId, number>()
  /** When a failed post may be tried again, per feed. */
  const retryAt = new Map<OpId, number>()
  /** The window last posted or found on chain, per feed (saves a chain read per tick). */
  const postedUpTo = new Map<OpId, number>()

  const forThisChain = (reducer: FeedReducer) => {
    const chainOf = reducer.machine.registry.chain
    return chainOf && chainOf.chainId === chain.info.chainId ? chainOf : undefined
  }

  async function sign(id: OpId, reducer: FeedReducer, aggregator: Address): Promise<void> {
    const operator = accounts.get(OPERATOR)
    if (!operator) return
    const key = Buffer.from(operator.signer.publicKey).toString('hex')
    const registry = reducer.machine.registry
    if (!registry.signers.some((s) => s.key === key && s.address === me)) return
    const windowMs = reducer.machine.window * 1000
    const closedBefore = Math.floor((now() - options.graceMs) / windowMs)
    const windows = reducer.machine.series.windows()
    // The newest window with attestations that has closed.
    let w: number | undefined
    for (let i = windows.length - 1; i >= 0; i--)
      if (windows[i]! < closedBefore) {
        w = windows[i]
        break
      }
    if (w === undefined || w <= (signedUpTo.get(id) ?? -1)) return
    signedUpTo.set(id, w)
    if (reducer.hasSigned(w, me, chain.info.chainId, aggregator)) return
    const aggregate = reducer.aggregate(w)
    // Too few oracles in the window (a partly filled first or last one): nothing to sign.
    if (!aggregate || aggregate.observations < registry.minObservations) return
    const windowStart = BigInt(w) * BigInt(reducer.machine.window)
    const report = {
      window: BigInt(w),
      answer: aggregate.answer,
      observations: aggregate.observations,
      windowStart,
      windowEnd: windowStart + BigInt(reducer.machine.window),
      idsHash: aggregate.idsHash,
    }
    const digest = feedReportDigest(report, chain.info.chainId, aggregator)
    const account = chain.wallet.account
    if (!account?.sign) throw new Error('The chain operator account cannot sign digests.')
    const signature = await account.sign({ hash: digest })
    try {
      await actions.act(operator, id, FEED_OP.signReport, {
        window: w,
        answer: aggregate.answer.toString(),
        observations: aggregate.observations,
        idsHash: aggregate.idsHash,
        chainId: chain.info.chainId,
        aggregator,
        signature,
      })
      metrics?.signed.inc({ outcome: 'signed' })
    } catch (error) {
      // Refused by the feed's rules (signed already in a concurrent op, a body out of bounds):
      // the window is not tried again, and the other feeds go on.
      metrics?.signed.inc({ outcome: 'refused' })
      if (error instanceof BaseError && error.kind !== 'unavailable') {
        logger.warn({ err: error, feed: id, window: w }, 'this node could not sign a feed report')
        return
      }
      throw error
    }
  }

  async function transmit(id: OpId, reducer: FeedReducer, aggregator: Address): Promise<void> {
    const operator = accounts.get(OPERATOR)
    const complete = reducer.newestComplete(chain.info.chainId, aggregator)
    if (!complete || !operator) return
    const window = complete.report.window
    if (window <= (postedUpTo.get(id) ?? -1) || now() < (retryAt.get(id) ?? 0)) return
    const latest = await readLatestRound(chain.client, aggregator)
    if (latest && Number(latest.window) >= window) {
      postedUpTo.set(id, Number(latest.window))
      return
    }
    const registry = reducer.machine.registry
    const answer = complete.report.answer
    if (latest) {
      const moved = answer > latest.answer ? answer - latest.answer : latest.answer - answer
      const deviated =
        latest.answer !== 0n &&
        moved * 1_000_000n >=
          BigInt(registry.deviation) * (latest.answer < 0n ? -latest.answer : latest.answer)
      const due = BigInt(Math.floor(now() / 1000)) - latest.updatedAt >= BigInt(registry.heartbeat)
      if (!deviated && !due) return
    }
    const windowStart = BigInt(window) * BigInt(reducer.machine.window)
    let sent: { tx: Hex; roundId: bigint }
    try {
      sent = await transmitReport(
        chain.wallet,
        chain.client,
        aggregator,
        {
          window: BigInt(window),
          answer,
          observations: complete.report.observations,
          windowStart,
          windowEnd: windowStart + BigInt(reducer.machine.window),
          idsHash: complete.report.idsHash,
        },
        complete.signatures,
      )
    } catch (error) {
      metrics?.transmissions.inc({ outcome: 'refused' })
      // Another node posted this window (or a later one) first, or it is too old now: the
      // contract will never take it. Anything else (the RPC, signatures the contract's own
      // signer set does not count yet) is tried again on the next tick.
      const final =
        error instanceof FeedAggregatorError &&
        ['OldReport', 'StaleReport'].includes(String(error.reason))
      if (final) {
        postedUpTo.set(id, window)
        logger.debug({ err: error, feed: id, window }, 'a report was posted by another node first')
      } else {
        retryAt.set(id, now() + RETRY_MS)
        logger.warn({ err: error, feed: id, window }, 'could not post a feed report; retrying')
      }
      return
    }
    postedUpTo.set(id, window)
    metrics?.transmissions.inc({ outcome: 'posted' })
    logger.info(
      { feed: id, window, round: sent.roundId.toString(), tx: sent.tx },
      'posted a feed report on chain',
    )
    await actions
      .act(operator, id, FEED_OP.posted, {
        window,
        round: sent.roundId.toString(),
        tx: sent.tx,
        chainId: chain.info.chainId,
        aggregator,
      })
      .catch((err: unknown) => logger.warn({ err, feed: id }, 'could not record a posted report'))
  }

  async function tick(): Promise<void> {
    for (const { id } of index.list()) {
      if (stopped) return
      const reducer = await index.reducer(id)
      const target = forThisChain(reducer)
      if (!target) continue
      await sign(id, reducer, target.aggregator)
      if (options.transmit) await transmit(id, reducer, target.aggregator)
    }
  }

  return {
    name: 'feed.reporter',
    start(): void {
      timer = setInterval(() => {
        if (running) return
        running = tick()
          .catch((err: unknown) => logger.warn({ err }, 'feed reporter tick failed; retrying'))
          .finally(() => {
            running = undefined
          })
      }, options.intervalMs)
      timer.unref()
    },
    async stop(): Promise<void> {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}
