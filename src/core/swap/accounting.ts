// The arithmetic of SWAP accounting (issue 22), pure: what an answer costs, the thresholds, and
// time-based forgiveness (Bee's refresh rate). Amounts are bigint base units of the chequebook's
// token. A balance > 0 means the peer owes this node; < 0 that this node owes the peer.

/** What a node charges for what it serves. */
export type Prices = {
  /** Per op carried in a sync answer. */
  readonly perOp: bigint
  /** Per byte of a sync answer. */
  readonly perByte: bigint
}

/** Bee's defaults (in its accounting units): the payment threshold, and the tolerance past it. */
export const BEE_PAYMENT_THRESHOLD = 13_500_000n
export const BEE_PAYMENT_TOLERANCE_PERCENT = 25
/** Bee pays early, once a debt passes (100 − 50)% of the creditor's payment threshold. */
export const BEE_EARLY_PAYMENT_PERCENT = 50
/** Bee's refresh rate of a full node (forgiven per second); a light node gets a tenth. */
export const BEE_REFRESH_RATE = 4_500_000n

/** What one answer of `ops` ops and `bytes` bytes costs at `prices`. */
export function priceOf(prices: Prices, answer: { readonly ops: number; readonly bytes: number }) {
  return prices.perOp * BigInt(answer.ops) + prices.perByte * BigInt(answer.bytes)
}

/** The debt past which a peer is not served: the payment threshold plus the tolerance (percent). */
export function disconnectThreshold(paymentThreshold: bigint, tolerancePercent: number): bigint {
  return (paymentThreshold * BigInt(100 + tolerancePercent)) / 100n
}

/** The debt at which a debtor pays: the early share of the creditor's payment threshold. */
export function earlyPaymentLine(paymentThreshold: bigint, earlyPercent: number): bigint {
  return (paymentThreshold * BigInt(100 - earlyPercent)) / 100n
}

/**
 * Forgiveness at `rate` per second over `elapsedMs`: the balance moves toward zero (never past
 * it). Returns the new balance and how much was forgiven.
 */
export function forgive(
  balance: bigint,
  rate: bigint,
  elapsedMs: number,
): { readonly balance: bigint; readonly forgiven: bigint } {
  if (balance === 0n || rate <= 0n || elapsedMs <= 0) return { balance, forgiven: 0n }
  const allowance = (rate * BigInt(Math.floor(elapsedMs))) / 1000n
  const size = balance < 0n ? -balance : balance
  const forgiven = allowance < size ? allowance : size
  return { balance: balance < 0n ? balance + forgiven : balance - forgiven, forgiven }
}

/** The rate two peers forgive each other at: the lower of the two they announced. */
export function sharedRefreshRate(mine: bigint, theirs: bigint | undefined): bigint {
  if (theirs === undefined) return mine
  return theirs < mine ? theirs : mine
}

/**
 * How long (ms) until forgiveness at `rate` brings a debt back under `line`; undefined when it
 * never will (no forgiveness).
 */
export function msUntilUnder(debt: bigint, line: bigint, rate: bigint): number | undefined {
  if (debt < line) return 0
  if (rate <= 0n) return undefined
  const excess = debt - line + 1n
  return Number((excess * 1000n + rate - 1n) / rate)
}

/** Where a peer stands, by the balance and the thresholds on both sides. */
export function standingOf(
  balance: bigint,
  bounds: {
    /** Our payment threshold for the peer, and our disconnect threshold. */
    readonly payment: bigint
    readonly disconnect: bigint
    /** The peer's payment threshold (what we may owe it before paying); undefined if unknown. */
    readonly theirPayment: bigint | undefined
    readonly bounced: boolean
  },
): 'ok' | 'owes' | 'cut-off' | 'in-debt' | 'bounced' {
  if (bounds.bounced) return 'bounced'
  if (balance >= bounds.disconnect) return 'cut-off'
  if (balance >= bounds.payment) return 'owes'
  if (bounds.theirPayment !== undefined && -balance >= bounds.theirPayment) return 'in-debt'
  return 'ok'
}
