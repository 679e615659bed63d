import type { Logger } from 'pino'
import {
  disconnectThreshold,
  forgive,
  msUntilUnder,
  type Prices,
  priceOf,
  sharedRefreshRate,
  standingOf,
} from '../../core/swap/accounting.ts'
import type { SyncAnswer } from '../../net/serving.ts'
import type { AnswerBudget } from '../../net/sync-answer.ts'
import { newPeerRecord, type PeerRecord, type StoredCheque, type SwapStore } from './store.ts'
import type {
  CashResult,
  ChequeView,
  PeerStanding,
  PeerTerms,
  PeerView,
  SwapMode,
} from './types.ts'

// The balances of SWAP accounting (issue 22): one record per peer, moved by what sync serves it
// and takes from it, by cheques both ways, and toward zero by forgiveness at the refresh rate.
// Records live in memory and are written each second (and on stop); cheques are written at once.

/** The longest a cut-off peer is told to wait before asking again (it may have paid by then). */
export const MAX_CUT_OFF_WAIT_MS = 5000
/** Peers remembered at most; past it, those settled to zero that are not connected are forgotten. */
export const MAX_PEERS = 10_000

/** What the bookkeeper is set up with. */
export type BookkeeperOptions = {
  readonly mode: Exclude<SwapMode, 'off'>
  readonly store: SwapStore
  readonly logger: Logger
  readonly prices: Prices
  /** The highest prices this node accounts a peer's answers at, whatever the peer announced. */
  readonly maxPeerPrices: Prices
  readonly paymentThreshold: bigint
  readonly tolerancePercent: number
  readonly refreshRate: bigint
  /** Whether a peer is connected now. */
  readonly connected: (peer: string) => boolean
  readonly now?: () => number
}

/** The balances, per peer. */
export interface Bookkeeper {
  /** Sync served a peer this answer: it owes its price. */
  served(peer: string, answer: SyncAnswer): void
  /**
   * Sync took this answer from a peer: this node owes its price at the peer's prices. Before the
   * peer's terms are known the answer is held unpriced, and priced when they come.
   */
  received(peer: string, answer: SyncAnswer): void
  /**
   * The peer disconnected: what it served before its terms came is dropped (a peer that never
   * announced terms has no SWAP, and charged nothing for it).
   */
  disconnected(peer: string): void
  /** Undefined to serve the peer now, else how long it is told to wait (cut off or bounced). */
  admit(peer: string): number | undefined
  /**
   * What the next pull answer to the peer may carry: half the room left below the disconnect
   * threshold in ops and half in bytes, so that the answer costs at most that room (the first op
   * always goes). Undefined in soft mode.
   */
  budget(peer: string): AnswerBudget | undefined
  /** The peer's terms from its handshake: answers held unpriced are priced at them. */
  setTerms(peer: string, terms: PeerTerms): void
  terms(peer: string): PeerTerms | null
  /** The balance now (forgiveness applied): > 0 the peer owes us, < 0 we owe it. */
  balance(peer: string): bigint
  /** A cheque this node sent the peer, before it is sent (cumulative, not yet acknowledged). */
  chequeIssued(cheque: StoredCheque): void
  /** The peer acknowledged our cheque: the balance moves by what it added; its view is noted. */
  chequeAcknowledged(peer: string, cumulative: bigint, theirView: bigint): void
  /** A cheque this node took from the peer (checked): the balance moves by its increase. */
  chequeTaken(cheque: StoredCheque): void
  /** The cumulative payout the peer acknowledged last (0 if none). */
  acknowledgedCumulative(peer: string): bigint
  /** The peer's cheque bounced on chain: it is not served again. */
  markBounced(peer: string): void
  isBounced(peer: string): boolean
  lastCheque(direction: 'in' | 'out', peer: string): StoredCheque | undefined
  cheques(direction: 'in' | 'out'): StoredCheque[]
  /**
   * Notes a cashing of the peer's cheques: the chequebook has now paid us `paidOut` in all. It
   * applies to the peer's last cheque as it is now (a newer one may have come in meanwhile).
   */
  cashed(peer: string, paidOut: bigint, result: CashResult): void
  /** Every peer, as the routes show them. */
  views(): PeerView[]
  view(peer: string): PeerView | undefined
  readonly disconnectThreshold: bigint
  /** Writes the records moved since the last flush. */
  flush(): void
}

/** The bookkeeper over `store`, its records loaded. */
export function createBookkeeper(options: BookkeeperOptions): Bookkeeper {
  const { store, logger, mode } = options
  const now = options.now ?? Date.now
  const records = new Map<string, PeerRecord>()
  for (const record of store.peers()) records.set(record.peer, record)
  const last = { in: new Map<string, StoredCheque>(), out: new Map<string, StoredCheque>() }
  for (const c of store.cheques('in')) last.in.set(c.peer, c)
  for (const c of store.cheques('out')) last.out.set(c.peer, c)
  const dirty = new Set<string>()
  const standings = new Map<string, PeerStanding>()
  const cutOff = disconnectThreshold(options.paymentThreshold, options.tolerancePercent)
  /** Peers warned that their prices are above ours. */
  const overpriced = new Set<string>()
  /**
   * Answers taken from connected peers whose terms are not known yet. A peer's handshake may come
   * after its first answers (each side of a new connection may ask before the other serves the
   * protocol, or the handshake may be slow), while the peer counts them from the first: they are
   * priced when the terms come, so that both sides agree.
   */
  const unpriced = new Map<string, { answers: number; ops: number; bytes: number }>()
  /**
   * The prices this node accounts a peer's answers at: the peer's, but never above the highest it
   * accepts (a peer announcing a price of 10^30 per op would otherwise make this node owe, and
   * pay, what it likes). Such a peer counts more than we do and may cut us off; we pay what we
   * counted.
   */
  const pricesTaken = (terms: PeerTerms): Prices => {
    const { perOp, perByte } = options.maxPeerPrices
    return {
      perOp: terms.pricePerOp < perOp ? terms.pricePerOp : perOp,
      perByte: terms.pricePerByte < perByte ? terms.pricePerByte : perByte,
    }
  }

  const record = (peer: string): PeerRecord => {
    let r = records.get(peer)
    if (!r) {
      if (records.size >= MAX_PEERS) forgetSettled()
      r = newPeerRecord(peer, now())
      records.set(peer, r)
    }
    // Forgiveness at the rate both sides announced (ours alone before a handshake).
    const t = now()
    const rate = sharedRefreshRate(options.refreshRate, r.terms?.refreshRate)
    const { balance, forgiven } = forgive(r.balance, rate, t - r.at)
    r.at = t
    if (forgiven > 0n) {
      r.balance = balance
      r.forgiven += forgiven
      dirty.add(peer)
    }
    return r
  }
  const forgetSettled = () => {
    for (const [peer, r] of records)
      if (r.balance === 0n && !last.in.has(peer) && !last.out.has(peer) && !options.connected(peer))
        records.delete(peer)
  }
  const standingOfRecord = (r: PeerRecord): PeerStanding =>
    standingOf(r.balance, {
      payment: options.paymentThreshold,
      disconnect: cutOff,
      theirPayment: r.terms?.paymentThreshold,
      bounced: r.bounced,
    })
  /** Logs a peer going out of bounds (either direction) or coming back. */
  const watch = (r: PeerRecord): void => {
    const standing = standingOfRecord(r)
    const before = standings.get(r.peer) ?? 'ok'
    if (standing === before) return
    standings.set(r.peer, standing)
    const fields = { peer: r.peer, balance: r.balance.toString(), mode }
    if (standing === 'ok') logger.info(fields, 'peer back within bounds')
    else if (standing === 'owes')
      logger.warn(
        { ...fields, threshold: options.paymentThreshold.toString() },
        'peer owes past the payment threshold',
      )
    else if (standing === 'cut-off')
      logger.warn(
        { ...fields, threshold: cutOff.toString() },
        mode === 'soft'
          ? 'peer owes past the disconnect threshold (soft mode: still served)'
          : 'peer owes past the disconnect threshold: not served until it pays',
      )
    else if (standing === 'in-debt')
      logger.warn(
        { ...fields, threshold: r.terms?.paymentThreshold.toString() },
        "this node owes the peer past the peer's payment threshold",
      )
    else logger.warn(fields, 'peer bounced a cheque: not served again')
  }
  const move = (r: PeerRecord, by: bigint) => {
    r.balance += by
    dirty.add(r.peer)
    watch(r)
  }
  /** This node owes for `answer` (one or more answers) at the peer's `terms`. */
  const takeAt = (r: PeerRecord, terms: PeerTerms, answer: Answers) => {
    const amount = priceOf(pricesTaken(terms), answer)
    r.received = add(r.received, answer, amount)
    move(r, -amount)
  }
  const viewOf = (r: PeerRecord): PeerView => {
    const sent = last.out.get(r.peer)
    const got = last.in.get(r.peer)
    return {
      peer: r.peer,
      balance: r.balance,
      standing: standingOfRecord(r),
      connected: options.connected(r.peer),
      terms: r.terms,
      paymentThreshold: options.paymentThreshold,
      disconnectThreshold: cutOff,
      served: r.served,
      received: r.received,
      forgiven: r.forgiven,
      lastSent: sent ? chequeView(sent) : null,
      lastReceived: got ? chequeView(got) : null,
      uncashed: got ? got.cumulativePayout - got.cashed : 0n,
      acknowledged: r.acknowledged,
    }
  }
  return {
    disconnectThreshold: cutOff,
    served(peer, answer) {
      const r = record(peer)
      const amount = priceOf(options.prices, answer)
      r.served = add(r.served, answer, amount)
      move(r, amount)
    },
    received(peer, answer) {
      const r = record(peer)
      if (!r.terms) {
        const held = unpriced.get(peer) ?? { answers: 0, ops: 0, bytes: 0 }
        if (!unpriced.has(peer)) {
          if (unpriced.size >= MAX_PEERS) unpriced.clear()
          unpriced.set(peer, held)
        }
        held.answers++
        held.ops += answer.ops
        held.bytes += answer.bytes
        return
      }
      // A peer that runs SWAP off charges nothing.
      if (r.terms.mode === 'off') return
      takeAt(r, r.terms, answer)
    },
    disconnected(peer) {
      unpriced.delete(peer)
    },
    admit(peer) {
      if (mode === 'soft') return undefined
      const r = records.get(peer)
      if (!r) return undefined
      if (r.bounced) return MAX_CUT_OFF_WAIT_MS
      const current = record(peer)
      if (current.balance < cutOff) return undefined
      const rate = sharedRefreshRate(options.refreshRate, current.terms?.refreshRate)
      const ms = msUntilUnder(current.balance, cutOff, rate)
      return Math.min(Math.max(ms ?? MAX_CUT_OFF_WAIT_MS, 100), MAX_CUT_OFF_WAIT_MS)
    },
    budget(peer) {
      if (mode === 'soft') return undefined
      const room = cutOff - record(peer).balance
      const half = room > 0n ? room / 2n : 0n
      const { perOp, perByte } = options.prices
      const ops = perOp > 0n ? countOf(half / perOp) : undefined
      const bytes = perByte > 0n ? countOf(half / perByte) : undefined
      if (ops === undefined && bytes === undefined) return undefined
      return { ...(ops === undefined ? {} : { ops }), ...(bytes === undefined ? {} : { bytes }) }
    },
    setTerms(peer, terms) {
      const r = record(peer)
      r.terms = terms
      const { perOp, perByte } = options.maxPeerPrices
      if ((terms.pricePerOp > perOp || terms.pricePerByte > perByte) && !overpriced.has(peer)) {
        overpriced.add(peer)
        logger.warn(
          {
            peer,
            theirPerOp: terms.pricePerOp.toString(),
            theirPerByte: terms.pricePerByte.toString(),
          },
          "the peer's prices are above the highest this node accepts: its answers are accounted at those",
        )
      }
      dirty.add(peer)
      const held = unpriced.get(peer)
      unpriced.delete(peer)
      if (held && terms.mode !== 'off') takeAt(r, terms, held)
    },
    terms: (peer) => records.get(peer)?.terms ?? null,
    balance: (peer) => record(peer).balance,
    chequeIssued(cheque) {
      const r = record(cheque.peer)
      last.out.set(cheque.peer, cheque)
      store.saveCheque('out', cheque, r)
    },
    chequeAcknowledged(peer, cumulative, theirView) {
      const r = record(peer)
      if (cumulative > r.ackedCumulative) {
        const increase = cumulative - r.ackedCumulative
        r.ackedCumulative = cumulative
        r.balance += increase
      }
      r.acknowledged = theirView
      const sent = last.out.get(peer)
      if (sent) store.saveCheque('out', sent, r)
      else store.savePeers([r])
      dirty.delete(peer)
      watch(r)
    },
    chequeTaken(taken) {
      const r = record(taken.peer)
      r.balance -= taken.increase
      // What was cashed so far is the bookkeeper's (a cashing may have ended since the caller
      // read it).
      const cashed = last.in.get(taken.peer)?.cashed ?? 0n
      const cheque = { ...taken, cashed: cashed > taken.cashed ? cashed : taken.cashed }
      last.in.set(cheque.peer, cheque)
      store.saveCheque('in', cheque, r)
      dirty.delete(cheque.peer)
      watch(r)
    },
    acknowledgedCumulative: (peer) => records.get(peer)?.ackedCumulative ?? 0n,
    markBounced(peer) {
      const r = record(peer)
      r.bounced = true
      store.savePeers([r])
      watch(r)
    },
    isBounced: (peer) => records.get(peer)?.bounced ?? false,
    lastCheque: (direction, peer) => last[direction].get(peer),
    cheques: (direction) => [...last[direction].values()].sort((a, b) => b.at - a.at),
    cashed(peer, paidOut, result) {
      const current = last.in.get(peer)
      if (!current) return
      const cashed = paidOut > current.cashed ? paidOut : current.cashed
      last.in.set(peer, { ...current, cashed, lastCash: result })
      store.saveCash(peer, cashed, result)
    },
    views: () => [...records.keys()].map((peer) => viewOf(record(peer))),
    view(peer) {
      return records.has(peer) ? viewOf(record(peer)) : undefined
    },
    flush() {
      if (dirty.size === 0) return
      const moved = [...dirty].flatMap((peer) => records.get(peer) ?? [])
      dirty.clear()
      store.savePeers(moved)
    },
  }
}

/** A bigint count as a number, at least 1 and at most 2^53 − 1. */
function countOf(n: bigint): number {
  return n < 1n ? 1 : n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n)
}

/** A stored cheque as the routes show it. */
export function chequeView(c: StoredCheque): ChequeView {
  const { lastCash, ...rest } = c
  return lastCash ? { ...rest, lastCash } : rest
}

/** One answer, or several counted together (`answers` of them). */
type Answers = { readonly answers?: number; readonly ops: number; readonly bytes: number }

function add(t: PeerRecord['served'], answer: Answers, amount: bigint): PeerRecord['served'] {
  return {
    answers: t.answers + (answer.answers ?? 1),
    ops: t.ops + answer.ops,
    bytes: t.bytes + answer.bytes,
    amount: t.amount + amount,
  }
}
