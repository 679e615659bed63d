import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import type { NodeClient } from '../../../cli/client.ts'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import { BaseError } from '../../../errors/base.ts'

// `rwa feed latest | oracles | show | series`: what a node says about a feed, read from its
// JSON routes (`--json` prints their answer as it is).

/** Thrown for an argument `rwa feed` cannot use. */
export class FeedCliError extends BaseError {
  override name = 'FeedCliError' as const
}

/** `GET /feed/feeds/:ref/latest`. */
export type LatestAnswer = {
  id: string
  pair: string
  decimals: number
  window: number
  start: number
  end: number
  answer: string
  answerText: string
  confidence: number
  observations: number
  outliers: number | string[]
  idsHash: string
  onChain: {
    chainId: number
    aggregator: string
    window: number
    round: string
    tx: string
    answer: string
    answerText: string
  } | null
}

/** One line of `GET /feed/feeds/:ref/oracles`. */
export type OracleLine = {
  oracle: string
  attestations: number
  lastSubmission: number | null
  lastPrice: string | null
  lastPriceText: string | null
  deviationPpm: number
  quality: number
  anomalies: Record<string, number>
}

/** `GET /feed/feeds/:ref`. */
export type FeedShow = {
  id: string
  pair: string
  description?: string
  owner: string
  decimals: number
  heartbeat: number
  deviation: number
  minSources: number
  maxAge: number
  window: number
  oracles: string[]
  signers: { key: string; address: string }[]
  threshold: number
  chain: { chainId: number; aggregator: string } | null
}

/** `GET /feed/feeds/:ref/series`. */
export type SeriesAnswer = {
  pair: string
  decimals: number
  oracles: string[]
  aggregates: { window: number; start: number; end: number; answer: string }[]
  points: { oracle: number; t: number; price: string }[]
}

/** The path of one of a feed's routes. */
const feedPath = (ref: string, tail = '') => `/feed/feeds/${encodeURIComponent(ref)}${tail}`

/** Adds `latest`, `oracles`, `show` and `series` to `rwa feed`. */
export function registerFeedQueryCommands(feed: Command): void {
  query(feed, 'latest', "the feed's latest answer: window, confidence, observations, on chain")
    .argument('<pair>', 'the feed: its pair (ETH/USD) or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const latest = await ctx.client.get<LatestAnswer>(feedPath(ref, '/latest'))
      if (ctx.json) printJson(latest)
      else console.log(formatLatest(latest))
    })

  query(feed, 'oracles', "the feed's oracles: attestations, quality, deviation, anomalies")
    .argument('<pair>', 'the feed: its pair (ETH/USD) or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const answer = await ctx.client.get<{ oracles: OracleLine[] }>(feedPath(ref, '/oracles'))
      if (ctx.json) printJson(answer)
      else console.log(formatOracles(answer.oracles))
    })

  query(feed, 'show', "the feed's settings: oracles, signers, threshold, chain")
    .argument('<pair>', 'the feed: its pair (ETH/USD) or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const shown = await ctx.client.get<FeedShow>(feedPath(ref))
      if (ctx.json) printJson(shown)
      else console.log(formatShow(shown))
    })

  query(feed, 'series', "the feed's recent windows; --svg draws them with every attestation")
    .argument('<pair>', 'the feed: its pair (ETH/USD) or id')
    .option('--last <n>', 'this many windows (1 to 1000)', '120')
    .option('--svg <file>', 'write a chart of the attestations and the aggregates to this file')
    .action(async (ref: string, o: GlobalOptions & { last: string; svg?: string }) => {
      const ctx = contextOf(o)
      if (!/^\d{1,4}$/.test(o.last) || Number(o.last) < 1 || Number(o.last) > 1000)
        throw new FeedCliError(`"last" must be a whole number from 1 to 1000; got "${o.last}".`)
      const series = await ctx.client.get<SeriesAnswer>(feedPath(ref, `/series?last=${o.last}`))
      if (o.svg) await writeChart(o.svg, series, ctx.client)
      if (ctx.json) return printJson(series)
      const { formatPrice } = await import('../../../core/feed/aggregate.ts')
      console.log(formatSeries(series, (v) => formatPrice(v, series.decimals, series.pair), o.svg))
    })
}

/** A subcommand with the node options and an example. */
function query(parent: Command, name: string, description: string): Command {
  return withNodeOptions(parent.command(name).description(description)).addHelpText(
    'after',
    `\nExample:\n  $ rwa feed ${name} ETH/USD${name === 'series' ? ' --last 60 --svg eth.svg' : ''}`,
  )
}

async function writeChart(file: string, series: SeriesAnswer, client: NodeClient): Promise<void> {
  const { renderFeedChart, seriesChartData } = await import('../chart.ts')
  const svg = renderFeedChart(seriesChartData(series, { label: `aggregate (${client.url})` }))
  try {
    writeFileSync(file, svg)
  } catch (cause) {
    throw new FeedCliError(`The chart cannot be written to "${file}"; check the path.`, { cause })
  }
}

/** An instant as `2024-05-01 12:00:02` (UTC). */
const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ')

/** Parts per million as a percentage with two decimals: 12_345 → `1.23`. */
export function ppmPercent(ppm: number): string {
  const whole = Math.floor(ppm / 10_000)
  return `${whole}.${String(Math.floor((ppm % 10_000) / 100)).padStart(2, '0')}`
}

/** The latest answer, its window, and what is on chain. */
export function formatLatest(l: LatestAnswer): string {
  const outliers = Array.isArray(l.outliers) ? l.outliers.length : l.outliers
  const chain = l.onChain
    ? `on chain: round ${l.onChain.round} (window ${l.onChain.window}) ${l.onChain.answerText}, tx ${l.onChain.tx} (chain ${l.onChain.chainId}, aggregator ${l.onChain.aggregator})`
    : 'on chain: no report posted yet'
  return [
    `${l.pair}: ${l.answerText}`,
    `  window ${l.window}: ${utc(l.start)} – ${utc(l.end).slice(11)} UTC`,
    `  confidence ${l.confidence} of 100 · ${l.observations} observation(s) · ${outliers} outlier(s)`,
    `  ${chain}`,
  ].join('\n')
}

/** The oracles as a table: quality and average deviation in percent, anomalies by kind. */
export function formatOracles(oracles: readonly OracleLine[]): string {
  if (oracles.length === 0) return 'No oracle yet: the owner adds them with "rwa feed oracle add".'
  return table(
    ['oracle', 'attestations', 'quality %', 'avg deviation %', 'anomalies', 'last price'],
    oracles.map((o) => [
      o.oracle,
      String(o.attestations),
      ppmPercent(o.quality),
      ppmPercent(o.deviationPpm),
      anomalies(o.anomalies),
      o.lastPriceText ?? '-',
    ]),
  )
}

function anomalies(counts: Record<string, number>): string {
  const found = Object.entries(counts).filter(([, n]) => n > 0)
  return found.length === 0 ? 'none' : found.map(([kind, n]) => `${kind} ${n}`).join(', ')
}

/** The feed's settings. */
export function formatShow(f: FeedShow): string {
  return [
    `${f.pair} (${f.id})${f.description && f.description !== f.pair ? `: ${f.description}` : ''}`,
    `  owner ${f.owner}`,
    `  ${f.decimals} decimals · window ${f.window} s · heartbeat ${f.heartbeat} s · deviation ${ppmPercent(f.deviation)}% · at least ${f.minSources} source(s) · max age ${f.maxAge} s`,
    `  oracles (${f.oracles.length}): ${f.oracles.join(', ') || 'none'}`,
    `  signers (${f.signers.length}, ${f.threshold} sign a report): ${f.signers.map((s) => `${s.key} → ${s.address}`).join(', ') || 'none'}`,
    `  chain: ${f.chain ? `${f.chain.chainId}, aggregator ${f.chain.aggregator}` : 'none'}`,
  ].join('\n')
}

/** The windows of a series, oldest first. */
export function formatSeries(
  s: SeriesAnswer,
  price: (value: bigint) => string,
  svg?: string,
): string {
  const rows = s.aggregates.map((a) => [String(a.window), utc(a.start), price(BigInt(a.answer))])
  const lines = [
    `${s.pair}: ${s.aggregates.length} window(s), ${s.points.length} attestation(s) from ${s.oracles.length} oracle(s)`,
  ]
  if (rows.length > 0) lines.push(table(['window', 'from (UTC)', 'answer'], rows))
  if (svg) lines.push(`Chart written to ${svg}.`)
  return lines.join('\n')
}

/** Rows as aligned columns under a header. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
