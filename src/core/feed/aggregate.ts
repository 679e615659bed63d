import { keccak256, stringToBytes } from 'viem'
import { BaseError } from '../../errors/base.ts'
import { formatDecimal } from '../amount.ts'

// A feed's aggregation, window by window (docs: the issue 20 design, "Aggregation"): a weighted
// median of the counted attestations, weights from each oracle's quality, the attestation's
// confidence and its age at the window's end; an IQR diagnostic; a confidence figure; and a
// per-oracle deviation EWMA that sets the qualities the next window weighs with.
//
// Every result is an integer computed exactly, so replicas agree bit for bit: prices are bigint,
// and the Number fast path only runs where each of its operations is exact (integers below 2^53,
// divisions whose floor is the integer quotient); the one sum that passes 2^53, Σ weight ×
// deviation for the confidence, is summed in parts and finished in bigint.

/** An attestation the feed counts (the reducer resolved duplicates and refusals). */
export type AttestationInput = {
  /** The `feed.attest` op's id. */
  readonly id: string
  /** The oracle's key (hex). */
  readonly oracle: string
  /** The price, scaled by the feed's decimals. */
  readonly price: bigint
  /** 0–100. */
  readonly confidence: number
  /** ms since epoch; it sets the window. */
  readonly timestamp: number
}

/** The aggregate of one window. */
export type WindowAggregate = {
  /** The window's index: floor(timestampMs / (windowSeconds·1000)). */
  readonly window: number
  /** The window covers [start, end) in ms. */
  readonly start: number
  readonly end: number
  /** The lower weighted median of the counted prices. */
  readonly answer: bigint
  /** Counted attestations. */
  readonly observations: number
  /** The sum of their weights (each at most 10^8). */
  readonly totalWeight: number
  /** 0–100: from the number of attestations and their weighted mean deviation. */
  readonly confidence: number
  /** The counted op ids, sorted (JavaScript string order, i.e. byte order for op ids). */
  readonly contributing: readonly string[]
  /** keccak256 of the UTF-8 of `contributing` joined by "\n". */
  readonly idsHash: `0x${string}`
  /** Ids outside the IQR fences, sorted (a diagnostic: they still count in the median). */
  readonly outliers: readonly string[]
  /** The IQR fences (inclusive integer bounds), or undefined under 3 attestations. */
  readonly fences: { readonly low: bigint; readonly high: bigint } | undefined
}

/** How an oracle has done against the aggregates, after every window. */
export type OracleQuality = {
  readonly oracle: string
  /** ppm, 0..1_000_000: floor(1e6 · 10_000 / (10_000 + deviationPpm)). */
  readonly quality: number
  /** The EWMA of its deviations from the windows' answers, in ppm. */
  readonly deviationPpm: number
  /** Windows it attested in. */
  readonly windows: number
  /** Its attestations outside their window's IQR fences. */
  readonly outliers: number
  /** Its attestations deviating more than `SUSPICIOUS_PPM` from their window's answer. */
  readonly suspicious: number
  /** Its deviation in its latest window. */
  readonly lastDeviationPpm: number | undefined
}

/** Options of a `FeedSeries`. */
export type FeedSeriesOptions = {
  /** Use the Number fast path where it is exact (default); false forces bigint (for tests). */
  numberPath?: boolean
}

/** Thrown when an attestation or a parameter given to the aggregation is out of range. */
export class InvalidAttestationError extends BaseError {
  override name = 'InvalidAttestationError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when an attestation's id is counted already, or its oracle has one in that window. */
export class DuplicateAttestationError extends BaseError {
  override name = 'DuplicateAttestationError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when removing an attestation the series does not count. */
export class UnknownAttestationError extends BaseError {
  override name = 'UnknownAttestationError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown when a price text cannot be read, or has more digits than the feed's decimals. */
export class InvalidPriceError extends BaseError {
  override name = 'InvalidPriceError' as const
  override readonly kind = 'invalid' as const
}

/** Recency: a weight halves at this age (ms) at the window's end. */
export const RECENCY_MS = 300_000
/** Full quality, in ppm. */
export const MAX_QUALITY = 1_000_000
/** Quality halves at this deviation EWMA (ppm). */
export const QUALITY_HALF_PPM = 10_000
/** The EWMA's step: dev' = dev + floor((d − dev) / 8). */
export const EWMA_DIVISOR = 8
/** A deviation above this (ppm, 5%) makes an attestation suspicious. */
export const SUSPICIOUS_PPM = 50_000
/**
 * Deviations are capped at 10^9 ppm (1000 times the answer), so the EWMA stays a small integer;
 * an answer of 0 gives the cap to any other price.
 */
export const MAX_DEVIATION_PPM = 1_000_000_000
/** Most decimals a feed may have. */
export const MAX_PRICE_DECIMALS = 18
/** Largest window, in seconds. */
export const MAX_WINDOW_SECONDS = 3600

/** Prices up to 2^49 in magnitude take the Number path: every step below then stays under 2^53. */
const FAST_LIMIT = 2 ** 49
const FAST_LIMIT_BIG = BigInt(FAST_LIMIT)
/** Largest answer for which |p − m|·10^6 (with |p − m| < |m|) stays under 2^53. */
const ONE_STEP_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)
/** Terms of the confidence sums (each below 2^42) added before they are moved into a bigint. */
const LIMB_FLUSH = 2048
const MAX_ID_LENGTH = 256
const MAX_PRICE_TEXT = 100

/** The quality (ppm) of an oracle whose deviation EWMA is `deviationPpm`. */
export function qualityOf(deviationPpm: number): number {
  return Math.floor((MAX_QUALITY * QUALITY_HALF_PPM) / (QUALITY_HALF_PPM + deviationPpm))
}

/**
 * The weight of an attestation: quality (ppm) × confidence (0–100) × 300_000 / (300_000 + age),
 * floored; a negative age counts as 0. Exact: the numerator is at most 3·10^13, the weight 10^8.
 * @example weightOf(1_000_000, 100, 300_000) // 50_000_000
 */
export function weightOf(qualityPpm: number, confidence: number, ageMs: number): number {
  const age = ageMs > 0 ? ageMs : 0
  return Math.floor((qualityPpm * confidence * RECENCY_MS) / (RECENCY_MS + age))
}

/** The next deviation EWMA after a window where the oracle deviated by `d` ppm. */
export function nextDeviation(deviationPpm: number, d: number): number {
  return deviationPpm + Math.floor((d - deviationPpm) / EWMA_DIVISOR)
}

/** How far `price` is from `answer`: floor(|price − answer| · 10^6 / |answer|), capped (ppm). */
export function deviationPpm(price: bigint, answer: bigint): number {
  const diff = price >= answer ? price - answer : answer - price
  const m = answer < 0n ? -answer : answer
  if (m === 0n) return diff === 0n ? 0 : MAX_DEVIATION_PPM
  if (diff >= m * 1000n) return MAX_DEVIATION_PPM
  return Number((diff * 1_000_000n) / m)
}

/**
 * `deviationPpm` on Numbers, for |price|, |answer| ≤ 2^49: floor(diff/m) is exact below 2^53, and
 * the fraction is found by long division in base 10^6 or, for a large answer, in base 10.
 */
function deviationPpmNumber(diff: number, m: number): number {
  if (m === 0) return diff === 0 ? 0 : MAX_DEVIATION_PPM
  const whole = Math.floor(diff / m)
  if (whole >= 1000) return MAX_DEVIATION_PPM
  const r = diff - whole * m
  if (m <= ONE_STEP_LIMIT) return whole * 1_000_000 + Math.floor((r * 1_000_000) / m)
  let d = whole
  let rest = r
  for (let i = 0; i < 6; i++) {
    const t = rest * 10
    const digit = Math.floor(t / m)
    d = d * 10 + digit
    rest = t - digit * m
  }
  return d
}

/**
 * The lower weighted median: sorted by (price, id), the first price whose cumulative weight × 2
 * reaches the total; with a total of 0, the lower median by count. A plain bigint reference.
 */
export function weightedMedian(
  entries: readonly { readonly id: string; readonly price: bigint; readonly weight: number }[],
): bigint | undefined {
  if (entries.length === 0) return undefined
  const sorted = [...entries].sort((a, b) =>
    a.price < b.price ? -1 : a.price > b.price ? 1 : a.id < b.id ? -1 : 1,
  )
  const total = sorted.reduce((sum, e) => sum + BigInt(e.weight), 0n)
  if (total === 0n) return sorted[Math.floor((sorted.length - 1) / 2)]!.price
  let cumulative = 0n
  for (const e of sorted) {
    cumulative += BigInt(e.weight)
    if (cumulative * 2n >= total) return e.price
  }
  throw new Error('unreachable: the cumulative weight reaches the total')
}

/**
 * The IQR fences of ascending prices (at least 3): Q1 = p[floor(n/4)], Q3 = p[floor(3n/4)], and
 * the exact fences Q1 − 1.5·IQR, Q3 + 1.5·IQR rounded inward to integers (ceil, floor), so a
 * price is an outlier exactly when it is below `low` or above `high`.
 */
export function iqrFences(sorted: readonly bigint[]): { low: bigint; high: bigint } | undefined {
  const n = sorted.length
  if (n < 3) return undefined
  return fencesOf(sorted[Math.floor(n / 4)]!, sorted[Math.floor((3 * n) / 4)]!)
}

function fencesOf(q1: bigint, q3: bigint): { low: bigint; high: bigint } {
  const iqr3 = 3n * (q3 - q1)
  // Fences at half-integers: compare 2·p with 2·Q1 − 3·IQR, i.e. round the fence inward.
  return { low: -((iqr3 - 2n * q1) >> 1n), high: (2n * q3 + iqr3) >> 1n }
}

/** keccak256 of the UTF-8 of sorted op ids joined by "\n" (a window's `idsHash`). */
export function idsHashOf(sortedIds: readonly string[]): `0x${string}` {
  return keccak256(stringToBytes(sortedIds.join('\n')))
}

/** The quote currency of a pair: what follows the "/" ("ETH/USD" → "USD"), or the pair itself. */
function quoteOf(pair: string): string {
  const slash = pair.lastIndexOf('/')
  return (slash < 0 ? pair : pair.slice(slash + 1)).trim()
}

function assertDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_PRICE_DECIMALS)
    throw new InvalidPriceError(
      `A feed has 0 to ${MAX_PRICE_DECIMALS} decimals, not "${decimals}"; give an integer in that range.`,
    )
}

/**
 * A scaled price as a decimal with the pair's quote currency, trailing zeros trimmed.
 * @example formatPrice(250012000000n, 8, 'ETH/USD') // "2500.12 USD"
 */
export function formatPrice(value: bigint, decimals: number, pair: string): string {
  assertDecimals(decimals)
  const quote = quoteOf(pair)
  const text = formatDecimal(value, decimals)
  return quote ? `${text} ${quote}` : text
}

/**
 * Reads a decimal price ("2500.12", "-0.5", optionally followed by its quote currency, which must
 * be `pair`'s when `pair` is given) into an integer scaled by `decimals`.
 * @example parsePrice('2500.12', 8) // 250012000000n
 * @throws InvalidPriceError for junk, or more fraction digits than `decimals`.
 */
export function parsePrice(text: string, decimals: number, pair?: string): bigint {
  assertDecimals(decimals)
  const input = String(text).trim()
  const shown = JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)
  const match =
    input.length <= MAX_PRICE_TEXT
      ? /^(-?)(\d+)(?:\.(\d+))?(?:\s+([\p{L}\p{N}$._-]{1,16}))?$/u.exec(input)
      : null
  if (!match)
    throw new InvalidPriceError(
      `${shown} is not a price; write a decimal number such as "2500.12" (at most ${MAX_PRICE_TEXT} characters).`,
    )
  const [, sign, whole = '', fraction = '', unit] = match
  if (fraction.length > decimals)
    throw new InvalidPriceError(
      `${shown} has ${fraction.length} decimals, but the feed has ${decimals}; round it to ${decimals} or fewer.`,
    )
  if (unit !== undefined && pair !== undefined && unit !== quoteOf(pair))
    throw new InvalidPriceError(
      `${shown} is in "${unit}", but the feed ${JSON.stringify(pair)} is quoted in "${quoteOf(pair)}"; give it in ${quoteOf(pair)} or without a unit.`,
    )
  const scaled = BigInt(`${whole}${fraction.padEnd(decimals, '0')}`)
  return sign ? -scaled : scaled
}

/** What one window's membership fixes (its prices in order, fences, outliers, ids), whatever the qualities. */
type Membership = {
  /** Slots sorted by (price, id). */
  readonly sorted: Int32Array
  /** The ids at the time, unsorted (`contributing` sorts them when asked). */
  readonly ids: readonly string[]
  readonly fences: { readonly low: bigint; readonly high: bigint } | undefined
  readonly outliers: readonly string[]
  contributing: readonly string[] | undefined
  idsHash: `0x${string}` | undefined
}

/** One window's attestations and what was computed of them. */
type WindowState = {
  readonly window: number
  readonly slots: number[]
  /** oracle index → slot. */
  readonly byOracle: Map<number, number>
  /** Attestations whose price is beyond the Number path's range. */
  slow: number
  membership: Membership | undefined
  result: WindowAggregate | undefined
}

/** Growable typed columns, one entry per slot (an attestation's place). */
type Columns = {
  oracle: Int32Array
  price: Float64Array
  confidence: Uint8Array
  timestamp: Float64Array
  window: Float64Array
  qualityBefore: Uint32Array
  devBefore: Uint32Array
  deviation: Uint32Array
  outlier: Uint8Array
}

function allocate(capacity: number, from?: Columns): Columns {
  const grow = <T extends Int32Array | Float64Array | Uint8Array | Uint32Array>(
    make: new (n: number) => T,
    old: T | undefined,
  ): T => {
    const next = new make(capacity)
    if (old) next.set(old)
    return next
  }
  return {
    oracle: grow(Int32Array, from?.oracle),
    price: grow(Float64Array, from?.price),
    confidence: grow(Uint8Array, from?.confidence),
    timestamp: grow(Float64Array, from?.timestamp),
    window: grow(Float64Array, from?.window),
    qualityBefore: grow(Uint32Array, from?.qualityBefore),
    devBefore: grow(Uint32Array, from?.devBefore),
    deviation: grow(Uint32Array, from?.deviation),
    outlier: grow(Uint8Array, from?.outlier),
  }
}

/** The first index of ascending `xs` whose value is ≥ `x`. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

function assertAttestation(a: AttestationInput): void {
  const bad = (what: string) =>
    new InvalidAttestationError(`Attestation ${JSON.stringify(String(a?.id))} ${what}.`)
  if (typeof a?.id !== 'string' || a.id.length === 0 || a.id.length > MAX_ID_LENGTH)
    throw bad(`needs an id of 1 to ${MAX_ID_LENGTH} characters`)
  if (typeof a.oracle !== 'string' || a.oracle.length === 0 || a.oracle.length > MAX_ID_LENGTH)
    throw bad(`needs an oracle key of 1 to ${MAX_ID_LENGTH} characters`)
  if (typeof a.price !== 'bigint') throw bad('needs a bigint price')
  if (!Number.isInteger(a.confidence) || a.confidence < 0 || a.confidence > 100)
    throw bad(`has confidence "${a.confidence}"; give an integer from 0 to 100`)
  if (!Number.isSafeInteger(a.timestamp) || a.timestamp < 0)
    throw bad(`has timestamp "${a.timestamp}"; give whole ms since the epoch`)
}

/**
 * A feed's attestations by window and their aggregates, recomputed lazily from the earliest
 * window an `add` or `remove` touched. Window w weighs each oracle by its quality after the
 * windows before w.
 */
export class FeedSeries {
  readonly #windowMs: number
  readonly #numberPath: boolean
  #cols: Columns
  #capacity = 1024
  readonly #inputs: (AttestationInput | undefined)[] = []
  readonly #free: number[] = []
  readonly #slotOf = new Map<string, number>()
  readonly #oracleIndex = new Map<string, number>()
  readonly #oracles: string[] = []
  /** Per oracle: its deviation EWMA after every window before `#dirtyFrom`. */
  #dev = new Uint32Array(64)
  #seen = new Int32Array(64)
  #epoch = 0
  readonly #windows = new Map<number, WindowState>()
  /** Window indices with attestations, ascending. */
  readonly #order: number[] = []
  /** Windows from this index on are stale; those before it are computed. */
  #dirtyFrom = Number.POSITIVE_INFINITY

  constructor(windowSeconds: number, { numberPath = true }: FeedSeriesOptions = {}) {
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS)
      throw new InvalidAttestationError(
        `A feed window is 1 to ${MAX_WINDOW_SECONDS} whole seconds, not "${windowSeconds}".`,
      )
    this.#windowMs = windowSeconds * 1000
    this.#numberPath = numberPath
    this.#cols = allocate(this.#capacity)
  }

  /** Counted attestations. */
  get size(): number {
    return this.#slotOf.size
  }

  /** The window index of a timestamp (ms). */
  windowOf(timestampMs: number): number {
    return Math.floor(timestampMs / this.#windowMs)
  }

  /** Whether the attestation `id` is counted. */
  has(id: string): boolean {
    return this.#slotOf.has(id)
  }

  /**
   * Counts an attestation (the reducer resolved duplicates: at most one per oracle per window).
   * @throws DuplicateAttestationError when its id is counted, or its oracle has one in that window.
   */
  add(a: AttestationInput): void {
    assertAttestation(a)
    if (this.#slotOf.has(a.id))
      throw new DuplicateAttestationError(`Attestation "${a.id}" is counted already.`)
    const window = this.windowOf(a.timestamp)
    const oracle = this.#oracleOf(a.oracle)
    const state = this.#windows.get(window)
    const other = state?.byOracle.get(oracle)
    if (other !== undefined)
      throw new DuplicateAttestationError(
        `Oracle "${a.oracle}" has attestation "${this.#inputs[other]!.id}" in window ${window} already; remove it before counting "${a.id}".`,
      )
    this.#markDirty(window)
    const slot = this.#slotFor(a, oracle, window)
    const ws = state ?? this.#openWindow(window)
    ws.slots.push(slot)
    ws.byOracle.set(oracle, slot)
    if (Number.isNaN(this.#cols.price[slot]!)) ws.slow++
    ws.membership = undefined
  }

  /**
   * Stops counting an attestation (displaced by a concurrent one with a smaller id).
   * @throws UnknownAttestationError when it is not counted.
   */
  remove(id: string): void {
    const slot = this.#slotOf.get(id)
    if (slot === undefined)
      throw new UnknownAttestationError(
        `Attestation "${id}" is not counted, so it cannot be removed.`,
      )
    const window = this.#cols.window[slot]!
    this.#markDirty(window)
    const ws = this.#windows.get(window)!
    const at = ws.slots.indexOf(slot)
    ws.slots[at] = ws.slots[ws.slots.length - 1]!
    ws.slots.pop()
    ws.byOracle.delete(this.#cols.oracle[slot]!)
    if (Number.isNaN(this.#cols.price[slot]!)) ws.slow--
    ws.membership = undefined
    ws.result = undefined
    if (ws.slots.length === 0) {
      this.#windows.delete(window)
      this.#order.splice(lowerBound(this.#order, window), 1)
    }
    this.#slotOf.delete(id)
    this.#inputs[slot] = undefined
    this.#free.push(slot)
  }

  /** The aggregate of `window`, or undefined when it has no attestations. */
  aggregate(window: number): WindowAggregate | undefined {
    const ws = this.#windows.get(window)
    if (!ws) return undefined
    this.#computeThrough(window)
    return ws.result
  }

  /** Indices of the windows with attestations, ascending. */
  windows(): readonly number[] {
    return this.#order.slice()
  }

  /** Up to `limit` aggregates of the windows from `fromWindow` on, ascending. */
  range(fromWindow: number, limit: number): WindowAggregate[] {
    const from = lowerBound(this.#order, fromWindow)
    const count = Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit))
    const to = Math.min(this.#order.length, from + count)
    if (to <= from) return []
    this.#computeThrough(this.#order[to - 1]!)
    const out: WindowAggregate[] = []
    for (let i = from; i < to; i++) out.push(this.#windows.get(this.#order[i]!)!.result!)
    return out
  }

  /** The aggregate of the last window with attestations. */
  latest(): WindowAggregate | undefined {
    const last = this.#order.at(-1)
    return last === undefined ? undefined : this.aggregate(last)
  }

  /** Every oracle with counted attestations, after every window, sorted by oracle. */
  qualities(): OracleQuality[] {
    this.#computeThrough(Number.POSITIVE_INFINITY)
    const n = this.#oracles.length
    const windows = new Int32Array(n)
    const outliers = new Int32Array(n)
    const suspicious = new Int32Array(n)
    const lastWindow = new Float64Array(n).fill(Number.NEGATIVE_INFINITY)
    const lastDev = new Float64Array(n)
    const c = this.#cols
    for (const slot of this.#slotOf.values()) {
      const o = c.oracle[slot]!
      windows[o]!++
      outliers[o]! += c.outlier[slot]!
      if (c.deviation[slot]! > SUSPICIOUS_PPM) suspicious[o]!++
      if (c.window[slot]! > lastWindow[o]!) {
        lastWindow[o] = c.window[slot]!
        lastDev[o] = c.deviation[slot]!
      }
    }
    const out: OracleQuality[] = []
    for (let o = 0; o < n; o++) {
      if (windows[o] === 0) continue
      out.push({
        oracle: this.#oracles[o]!,
        quality: qualityOf(this.#dev[o]!),
        deviationPpm: this.#dev[o]!,
        windows: windows[o]!,
        outliers: outliers[o]!,
        suspicious: suspicious[o]!,
        lastDeviationPpm: lastDev[o]!,
      })
    }
    return out.sort((a, b) => (a.oracle < b.oracle ? -1 : a.oracle > b.oracle ? 1 : 0))
  }

  /** The quality (ppm) `oracle` is weighed by in `window`: after the windows before it. */
  qualityBefore(window: number, oracle: string): number {
    const o = this.#oracleIndex.get(oracle)
    if (o === undefined) return MAX_QUALITY
    this.#computeThrough(window)
    const own = this.#windows.get(window)?.byOracle.get(o)
    if (own !== undefined) return this.#cols.qualityBefore[own]!
    for (let i = lowerBound(this.#order, window) - 1; i >= 0; i--) {
      const slot = this.#windows.get(this.#order[i]!)!.byOracle.get(o)
      if (slot === undefined) continue
      return qualityOf(nextDeviation(this.#cols.devBefore[slot]!, this.#cols.deviation[slot]!))
    }
    return MAX_QUALITY
  }

  /** The attestations counted in `window`, by (price, id). */
  attestations(window: number): readonly AttestationInput[] {
    const ws = this.#windows.get(window)
    if (!ws) return []
    const { sorted } = this.#membershipOf(ws)
    return Array.from(sorted, (slot) => this.#inputs[slot]!)
  }

  /** How far attestation `id` is from its window's answer (ppm), if it is counted in `window`. */
  deviationIn(window: number, id: string): number | undefined {
    const slot = this.#slotOf.get(id)
    if (slot === undefined || this.#cols.window[slot] !== window) return undefined
    this.#computeThrough(window)
    return this.#cols.deviation[slot]
  }

  #oracleOf(key: string): number {
    const known = this.#oracleIndex.get(key)
    if (known !== undefined) return known
    const o = this.#oracles.length
    this.#oracles.push(key)
    this.#oracleIndex.set(key, o)
    if (o >= this.#dev.length) {
      const dev = new Uint32Array(this.#dev.length * 2)
      dev.set(this.#dev)
      this.#dev = dev
      const seen = new Int32Array(this.#seen.length * 2)
      seen.set(this.#seen)
      this.#seen = seen
    }
    return o
  }

  #slotFor(a: AttestationInput, oracle: number, window: number): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      slot = this.#inputs.length
      this.#inputs.push(undefined)
      if (slot >= this.#capacity) {
        this.#capacity *= 2
        this.#cols = allocate(this.#capacity, this.#cols)
      }
    }
    const c = this.#cols
    const fast = this.#numberPath && a.price <= FAST_LIMIT_BIG && a.price >= -FAST_LIMIT_BIG
    c.oracle[slot] = oracle
    c.price[slot] = fast ? Number(a.price) : Number.NaN
    c.confidence[slot] = a.confidence
    c.timestamp[slot] = a.timestamp
    c.window[slot] = window
    this.#inputs[slot] = a
    this.#slotOf.set(a.id, slot)
    return slot
  }

  #openWindow(window: number): WindowState {
    const ws: WindowState = {
      window,
      slots: [],
      byOracle: new Map(),
      slow: 0,
      membership: undefined,
      result: undefined,
    }
    this.#windows.set(window, ws)
    const at = lowerBound(this.#order, window)
    this.#order.splice(at, 0, window)
    return ws
  }

  /**
   * Marks `window` and those after it stale, first rolling the oracles' EWMAs back to their values
   * before `window`: an oracle's value then is what its first attestation at or after `window`
   * (among the computed windows) was weighed with, or else its current one.
   */
  #markDirty(window: number): void {
    if (window >= this.#dirtyFrom) return
    const epoch = ++this.#epoch
    const c = this.#cols
    for (let i = lowerBound(this.#order, window); i < this.#order.length; i++) {
      const w = this.#order[i]!
      if (w >= this.#dirtyFrom) break
      for (const slot of this.#windows.get(w)!.slots) {
        const o = c.oracle[slot]!
        if (this.#seen[o] === epoch) continue
        this.#seen[o] = epoch
        this.#dev[o] = c.devBefore[slot]!
      }
    }
    this.#dirtyFrom = window
  }

  /** Computes the stale windows up to `window` (inclusive), in order. */
  #computeThrough(window: number): void {
    if (window < this.#dirtyFrom) return
    let i = lowerBound(this.#order, this.#dirtyFrom)
    for (; i < this.#order.length && this.#order[i]! <= window; i++)
      this.#compute(this.#windows.get(this.#order[i]!)!)
    this.#dirtyFrom = i < this.#order.length ? this.#order[i]! : Number.POSITIVE_INFINITY
  }

  #membershipOf(ws: WindowState): Membership {
    if (ws.membership) return ws.membership
    const inputs = this.#inputs
    const sorted =
      ws.slow === 0
        ? sortByPrice(ws.slots, this.#cols.price, inputs)
        : sortByBigPrice(ws.slots, inputs)
    const n = sorted.length
    const fences =
      n < 3
        ? undefined
        : fencesOf(
            inputs[sorted[Math.floor(n / 4)]!]!.price,
            inputs[sorted[Math.floor((3 * n) / 4)]!]!.price,
          )
    const outliers = this.#markOutliers(sorted, fences)
    ws.membership = {
      sorted,
      ids: ws.slots.map((slot) => inputs[slot]!.id),
      fences,
      outliers,
      contributing: undefined,
      idsHash: undefined,
    }
    return ws.membership
  }

  /** Flags the slots outside the fences (a prefix and a suffix of the sorted order). */
  #markOutliers(sorted: Int32Array, fences: Membership['fences']): string[] {
    const flags = this.#cols.outlier
    for (const slot of sorted) flags[slot] = 0
    if (!fences) return []
    const inputs = this.#inputs
    const ids: string[] = []
    for (let i = 0; i < sorted.length && inputs[sorted[i]!]!.price < fences.low; i++) {
      flags[sorted[i]!] = 1
      ids.push(inputs[sorted[i]!]!.id)
    }
    for (let i = sorted.length - 1; i >= 0 && inputs[sorted[i]!]!.price > fences.high; i--) {
      flags[sorted[i]!] = 1
      ids.push(inputs[sorted[i]!]!.id)
    }
    return ids.sort()
  }

  /** Aggregates one window with the EWMAs before it, then advances the EWMAs past it. */
  #compute(ws: WindowState): void {
    const m = this.#membershipOf(ws)
    const { sorted } = m
    const c = this.#cols
    const end = (ws.window + 1) * this.#windowMs
    const weights = this.#weigh(sorted, end)
    const total = sumOf(weights)
    const at = total === 0 ? (sorted.length - 1) >> 1 : medianIndex(weights, total)
    const answerSlot = sorted[at]!
    const answer = this.#inputs[answerSlot]!.price
    if (ws.slow === 0) {
      const mp = c.price[answerSlot]!
      const abs = Math.abs(mp)
      for (const slot of sorted)
        c.deviation[slot] = deviationPpmNumber(Math.abs(c.price[slot]! - mp), abs)
    } else {
      for (const slot of sorted) c.deviation[slot] = deviationPpm(this.#inputs[slot]!.price, answer)
    }
    for (const slot of sorted) {
      const o = c.oracle[slot]!
      this.#dev[o] = nextDeviation(c.devBefore[slot]!, c.deviation[slot]!)
    }
    const confidence = confidenceOf(sorted, weights, total, c.deviation)
    ws.result = this.#resultOf(ws.window, m, answer, total, confidence)
  }

  /** Each slot's weight (in sorted order), recording the quality and EWMA it was weighed with. */
  #weigh(sorted: Int32Array, end: number): Float64Array {
    const c = this.#cols
    const weights = new Float64Array(sorted.length)
    for (let i = 0; i < sorted.length; i++) {
      const slot = sorted[i]!
      const dev = this.#dev[c.oracle[slot]!]!
      const quality = qualityOf(dev)
      c.devBefore[slot] = dev
      c.qualityBefore[slot] = quality
      weights[i] = weightOf(quality, c.confidence[slot]!, end - c.timestamp[slot]!)
    }
    return weights
  }

  #resultOf(
    window: number,
    m: Membership,
    answer: bigint,
    total: number,
    confidence: number,
  ): WindowAggregate {
    const start = window * this.#windowMs
    return {
      window,
      start,
      end: start + this.#windowMs,
      answer,
      observations: m.sorted.length,
      totalWeight: total,
      confidence,
      // Sorting and hashing a thousand ids costs more than the rest of the window's work: both
      // wait until asked, and keep with the membership (qualities do not change them).
      get contributing() {
        m.contributing ??= [...m.ids].sort()
        return m.contributing
      },
      get idsHash() {
        m.contributing ??= [...m.ids].sort()
        m.idsHash ??= idsHashOf(m.contributing)
        return m.idsHash
      },
      outliers: m.outliers,
      fences: m.fences,
    }
  }
}

const byId = (inputs: readonly (AttestationInput | undefined)[]) => (a: number, b: number) =>
  inputs[a]!.id < inputs[b]!.id ? -1 : 1

/** Slots by (price, id) on bigint prices. */
function sortByBigPrice(
  slots: readonly number[],
  inputs: readonly (AttestationInput | undefined)[],
): Int32Array {
  const ids = byId(inputs)
  return Int32Array.from(slots).sort((a, b) => {
    const pa = inputs[a]!.price
    const pb = inputs[b]!.price
    return pa < pb ? -1 : pa > pb ? 1 : ids(a, b)
  })
}

/**
 * Slots by (price, id) on Number prices: when the prices' span times the count fits in 2^53,
 * one native sort of keys (price − min)·2^k + position, then runs of equal prices put in id
 * order; otherwise a comparison sort.
 */
function sortByPrice(
  slots: readonly number[],
  prices: Float64Array,
  inputs: readonly (AttestationInput | undefined)[],
): Int32Array {
  const n = slots.length
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const p = prices[slots[i]!]!
    if (p < min) min = p
    if (p > max) max = p
  }
  let span = 1
  while (span < n) span *= 2
  const ids = byId(inputs)
  if ((max - min) * span > Number.MAX_SAFE_INTEGER - span)
    return Int32Array.from(slots).sort((a, b) => prices[a]! - prices[b]! || ids(a, b))
  const keys = new Float64Array(n)
  for (let i = 0; i < n; i++) keys[i] = (prices[slots[i]!]! - min) * span + i
  keys.sort()
  const sorted = new Int32Array(n)
  for (let i = 0; i < n; i++) sorted[i] = slots[keys[i]! % span]!
  for (let i = 1; i < n; i++) {
    if (prices[sorted[i]!] !== prices[sorted[i - 1]!]) continue
    let end = i + 1
    while (end < n && prices[sorted[end]!] === prices[sorted[i]!]) end++
    sorted.subarray(i - 1, end).sort(ids)
    i = end - 1
  }
  return sorted
}

/** The sum of the weights: exact, as each is at most 10^8 (a window would need 9·10^7 of them). */
function sumOf(weights: Float64Array): number {
  let total = 0
  for (let i = 0; i < weights.length; i++) total += weights[i]!
  return total
}

/** The index of the lower weighted median: the first whose cumulative weight × 2 reaches the total. */
function medianIndex(weights: Float64Array, total: number): number {
  let cumulative = 0
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i]!
    if (cumulative * 2 >= total) return i
  }
  return weights.length - 1
}

/**
 * floor(100 × min(k, 10)/10 × max(0, 1 − 10 × relMAD)), relMAD the weighted mean of the
 * deviations (ppm, as the EWMA sees them) over 10^6; with a total weight of 0, the plain mean.
 * Σ weight·deviation reaches 2^57 per term: each deviation is split in 15-bit halves, whose
 * products (below 2^42) are summed exactly in Numbers and finished in bigint.
 */
function confidenceOf(
  sorted: Int32Array,
  weights: Float64Array,
  total: number,
  deviation: Uint32Array,
): number {
  const n = sorted.length
  const plain = total === 0
  let sum = 0n
  let high = 0
  let low = 0
  for (let i = 0; i < n; i++) {
    const w = plain ? 1 : weights[i]!
    const d = deviation[sorted[i]!]!
    high += w * (d >>> 15)
    low += w * (d & 0x7fff)
    if ((i + 1) % LIMB_FLUSH === 0 || i === n - 1) {
      sum += (BigInt(high) << 15n) + BigInt(low)
      high = 0
      low = 0
    }
  }
  const scale = BigInt(plain ? n : total) * 1_000_000n
  const numerator = BigInt(Math.min(n, 10)) * 10n * (scale - 10n * sum)
  return numerator <= 0n ? 0 : Number(numerator / scale)
}
