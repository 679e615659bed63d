import fc from 'fast-check'
import { keccak256, toBytes } from 'viem'
import { describe, expect, test } from 'vitest'
import {
  type AttestationInput,
  DuplicateAttestationError,
  deviationPpm,
  FeedSeries,
  formatPrice,
  InvalidAttestationError,
  InvalidPriceError,
  iqrFences,
  MAX_DEVIATION_PPM,
  MAX_QUALITY,
  nextDeviation,
  parsePrice,
  qualityOf,
  SUSPICIOUS_PPM,
  UnknownAttestationError,
  weightedMedian,
  weightOf,
} from '../src/core/feed/aggregate.ts'

const WINDOW_SECONDS = 10
const WINDOW_MS = WINDOW_SECONDS * 1000
/** A window boundary, so window w of the tests is T0 / WINDOW_MS + w. */
const T0 = 1_763_720_000_000
const W0 = T0 / WINDOW_MS

const oracleKey = (n: number) => n.toString(16).padStart(64, '0')

/** An attestation in test window `w` (at its start unless `offset` says how far in, in ms). */
function att(
  id: string,
  oracle: number,
  price: bigint,
  {
    w = 0,
    confidence = 100,
    offset = 0,
  }: { w?: number; confidence?: number; offset?: number } = {},
): AttestationInput {
  return {
    id,
    oracle: oracleKey(oracle),
    price,
    confidence,
    timestamp: T0 + w * WINDOW_MS + offset,
  }
}

function seriesOf(attestations: readonly AttestationInput[], numberPath = true): FeedSeries {
  const series = new FeedSeries(WINDOW_SECONDS, { numberPath })
  for (const a of attestations) series.add(a)
  return series
}

/** Everything a series tells, as plain data (every window, oracle and attestation). */
function snapshot(series: FeedSeries, attestations: readonly AttestationInput[]) {
  const windows = series.windows()
  const oracles = [...new Set(attestations.map((a) => a.oracle))].sort()
  return {
    windows: windows.map((w) => ({ ...series.aggregate(w)! })),
    qualities: series.qualities(),
    deviations: Object.fromEntries(
      attestations.map((a) => [a.id, series.deviationIn(series.windowOf(a.timestamp), a.id)]),
    ),
    qualityBefore: windows.flatMap((w) => oracles.map((o) => series.qualityBefore(w, o))),
  }
}

/** The design's aggregation written plainly in bigint, window by window: what the series must match. */
function reference(attestations: readonly AttestationInput[]): ReturnType<typeof snapshot> {
  const byWindow = new Map<number, AttestationInput[]>()
  for (const a of attestations) {
    const w = Math.floor(a.timestamp / WINDOW_MS)
    byWindow.set(w, [...(byWindow.get(w) ?? []), a])
  }
  const order = [...byWindow.keys()].sort((a, b) => a - b)
  const oracles = [...new Set(attestations.map((a) => a.oracle))].sort()
  const dev = new Map<string, number>()
  const stats = new Map<
    string,
    { windows: number; outliers: number; suspicious: number; last: number }
  >()
  const deviations: Record<string, number> = {}
  const qualityBefore: number[] = []
  const windows = order.map((w) => {
    const list = byWindow.get(w)!
    const end = (w + 1) * WINDOW_MS
    qualityBefore.push(...oracles.map((o) => qualityOf(dev.get(o) ?? 0)))
    const entries = list.map((a) => ({
      ...a,
      weight: weightOf(qualityOf(dev.get(a.oracle) ?? 0), a.confidence, end - a.timestamp),
    }))
    const answer = weightedMedian(entries)!
    const total = entries.reduce((s, e) => s + BigInt(e.weight), 0n)
    const ds = entries.map((e) => deviationPpm(e.price, answer))
    const plain = total === 0n
    const sum = entries.reduce((s, e, i) => s + BigInt(plain ? 1 : e.weight) * BigInt(ds[i]!), 0n)
    const scale = (plain ? BigInt(list.length) : total) * 1_000_000n
    const numerator = BigInt(Math.min(list.length, 10)) * 10n * (scale - 10n * sum)
    const fences = iqrFences(list.map((a) => a.price).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    const isOutlier = (p: bigint) => fences !== undefined && (p < fences.low || p > fences.high)
    entries.forEach((e, i) => {
      const d = ds[i]!
      deviations[e.id] = d
      dev.set(e.oracle, nextDeviation(dev.get(e.oracle) ?? 0, d))
      const s = stats.get(e.oracle) ?? { windows: 0, outliers: 0, suspicious: 0, last: 0 }
      stats.set(e.oracle, {
        windows: s.windows + 1,
        outliers: s.outliers + (isOutlier(e.price) ? 1 : 0),
        suspicious: s.suspicious + (d > SUSPICIOUS_PPM ? 1 : 0),
        last: d,
      })
    })
    const contributing = list.map((a) => a.id).sort()
    return {
      window: w,
      start: w * WINDOW_MS,
      end,
      answer,
      observations: list.length,
      totalWeight: Number(total),
      confidence: numerator <= 0n ? 0 : Number(numerator / scale),
      contributing,
      idsHash: keccak256(toBytes(contributing.join('\n'))),
      outliers: list
        .filter((a) => isOutlier(a.price))
        .map((a) => a.id)
        .sort(),
      fences,
    }
  })
  return {
    windows,
    qualities: oracles.map((oracle) => ({
      oracle,
      quality: qualityOf(dev.get(oracle)!),
      deviationPpm: dev.get(oracle)!,
      windows: stats.get(oracle)!.windows,
      outliers: stats.get(oracle)!.outliers,
      suspicious: stats.get(oracle)!.suspicious,
      lastDeviationPpm: stats.get(oracle)!.last,
    })),
    deviations,
    qualityBefore,
  }
}

/** Attestations over windows 0–5 by oracles 0–6, at most one per oracle and window. */
function attestationsArb(price: fc.Arbitrary<bigint>) {
  return fc
    .uniqueArray(
      fc.record({
        oracle: fc.integer({ min: 0, max: 6 }),
        w: fc.integer({ min: 0, max: 5 }),
        price,
        confidence: fc.integer({ min: 0, max: 100 }),
        offset: fc.integer({ min: 0, max: WINDOW_MS - 1 }),
        tag: fc.string({ maxLength: 4 }),
      }),
      { selector: (r) => `${r.oracle}|${r.w}`, minLength: 1, maxLength: 30 },
    )
    .map((rows) => rows.map((r, i) => att(`${r.tag}#${i}`, r.oracle, r.price, r)))
}

/** Prices that tie, sit near each other and sometimes far off, beyond the Number path too. */
const mixedPrice = fc.oneof(
  fc.bigInt({ min: 9_990n, max: 10_010n }),
  fc.bigInt({ min: 9_990n, max: 10_010n }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
)

describe('weightOf', () => {
  test('is quality × confidence × 300 s / (300 s + age), floored', () => {
    expect(weightOf(1_000_000, 100, 0)).toBe(100_000_000)
    expect(weightOf(1_000_000, 100, 300_000)).toBe(50_000_000)
    expect(weightOf(500_000, 50, 60_000)).toBe(20_833_333)
    expect(weightOf(1_000_000, 0, 1000)).toBe(0)
  })

  test('counts a negative age as none', () => {
    expect(weightOf(1_000_000, 100, -5_000)).toBe(100_000_000)
  })
})

describe('qualityOf and nextDeviation', () => {
  test('quality halves at a deviation EWMA of 10,000 ppm', () => {
    expect(qualityOf(0)).toBe(MAX_QUALITY)
    expect(qualityOf(10_000)).toBe(500_000)
    expect(qualityOf(90_000)).toBe(100_000)
  })

  test('the EWMA moves an eighth of the way, floored', () => {
    expect(nextDeviation(0, 200_000)).toBe(25_000)
    expect(nextDeviation(25_000, 200_000)).toBe(46_875)
    expect(nextDeviation(100, 0)).toBe(87)
    expect(nextDeviation(3, 0)).toBe(2)
  })
})

describe('deviationPpm', () => {
  test('is |price − answer| relative to |answer| in ppm, floored and capped', () => {
    expect(deviationPpm(101n, 100n)).toBe(10_000)
    expect(deviationPpm(99n, 100n)).toBe(10_000)
    expect(deviationPpm(100n, 300n)).toBe(666_666)
    expect(deviationPpm(-90n, -100n)).toBe(100_000)
    expect(deviationPpm(0n, 0n)).toBe(0)
    expect(deviationPpm(1n, 0n)).toBe(MAX_DEVIATION_PPM)
    expect(deviationPpm(100_099n, 100n)).toBe(999_990_000)
    expect(deviationPpm(100_100n, 100n)).toBe(MAX_DEVIATION_PPM)
    expect(deviationPpm(-(10n ** 40n), 7n)).toBe(MAX_DEVIATION_PPM)
  })
})

describe('weightedMedian', () => {
  const e = (id: string, price: bigint, weight: number) => ({ id, price, weight })

  test('is the lower weighted median', () => {
    expect(weightedMedian([e('a', 10n, 1), e('b', 20n, 1), e('c', 30n, 1), e('d', 40n, 1)])).toBe(
      20n,
    )
    expect(weightedMedian([e('a', 10n, 1), e('b', 20n, 1), e('c', 30n, 5)])).toBe(30n)
    expect(weightedMedian([e('c', 30n, 3), e('a', 10n, 2), e('b', 20n, 1)])).toBe(20n)
  })

  test('falls back to the lower median by count when every weight is 0', () => {
    expect(weightedMedian([e('a', 40n, 0), e('b', 10n, 0), e('c', 30n, 0), e('d', 20n, 0)])).toBe(
      20n,
    )
  })

  test('has none for no entries', () => {
    expect(weightedMedian([])).toBeUndefined()
  })
})

describe('FeedSeries aggregates', () => {
  test('a window: answer, bounds, weight and the ids hash of its sorted ids', () => {
    const series = seriesOf([
      att('c', 1, 101n),
      att('a', 2, 99n),
      att('b', 3, 100n),
      att('z', 4, 200n, { w: 1 }),
    ])
    const agg = series.aggregate(W0)!
    expect(agg.window).toBe(W0)
    expect(agg.start).toBe(T0)
    expect(agg.end).toBe(T0 + WINDOW_MS)
    expect(agg.answer).toBe(100n)
    expect(agg.observations).toBe(3)
    // Every attestation is 10 s old at the window's end: 10^8 × 300/310, floored, three times.
    expect(agg.totalWeight).toBe(3 * 96_774_193)
    expect(agg.contributing).toEqual(['a', 'b', 'c'])
    expect(agg.idsHash).toBe(keccak256(toBytes('a\nb\nc')))
    expect(series.windows()).toEqual([W0, W0 + 1])
    expect(series.latest()!.answer).toBe(200n)
    expect(series.size).toBe(4)
    expect(series.aggregate(W0 + 7)).toBeUndefined()
  })

  test('confidence on a hand-computed window', () => {
    // Equal weights, answer 100, deviations 10,000, 0 and 10,000 ppm: relMAD = 1/150;
    // floor(100 × 3/10 × (1 − 10/150)) = 28.
    expect(
      seriesOf([att('a', 1, 99n), att('b', 2, 100n), att('c', 3, 101n)]).latest()!.confidence,
    ).toBe(28)
    const same = Array.from({ length: 12 }, (_, i) => att(`s${i}`, i, 500n))
    expect(seriesOf(same).latest()!.confidence).toBe(100)
    expect(seriesOf(same.slice(0, 4)).latest()!.confidence).toBe(40)
    expect(
      seriesOf([att('a', 1, 100n), att('b', 2, 150n), att('c', 3, 200n)]).latest()!.confidence,
    ).toBe(0)
  })

  test('IQR fences and outliers on hand-computed windows', () => {
    const win = (prices: bigint[]) =>
      seriesOf(prices.map((p, i) => att(`p${p}i${i}`, i, p))).latest()!
    // Q1 = 2, Q3 = 4, IQR = 2: fences −1 and 7.
    expect(win([1n, 2n, 3n, 4n, 100n])).toMatchObject({
      fences: { low: -1n, high: 7n },
      outliers: ['p100i4'],
    })
    // Q1 = p[2] = 11, Q3 = p[6] = 14, IQR = 3: fences 6.5 and 18.5, inclusive 7 and 18.
    expect(win([6n, 10n, 11n, 12n, 13n, 13n, 14n, 19n])).toMatchObject({
      fences: { low: 7n, high: 18n },
      outliers: ['p19i7', 'p6i0'],
    })
    expect(win([7n, 10n, 11n, 12n, 13n, 13n, 14n, 18n]).outliers).toEqual([])
    expect(win([-10n, -8n, -7n, -6n, 50n])).toMatchObject({
      fences: { low: -11n, high: -3n },
      outliers: ['p50i4'],
    })
    expect(win([1n, 1000n])).toMatchObject({ fences: undefined, outliers: [] })
    expect(iqrFences([1n, 2n, 3n, 4n, 100n])).toEqual({ low: -1n, high: 7n })
  })

  test('outliers still count in the median', () => {
    // 1000 lies outside the fences, but with most of the weight it is the answer.
    const series = seriesOf([
      att('a', 1, 10n, { confidence: 1 }),
      att('b', 2, 11n, { confidence: 1 }),
      att('c', 3, 12n, { confidence: 1 }),
      att('d', 4, 13n, { confidence: 1 }),
      att('e', 5, 1000n, { confidence: 100 }),
    ])
    expect(series.latest()).toMatchObject({ answer: 1000n, outliers: ['e'] })
  })

  test('takes the lower middle price when the weight splits evenly', () => {
    const even = [40n, 10n, 30n, 20n].map((p, i) => att(`e${i}`, i, p))
    expect(seriesOf(even).latest()!.answer).toBe(20n)
    expect(seriesOf(even.slice(0, 2)).latest()!.answer).toBe(10n)
  })

  test('a window whose weights are all 0 takes the lower median by count', () => {
    const series = seriesOf(
      [40n, 10n, 30n, 20n].map((p, i) => att(`z${i}`, i, p, { confidence: 0 })),
    )
    expect(series.latest()).toMatchObject({ answer: 20n, totalWeight: 0 })
  })

  test('lists a window attestations by (price, id)', () => {
    const series = seriesOf([att('b', 1, 5n), att('a', 2, 5n), att('c', 3, 4n)])
    expect(series.attestations(W0).map((a) => a.id)).toEqual(['c', 'a', 'b'])
    expect(series.attestations(W0 + 1)).toEqual([])
  })

  test('a window of 2,500 oracles agrees with the bigint reference', () => {
    // Past the 2,048 terms after which the confidence sums move into a bigint.
    const list = Array.from({ length: 2500 }, (_, i) =>
      att(`big${i}`, i, BigInt((i * 7919) % 1013), { confidence: 100 - (i % 7), offset: i * 13 }),
    )
    const series = seriesOf(list)
    expect(snapshot(series, list)).toEqual(reference(list))
  })
})

describe('FeedSeries input', () => {
  test('refuses a second attestation by an oracle in a window, and a counted id', () => {
    const series = seriesOf([att('a', 1, 10n)])
    expect(() => series.add(att('b', 1, 11n, { offset: 500 }))).toThrow(DuplicateAttestationError)
    expect(() => series.add(att('a', 2, 11n))).toThrow(DuplicateAttestationError)
    series.add(att('b', 1, 11n, { w: 1 }))
    expect(series.size).toBe(2)
  })

  test('refuses out-of-range attestations with the value named', () => {
    const series = new FeedSeries(WINDOW_SECONDS)
    expect(() => series.add(att('a', 1, 10n, { confidence: 101 }))).toThrow(/confidence "101"/)
    expect(() => series.add({ ...att('a', 1, 10n), timestamp: -1 })).toThrow(
      InvalidAttestationError,
    )
    expect(() => series.add({ ...att('a', 1, 10n), price: 10 as unknown as bigint })).toThrow(
      InvalidAttestationError,
    )
    expect(() => series.add(att('', 1, 10n))).toThrow(InvalidAttestationError)
    expect(() => new FeedSeries(0)).toThrow(InvalidAttestationError)
    expect(() => new FeedSeries(3601)).toThrow(InvalidAttestationError)
    expect(series.size).toBe(0)
  })

  test('removing an attestation it does not count is an error', () => {
    expect(() => new FeedSeries(WINDOW_SECONDS).remove('nope')).toThrow(UnknownAttestationError)
  })

  test('removing the last attestation of a window drops the window', () => {
    const series = seriesOf([att('a', 1, 10n), att('b', 1, 20n, { w: 1 })])
    expect(series.latest()!.answer).toBe(20n)
    series.remove('b')
    expect(series.windows()).toEqual([W0])
    expect(series.latest()!.answer).toBe(10n)
    expect(series.has('b')).toBe(false)
    expect(series.deviationIn(W0 + 1, 'b')).toBeUndefined()
  })
})

describe('robustness of the median', () => {
  test('up to 40% arbitrary outliers move it by no more than the honest spread', () => {
    const honest = fc.record({
      offset: fc.bigInt({ min: 0n, max: 1000n }),
      confidence: fc.integer({ min: 90, max: 100 }),
      at: fc.integer({ min: 0, max: WINDOW_MS - 1 }),
    })
    const liar = fc.record({
      price: fc.oneof(
        fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
        fc.bigInt({ min: -2000n, max: 3000n }).map((p) => 10n ** 9n + p),
      ),
      confidence: fc.integer({ min: 0, max: 100 }),
      at: fc.integer({ min: 0, max: WINDOW_MS - 1 }),
    })
    const windowArb = fc
      .array(honest, { minLength: 3, maxLength: 15 })
      .chain((hs) =>
        fc.tuple(
          fc.constant(hs),
          fc.array(liar, { maxLength: Math.floor((hs.length * 2) / 3) }),
          fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        ),
      )
    fc.assert(
      fc.property(windowArb, ([hs, ls, base]) => {
        const honestList = hs.map((h, i) =>
          att(`h${i}`, i, base + h.offset, { confidence: h.confidence, offset: h.at }),
        )
        const liars = ls.map((l, i) =>
          att(`l${i}`, 100 + i, l.price, { confidence: l.confidence, offset: l.at }),
        )
        const prices = honestList.map((a) => a.price)
        const min = prices.reduce((a, b) => (a < b ? a : b))
        const max = prices.reduce((a, b) => (a > b ? a : b))
        const alone = seriesOf(honestList).latest()!.answer
        const mixed = seriesOf([...liars, ...honestList]).latest()!.answer
        expect(mixed >= min && mixed <= max).toBe(true)
        const moved = mixed > alone ? mixed - alone : alone - mixed
        expect(moved <= max - min).toBe(true)
      }),
      { numRuns: 300 },
    )
  })
})

describe('order independence', () => {
  test('the order of adds, interleaved queries and remove/re-add change nothing', () => {
    fc.assert(
      fc.property(
        attestationsArb(mixedPrice).chain((list) =>
          fc.tuple(
            fc.constant(list),
            fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
            fc.array(fc.nat(), { minLength: list.length, maxLength: list.length }),
          ),
        ),
        ([list, shuffled, noise]) => {
          const expected = snapshot(seriesOf(list), list)
          expect(expected).toEqual(reference(list))
          const series = new FeedSeries(WINDOW_SECONDS)
          const added: AttestationInput[] = []
          shuffled.forEach((a, i) => {
            series.add(a)
            added.push(a)
            const n = noise[i]!
            // Queries compute windows, so later adds dirty windows computed already.
            if (n % 3 === 0) series.latest()
            if (n % 4 === 1) series.qualities()
            if (n % 5 === 2) {
              const back = added[n % added.length]!
              series.remove(back.id)
              series.aggregate(series.windowOf(back.timestamp))
              series.range(0, 3)
              series.add(back)
            }
          })
          expect(snapshot(series, list)).toEqual(expected)
        },
      ),
      { numRuns: 200 },
    )
  })

  test('a late attestation into an old window gives what a fresh series with all data gives', () => {
    fc.assert(
      fc.property(attestationsArb(mixedPrice), fc.nat(), (list, pick) => {
        const late = list[pick % list.length]!
        const others = list.filter((a) => a !== late)
        const series = seriesOf(others)
        series.qualities()
        series.add(late)
        expect(snapshot(series, list)).toEqual(snapshot(seriesOf(list), list))
        series.remove(late.id)
        expect(snapshot(series, others)).toEqual(snapshot(seriesOf(others), others))
      }),
      { numRuns: 200 },
    )
  })
})

describe('Number and bigint paths', () => {
  const edge = 2n ** 49n
  test('agree on prices up to 2^49 and across the limit', () => {
    const price = fc.oneof(
      fc.bigInt({ min: -edge, max: edge }),
      fc.bigInt({ min: edge - 3000n, max: edge + 3000n }),
      fc.bigInt({ min: -edge - 3000n, max: -edge + 3000n }),
      fc.bigInt({ min: 9_007_199_000n, max: 9_007_199_500n }),
      fc.bigInt({ min: -5n, max: 5n }),
      fc.bigInt({ min: 10n ** 12n, max: 10n ** 12n + 10n ** 10n }),
    )
    fc.assert(
      fc.property(attestationsArb(price), (list) => {
        const fast = snapshot(seriesOf(list, true), list)
        expect(snapshot(seriesOf(list, false), list)).toEqual(fast)
        expect(fast).toEqual(reference(list))
      }),
      { numRuns: 300 },
    )
  })
})

describe('oracle quality', () => {
  /** 7 oracles for 30 windows: 0–4 honest around 2500 ± 1%, 5 and 6 at +20%. */
  function demo(): AttestationInput[] {
    const base = 250_000_000_000n
    const list: AttestationInput[] = []
    for (let w = 0; w < 30; w++)
      for (let o = 0; o < 7; o++) {
        const ppm = BigInt(((w * 7 + o) * 7919) % 20_001) - 10_000n
        const honest = base + (base * ppm) / 1_000_000n
        const price = o >= 5 ? (honest * 120n) / 100n : honest
        list.push(att(`w${w}o${o}`, o, price, { w, confidence: 95, offset: o * 1000 }))
      }
    return list
  }

  test('falls for an oracle consistently 20% off and stays high for honest ones', () => {
    const list = demo()
    const series = seriesOf(list)
    for (const o of [5, 6])
      expect(series.qualityBefore(W0 + 20, oracleKey(o))).toBeLessThan(100_000)
    for (let o = 0; o < 5; o++)
      expect(series.qualityBefore(W0 + 20, oracleKey(o))).toBeGreaterThan(500_000)
    const qualities = series.qualities()
    expect(qualities.map((q) => q.oracle)).toEqual([0, 1, 2, 3, 4, 5, 6].map(oracleKey))
    expect(qualities[6]).toMatchObject({ windows: 30, suspicious: 30 })
    expect(qualities[6]!.quality).toBeLessThan(60_000)
    expect(qualities[0]!.suspicious).toBe(0)
    for (const agg of series.range(0, 100)) {
      expect(agg.answer >= 247_500_000_000n && agg.answer <= 252_500_000_000n).toBe(true)
    }
    expect(snapshot(series, list)).toEqual(reference(list))
  })

  test('an oracle absent from a window keeps its quality through it', () => {
    const list = [att('a0', 1, 100n), att('b0', 2, 120n), att('c0', 3, 100n)]
    list.push(att('a1', 1, 100n, { w: 1 }), att('c1', 3, 100n, { w: 1 }))
    list.push(att('b2', 2, 100n, { w: 2 }))
    const series = seriesOf(list)
    const after0 = qualityOf(nextDeviation(0, 200_000))
    expect(series.qualityBefore(W0, oracleKey(2))).toBe(MAX_QUALITY)
    expect(series.qualityBefore(W0 + 1, oracleKey(2))).toBe(after0)
    expect(series.qualityBefore(W0 + 2, oracleKey(2))).toBe(after0)
    expect(series.qualityBefore(W0 + 2, 'never seen')).toBe(MAX_QUALITY)
    expect(series.deviationIn(W0, 'b0')).toBe(200_000)
  })
})

describe('formatPrice and parsePrice', () => {
  test('format with the quote currency, trailing zeros trimmed', () => {
    expect(formatPrice(250_012_000_000n, 8, 'ETH/USD')).toBe('2500.12 USD')
    expect(formatPrice(-5n, 2, 'EUR/CHF')).toBe('-0.05 CHF')
    expect(formatPrice(7n, 0, 'BTC/JPY')).toBe('7 JPY')
    expect(formatPrice(0n, 18, 'A/B')).toBe('0 B')
  })

  test('parse decimals into scaled integers', () => {
    expect(parsePrice('2500.12', 8)).toBe(250_012_000_000n)
    expect(parsePrice(' -0.5 ', 2)).toBe(-50n)
    expect(parsePrice('2500.12 USD', 8, 'ETH/USD')).toBe(250_012_000_000n)
    expect(parsePrice('007', 0)).toBe(7n)
  })

  test('refuse junk, excess digits and the wrong currency with named errors', () => {
    const refusal = (text: string, decimals = 2, pair?: string) => {
      try {
        parsePrice(text, decimals, pair)
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidPriceError)
        return (error as InvalidPriceError).shortMessage
      }
      throw new Error(`"${text}" was accepted`)
    }
    expect(refusal('1.234')).toBe(
      '"1.234" has 3 decimals, but the feed has 2; round it to 2 or fewer.',
    )
    expect(refusal('abc')).toMatch(/^"abc" is not a price/)
    for (const junk of ['', '1e5', '0x10', '1.', '.5', '+1', '1,5', '--1', 'NaN', '9'.repeat(101)])
      expect(refusal(junk)).toMatch(/is not a price/)
    expect(refusal('1.5 EUR', 2, 'ETH/USD')).toMatch(/quoted in "USD"/)
    expect(() => formatPrice(1n, 19, 'A/B')).toThrow(InvalidPriceError)
    expect(() => parsePrice('1', -1)).toThrow(InvalidPriceError)
  })

  test('parsePrice(formatPrice(x)) is x for any integer and 0–18 decimals', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 191n), max: 2n ** 191n }),
        fc.integer({ min: 0, max: 18 }),
        (x, decimals) => {
          expect(parsePrice(formatPrice(x, decimals, 'ETH/USD'), decimals, 'ETH/USD')).toBe(x)
          expect(parsePrice(formatPrice(x, decimals, 'ETH/USD').split(' ')[0]!, decimals)).toBe(x)
        },
      ),
    )
  })

  test('formatPrice(parsePrice(t)) is t in canonical form', () => {
    const canonical = fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,30}$/)),
        fc.integer({ min: 0, max: 18 }),
        fc.stringMatching(/^[0-9]{0,17}[1-9]$/),
      )
      .map(([negative, whole, decimals, digits]) => {
        const fraction = digits.slice(0, decimals)
        const trimmed = fraction.replace(/0+$/, '')
        const zero = whole === '0' && trimmed === ''
        const text = `${negative && !zero ? '-' : ''}${whole}${trimmed ? `.${trimmed}` : ''}`
        return { text, decimals }
      })
    fc.assert(
      fc.property(canonical, ({ text, decimals }) => {
        expect(formatPrice(parsePrice(text, decimals), decimals, 'ETH/USD')).toBe(`${text} USD`)
      }),
    )
  })
})
