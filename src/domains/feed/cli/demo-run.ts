import type { Command } from 'commander'
import type { Address, Hex } from 'viem'
import type { NodeClient } from '../../../cli/client.ts'
import { BaseError } from '../../../errors/base.ts'
import type { Signer } from '../../../ledger/keys.ts'
import type { DemoCluster } from './demo-cluster.ts'

// `rwa feeds demo`: the spec's oracle network on real processes. Three rwa nodes (separate
// `rwa start` processes on temporary data dirs) settle on one devnet; seven oracles of this
// process (five honest around 2500 ± 1%: the market swings ±1% over the run and honest oracles
// read it within ±0.1%; two Byzantine at +20%) attest once a second, spread
// over the nodes; every `--split-every` seconds the network splits {a} | {b, c} through the
// nodes' deny-list files, and heals. At the end the nodes must agree on every closed window, the
// aggregator on the devnet holds the reports that two of three nodes signed, and the Byzantine
// oracles' quality is low.

/** Thrown when the demo's options are out of range, or its network ends in disagreement. */
export class FeedDemoError extends BaseError {
  override name = 'FeedDemoError' as const
  override readonly kind = 'invalid' as const
}

/** The demo's options, as the command line gives them (text). */
export type FeedDemoOptions = {
  duration: string
  oracles: string
  byzantine: string
  splitEvery: string
  window: string
  spread: string
  drift: string
  out?: string | undefined
  json?: boolean | undefined
  keep?: boolean | undefined
}

/** The demo's settings, checked. */
type Settings = {
  durationMs: number
  oracles: number
  byzantine: number
  splitEveryMs: number
  window: number
  spreadPpm: number
  driftPpm: number
  out: string | undefined
  quiet: boolean
  keep: boolean
}

const PAIR = 'ETH/USD'
const DECIMALS = 8
const CENTRE = '2500'
/** The Byzantine oracles' bias: +20%. */
const BYZANTINE_BIAS_PPM = 200_000
/** Deviation that triggers an on-chain update: 0.5%. */
const DEVIATION_PPM = 5000
const THRESHOLD = 2
const NODE_NAMES = ['a', 'b', 'c'] as const
/** How long the nodes get after the last window closed to agree, and to post its report. */
const SETTLE_TIMEOUT_MS = 60_000
/** The report signers' grace after a window's end (the design's 2 s), and a margin. */
const SIGN_GRACE_MS = 2000 + 1500

/**
 * Registers `rwa feeds demo` (under a `feeds` command, made if missing). Registering loads nothing
 * heavy: the demo's modules load when it runs.
 */
export function registerFeedsDemo(program: Command): void {
  const feeds =
    program.commands.find((c) => c.name() === 'feeds') ??
    program.command('feeds').description('price feeds: demos across several nodes')
  feeds
    .command('demo')
    .description(
      'run 3 node processes on one devnet, 7 oracles (2 Byzantine) and a partition every 10 s; check the nodes agree and the reports on chain',
    )
    .option('--duration <seconds>', 'how long the oracles attest', '30')
    .option('--oracles <n>', 'oracles in all', '7')
    .option('--byzantine <n>', 'of which Byzantine (+20%)', '2')
    .option(
      '--split-every <seconds>',
      'the network splits {a} | {b, c}, then heals, each period',
      '10',
    )
    .option('--window <seconds>', "the feed's aggregation window", '1')
    .option(
      '--drift <ppm>',
      'how far the market price swings around 2500 over the run (10000 = ±1%)',
      '10000',
    )
    .option(
      '--spread <ppm>',
      'how far each honest reading strays from the market (1000 = ±0.1%)',
      '1000',
    )
    .option('--out <dir>', 'save demo.json and chart.svg there')
    .option('--keep', "keep the nodes' temporary data dirs and logs (their path is printed)")
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nNeeds anvil (the devnet). Takes about a minute with the defaults.\n\nExample:\n  $ rwa feeds demo --out feeds-demo\n  $ rwa feeds demo --duration 12 --split-every 4 --json',
    )
    .action(async (o: FeedDemoOptions) => {
      const result = await runFeedsDemo(parseSettings(o))
      if (o.json) console.log(JSON.stringify(result, null, 2))
      else printResult(result, (await import('../../../core/feed/aggregate.ts')).formatPrice)
      if (!result.agree)
        throw new FeedDemoError(
          'The nodes still disagree on some closed windows after the final heal; see the windows marked DIFFER.',
        )
    })
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text.trim()) || value < min || value > max)
    throw new FeedDemoError(
      `--${name} must be a whole number from ${min} to ${max}; got "${text}".`,
    )
  return value
}

function parseSettings(o: FeedDemoOptions): Settings {
  const duration = wholeNumber('duration', o.duration, 4, 3600)
  const oracles = wholeNumber('oracles', o.oracles, 1, 64)
  const byzantine = wholeNumber('byzantine', o.byzantine, 0, oracles)
  return {
    durationMs: duration * 1000,
    oracles,
    byzantine,
    splitEveryMs: wholeNumber('split-every', o.splitEvery, 1, 3600) * 1000,
    window: wholeNumber('window', o.window, 1, 60),
    spreadPpm: wholeNumber('spread', o.spread, 0, 100_000),
    driftPpm: wholeNumber('drift', o.drift, 0, 100_000),
    out: o.out,
    quiet: o.json === true,
    keep: o.keep === true,
  }
}

/** One attestation an oracle of the demo got a node to take. */
type DemoAttestation = {
  oracle: number
  byzantine: boolean
  node: string
  time: number
  window: number
  price: string
  op: string
}

/** An aggregate as `GET /feed/feeds/:ref/aggregates` answers it (the fields compared). */
type Aggregate = {
  window: number
  start: number
  end: number
  answer: string
  answerText: string
  confidence: number
  observations: number
  idsHash: string
}

/** What the demo did and found (`demo.json`). */
export type FeedDemoResult = {
  feed: {
    id: string
    pair: string
    decimals: number
    window: number
    heartbeat: number
    deviationPpm: number
    threshold: number
    chainId: number
    aggregator: string
  }
  nodes: { name: string; url: string; peerId: string; signer: string }[]
  oracles: {
    index: number
    key: string
    byzantine: boolean
    node: string
    attested: number
    refused: number
    quality: number | null
    deviationPpm: number | null
  }[]
  /** When the network split and healed (ms since the epoch, and after the oracles started), and the sides. */
  partitions: {
    at: number
    atMs: number
    kind: 'split' | 'heal'
    sides: string[][]
    /**
     * On a heal: how many attestations each node counted, just before, in the windows wholly
     * inside the split (each side sees only its own oracles' until the heal).
     */
    views?: { window: number; observations: Record<string, number | null> }[]
  }[]
  /** Each closed window: every node's aggregate, and the median of the honest attestations. */
  windows: {
    window: number
    start: number
    end: number
    honestMedian: string | null
    /** Whether the network was split at some time during the window. */
    split: boolean
    nodes: Record<string, Pick<Aggregate, 'answer' | 'observations' | 'idsHash'> | null>
    agree: boolean
  }[]
  /** The reports the aggregator on the devnet accepted. */
  reports: {
    round: string
    window: string
    answer: string
    answerText: string
    observations: number
    idsHash: string
    tx: string
    transmitter: string
    /** |answer − honest median of its window| in ppm of that median. */
    deviationPpm: number | null
  }[]
  attestations: DemoAttestation[]
  /** Whether every node computed the same aggregate for every closed window. */
  agree: boolean
  maxReportDeviationPpm: number | null
  /** The nodes' data dirs and logs, when kept. */
  dataDir: string | null
}

/** What the run needs of the feed it made. */
type DemoFeed = FeedDemoResult['feed'] & {
  oracleSigners: Signer[]
  signers: { key: string; address: Address }[]
}

/**
 * Runs the demo: devnet, three node processes, the feed and its aggregator, the oracles and
 * the partitions; then waits for the nodes to settle and reads what they and the chain hold.
 * Everything it started is stopped on return, error or Ctrl-C.
 */
export async function runFeedsDemo(s: Settings): Promise<FeedDemoResult> {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { startDevnet } = await import('../../../chain/devnet.ts')
  const { startCluster } = await import('./demo-cluster.ts')
  const aborter = new AbortController()
  const interrupt = () => aborter.abort(new FeedDemoError('The demo was interrupted (Ctrl-C).'))
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  const say = (line: string) => {
    if (!s.quiet) console.error(line)
  }
  const root = mkdtempSync(join(tmpdir(), 'rwa-feeds-demo-'))
  let devnet: Awaited<ReturnType<typeof startDevnet>> | undefined
  let cluster: DemoCluster | undefined
  try {
    devnet = await startDevnet()
    say(`devnet (anvil) at ${devnet.rpcUrl}; starting nodes ${NODE_NAMES.join(', ')} in ${root}`)
    cluster = await startCluster({
      names: NODE_NAMES,
      root,
      rpcUrl: devnet.rpcUrl,
      signal: aborter.signal,
    })
    const feed = await createDemoFeed(cluster, devnet, s, say)
    const run = await runOracles(cluster, feed, s, aborter.signal, say)
    const settled = await settle(cluster, feed, run.attestations, aborter.signal, say)
    const reports = await readReports(devnet.rpcUrl, feed, run.attestations)
    const result = await assemble({ cluster, feed, run, settled, reports, s })
    const final = { ...result, dataDir: s.keep ? root : null }
    if (s.out) await saveOutputs(final, s.out)
    return final
  } finally {
    process.removeListener('SIGINT', interrupt)
    process.removeListener('SIGTERM', interrupt)
    await cluster?.stop()
    await devnet?.stop()
    if (!s.keep) rmSync(root, { recursive: true, force: true })
  }
}

type Say = (line: string) => void

/** ETH the feed's deployer gets on the devnet. */
const DEPLOYER_ETH = 10n ** 20n
/** How long the feed's genesis may take to reach every node. */
const REPLICATE_TIMEOUT_MS = 30_000

/**
 * Deploys the aggregator with the nodes' report-signing addresses (2 of 3) and creates the feed
 * (its owner and oracles are fresh keys of this process) on node a; resolves once every node
 * holds it.
 */
async function createDemoFeed(
  cluster: DemoCluster,
  devnet: { rpcUrl: string; chainId: number },
  s: Settings,
  say: Say,
): Promise<DemoFeed> {
  const { createPublicClient, createWalletClient, http } = await import('viem')
  const { generatePrivateKey, privateKeyToAccount } = await import('viem/accounts')
  const { chainFor } = await import('../../../chain/escrow.ts')
  const { deployFeedAggregator } = await import('../../../chain/feeds.ts')
  const { generateSigner } = await import('../../../store/key-file.ts')
  const signers = await Promise.all(cluster.nodes.map(signerOf))
  const chain = chainFor(devnet.chainId, devnet.rpcUrl)
  const client = createPublicClient({ chain, transport: http(devnet.rpcUrl) })
  const account = privateKeyToAccount(generatePrivateKey())
  await client.request({
    method: 'anvil_setBalance' as never,
    params: [account.address, `0x${DEPLOYER_ETH.toString(16)}`] as never,
  })
  const wallet = createWalletClient({ account, chain, transport: http(devnet.rpcUrl) })
  const aggregator = await deployFeedAggregator(wallet, client, {
    decimals: DECIMALS,
    description: 'ETH / USD',
    signers: signers.map((signer) => signer.address),
    threshold: THRESHOLD,
    maxReportAge: 3600,
  })
  say(
    `FeedAggregator at ${aggregator} (signers: nodes ${NODE_NAMES.join(', ')}, ${THRESHOLD} of 3)`,
  )
  const owner = generateSigner()
  const oracleSigners = Array.from({ length: s.oracles }, () => generateSigner())
  const heartbeat = s.window
  const body = {
    pair: PAIR,
    description: 'ETH / USD, rwa feeds demo',
    decimals: DECIMALS,
    heartbeat,
    deviation: DEVIATION_PPM,
    minSources: 1,
    // More than the Byzantine oracles: no window they fill alone is ever reported.
    minObservations: Math.min(s.oracles, s.byzantine + 1),
    maxAge: 60,
    window: s.window,
    oracles: oracleSigners.map(keyOf),
    signers,
    threshold: THRESHOLD,
    chain: { chainId: devnet.chainId, aggregator },
  }
  const genesis = await cluster.nodes[0]!.client.submit(owner, {
    doc: null,
    type: 'feed.create',
    body,
  })
  await waitFor(
    'the feed to reach every node',
    async () =>
      (await Promise.all(cluster.nodes.map((n) => holdsFeed(n.client, genesis.id)))).every(Boolean),
    REPLICATE_TIMEOUT_MS,
  )
  say(`feed ${PAIR} (${genesis.id}): window ${s.window} s, ${s.oracles} oracles`)
  return {
    id: genesis.id,
    pair: PAIR,
    decimals: DECIMALS,
    window: s.window,
    heartbeat,
    deviationPpm: DEVIATION_PPM,
    threshold: THRESHOLD,
    chainId: devnet.chainId,
    aggregator,
    oracleSigners,
    signers,
  }
}

const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')

/** A node's report-signing identity (`GET /feed/signer`). */
async function signerOf(node: DemoCluster['nodes'][number]) {
  const signer = await node.client.get<{ key: string | null; address: Address | null }>(
    '/feed/signer',
  )
  if (!signer.key || !signer.address)
    throw new FeedDemoError(
      `Node "${node.name}" has no report-signing identity (GET /feed/signer); it needs an operator key and a chain.`,
    )
  return { key: signer.key, address: signer.address }
}

async function holdsFeed(client: NodeClient, id: string): Promise<boolean> {
  return client.get(`/feed/feeds/${id}`).then(
    () => true,
    () => false,
  )
}

/** What the oracles did while the network split and healed. */
type OracleRun = {
  attestations: DemoAttestation[]
  refused: number[]
  partitions: FeedDemoResult['partitions']
}

/**
 * Runs the oracles (oracle i submits to node i mod 3; the last `byzantine` are +20%) for the
 * demo's duration while the network splits and heals on schedule; ends healed.
 */
async function runOracles(
  cluster: DemoCluster,
  feed: DemoFeed,
  s: Settings,
  signal: AbortSignal,
  say: Say,
): Promise<OracleRun> {
  const { runOracle } = await import('./oracle-run.ts')
  const stop = new AbortController()
  const stopOracles = () => stop.abort()
  signal.addEventListener('abort', stopOracles, { once: true })
  const attestations: DemoAttestation[] = []
  const refused = feed.oracleSigners.map(() => 0)
  const started = Date.now()
  const runs = feed.oracleSigners.map((signer, i) => {
    const node = cluster.nodes[i % cluster.nodes.length]!
    const byzantine = i >= s.oracles - s.byzantine
    return runOracle(
      {
        feed: feed.id,
        client: node.client,
        signer,
        simulate: {
          price: CENTRE,
          spreadPpm: s.spreadPpm,
          biasPpm: byzantine ? BYZANTINE_BIAS_PPM : 0,
          driftPpm: s.driftPpm,
          driftPeriodMs: Math.max(60_000, s.durationMs),
        },
        intervalMs: 1000,
        onTick(tick) {
          if (tick.op === undefined || tick.price === undefined) refused[i]!++
          else
            attestations.push({
              oracle: i,
              byzantine,
              node: node.name,
              time: tick.time,
              window: tick.window,
              price: tick.price.toString(),
              op: tick.op,
            })
        },
      },
      stop.signal,
    )
  })
  // An oracle that cannot run (refused at start) ends the demo at once.
  const failed = new AbortController()
  runs.forEach((run, i) => {
    run.catch((error: unknown) =>
      failed.abort(new FeedDemoError(`Oracle ${i + 1} stopped with an error.`, { cause: error })),
    )
  })
  say(`${s.oracles} oracles attesting for ${s.durationMs / 1000} s (${s.byzantine} Byzantine)`)
  try {
    const both = AbortSignal.any([signal, failed.signal])
    const partitions = await partitionOnSchedule(cluster, feed, s, started, both, say)
    return { attestations, refused, partitions }
  } finally {
    stop.abort()
    signal.removeEventListener('abort', stopOracles)
    await Promise.allSettled(runs)
  }
}

/** Splits {a} | {b, c} and heals in turn every `splitEvery` until the duration is over; ends healed. */
async function partitionOnSchedule(
  cluster: DemoCluster,
  feed: DemoFeed,
  s: Settings,
  started: number,
  signal: AbortSignal,
  say: Say,
): Promise<FeedDemoResult['partitions']> {
  const events: FeedDemoResult['partitions'] = []
  const [alone, ...rest] = cluster.nodes
  const sides = [[alone!.name], rest.map((n) => n.name)]
  const shown = sides.map((side) => `{${side.join(', ')}}`).join(' | ')
  const record = (
    kind: 'split' | 'heal',
    extra: Pick<FeedDemoResult['partitions'][number], 'views'>,
  ) => {
    const at = Date.now()
    events.push({
      at,
      atMs: at - started,
      kind,
      sides: kind === 'split' ? sides : [NODE_NAMES.slice()],
      ...extra,
    })
    say(
      `${((at - started) / 1000).toFixed(1)} s: ${kind === 'split' ? `split ${shown}` : 'healed'}`,
    )
  }
  let splitAt: number | undefined
  const toggle = async () => {
    if (splitAt === undefined) {
      cluster.split([alone!])
      record('split', {})
      splitAt = Date.now()
      return
    }
    const views = await viewsDuringSplit(cluster, feed, splitAt)
    cluster.heal()
    record('heal', { views })
    splitAt = undefined
  }
  for (let at = s.splitEveryMs; at < s.durationMs; at += s.splitEveryMs) {
    await sleepUntil(started + at, signal)
    await toggle()
  }
  await sleepUntil(started + s.durationMs, signal)
  if (splitAt !== undefined) await toggle()
  return events
}

/** How long a deny list change takes to cut the network (the file is polled every 500 ms). */
const SPLIT_SETTLES_MS = 1000
/** How long an attestation takes to reach the nodes of its side. */
const SIDE_DELIVERY_MS = 1000

/**
 * Each node's count of attestations in the windows that began after the split had settled and
 * ended a moment ago: what each side sees on its own.
 */
async function viewsDuringSplit(
  cluster: DemoCluster,
  feed: DemoFeed,
  splitAt: number,
): Promise<NonNullable<FeedDemoResult['partitions'][number]['views']>> {
  const windowMs = feed.window * 1000
  const first = Math.ceil((splitAt + SPLIT_SETTLES_MS) / windowMs)
  const last = Math.floor((Date.now() - SIDE_DELIVERY_MS) / windowMs) - 1
  if (first > last) return []
  const byNode = await readAggregates(cluster, feed, first, last)
  const views: NonNullable<FeedDemoResult['partitions'][number]['views']> = []
  for (let window = first; window <= last; window++) {
    const observations: Record<string, number | null> = {}
    for (const [name, aggregates] of byNode)
      observations[name] = aggregates.get(window)?.observations ?? null
    views.push({ window, observations })
  }
  return views
}

/** Each node's aggregates of the demo's windows, once they agree (or the time is up). */
type Settled = {
  first: number
  last: number
  byNode: Map<string, Map<number, Aggregate>>
}

/**
 * Waits until every window the oracles attested in has closed and been signed, then until every
 * node computes the same aggregate, over every attestation, for each of them (or the time is up:
 * the result then shows where they differ).
 */
async function settle(
  cluster: DemoCluster,
  feed: DemoFeed,
  attestations: readonly DemoAttestation[],
  signal: AbortSignal,
  say: Say,
): Promise<Settled> {
  if (attestations.length === 0)
    throw new FeedDemoError('No oracle got an attestation taken; see the nodes’ logs (--keep).')
  const windows = attestations.map((a) => a.window)
  const first = Math.min(...windows)
  const last = Math.max(...windows)
  const counts = new Map<number, number>()
  for (const a of attestations) counts.set(a.window, (counts.get(a.window) ?? 0) + 1)
  say('waiting for the last windows to close and the nodes to agree')
  await sleepUntil((last + 1) * feed.window * 1000 + SIGN_GRACE_MS, signal)
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  let byNode = await readAggregates(cluster, feed, first, last)
  while (!settled(byNode, counts) && Date.now() < deadline) {
    await sleepUntil(Date.now() + 500, signal)
    byNode = await readAggregates(cluster, feed, first, last)
  }
  return { first, last, byNode }
}

/** Whether every node has every window, with every attestation, and they agree. */
function settled(byNode: Settled['byNode'], counts: ReadonlyMap<number, number>): boolean {
  const nodes = [...byNode.values()]
  for (const [window, count] of counts) {
    const seen = nodes.map((aggregates) => aggregates.get(window))
    if (seen.some((a) => a === undefined || a.observations !== count)) return false
    if (!seen.every((a) => sameAggregate(a, seen[0]))) return false
  }
  return true
}

const sameAggregate = (a: Aggregate | undefined, b: Aggregate | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.answer === b.answer &&
  a.observations === b.observations &&
  a.idsHash === b.idsHash

/** Every node's aggregates of windows `first` to `last` (paged). */
async function readAggregates(
  cluster: DemoCluster,
  feed: DemoFeed,
  first: number,
  last: number,
): Promise<Settled['byNode']> {
  const byNode: Settled['byNode'] = new Map()
  for (const node of cluster.nodes) {
    const aggregates = new Map<number, Aggregate>()
    for (let from: number | null = first; from !== null && from <= last; ) {
      const page: { aggregates: Aggregate[]; next: number | null } = await node.client.get(
        `/feed/feeds/${feed.id}/aggregates?from=${from}&limit=1000`,
      )
      for (const a of page.aggregates) if (a.window <= last) aggregates.set(a.window, a)
      from = page.next
    }
    byNode.set(node.name, aggregates)
  }
  return byNode
}

/** A `NewTransmission` of the aggregator, with its transaction. */
type Transmission = {
  round: bigint
  window: bigint
  answer: bigint
  observations: number
  idsHash: Hex
  transmitter: Address
  tx: Hex
}

/** The reports the aggregator accepted, from its `NewTransmission` events. */
async function readReports(
  rpcUrl: string,
  feed: DemoFeed,
  attestations: readonly DemoAttestation[],
): Promise<FeedDemoResult['reports']> {
  const { createPublicClient, http } = await import('viem')
  const { feedAggregatorAbi } = await import('../../../chain/artifacts.ts')
  const { formatPrice } = await import('../../../core/feed/aggregate.ts')
  const client = createPublicClient({ transport: http(rpcUrl) })
  const events = await client.getContractEvents({
    address: feed.aggregator as Address,
    abi: feedAggregatorAbi,
    eventName: 'NewTransmission',
    fromBlock: 0n,
  })
  return events.map((event) => {
    const e = {
      ...(event.args as Omit<Transmission, 'tx' | 'round'>),
      round: event.args.roundId as bigint,
      tx: event.transactionHash,
    }
    const median = honestMedian(attestations, Number(e.window))
    return {
      round: e.round.toString(),
      window: e.window.toString(),
      answer: e.answer.toString(),
      answerText: formatPrice(e.answer, feed.decimals, feed.pair),
      observations: e.observations,
      idsHash: e.idsHash,
      tx: e.tx,
      transmitter: e.transmitter,
      deviationPpm: median === undefined ? null : deviationPpm(e.answer, median),
    }
  })
}

/** The lower median of the honest oracles' prices in a window (what a fair aggregate is near). */
function honestMedian(
  attestations: readonly DemoAttestation[],
  window: number,
): bigint | undefined {
  const prices = attestations
    .filter((a) => a.window === window && !a.byzantine)
    .map((a) => BigInt(a.price))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return prices[Math.floor((prices.length - 1) / 2)]
}

/** Whether the network was split at some time in [start, end). */
function wasSplit(partitions: FeedDemoResult['partitions'], start: number, end: number): boolean {
  let splitAt: number | undefined
  for (const p of partitions) {
    if (p.kind === 'split') splitAt = p.at
    else if (splitAt !== undefined) {
      if (splitAt < end && p.at > start) return true
      splitAt = undefined
    }
  }
  return splitAt !== undefined && splitAt < end
}

/** |value − reference| in ppm of the reference, floored. */
function deviationPpm(value: bigint, reference: bigint): number {
  if (reference === 0n) return value === 0n ? 0 : 1_000_000
  const difference = value > reference ? value - reference : reference - value
  return Number((difference * 1_000_000n) / reference)
}

/** The demo's result from what the nodes and the chain hold. */
async function assemble(input: {
  cluster: DemoCluster
  feed: DemoFeed
  run: OracleRun
  settled: Settled
  reports: FeedDemoResult['reports']
  s: Settings
}): Promise<Omit<FeedDemoResult, 'dataDir'>> {
  const { cluster, feed, run, settled, reports, s } = input
  const windows: FeedDemoResult['windows'] = []
  for (let w = settled.first; w <= settled.last; w++) {
    const nodes: FeedDemoResult['windows'][number]['nodes'] = {}
    for (const [name, aggregates] of settled.byNode) {
      const a = aggregates.get(w)
      nodes[name] = a
        ? { answer: a.answer, observations: a.observations, idsHash: a.idsHash }
        : null
    }
    const all = [...settled.byNode.values()].map((aggregates) => aggregates.get(w))
    const median = honestMedian(run.attestations, w)
    windows.push({
      window: w,
      start: w * feed.window * 1000,
      end: (w + 1) * feed.window * 1000,
      honestMedian: median?.toString() ?? null,
      split: wasSplit(run.partitions, w * feed.window * 1000, (w + 1) * feed.window * 1000),
      nodes,
      agree: all.every((a) => (a === undefined ? all[0] === undefined : sameAggregate(a, all[0]))),
    })
  }
  const deviations = reports.flatMap((r) => (r.deviationPpm === null ? [] : [r.deviationPpm]))
  return {
    feed: publicFeed(feed),
    nodes: cluster.nodes.map((n, i) => ({
      name: n.name,
      url: n.url,
      peerId: n.peerId,
      signer: feed.signers[i]!.address,
    })),
    oracles: await oracleQualities(cluster, feed, run, s),
    partitions: run.partitions,
    windows,
    reports,
    attestations: run.attestations,
    agree: windows.every((w) => w.agree),
    maxReportDeviationPpm: deviations.length > 0 ? Math.max(...deviations) : null,
  }
}

function publicFeed(feed: DemoFeed): FeedDemoResult['feed'] {
  const { oracleSigners: _, signers: __, ...shown } = feed
  return shown
}

/** Each oracle's standing as node a computes it (the nodes agree by now). */
async function oracleQualities(
  cluster: DemoCluster,
  feed: DemoFeed,
  run: OracleRun,
  s: Settings,
): Promise<FeedDemoResult['oracles']> {
  const { oracles } = await cluster.nodes[0]!.client.get<{
    oracles: { oracle: string; quality: number; deviationPpm: number }[]
  }>(`/feed/feeds/${feed.id}/oracles`)
  return feed.oracleSigners.map((signer, i) => {
    const key = keyOf(signer)
    const standing = oracles.find((o) => o.oracle === key)
    return {
      index: i,
      key,
      byzantine: i >= s.oracles - s.byzantine,
      node: cluster.nodes[i % cluster.nodes.length]!.name,
      attested: run.attestations.filter((a) => a.oracle === i).length,
      refused: run.refused[i]!,
      quality: standing?.quality ?? null,
      deviationPpm: standing?.deviationPpm ?? null,
    }
  })
}

/** Writes `demo.json` and `chart.svg` (the attestations, and each node's aggregates) to `dir`. */
async function saveOutputs(result: FeedDemoResult, dir: string): Promise<void> {
  const { mkdirSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { renderFeedChart } = await import('../chart.ts')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'demo.json'), `${JSON.stringify(result, null, 2)}\n`)
  const half = (result.feed.window * 1000) / 2
  const svg = renderFeedChart({
    pair: result.feed.pair,
    decimals: result.feed.decimals,
    title: `${result.feed.pair}: ${result.oracles.length} oracles (${result.oracles.filter((o) => o.byzantine).length} Byzantine), nodes ${NODE_NAMES.join(', ')}`,
    oracles: result.oracles.map((o) => ({
      label: `oracle ${o.index + 1}`,
      byzantine: o.byzantine,
    })),
    points: result.attestations.map((a) => ({
      oracle: a.oracle,
      t: a.time,
      price: BigInt(a.price),
    })),
    aggregates: result.nodes.map((node) => ({
      label: `node ${node.name}`,
      points: result.windows.flatMap((w) => {
        const a = w.nodes[node.name]
        return a ? [{ t: w.start + half, price: BigInt(a.answer) }] : []
      }),
    })),
  })
  writeFileSync(join(dir, 'chart.svg'), svg)
}

/** The result for people: partitions, windows, reports on chain, oracles. */
function printResult(
  r: FeedDemoResult,
  formatPrice: (value: bigint, decimals: number, pair: string) => string,
): void {
  const text = (units: string | null) =>
    units === null ? '-' : formatPrice(BigInt(units), r.feed.decimals, r.feed.pair)
  console.log(
    `\nFeed ${r.feed.pair} (${r.feed.id}) on chain ${r.feed.chainId}, aggregator ${r.feed.aggregator}`,
  )
  for (const p of r.partitions) {
    const what =
      p.kind === 'split'
        ? `split ${p.sides.map((side) => `{${side.join(', ')}}`).join(' | ')}`
        : 'healed'
    console.log(`  ${(p.atMs / 1000).toFixed(1).padStart(6)} s  ${what}`)
    for (const v of p.views ?? [])
      console.log(
        `             just before, window ${new Date(v.window * r.feed.window * 1000).toISOString().slice(11, 19)} counted ${Object.entries(
          v.observations,
        )
          .map(([node, n]) => `${n ?? '-'} on ${node}`)
          .join(', ')}`,
      )
  }
  console.log(
    `\n${'window (UTC)'.padEnd(14)} ${'honest median'.padStart(14)} ${NODE_NAMES.map((n) => `node ${n}`.padStart(14)).join(' ')}`,
  )
  for (const w of r.windows) {
    const time = new Date(w.start).toISOString().slice(11, 19)
    const marks = `${w.split ? '  split' : ''}${w.agree ? '' : '  DIFFER'}`
    console.log(
      `${time.padEnd(14)} ${text(w.honestMedian).padStart(14)} ${NODE_NAMES.map((n) => text(w.nodes[n]?.answer ?? null).padStart(14)).join(' ')}${marks}`,
    )
  }
  console.log(
    r.agree
      ? `\nAll ${r.nodes.length} nodes agree on all ${r.windows.length} closed windows after the final heal.`
      : '\nThe nodes DISAGREE on some closed windows (marked DIFFER).',
  )
  console.log(`\nReports accepted on chain (${r.reports.length}):`)
  for (const p of r.reports)
    console.log(
      `  round ${p.round.padStart(3)}  window ${new Date(Number(p.window) * r.feed.window * 1000).toISOString().slice(11, 19)}  ${p.answerText.padStart(16)}  ${p.deviationPpm === null ? '' : `${(p.deviationPpm / 10_000).toFixed(3)}% from the honest median  `}${p.tx}`,
    )
  console.log('\nOracles (quality in ppm: 1000000 is perfect):')
  for (const o of r.oracles)
    console.log(
      `  oracle ${String(o.index + 1).padEnd(3)} ${(o.byzantine ? 'Byzantine' : 'honest').padEnd(10)} via node ${o.node}  attested ${String(o.attested).padStart(3)}  quality ${String(o.quality ?? '-').padStart(7)}  deviation ${o.deviationPpm ?? '-'} ppm`,
    )
  if (r.dataDir) console.log(`\nThe nodes' data dirs and logs are kept in ${r.dataDir}`)
}

/** Waits until `time` (ms since the epoch); rejects with the signal's reason if it aborts. */
function sleepUntil(time: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const done = () => {
      signal.removeEventListener('abort', aborted)
      resolve()
    }
    const aborted = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(done, Math.max(0, time - Date.now()))
    signal.addEventListener('abort', aborted, { once: true })
  })
}

/** Polls `check` until it holds, or throws naming `what` after `ms`. */
async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new FeedDemoError(`Timed out waiting for ${what}.`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
