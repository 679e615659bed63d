import type { Command } from 'commander'
import { localNodeUrl, NodeClient, NodeRequestError } from '../../../cli/client.ts'
import { contextOf, type GlobalOptions, withNodeOptions } from '../../../cli/context.ts'
import { toJson } from '../../../core/json.ts'
import { BaseError } from '../../../errors/base.ts'
import type { Signer } from '../../../ledger/keys.ts'
import type { OpId } from '../../../ledger/op-id.ts'
import type { FetchLimits, PriceSource, SourceReading } from './price-source.ts'

// `rwa oracle run`: an oracle process. Each tick it reads its sources (or draws a simulated
// price), takes their median and signs a `feed.attest` op with its own key, which it submits to
// a node (`POST /ops`): oracles are not custodial accounts of any node. Registering the command
// loads nothing heavy: the loop and its sources (with the feed's rules) load when it runs.

/** The modules a running oracle uses. */
type Loaded = {
  sources: typeof import('./price-source.ts')
  aggregate: typeof import('../../../core/feed/aggregate.ts')
}

/** Thrown for an oracle that cannot start (an unknown feed, a key that is no oracle of it, bad options). */
export class OracleError extends BaseError {
  override name = 'OracleError' as const
}

/** A simulated price: `price` moved by `biasPpm`, then drawn uniformly within ±`spreadPpm`. */
export type SimulateOptions = {
  /** The centre price, decimal text (`2500`, `2500.5`). */
  readonly price: string
  /** Half the width of the uniform draw, in ppm of the price (10 000 = 1%). */
  readonly spreadPpm?: number
  /** A constant offset, in ppm (200 000 = +20%: a Byzantine oracle). */
  readonly biasPpm?: number
  /**
   * The market's own movement: the centre swings by this much (ppm) along a sine of
   * `driftPeriodMs`, the same for every oracle at the same time (default none).
   */
  readonly driftPpm?: number
  readonly driftPeriodMs?: number
}

/** What `runOracle` runs: a feed, a node, a key, and either sources or a simulation. */
export type RunOracleOptions = {
  /** The feed: its pair (`ETH/USD`) or id. */
  readonly feed: string
  readonly client: NodeClient
  /** The oracle's own key (registered in the feed by its owner). */
  readonly signer: Signer
  readonly sources?: readonly PriceSource[] | undefined
  readonly simulate?: SimulateOptions | undefined
  /** Milliseconds between ticks; at most one attestation per feed window is sent anyway. */
  readonly intervalMs?: number
  /** The confidence each attestation states, 0–100. */
  readonly confidence?: number
  /** Stop after this many ticks (attested or not); none: until the signal aborts. */
  readonly count?: number | undefined
  /** Limits of each source request. */
  readonly limits?: Partial<FetchLimits>
  /** Draws in [0, 1) for the simulation. */
  readonly random?: () => number
  readonly now?: () => number
  /** Called after each tick with what it did. */
  readonly onTick?: (tick: OracleTick) => void
}

/** One tick of an oracle: what the sources said, and the attestation sent or why none was. */
export type OracleTick = {
  readonly time: number
  /** The feed window the attestation falls in. */
  readonly window: number
  readonly pair: string
  /** The attested price (the median of the sources that answered), when there was one. */
  readonly price?: bigint
  readonly priceText?: string
  readonly readings: readonly SourceReading[]
  /** The `feed.attest` op, when the node took it. */
  readonly op?: OpId
  /** Why nothing was attested this tick. */
  readonly error?: string
}

/** What a run did. */
export type OracleRunResult = { readonly ticks: number; readonly attested: number }

/** The feed as `GET /feed/feeds/:ref` answers it (the fields an oracle uses). */
type FeedInfo = {
  id: OpId
  pair: string
  decimals: number
  minSources: number
  window: number
  oracles: string[]
}

/** The longest `proof.ref` an attestation holds. */
const MAX_PROOF_REF = 256

/**
 * Runs an oracle until `signal` aborts or `count` ticks have run: each tick reads the sources,
 * attests their median and submits it. A failing source or a refused op is reported in the tick
 * and the loop goes on; a feed that is unknown, or a key that is not one of its oracles, stops it
 * before the first tick.
 * @example
 * const stop = new AbortController()
 * await runOracle({ feed: 'ETH/USD', client, signer, simulate: { price: '2500' } }, stop.signal)
 */
export async function runOracle(
  options: RunOracleOptions,
  signal?: AbortSignal,
): Promise<OracleRunResult> {
  const { intervalMs = 1000, now = Date.now } = options
  const loaded: Loaded = {
    sources: await import('./price-source.ts'),
    aggregate: await import('../../../core/feed/aggregate.ts'),
  }
  assertSourcesOrSimulation(options, loaded)
  const feed = await loadFeed(options.client, options.feed)
  const key = Buffer.from(options.signer.publicKey).toString('hex')
  if (!feed.oracles.includes(key))
    throw new OracleError(
      `Key ${key} is not an oracle of feed "${feed.pair}"; its owner adds it with "rwa feed oracle add ${feed.pair} ${key}".`,
    )
  const windowMs = feed.window * 1000
  let ticks = 0
  let attested = 0
  let lastWindow = -1
  let next = now()
  while (!signal?.aborted && (options.count === undefined || ticks < options.count)) {
    await sleep(next - now(), signal)
    // One attestation per window: a second would be refused as a duplicate.
    if (Math.floor(now() / windowMs) === lastWindow)
      await sleep((lastWindow + 1) * windowMs - now(), signal)
    if (signal?.aborted) break
    const tick = await attestOnce(options, feed, loaded, signal)
    ticks++
    if (tick.op) {
      attested++
      lastWindow = tick.window
    }
    options.onTick?.(tick)
    next = Math.max(next + intervalMs, now())
  }
  return { ticks, attested }
}

function assertSourcesOrSimulation(options: RunOracleOptions, { sources: s }: Loaded): void {
  const sources = options.sources ?? []
  if (sources.length > 0 === (options.simulate !== undefined))
    throw new OracleError(
      'An oracle reads either sources (--source with --path) or a simulated price (--simulate), not both and not neither.',
    )
  for (const source of sources) s.checkSource(source)
  const { confidence = 90 } = options
  if (!Number.isInteger(confidence) || confidence < 0 || confidence > 100)
    throw new OracleError(`"confidence" must be a whole number from 0 to 100; got "${confidence}".`)
}

/** The feed by pair or id, from the node. */
async function loadFeed(client: NodeClient, ref: string): Promise<FeedInfo> {
  try {
    return await client.get<FeedInfo>(`/feed/feeds/${encodeURIComponent(ref)}`)
  } catch (error) {
    if (error instanceof NodeRequestError && error.status === 404)
      throw new OracleError(
        `The node at ${client.url} has no feed "${ref}"; list its feeds with "rwa feed list".`,
        { cause: error },
      )
    throw error
  }
}

/** One tick: read, take the median, sign and submit. */
async function attestOnce(
  options: RunOracleOptions,
  feed: FeedInfo,
  { sources: s, aggregate }: Loaded,
  signal: AbortSignal | undefined,
): Promise<OracleTick> {
  const { now = Date.now, confidence = 90 } = options
  const readings = options.simulate
    ? simulatedReadings(options.simulate, feed, s.toFeedUnits, options.random ?? Math.random, now)
    : await Promise.all(
        (options.sources ?? []).map((source) =>
          s.readSource(
            source,
            feed.decimals,
            { ...s.DEFAULT_FETCH_LIMITS, ...options.limits, signal },
            now,
          ),
        ),
      )
  const time = now()
  const base = { time, window: Math.floor(time / (feed.window * 1000)), pair: feed.pair, readings }
  const good = readings.filter((r) => r.ok)
  if (good.length === 0 || good.length < feed.minSources)
    return {
      ...base,
      error: `${good.length} of ${readings.length} source(s) answered; feed "${feed.pair}" needs ${feed.minSources}.`,
    }
  const price = lowerMedian(good.map((r) => r.price))
  const priceText = aggregate.formatPrice(price, feed.decimals, feed.pair)
  const body = {
    price: price.toString(),
    confidence,
    timestamp: time,
    sources: good.map((r) => ({
      name: r.name,
      price: r.price.toString(),
      volume: r.volume.toString(),
      timestamp: r.timestamp,
    })),
    proof: proofOf(options, good),
  }
  try {
    const op = await options.client.submit(options.signer, {
      doc: feed.id,
      type: 'feed.attest',
      body,
      time,
    })
    return { ...base, price, priceText, op: op.id }
  } catch (error) {
    const message = error instanceof BaseError ? error.shortMessage : String(error)
    return { ...base, price, priceText, error: message }
  }
}

/**
 * The proof an attestation claims, honestly: `simulated` for a simulation; `tls` when every
 * source was read over https (the ref names them, so anyone can read them again; this is a
 * claim of where the prices came from, not a TLS transcript); else `signed`, the oracle's own
 * signature being all that vouches for them.
 */
function proofOf(
  options: RunOracleOptions,
  good: readonly Extract<SourceReading, { ok: true }>[],
): { kind: 'tls' | 'signed' | 'simulated'; ref: string } {
  if (options.simulate)
    return { kind: 'simulated', ref: `uniform ±${options.simulate.spreadPpm ?? 10_000} ppm` }
  const urls = good.map((r) => r.url)
  const kind = urls.every((url) => url.startsWith('https:')) ? 'tls' : 'signed'
  let ref = urls.join(' ')
  if (ref.length > MAX_PROOF_REF) ref = [...new Set(urls.map((url) => new URL(url).host))].join(' ')
  return { kind, ref: ref.slice(0, MAX_PROOF_REF) }
}

/** The lower median (a price some source gave, as the aggregate's weighted median is). */
export function lowerMedian(prices: readonly bigint[]): bigint {
  const sorted = [...prices].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const median = sorted[Math.floor((sorted.length - 1) / 2)]
  if (median === undefined) throw new OracleError('No price to take the median of.')
  return median
}

/**
 * A simulated price in units: `base` × (1 + bias) × (1 + u), u drawn uniformly from the whole
 * ppm in [−spread, +spread]; integer arithmetic, floored.
 */
export function simulatedPrice(
  base: bigint,
  {
    spreadPpm = 10_000,
    biasPpm = 0,
    driftPpm = 0,
    driftPeriodMs = 60_000,
  }: { spreadPpm?: number; biasPpm?: number; driftPpm?: number; driftPeriodMs?: number },
  random: () => number,
  now = 0,
): bigint {
  const u = Math.min(Math.floor(random() * (2 * spreadPpm + 1)), 2 * spreadPpm) - spreadPpm
  const drift = Math.round(driftPpm * Math.sin((2 * Math.PI * now) / driftPeriodMs))
  const market = (base * BigInt(1_000_000 + drift)) / 1_000_000n
  const biased = (market * BigInt(1_000_000 + biasPpm)) / 1_000_000n
  return (biased * BigInt(1_000_000 + u)) / 1_000_000n
}

/** As many simulated sources as the feed needs, each its own draw. */
function simulatedReadings(
  simulate: SimulateOptions,
  feed: FeedInfo,
  toFeedUnits: (text: string, decimals: number) => bigint,
  random: () => number,
  now: () => number,
): SourceReading[] {
  const base = toFeedUnits(simulate.price, feed.decimals)
  return Array.from({ length: Math.max(1, feed.minSources) }, (_, i) => ({
    ok: true as const,
    name: `simulated-${i + 1}`,
    url: 'simulated',
    price: simulatedPrice(base, simulate, random, now()),
    volume: 0n,
    timestamp: now(),
  }))
}

/** Waits `ms` (nothing when ≤ 0), or until the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

// ---------------------------------------------------------------------------------------------
// The command.

type OracleRunOptions = GlobalOptions & {
  feed: string
  source: string[]
  path: string[]
  sourceName: string[]
  volumePath: string[]
  simulate?: string
  spread: string
  bias: string
  interval: string
  confidence: string
  count?: string
  timeout: string
}

const collect = (value: string, previous: string[]) => [...previous, value]

/** Adds `rwa oracle run`. */
export function registerOracleCommands(program: Command): void {
  const oracle = program
    .command('oracle')
    .description('price oracles: attest prices to a feed, signed with your own key')
  withNodeOptions(
    oracle
      .command('run')
      .description(
        'read prices from sources (or simulate them) and attest their median to a feed, once per window',
      ),
  )
    .requiredOption('--feed <pair>', 'the feed: its pair (ETH/USD) or id')
    .option(
      '--source <url>',
      'a JSON source (repeatable, paired in order with --path)',
      collect,
      [],
    )
    .option(
      '--path <json path>',
      'where the price is in a source\'s answer: a.b[0].c or a["x y"]',
      collect,
      [],
    )
    .option(
      '--source-name <name>',
      'the name of a source in the attestation (repeatable, in order; default its host)',
      collect,
      [],
    )
    .option(
      '--volume-path <json path>',
      'where a source\'s traded volume is (repeatable, in order; "-" for none)',
      collect,
      [],
    )
    .option(
      '--simulate <price>',
      'attest a simulated price around this one instead of reading sources',
    )
    .option('--spread <percent>', 'half width of the simulated draw, percent', '1')
    .option(
      '--bias <percent>',
      'constant offset of the simulated price, percent (20: a Byzantine oracle)',
      '0',
    )
    .option('--interval <ms>', 'milliseconds between ticks', '1000')
    .option('--confidence <n>', 'the confidence each attestation states, 0-100', '90')
    .option('--count <n>', 'stop after this many ticks (default: until Ctrl-C)')
    .option('--timeout <ms>', 'how long a source may take to answer', '5000')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rwa oracle run --feed ETH/USD --source https://api.example.com/ticker --path data.price --key oracle.key\n  $ rwa oracle run --feed ETH/USD --simulate 2500 --spread 1 --count 30',
    )
    .action(async (o: OracleRunOptions) => {
      const ctx = contextOf(o)
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        const result = await runOracle(
          {
            feed: o.feed,
            // A node that stops answering must not hold a tick for minutes.
            client: new NodeClient(o.node ?? (() => localNodeUrl(ctx.dataDir)), undefined, 30_000),
            signer: ctx.signer(),
            sources: sourcesOf(o),
            simulate: o.simulate === undefined ? undefined : simulationOf(o),
            intervalMs: wholeNumber(o.interval, 'interval', 50, 3_600_000),
            confidence: wholeNumber(o.confidence, 'confidence', 0, 100),
            count: o.count === undefined ? undefined : wholeNumber(o.count, 'count', 1, 1e9),
            limits: { timeoutMs: wholeNumber(o.timeout, 'timeout', 100, 600_000) },
            onTick: (tick) => console.log(ctx.json ? toJson(tickJson(tick)) : formatTick(tick)),
          },
          controller.signal,
        )
        if (!ctx.json)
          console.log(
            `Stopped after ${result.ticks} tick(s): ${result.attested} attestation(s) sent.`,
          )
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
}

/** The sources of the command line, paired in order. */
function sourcesOf(o: OracleRunOptions): PriceSource[] {
  const n = o.source.length
  if (o.path.length !== n)
    throw new OracleError(
      `Give one --path per --source (in the same order); got ${n} source(s) and ${o.path.length} path(s).`,
    )
  for (const [flag, values] of [
    ['--source-name', o.sourceName],
    ['--volume-path', o.volumePath],
  ] as const)
    if (values.length !== 0 && values.length !== n)
      throw new OracleError(
        `Give ${flag} for every --source (in the same order) or for none; got ${n} source(s) and ${values.length}.`,
      )
  return o.source.map((url, i) => {
    const volumePath = o.volumePath[i]
    return {
      url,
      path: o.path[i]!,
      name: o.sourceName[i] ?? hostOf(url, i),
      volumePath: volumePath === undefined || volumePath === '-' ? undefined : volumePath,
    }
  })
}

function hostOf(url: string, i: number): string {
  try {
    return new URL(url).host.slice(0, 64) || `source-${i + 1}`
  } catch {
    return `source-${i + 1}`
  }
}

/** `--simulate 2500 --spread 1 --bias 20` as ppm. */
function simulationOf(o: OracleRunOptions): SimulateOptions {
  const ppm = (text: string, field: string, min: number, max: number) => {
    // Percent with up to 4 decimals is a whole number of ppm.
    const match = /^(-?)(\d{1,6})(?:\.(\d{1,4}))?$/.exec(text.trim())
    if (!match)
      throw new OracleError(
        `"${field}" must be a percentage such as 1 or 0.5 (at most 4 decimals); got "${text}".`,
      )
    const [, sign, whole = '', fraction = ''] = match
    const value = (sign ? -1 : 1) * (Number(whole) * 10_000 + Number(fraction.padEnd(4, '0')))
    if (value < min || value > max)
      throw new OracleError(
        `"${field}" must be from ${min / 10_000}% to ${max / 10_000}%; got "${text}".`,
      )
    return value
  }
  if (!/^\d+(\.\d+)?$/.test(o.simulate!.trim()))
    throw new OracleError(
      `"--simulate" must be a price such as 2500 or 2500.5; got "${o.simulate}".`,
    )
  return {
    price: o.simulate!.trim(),
    spreadPpm: ppm(o.spread, 'spread', 0, 500_000),
    biasPpm: ppm(o.bias, 'bias', -900_000, 10_000_000),
  }
}

function wholeNumber(text: string, field: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new OracleError(`"${field}" must be a whole number from ${min} to ${max}; got "${text}".`)
  return value
}

/** A tick as one JSON line. */
export function tickJson(tick: OracleTick): Record<string, unknown> {
  return {
    time: new Date(tick.time).toISOString(),
    window: tick.window,
    pair: tick.pair,
    ...(tick.price === undefined ? {} : { price: tick.price, priceText: tick.priceText }),
    sources: tick.readings.map((r) =>
      r.ok
        ? { name: r.name, ok: true, price: r.price, volume: r.volume }
        : { name: r.name, ok: false, error: r.error },
    ),
    ...(tick.op ? { op: tick.op } : {}),
    ...(tick.error ? { error: tick.error } : {}),
  }
}

/** A tick as one line: time, price with unit, sources that answered and failed, the op. */
export function formatTick(tick: OracleTick): string {
  const ok = tick.readings.filter((r) => r.ok).length
  const failed = tick.readings.filter((r) => !r.ok)
  const why = failed.map((r) => `${r.name}: ${r.error}`).join('; ')
  const sources = `sources ${ok} ok, ${failed.length} failed${why ? ` (${why})` : ''}`
  const time = new Date(tick.time).toISOString().replace(/\.\d+Z$/, 'Z')
  const price = tick.priceText ?? 'no price'
  const outcome = tick.op ? `attested ${tick.op.slice(0, 12)}…` : `not attested: ${tick.error}`
  return `${time}  ${tick.pair} ${price}  ${sources}  ${outcome}`
}
