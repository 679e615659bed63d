import type { Logger } from 'pino'
import { earlyPaymentLine } from '../../core/swap/accounting.ts'
import { BaseError } from '../../errors/base.ts'
import type { Startable } from '../../node/startable.ts'
import type { Book } from './book.ts'
import type { Bookkeeper } from './bookkeeper.ts'
import type { Exchange } from './exchange.ts'
import type { CashResult, SwapMode } from './types.ts'

// Paying and cashing (issue 22). Each round (every `settle_interval_ms`, and soon after a pull
// takes a debt past the line) this node pays every peer it owes past the early share of that
// peer's payment threshold, with one cumulative cheque for the whole debt, and cashes received
// cheques with at least `auto_cash` uncashed (hard mode). A cheque is stored before it is sent;
// the balance moves when the peer acknowledges it.

/** How often a peer this node owes but is not connected to is dialled to be paid. */
const REDIAL_TO_PAY_MS = 5000

/** Thrown when there is nothing to cash for a peer. */
export class NothingToCashError extends BaseError {
  override name = 'NothingToCashError' as const
  override readonly kind = 'not-found' as const
}

/** What the settlement is built on. */
export type SettlementOptions = {
  readonly mode: Exclude<SwapMode, 'off'>
  readonly bookkeeper: Bookkeeper
  readonly exchange: Exchange
  readonly book: Book | undefined
  readonly earlyPercent: number
  /** Cash received cheques automatically from this much uncashed (0: on demand only). */
  readonly autoCash: bigint
  readonly intervalMs: number
  readonly logger: Logger
  /** Closes a peer's connections (a bounced issuer). */
  readonly hangUp: (peer: string) => Promise<void>
  readonly onPaid?: (amount: bigint) => void
  readonly onCashed?: (result: CashResult) => void
}

/** Paying what this node owes and cashing what it is paid. */
export interface Settlement extends Startable {
  /** Runs a round soon (debounced). */
  settleSoon(): void
  /** Runs a round now; resolves when done. */
  settle(): Promise<void>
  /** Cashes the peer's last cheque on chain. */
  cash(peer: string): Promise<CashResult>
}

/** The settlement service. */
export function createSettlement(options: SettlementOptions): Settlement {
  const { mode, bookkeeper, exchange, book, logger } = options
  let timer: NodeJS.Timeout | undefined
  let soon: NodeJS.Immediate | undefined
  let running: Promise<void> | undefined
  let stopped = false
  /** Peers warned that our chequebook cannot cover what we owe them (once per state). */
  const uncovered = new Set<string>()
  /** The last refusal of our cheque by each peer (its cumulative payout and check). */
  const refusals = new Map<string, string>()
  const cashing = new Map<string, Promise<CashResult>>()

  async function pay(peer: string): Promise<void> {
    if (!book || mode === 'soft') return
    const terms = bookkeeper.terms(peer)
    if (!terms || (terms.mode !== 'mock' && terms.mode !== 'hard')) return
    const debt = -bookkeeper.balance(peer)
    if (debt <= 0n || debt < earlyPaymentLine(terms.paymentThreshold, options.earlyPercent)) return
    const last = bookkeeper.lastCheque('out', peer)
    const acked = bookkeeper.acknowledgedCumulative(peer)
    const previous = last?.cumulativePayout ?? 0n
    const wanted = acked + debt
    const cumulative = wanted > previous ? wanted : previous
    const cover = await book.covers(terms.beneficiary, cumulative)
    if (!cover.ok) {
      if (!uncovered.has(peer))
        logger.warn(
          { peer, owed: debt.toString(), liquid: cover.liquid.toString() },
          'the chequebook cannot cover what this node owes the peer: deposit (rwa swap deposit) or it will be cut off',
        )
      uncovered.add(peer)
      return
    }
    uncovered.delete(peer)
    let cheque = last
    if (!cheque || cumulative > previous) {
      const fields = {
        chequebook: book.chequebook,
        beneficiary: terms.beneficiary,
        cumulativePayout: cumulative,
      }
      const signature = await book.sign(fields)
      cheque = {
        peer,
        ...fields,
        signature,
        increase: cumulative - previous,
        at: Date.now(),
        cashed: 0n,
        lastCash: null,
      }
      bookkeeper.chequeIssued(cheque)
    }
    const answer = await exchange.sendCheque(peer, cheque)
    if (answer.t === 'ack') {
      bookkeeper.chequeAcknowledged(peer, cheque.cumulativePayout, answer.balance)
      options.onPaid?.(cheque.cumulativePayout - acked)
      logger.info(
        {
          peer,
          paid: (cheque.cumulativePayout - acked).toString(),
          cumulative: cheque.cumulativePayout.toString(),
          theirView: answer.balance.toString(),
        },
        'cheque sent and acknowledged',
      )
    } else if (answer.t === 'refused') {
      // Once per cheque and check: the same cheque goes again each round until it is taken.
      const key = `${cheque.cumulativePayout}:${answer.check}`
      const fields = { peer, check: answer.check, err: answer.message }
      if (refusals.get(peer) === key) logger.debug(fields, 'the peer refused our cheque again')
      else logger.warn(fields, 'the peer refused our cheque')
      if (refusals.size >= 10_000) refusals.clear()
      refusals.set(peer, key)
    }
  }

  /** Peers being paid now. */
  const paying = new Map<string, Promise<void>>()
  function payOnce(peer: string): Promise<void> {
    const running = paying.get(peer)
    if (running) return running
    const task = pay(peer)
      .catch((err: Error) =>
        logger.warn({ peer, err: err.message }, 'paying the peer failed; retried next round'),
      )
      .finally(() => paying.delete(peer))
    paying.set(peer, task)
    return task
  }

  function cash(peer: string): Promise<CashResult> {
    const running = cashing.get(peer)
    if (running) return running
    const task = (async () => {
      if (!book) throw new NothingToCashError('This node takes no cheques (soft mode).')
      const cheque = bookkeeper.lastCheque('in', peer)
      if (!cheque || cheque.cumulativePayout <= cheque.cashed)
        throw new NothingToCashError(
          `Nothing of peer ${peer.slice(0, 60)}'s cheques is left to cash; rwa swap cheques lists what was received.`,
        )
      const result = await book.cash(peer, cheque)
      // What the chequebook has paid us in all now: all of the cheque unless it bounced (a cash
      // pays min(cumulative − paidOut, liquid)). A newer cheque may have come in meanwhile.
      bookkeeper.cashed(
        peer,
        result.bounced ? cheque.cashed + result.paid : cheque.cumulativePayout,
        result,
      )
      options.onCashed?.(result)
      if (result.bounced) {
        bookkeeper.markBounced(peer)
        logger.warn(
          { peer, paid: result.paid.toString(), cumulative: result.cumulativePayout.toString() },
          'the cheque bounced: its chequebook could not cover it; the peer is not served again',
        )
        await options.hangUp(peer)
      } else logger.info({ peer, paid: result.paid.toString(), tx: result.txHash }, 'cheque cashed')
      return result
    })().finally(() => cashing.delete(peer))
    cashing.set(peer, task)
    return task
  }

  /** When this node last dialled a peer it is not connected to, to pay it. */
  const dialled = new Map<string, number>()
  /**
   * Whether to pay the peer now: a connected one each round; one this node is not connected to
   * (it may have hung up on us for our debt) at most every `REDIAL_TO_PAY_MS`, dialling it.
   */
  const due = (peer: string, connected: boolean): boolean => {
    if (connected) return true
    const now = Date.now()
    if (now - (dialled.get(peer) ?? 0) < REDIAL_TO_PAY_MS) return false
    if (dialled.size >= 10_000) dialled.clear()
    dialled.set(peer, now)
    return true
  }

  async function round(): Promise<void> {
    bookkeeper.flush()
    for (const view of bookkeeper.views()) {
      if (stopped) return
      if (view.balance < 0n && view.terms !== null && due(view.peer, view.connected)) {
        // A peer to dial is paid beside the round, so that one gone for good (a dial that
        // times out) holds up nobody else; one payment per peer at a time.
        const payment = payOnce(view.peer)
        if (view.connected) await payment
      }
      if (
        mode === 'hard' &&
        options.autoCash > 0n &&
        view.uncashed >= options.autoCash &&
        !view.lastReceived?.lastCash?.bounced
      )
        await cash(view.peer).catch((err: Error) =>
          logger.warn(
            { peer: view.peer, err: err.message },
            'cashing the cheque failed; retried next round',
          ),
        )
    }
  }

  function settle(): Promise<void> {
    running ??= round().finally(() => {
      running = undefined
    })
    return running
  }

  return {
    name: 'swap-settlement',
    start() {
      timer = setInterval(() => void settle(), options.intervalMs)
      timer.unref()
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      if (soon) clearImmediate(soon)
      await running?.catch(() => undefined)
      await Promise.allSettled([...paying.values()])
      bookkeeper.flush()
    },
    settleSoon() {
      if (soon || stopped) return
      soon = setImmediate(() => {
        soon = undefined
        void settle()
      })
    },
    settle,
    cash,
  }
}
