import type { Address, Hex } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalReducer } from '../causal/reducer.ts'
import { type Domain, hashState, type OpTypeSpec } from '../domain.ts'
import { formatPrice, type WindowAggregate } from './aggregate.ts'
import { type AnomalyNote, FeedMachine, type PostedRecord, type ReportRecord } from './machine.ts'
import { BODIES, FEED_OP, FeedNotFoundError, FeedRefusedError, SUMMARIES } from './ops.ts'

/** One oracle as the feed sees it: its record, its quality and its anomalies. */
export type OracleView = {
  readonly oracle: string
  readonly registered: boolean
  readonly attestations: number
  readonly lastSubmission: number | undefined
  readonly lastPrice: bigint | undefined
  /** The aggregation's quality (ppm) and average deviation (ppm, EWMA) after every window. */
  readonly quality: number
  readonly deviationPpm: number
  readonly anomalies: {
    readonly outlier: number
    readonly suspicious: number
    readonly stale: number
    readonly invalid: number
    readonly duplicate: number
  }
  readonly recent: readonly AnomalyNote[]
}

/** A report of one window with its signatures counted against the current signers. */
export type ReportView = ReportRecord & {
  /** Signatures by current signers. */
  readonly counted: number
  readonly threshold: number
  readonly complete: boolean
  readonly posted: PostedRecord | undefined
}

/** The canonical state of a feed (its hash is what replicas compare). */
export type FeedState = {
  readonly id: OpId
  readonly pair: string
  readonly description: string
  readonly owner: string
  readonly decimals: number
  readonly window: number
  readonly registry: {
    readonly oracles: readonly string[]
    readonly signers: readonly { readonly key: string; readonly address: Address }[]
    readonly threshold: number
    readonly chain: { readonly chainId: number; readonly aggregator: Address } | null
    readonly heartbeat: number
    readonly deviation: number
    readonly minSources: number
    readonly minObservations: number
    readonly maxAge: number
  }
  readonly attestations: number
  readonly windows: number
  /** The last 16 windows' aggregates. */
  readonly recent: readonly WindowAggregate[]
  readonly oracles: readonly OracleView[]
  readonly reports: readonly {
    readonly window: number
    readonly digest: Hex
    readonly signers: readonly Address[]
  }[]
}

/** The most recent windows a state snapshot carries. */
const RECENT_WINDOWS = 16
/** The most recent reports a state snapshot carries. */
const RECENT_REPORTS = 16

/** A feed's reducer: the machine, and cheap queries for routes, pages and services. */
export class FeedReducer extends CausalReducer<FeedState> {
  constructor(readonly machine: FeedMachine) {
    super(machine.engine, machine)
  }

  get name(): string {
    return this.machine.pair
  }

  /** The aggregate of window `w`, or undefined when it has no counted attestation. */
  aggregate(window: number): WindowAggregate | undefined {
    return this.machine.series.aggregate(window)
  }

  /** The last window with attestations. */
  latest(): WindowAggregate | undefined {
    return this.machine.series.latest()
  }

  /** Aggregates from window `from` on (ascending), at most `limit`. */
  aggregates(from: number, limit: number): WindowAggregate[] {
    return this.machine.series.range(from, limit)
  }

  /** The last `count` windows with attestations, ascending. */
  lastAggregates(count: number): WindowAggregate[] {
    const windows = this.machine.series.windows()
    const from = windows[Math.max(0, windows.length - count)]
    return from === undefined ? [] : this.machine.series.range(from, count)
  }

  /** Every oracle that is registered or has attested, by key. */
  oracles(): OracleView[] {
    const { machine } = this
    const registered = machine.registry.oracles
    const qualities = new Map(machine.series.qualities().map((q) => [q.oracle, q]))
    const keys = new Set([...registered, ...machine.oracles.keys()])
    return [...keys].sort().map((oracle) => {
      const record = machine.oracles.get(oracle)
      const quality = qualities.get(oracle)
      return {
        oracle,
        registered: registered.has(oracle),
        attestations: record?.attestations ?? 0,
        lastSubmission: record?.lastSubmission || undefined,
        lastPrice: record?.lastPrice,
        quality: quality?.quality ?? 1_000_000,
        deviationPpm: quality?.deviationPpm ?? 0,
        anomalies: {
          outlier: quality?.outliers ?? 0,
          suspicious: quality?.suspicious ?? 0,
          stale: record?.counts.stale ?? 0,
          invalid: record?.counts.invalid ?? 0,
          duplicate: record?.counts.duplicate ?? 0,
        },
        recent: record?.recent ?? [],
      }
    })
  }

  /** Reports, newest window first, at most `limit`; each with its signatures counted. */
  reports(limit = 50): ReportView[] {
    const { machine } = this
    const threshold = machine.registry.threshold
    const windows = [...machine.reports.keys()].sort((a, b) => b - a).slice(0, limit)
    const posted = this.postedByWindow()
    const out: ReportView[] = []
    for (const w of windows) {
      const byDigest = [...machine.reports.get(w)!.values()].sort((a, b) =>
        a.digest < b.digest ? -1 : 1,
      )
      for (const report of byDigest) {
        const counted = machine.countedSignatures(report)
        const p = posted.get(w)
        out.push({
          ...report,
          counted,
          threshold,
          complete: counted >= threshold,
          posted:
            p && p.chainId === report.chainId && p.aggregator === report.aggregator ? p : undefined,
        })
      }
    }
    return out
  }

  /**
   * The newest window whose report for `chainId`/`aggregator` has the threshold of signatures by
   * current signers, with every one of them (the contract's own set picks which it takes).
   */
  newestComplete(
    chainId: number,
    aggregator: Address,
  ): { report: ReportRecord; signatures: Hex[] } | undefined {
    const { machine } = this
    const current = new Set(machine.registry.signers.map((s) => s.address))
    const threshold = machine.registry.threshold
    const windows = [...machine.reports.keys()].sort((a, b) => b - a)
    for (const w of windows) {
      for (const report of machine.reports.get(w)!.values()) {
        if (report.chainId !== chainId || report.aggregator !== aggregator) continue
        const signatures = [...report.signatures]
          .filter(([address]) => current.has(address))
          .map(([, signature]) => signature)
        if (signatures.length >= threshold)
          return { report, signatures: signatures.slice(0, threshold) }
      }
    }
    return undefined
  }

  /** The last report posted on chain (the highest window), as a signer node recorded it. */
  lastPosted(): PostedRecord | undefined {
    let last: PostedRecord | undefined
    for (const p of this.machine.posted)
      if (!last || p.window > last.window || (p.window === last.window && p.op < last.op)) last = p
    return last
  }

  private postedByWindow(): Map<number, PostedRecord> {
    const out = new Map<number, PostedRecord>()
    for (const p of this.machine.posted) {
      const seen = out.get(p.window)
      if (!seen || p.op < seen.op) out.set(p.window, p)
    }
    return out
  }

  /** Whether signer `address` has signed a report of window `w` for this chain and aggregator. */
  hasSigned(window: number, address: Address, chainId: number, aggregator: Address): boolean {
    for (const report of this.machine.reports.get(window)?.values() ?? [])
      if (
        report.chainId === chainId &&
        report.aggregator === aggregator &&
        report.signatures.has(address)
      )
        return true
    return false
  }

  state(): FeedState {
    const { machine } = this
    const r = machine.registry
    const windows = machine.series.windows()
    const reports = [...machine.reports.keys()]
      .sort((a, b) => b - a)
      .slice(0, RECENT_REPORTS)
      .flatMap((w) =>
        [...machine.reports.get(w)!.values()]
          .sort((a, b) => (a.digest < b.digest ? -1 : 1))
          .map((report) => ({
            window: w,
            digest: report.digest,
            signers: [...report.signatures.keys()].sort(),
          })),
      )
    return {
      id: machine.id,
      pair: machine.pair,
      description: machine.description,
      owner: machine.owner,
      decimals: machine.decimals,
      window: machine.window,
      registry: {
        oracles: [...r.oracles].sort(),
        signers: r.signers,
        threshold: r.threshold,
        chain: r.chain ?? null,
        heartbeat: r.heartbeat,
        deviation: r.deviation,
        minSources: r.minSources,
        minObservations: r.minObservations,
        maxAge: r.maxAge,
      },
      attestations: machine.series.size,
      windows: windows.length,
      recent: this.lastAggregates(RECENT_WINDOWS),
      oracles: this.oracles(),
      reports,
    }
  }
}

/** Starts a reducer from a feed's genesis (throws InvalidFeedInputError for a bad one). */
export const createFeedReducer = (genesis: EncodedOp) => new FeedReducer(new FeedMachine(genesis))

/** One line of the feed list. */
export type FeedSummary = {
  readonly name: string
  readonly state: string
  readonly oracles: number
  readonly attestations: number
  readonly lastWindow: number
  readonly lastAnswer: string
  /** The last answer with its unit ("2500.12 USD"), or '' before any. */
  readonly lastAnswerText: string
}

const OP_TYPES: OpTypeSpec[] = (Object.keys(BODIES) as (keyof typeof BODIES)[]).map((type) => ({
  type,
  summary: SUMMARIES[type],
  body: BODIES[type],
}))

/** Price feeds (specs/feeds.md) as an rwa domain: one document per feed. */
export const feedDomain: Domain<FeedState, FeedReducer, FeedSummary> = {
  name: 'feed',
  genesisType: FEED_OP.create,
  opTypes: OP_TYPES,
  createReducer: createFeedReducer,
  stateHash: hashState,
  summary(reducer) {
    const latest = reducer.latest()
    return {
      name: reducer.name,
      state: latest ? 'LIVE' : 'WAITING',
      oracles: reducer.machine.registry.oracles.size,
      attestations: reducer.machine.series.size,
      lastWindow: latest?.window ?? -1,
      lastAnswer: latest ? latest.answer.toString() : '',
      lastAnswerText: latest
        ? formatPrice(latest.answer, reducer.machine.decimals, reducer.machine.pair)
        : '',
    }
  },
  notFound: (ref) =>
    new FeedNotFoundError(
      `No feed is named "${ref}" on this node; list them with "rwa feed list".`,
    ),
  ambiguous: (ref, ids) =>
    new FeedRefusedError(
      `${ids.length} feeds are named "${ref}"; use the id of the one you mean (${ids.join(', ')}).`,
    ),
}
