import type { Address, Hex } from 'viem'
import { getAddress, hexToBytes } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import { compareOpIds, type OpId } from '../../ledger/op-id.ts'
import { CausalEngine, DRAFT_ID, type Mode, type Rules, type View } from '../causal/engine.ts'
import { recoverDigestSigner } from '../identity.ts'
import { FeedSeries } from './aggregate.ts'
import { SignerClock, type Stamps } from './clock.ts'
import {
  type AttestBody,
  BODIES,
  type CreateBody,
  FEED_OP,
  FeedForbiddenError,
  FeedRefusedError,
  InvalidFeedInputError,
  MAX_AHEAD_MS,
  MAX_ORACLES,
  MAX_PRICE,
  OWNER_OPS,
  type SignerEntry,
  type SignReportBody,
} from './ops.ts'
import { feedReportDigest, thresholdAllowed } from './report.ts'

// The rules of one feed, on the causal engine. The owner's changes form the control chain, so an
// op sees the registry (oracles, signers, parameters) of the chain prefix in its causal past.
// Attestations are a grow-only set: one counts per oracle and window (the smaller op id among
// concurrent ones, so the set does not depend on apply order); the aggregation (aggregate.ts) is
// a function of that set. A registered oracle's bad attestation (stale, ahead of its causal
// clock, too few sources) stays in the log as evidence, noted as refused and counted as an
// anomaly; anything from a stranger is refused outright (a ledger refuses it at ingest).

/** Kinds of anomaly the feed reports per oracle. */
export type AnomalyKind = 'outlier' | 'suspicious' | 'stale' | 'invalid' | 'duplicate'

/** One anomaly of an oracle that the reducer noted (outliers come from the aggregation). */
export type AnomalyNote = {
  readonly kind: AnomalyKind
  readonly window: number
  readonly op: OpId
  readonly message: string
}

/** The most anomalies kept per oracle (the counts go on). */
const RECENT_ANOMALIES = 20
/** The most distinct reports one signer may sign for one window (a re-sign after a partition). */
const MAX_DIGESTS_PER_SIGNER = 4

/** A report signer: a node's op key and its report-signing address. */
export type Signer = { readonly key: string; readonly address: Address }

/** The registry at one prefix of the control chain. */
export type Registry = {
  readonly oracles: ReadonlySet<string>
  readonly signers: readonly Signer[]
  readonly threshold: number
  readonly chain: { readonly chainId: number; readonly aggregator: Address } | undefined
  readonly heartbeat: number
  readonly deviation: number
  readonly minSources: number
  /** Counted attestations a window needs before its report may be signed. */
  readonly minObservations: number
  readonly maxAge: number
}

/** A report of one window as signers signed it (for one chain and aggregator). */
export type ReportRecord = {
  readonly window: number
  readonly answer: bigint
  readonly observations: number
  readonly idsHash: Hex
  readonly chainId: number
  readonly aggregator: Address
  readonly digest: Hex
  /** Signer address → 65-byte signature, in the order they were applied. */
  readonly signatures: Map<Address, Hex>
}

/** A report's transaction as a signer node recorded it. */
export type PostedRecord = {
  readonly window: number
  readonly round: bigint
  readonly tx: Hex
  readonly chainId: number
  readonly aggregator: Address
  readonly op: OpId
}

/** What the reducer keeps per oracle besides the aggregation's quality. */
export type OracleRecord = {
  attestations: number
  lastSubmission: number
  lastPrice: bigint | undefined
  counts: Record<Exclude<AnomalyKind, 'outlier' | 'suspicious'>, number>
  recent: AnomalyNote[]
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const shortKey = (key: string) => `${key.slice(0, 12)}…`

function bodyOf<T>(type: keyof typeof BODIES, body: unknown): T {
  const parsed = BODIES[type].safeParse(body)
  if (parsed.success) return parsed.data as T
  const issue = parsed.error.issues[0]!
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the body'
  throw new InvalidFeedInputError(`${type}: ${field} ${issue.message.toLowerCase()}.`)
}

function checkSigners(signers: readonly SignerEntry[], threshold: number): void {
  const keys = new Set(signers.map((s) => s.key))
  const addresses = new Set(signers.map((s) => s.address.toLowerCase()))
  if (keys.size !== signers.length || addresses.size !== signers.length)
    throw new InvalidFeedInputError('Each report signer is listed once (by key and by address).')
  if (!thresholdAllowed(signers.length, threshold)) {
    const f = Math.floor((signers.length - 1) / 3)
    throw new InvalidFeedInputError(
      `A threshold of ${threshold} does not fit ${signers.length} signer(s): it must be from ${f + 1} (f+1, with n > 3f) to ${signers.length}.`,
    )
  }
}

/** Whether the op's body price is a usable price: positive and within an int192. */
function checkPrice(value: bigint, what: string): void {
  if (value <= 0n || value > MAX_PRICE)
    throw new InvalidFeedInputError(`${what} must be a positive integer within an int192.`)
}

/** The feed's rules and state: registry, attestations, anomalies, reports. */
export class FeedMachine implements Rules {
  readonly engine: CausalEngine
  readonly id: OpId
  readonly owner: string
  readonly pair: string
  readonly description: string
  readonly decimals: number
  /** Seconds per window. */
  readonly window: number
  /** The registry after each prefix of the control chain (index = changes seen). */
  private readonly registries: Registry[]
  readonly series: FeedSeries
  /** The counted attestation of each oracle and window: `${oracle}:${window}` → position and id. */
  private readonly slots = new Map<string, { position: number; id: OpId }[]>()
  /** The signers' clock: what "now" is for each op. */
  readonly clock: SignerClock
  readonly oracles = new Map<string, OracleRecord>()
  /** Reports by window, then digest. */
  readonly reports = new Map<number, Map<Hex, ReportRecord>>()
  /** Each signer's report signatures per window: `${address}:${window}` → where and what. */
  private readonly signed = new Map<string, { position: number; digest: Hex }[]>()
  /** Transactions recorded by signer nodes, in apply order. */
  readonly posted: PostedRecord[] = []

  constructor(genesis: EncodedOp) {
    const body = bodyOf<CreateBody>(FEED_OP.create, genesis.op.body)
    checkSigners(body.signers, body.threshold)
    if (new Set(body.oracles).size !== body.oracles.length)
      throw new InvalidFeedInputError('Each oracle is listed once.')
    this.engine = new CausalEngine(genesis)
    this.id = genesis.id
    this.owner = hex(genesis.op.author)
    this.pair = body.pair
    this.description = body.description ?? body.pair
    this.decimals = body.decimals
    this.window = body.window
    this.series = new FeedSeries(body.window)
    this.clock = new SignerClock(this.engine, genesis.op.time)
    this.registries = [
      {
        oracles: new Set(body.oracles),
        signers: body.signers.map((s) => ({ key: s.key, address: getAddress(s.address) })),
        threshold: body.threshold,
        chain: body.chain && {
          chainId: body.chain.chainId,
          aggregator: getAddress(body.chain.aggregator),
        },
        heartbeat: body.heartbeat,
        deviation: body.deviation,
        minSources: body.minSources,
        minObservations: body.minObservations ?? 1,
        maxAge: body.maxAge,
      },
    ]
  }

  /** The registry now (every change applied). */
  get registry(): Registry {
    return this.registries.at(-1)!
  }

  /** The registry an op with `view` sees. */
  registryAt(seen: number): Registry {
    return this.registries[Math.min(seen, this.registries.length - 1)]!
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type
    const author = hex(op.op.author)
    const past = this.clock.past(view)
    if (mode.commit) {
      // Recorded before any rule can refuse the op: a signer's op stamps the clock in any case
      // (its key signed it; its time is its own claim, which the threshold keeps in check).
      const signer = this.registryAt(view.seen).signers.some((s) => s.key === author)
      this.clock.record(view.position, past, signer ? { key: author, time: op.op.time } : undefined)
    }
    if (type === FEED_OP.attest) this.attest(op, view, mode, past)
    else if (type === FEED_OP.clock) this.tick(op, view)
    else if (OWNER_OPS.has(type)) this.change(op, view, mode)
    else if (type === FEED_OP.signReport) this.signReport(op, view, mode)
    else if (type === FEED_OP.posted) this.recordPosted(op, view, mode)
    else
      throw new InvalidFeedInputError(
        `"${type}" is not a feed op; see the op types in /openapi.json.`,
      )
  }

  // ───────────────────────────── Registry ─────────────────────────────

  private change(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as keyof typeof BODIES
    if (hex(op.op.author) !== this.owner)
      throw new FeedForbiddenError(`Only the owner of feed ${this.pair} may ${type}.`)
    if (view.seen < this.registries.length - 1) {
      // Two changes made concurrently (the owner's key on two machines): the log's order decides.
      this.engine.tieBreak(mode)
      throw new FeedRefusedError(
        `This ${type} was made concurrently with another change of the owner's; make it again on the current feed.`,
      )
    }
    const before = this.registryAt(view.seen)
    const next = this.changed(type, op.op.body, before)
    if (!mode.commit) return
    this.registries.push(next)
    this.engine.control.append(view.position)
  }

  /** The registry after change `type`, or the refusal. */
  private changed(type: keyof typeof BODIES, raw: unknown, before: Registry): Registry {
    if (type === FEED_OP.addOracle || type === FEED_OP.removeOracle) {
      const { oracle } = bodyOf<{ oracle: string }>(type, raw)
      const oracles = new Set(before.oracles)
      if (type === FEED_OP.addOracle) {
        if (oracles.has(oracle))
          throw new FeedRefusedError(`Oracle ${shortKey(oracle)} is registered already.`)
        if (oracles.size >= MAX_ORACLES)
          throw new FeedRefusedError('The feed has 256 oracles, the most it may have.')
        oracles.add(oracle)
      } else if (!oracles.delete(oracle))
        throw new FeedRefusedError(`Oracle ${shortKey(oracle)} is not registered.`)
      return { ...before, oracles }
    }
    if (type === FEED_OP.setSigners) {
      const body = bodyOf<{ signers: SignerEntry[]; threshold: number }>(type, raw)
      checkSigners(body.signers, body.threshold)
      return {
        ...before,
        signers: body.signers.map((s) => ({ key: s.key, address: getAddress(s.address) })),
        threshold: body.threshold,
      }
    }
    if (type === FEED_OP.setChain) {
      const body = bodyOf<{ chainId: number; aggregator: string }>(type, raw)
      return {
        ...before,
        chain: { chainId: body.chainId, aggregator: getAddress(body.aggregator) },
      }
    }
    const body = bodyOf<
      Partial<
        Pick<Registry, 'heartbeat' | 'deviation' | 'minSources' | 'minObservations' | 'maxAge'>
      >
    >(FEED_OP.setParams, raw)
    return {
      ...before,
      heartbeat: body.heartbeat ?? before.heartbeat,
      deviation: body.deviation ?? before.deviation,
      minSources: body.minSources ?? before.minSources,
      minObservations: body.minObservations ?? before.minObservations,
      maxAge: body.maxAge ?? before.maxAge,
    }
  }

  // ───────────────────────────── Attestations ─────────────────────────────

  /** The window index of a timestamp (ms). */
  windowOf(timestamp: number): number {
    return Math.floor(timestamp / (this.window * 1000))
  }

  private oracleRecord(oracle: string): OracleRecord {
    let record = this.oracles.get(oracle)
    if (!record) {
      record = {
        attestations: 0,
        lastSubmission: 0,
        lastPrice: undefined,
        counts: { stale: 0, invalid: 0, duplicate: 0 },
        recent: [],
      }
      this.oracles.set(oracle, record)
    }
    return record
  }

  private note(oracle: string, kind: 'stale' | 'invalid' | 'duplicate', n: AnomalyNote): void {
    const record = this.oracleRecord(oracle)
    record.counts[kind]++
    // The latest by (window, op id), so the list does not depend on apply order.
    record.recent.push(n)
    record.recent.sort((a, b) => a.window - b.window || compareOpIds(a.op, b.op))
    if (record.recent.length > RECENT_ANOMALIES) record.recent.shift()
  }

  private attest(op: EncodedOp, view: View, mode: Mode, past: Stamps): void {
    const oracle = hex(op.op.author)
    const registry = this.registryAt(view.seen)
    if (!registry.oracles.has(oracle))
      throw new FeedForbiddenError(
        `Key ${shortKey(oracle)} is not an oracle of feed ${this.pair} (in this op's past); the owner registers oracles with "rwa feed oracle add".`,
      )
    // A registered oracle's attestation joins the log whatever it says: a bad one is evidence,
    // refused and counted against the oracle, never thrown away at ingest.
    let body: AttestBody
    let problem: { kind: 'stale' | 'invalid'; message: string } | undefined
    try {
      body = bodyOf<AttestBody>(FEED_OP.attest, op.op.body)
    } catch (error) {
      this.badAttestation(op, mode, oracle, -1, {
        kind: 'invalid',
        message: (error as Error).message,
      })
      return
    }
    const window = this.windowOf(body.timestamp)
    const price = BigInt(body.price)
    const now = this.clock.time(
      past,
      registry.signers.map((s) => s.key),
      registry.threshold,
    )
    if (price <= 0n || price > MAX_PRICE)
      problem = {
        kind: 'invalid',
        message: 'The price must be a positive integer within an int192.',
      }
    else if (body.sources.length < registry.minSources)
      problem = {
        kind: 'invalid',
        message: `The attestation lists ${body.sources.length} source(s); feed ${this.pair} needs at least ${registry.minSources}.`,
      }
    else if (body.timestamp > now + MAX_AHEAD_MS)
      problem = {
        kind: 'invalid',
        message: `The attestation's timestamp is ${Math.round((body.timestamp - now) / 1000)} s ahead of the feed's signer clock (at most ${MAX_AHEAD_MS / 1000} s).`,
      }
    else if (body.timestamp < now - registry.maxAge * 1000)
      problem = {
        kind: 'stale',
        message: `The attestation is ${Math.round((now - body.timestamp) / 1000)} s older than the feed's signer clock (at most ${registry.maxAge} s).`,
      }
    else
      for (const source of body.sources)
        if (BigInt(source.price) <= 0n) {
          problem = { kind: 'invalid', message: `Source "${source.name}" has no positive price.` }
          break
        }
    if (problem) {
      this.badAttestation(op, mode, oracle, window, problem)
      return
    }
    const slot = `${oracle}:${window}`
    const earlier = this.slots.get(slot) ?? []
    for (const e of earlier)
      if (view.reaches(e.position))
        throw new FeedRefusedError(
          `Oracle ${shortKey(oracle)} has attested window ${window} already (op ${e.id.slice(0, 12)}); one attestation per oracle per window.`,
        )
    // Valid. Concurrent attestations of one oracle for one window all stay valid; the smallest
    // op id counts, the others are duplicates, whatever order they are applied in.
    if (!mode.commit) return
    this.recordSubmission(oracle, body, price)
    const mine = { position: view.position, id: op.id }
    this.slots.set(slot, [...earlier, mine])
    const counted = earlier.find((e) => this.series.has(e.id))
    if (counted && compareOpIds(counted.id, op.id) < 0) {
      this.duplicate(oracle, window, mine)
      return
    }
    if (counted) {
      this.series.remove(counted.id)
      this.duplicate(oracle, window, counted)
    }
    this.series.add({
      id: op.id,
      oracle,
      price,
      confidence: body.confidence,
      timestamp: body.timestamp,
    })
  }

  /** Notes a concurrent duplicate that does not count (the same note in any apply order). */
  private duplicate(oracle: string, window: number, loser: { position: number; id: OpId }): void {
    const message = `a concurrent duplicate: oracle ${shortKey(oracle)} attested window ${window} more than once; the smallest op id counts`
    this.engine.exclude(loser.position, message)
    this.note(oracle, 'duplicate', { kind: 'duplicate', window, op: loser.id, message })
  }

  private recordSubmission(oracle: string, body: AttestBody, price: bigint): void {
    const record = this.oracleRecord(oracle)
    record.attestations++
    const last = record.lastPrice
    if (
      body.timestamp > record.lastSubmission ||
      (body.timestamp === record.lastSubmission && (last === undefined || price > last))
    ) {
      record.lastSubmission = body.timestamp
      record.lastPrice = price
    }
  }

  /**
   * A registered oracle's attestation that breaks a rule: a draft is refused before it is signed;
   * at ingest it is let in (as evidence); applied, it is noted as refused and counted.
   */
  private badAttestation(
    op: EncodedOp,
    mode: Mode,
    oracle: string,
    window: number,
    problem: { kind: 'stale' | 'invalid'; message: string },
  ): void {
    const error = new FeedRefusedError(problem.message)
    if (op.id === DRAFT_ID) throw error
    if (!mode.commit) return
    this.engine.notes.reject(op.id, op.op.type, error)
    this.note(oracle, problem.kind, { ...problem, window, op: op.id })
  }

  // ───────────────────────────── Reports ─────────────────────────────

  private signerOf(author: string, registry: Registry): Signer {
    const signer = registry.signers.find((s) => s.key === author)
    if (!signer)
      throw new FeedForbiddenError(
        `Key ${shortKey(author)} is not a report signer of feed ${this.pair} (in this op's past).`,
      )
    return signer
  }

  private signReport(op: EncodedOp, view: View, mode: Mode): void {
    const registry = this.registryAt(view.seen)
    const signer = this.signerOf(hex(op.op.author), registry)
    const body = bodyOf<SignReportBody>(FEED_OP.signReport, op.op.body)
    const answer = BigInt(body.answer)
    checkPrice(answer, 'The answer')
    if (body.observations < registry.minObservations)
      throw new FeedRefusedError(
        `A report of ${body.observations} observation(s) may not be signed: feed ${this.pair} needs at least ${registry.minObservations} per window.`,
      )
    const aggregator = getAddress(body.aggregator)
    const windowStart = BigInt(body.window) * BigInt(this.window)
    const digest = feedReportDigest(
      {
        window: BigInt(body.window),
        answer,
        observations: body.observations,
        windowStart,
        windowEnd: windowStart + BigInt(this.window),
        idsHash: body.idsHash as Hex,
      },
      body.chainId,
      aggregator,
    )
    const recovered = recoverDigestSigner(hexToBytes(digest), body.signature as Hex, { lowS: true })
    if (recovered !== signer.address)
      throw new FeedForbiddenError(
        `The report signature does not recover to this signer's address ${signer.address}; sign the report digest with the key of that address.`,
      )
    // What this signer signed for the window in this op's causal past: concurrent signatures
    // are all kept (a set: the same in any order).
    const key = `${signer.address}:${body.window}`
    const before = (this.signed.get(key) ?? []).filter((e) => view.reaches(e.position))
    if (before.some((e) => e.digest === digest))
      throw new FeedRefusedError(
        `Signer ${signer.address} has signed this report of window ${body.window} already.`,
      )
    const digests = new Set(before.map((e) => e.digest))
    if (digests.size >= MAX_DIGESTS_PER_SIGNER)
      throw new FeedRefusedError(
        `Signer ${signer.address} has signed ${digests.size} different reports of window ${body.window}, the most a signer may.`,
      )
    const byDigest = this.reports.get(body.window)
    const record = byDigest?.get(digest)
    if (!mode.commit) return
    const reports = byDigest ?? new Map<Hex, ReportRecord>()
    if (!byDigest) this.reports.set(body.window, reports)
    const entry =
      record ??
      ({
        window: body.window,
        answer,
        observations: body.observations,
        idsHash: body.idsHash as Hex,
        chainId: body.chainId,
        aggregator,
        digest,
        signatures: new Map(),
      } satisfies ReportRecord)
    // Two valid signatures of one report by one key (a high-s twin): the smaller is kept.
    const signature = body.signature.toLowerCase() as Hex
    const held = entry.signatures.get(signer.address)
    if (held === undefined || signature < held) entry.signatures.set(signer.address, signature)
    reports.set(digest, entry)
    this.signed.set(key, [...(this.signed.get(key) ?? []), { position: view.position, digest }])
  }

  /** A signer's clock tick: its stamp is all it does (recorded in `handle`). */
  private tick(op: EncodedOp, view: View): void {
    this.signerOf(hex(op.op.author), this.registryAt(view.seen))
    bodyOf<Record<string, never>>(FEED_OP.clock, op.op.body)
  }

  private recordPosted(op: EncodedOp, view: View, mode: Mode): void {
    const registry = this.registryAt(view.seen)
    this.signerOf(hex(op.op.author), registry)
    const body = bodyOf<{
      window: number
      round: string
      tx: Hex
      chainId: number
      aggregator: string
    }>(FEED_OP.posted, op.op.body)
    if (!mode.commit) return
    this.posted.push({
      window: body.window,
      round: BigInt(body.round),
      tx: body.tx,
      chainId: body.chainId,
      aggregator: getAddress(body.aggregator),
      op: op.id,
    })
  }

  /** The signatures of a report that count now: by current signers, at most one each. */
  countedSignatures(report: ReportRecord): number {
    const current = new Set(this.registry.signers.map((s) => s.address))
    let n = 0
    for (const address of report.signatures.keys()) if (current.has(address)) n++
    return n
  }
}
