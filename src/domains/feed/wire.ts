import type { Address } from 'viem'
import { z } from 'zod'
import { formatPrice, type WindowAggregate } from '../../core/feed/aggregate.ts'
import type { FeedReducer, OracleView, ReportView } from '../../core/feed/domain.ts'
import type { PostedRecord } from '../../core/feed/machine.ts'
import { addressWire, hexWire, keyWire, opIdWire, txWire } from '../../http/wire.ts'

// The feed routes' answers as they travel: prices are integer strings scaled by the feed's
// decimals, each next to a `…Text` with the quote currency ("2500.12 USD"); times are ms since
// the epoch; quality and deviation are ppm integers.

const priceWire = z.string().describe("An integer: the price scaled by the feed's decimals.")
const priceText = z.string().describe('The price with its unit, e.g. "2500.12 USD".')
const ms = z.number().int().describe('ms since the epoch')
const ppm = z.number().int().describe('parts per million')

export const feedListWire = z.object({
  id: opIdWire,
  pair: z.string(),
  state: z.string(),
  decimals: z.number().int(),
  window: z.number().int().describe('seconds per window'),
  oracles: z.number().int(),
  signers: z.number().int(),
  threshold: z.number().int(),
  lastWindow: z.number().int().nullable(),
  lastAnswer: priceWire.nullable(),
  lastAnswerText: priceText.nullable(),
})

const chainWire = z.object({ chainId: z.number().int(), aggregator: addressWire }).nullable()

export const feedWire = z.object({
  id: opIdWire,
  pair: z.string(),
  description: z.string(),
  owner: keyWire,
  decimals: z.number().int(),
  heartbeat: z.number().int().describe('seconds'),
  deviation: ppm,
  minSources: z.number().int(),
  minObservations: z.number().int(),
  maxAge: z.number().int().describe('seconds'),
  window: z.number().int().describe('seconds'),
  oracles: z.array(keyWire),
  signers: z.array(z.object({ key: keyWire, address: addressWire })),
  threshold: z.number().int(),
  chain: chainWire,
  attestations: z.number().int(),
  windows: z.number().int(),
})

const postedWire = z.object({
  chainId: z.number().int(),
  aggregator: addressWire,
  window: z.number().int(),
  round: z.string(),
  tx: txWire,
})

export const aggregateWire = z.object({
  window: z.number().int(),
  start: ms,
  end: ms,
  answer: priceWire,
  answerText: priceText,
  confidence: z.number().int().describe('0–100'),
  observations: z.number().int(),
  outliers: z.array(opIdWire).describe('attestations outside the IQR fences (they still count)'),
  idsHash: hexWire,
})

export const latestWire = aggregateWire.omit({ outliers: true }).extend({
  id: opIdWire,
  pair: z.string(),
  decimals: z.number().int(),
  outliers: z.number().int(),
  onChain: postedWire.extend({ answer: priceWire, answerText: priceText }).nullable(),
})

export const oracleWire = z.object({
  oracle: keyWire,
  registered: z.boolean(),
  attestations: z.number().int(),
  lastSubmission: ms.nullable(),
  lastPrice: priceWire.nullable(),
  lastPriceText: priceText.nullable(),
  deviationPpm: ppm,
  quality: ppm,
  anomalies: z.object({
    outlier: z.number().int(),
    suspicious: z.number().int(),
    stale: z.number().int(),
    invalid: z.number().int(),
    duplicate: z.number().int(),
  }),
  recent: z.array(
    z.object({ kind: z.string(), window: z.number().int(), op: opIdWire, message: z.string() }),
  ),
})

export const attestationWire = z.object({
  id: opIdWire,
  oracle: keyWire,
  price: priceWire,
  priceText,
  confidence: z.number().int(),
  timestamp: ms,
  outlier: z.boolean(),
  deviationPpm: ppm.nullable(),
})

export const seriesWire = z.object({
  pair: z.string(),
  decimals: z.number().int(),
  oracles: z.array(keyWire),
  aggregates: z.array(
    z.object({ window: z.number().int(), start: ms, end: ms, answer: priceWire }),
  ),
  points: z.array(z.object({ oracle: z.number().int(), t: ms, price: priceWire })),
})

export const reportWire = z.object({
  window: z.number().int(),
  answer: priceWire,
  answerText: priceText,
  observations: z.number().int(),
  idsHash: hexWire,
  digest: hexWire,
  chainId: z.number().int(),
  aggregator: addressWire,
  signatures: z.number().int().describe('by current signers'),
  signers: z.array(addressWire),
  threshold: z.number().int(),
  complete: z.boolean(),
  posted: z.object({ round: z.string(), tx: txWire }).nullable(),
})

/** A feed's price formatter. */
export const priceOf = (reducer: FeedReducer) => (value: bigint) =>
  formatPrice(value, reducer.machine.decimals, reducer.machine.pair)

export function aggregateOut(reducer: FeedReducer, a: WindowAggregate) {
  return {
    window: a.window,
    start: a.start,
    end: a.end,
    answer: a.answer.toString(),
    answerText: priceOf(reducer)(a.answer),
    confidence: a.confidence,
    observations: a.observations,
    outliers: [...a.outliers],
    idsHash: a.idsHash,
  }
}

export function postedOut(reducer: FeedReducer, p: PostedRecord | undefined) {
  if (!p) return null
  const report = [...(reducer.machine.reports.get(p.window)?.values() ?? [])].find(
    (r) => r.chainId === p.chainId && r.aggregator === p.aggregator,
  )
  const answer = report?.answer ?? reducer.aggregate(p.window)?.answer ?? 0n
  return {
    chainId: p.chainId,
    aggregator: p.aggregator,
    window: p.window,
    round: p.round.toString(),
    tx: p.tx,
    answer: answer.toString(),
    answerText: priceOf(reducer)(answer),
  }
}

export function oracleOut(reducer: FeedReducer, o: OracleView) {
  return {
    oracle: o.oracle,
    registered: o.registered,
    attestations: o.attestations,
    lastSubmission: o.lastSubmission ?? null,
    lastPrice: o.lastPrice?.toString() ?? null,
    lastPriceText: o.lastPrice === undefined ? null : priceOf(reducer)(o.lastPrice),
    deviationPpm: o.deviationPpm,
    quality: o.quality,
    anomalies: { ...o.anomalies },
    recent: o.recent.map((n) => ({ kind: n.kind, window: n.window, op: n.op, message: n.message })),
  }
}

export function reportOut(reducer: FeedReducer, r: ReportView) {
  return {
    window: r.window,
    answer: r.answer.toString(),
    answerText: priceOf(reducer)(r.answer),
    observations: r.observations,
    idsHash: r.idsHash,
    digest: r.digest,
    chainId: r.chainId,
    aggregator: r.aggregator as Address,
    signatures: r.counted,
    signers: [...r.signatures.keys()].sort(),
    threshold: r.threshold,
    complete: r.complete,
    posted: r.posted ? { round: r.posted.round.toString(), tx: r.posted.tx } : null,
  }
}

/** A feed's last `last` windows for a chart: every counted attestation's price, each answer. */
export function seriesOf(reducer: FeedReducer, last: number) {
  const { machine } = reducer
  const aggregates = reducer.lastAggregates(last)
  const oracles = [...new Set([...machine.registry.oracles, ...machine.oracles.keys()])].sort()
  const at = new Map(oracles.map((o, i) => [o, i]))
  const points = []
  for (const a of aggregates)
    for (const att of machine.series.attestations(a.window))
      points.push({
        oracle: at.get(att.oracle) ?? 0,
        t: att.timestamp,
        price: att.price.toString(),
      })
  return {
    pair: machine.pair,
    decimals: machine.decimals,
    oracles,
    aggregates: aggregates.map((a) => ({
      window: a.window,
      start: a.start,
      end: a.end,
      answer: a.answer.toString(),
    })),
    points,
  }
}
