import { BaseError } from '../../errors/base.ts'
import type { EncodedOp } from '../../ledger/op.ts'
import { compareOpIds, type OpId, parseOpIdBytes } from '../../ledger/op-id.ts'
import { CausalEngine, type Mode, type Rules, type View } from '../causal/engine.ts'
import type { Sequence } from '../causal/sequence.ts'
import { type Address, parseChecksumAddress } from '../identity.ts'
import { describeValue } from '../text.ts'
import {
  auditorRanking,
  describeExclusions,
  drawAuditors,
  eligibleAuditors,
  impactDrawSeed,
} from './assign.ts'
import { type Decision, payouts } from './decide.ts'
import {
  type AuditorConfig,
  checkCategories,
  checkRequestFields,
  encodeImpactActionConfig,
  type ImpactActionConfig,
  type ImpactVote,
  InvalidImpactInputError,
  type OracleConfig,
  parseApprovalRequest,
  parseAuditorConfig,
  parseCategory,
  parseImpactActionConfig,
  parseOracleConfig,
  parseVote,
} from './formats.ts'
import {
  BODIES,
  IMPACT_OP,
  ImpactForbiddenError,
  ImpactRefusedError,
  PROXY_OPS,
  REGISTRY_OPS,
} from './ops.ts'
import { impactPoolId, recoverBatchSigner } from './pool-report.ts'
import type {
  Assignment,
  AuditorState,
  BatchState,
  DecisionRecord,
  ImpactState,
  PaymentRecord,
  PoolState,
  RequestState,
  RequestStatus,
  UnassignReason,
  VoteRecord,
} from './state.ts'

/** The default length of a day in blocks of the settlement chain (12-second blocks). */
export const DEFAULT_BLOCKS_PER_DAY = 7200

/** The most addresses one settlement batch pays: `settleBatch` credits each, and must fit a block. */
export const MAX_BATCH_PAYEES = 200

/** Seats of a request that requires `required` approvals: a majority of them decides, so no tie. */
export const seatsFor = (required: number) => 2 * required - 1

/** Hex of a key, read in place (a view, not a copy: every op's author goes through it). */
const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
const refuse = (message: string) => new ImpactRefusedError(message)
const forbid = (message: string) => new ImpactForbiddenError(message)

/** A value of the registry as each control-chain prefix sees it. */
class Versioned<K, V> {
  private readonly versions = new Map<K, { at: number; value: V | undefined }[]>()

  /** The value as an op that saw `seen` registry changes sees it. */
  at(key: K, seen: number): V | undefined {
    const list = this.versions.get(key)
    if (!list) return undefined
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.at < seen) return list[i]!.value
    return undefined
  }

  /** The latest value (what a registry change, which sees every earlier one, sees). */
  now(key: K): V | undefined {
    return this.versions.get(key)?.at(-1)?.value
  }

  set(key: K, at: number, value: V | undefined): void {
    const list = this.versions.get(key)
    if (list) list.push({ at, value })
    else this.versions.set(key, [{ at, value }])
  }

  keys(): K[] {
    return [...this.versions.keys()]
  }

  /** Keys with a value at `seen`. */
  liveAt(seen: number): K[] {
    return this.keys().filter((k) => this.at(k, seen) !== undefined)
  }

  /** The values at `seen`, in key order (one pass, no per-key lookups). */
  valuesAt(seen: number): V[] {
    const out: V[] = []
    for (const list of this.versions.values()) {
      for (let i = list.length - 1; i >= 0; i--) {
        const version = list[i]!
        if (version.at >= seen) continue
        if (version.value !== undefined) out.push(version.value)
        break
      }
    }
    return out
  }

  /** The last value a key had among the first `seen` registry changes (a destroyed record's). */
  lastAt(key: K, seen: number): V | undefined {
    const list = this.versions.get(key)
    if (!list) return undefined
    for (let i = list.length - 1; i >= 0; i--)
      if (list[i]!.at < seen && list[i]!.value !== undefined) return list[i]!.value
    return undefined
  }
}

/**
 * A request's seats or votes, by auditor: a few (at most 2·100 − 1) records in an array, which
 * costs far less to hold for every request than a Map, and a scan of a few is as quick.
 */
class ByAuditor<V extends { readonly auditor: string }> {
  private readonly items: V[] = []

  get(auditor: string): V | undefined {
    for (const item of this.items) if (item.auditor === auditor) return item
    return undefined
  }

  has(auditor: string): boolean {
    return this.get(auditor) !== undefined
  }

  set(auditor: string, value: V): void {
    const i = this.items.findIndex((item) => item.auditor === auditor)
    if (i >= 0) this.items[i] = value
    else this.items.push(value)
  }

  values(): readonly V[] {
    return this.items
  }
}

type Category = { uid: number; description: string }
type Action = { uid: number; configuration: string; config: ImpactActionConfig }
type Oracle = { uid: number; config: OracleConfig; payout?: Address | undefined }
type Auditor = { account: string; config: AuditorConfig; area: string; payout: Address }
type Proxy = { uid: number; account: string }
type Governance = { governors: string[]; threshold: number }

type Seat = {
  auditor: string
  at: number
  block: number
  entropy: string
  deadline: number
  payout: Address
  unassignedAt?: number
  unassigned?: { block: number; reason: UnassignReason }
}
type Vote = {
  id: OpId
  pos: number
  auditor: string
  vote: 'Y' | 'N'
  otherinfo?: string
  out?: boolean
}
type Request = {
  id: OpId
  pos: number
  requester: string
  payout: Address
  action: ImpactActionConfig
  impactactionid: number
  description: string
  coordinates?: { lat: number; lon: number } | undefined
  evidence: readonly string[]
  fields: Record<string, string>
  required: number
  seats: ByAuditor<Seat>
  votes: ByAuditor<Vote>
  attestations: { oracle: number; id: OpId; pos: number; payout?: Address | undefined }[]
  /** Proxy-chain index of the first proxy op about it: ops that saw it saw the request. */
  firstProxy: number
  note: string
  decision?: DecisionRecord & { at: number }
  expired?: { at: number; block: number }
}
type AuditorRecord = {
  matched: number
  errors: number
  missed: number
  suspendedAt?: number
  stakes: Map<number, bigint>
  earned: Map<number, bigint>
}
type Pool = {
  deposited: bigint
  stakes: bigint
  batched: bigint
  paid: bigint
  queue: PaymentRecord[]
  /** Stakes sent for keys that were no auditor: held (in `stakes`) and sent back first. */
  refunds: PaymentRecord[]
  batches: (BatchState & {
    at: number
    signers: Map<Address, { sig: `0x${string}`; pos: number }>
  })[]
}
type Proposal = {
  id: OpId
  pos: number
  type: string
  body: Record<string, unknown>
  approvals: Map<string, number>
  /** The position of the approval that applied it. */
  completed?: number
}

/** Reads an op body with its schema; the error names the field and the rule. */
function bodyOf<T>(type: keyof typeof BODIES, body: unknown): T {
  // The frequent bodies are checked by hand first: a body that passes is one its schema takes
  // unchanged (no defaults or transforms), so it is used as it is; any other goes to the schema.
  if (FAST_BODIES[type]?.(body)) return body as T
  const parsed = BODIES[type].safeParse(body)
  if (parsed.success) return parsed.data as T
  const issue = parsed.error.issues[0]!
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the body'
  throw new InvalidImpactInputError(`${type}: ${field} ${issue.message.toLowerCase()}.`)
}

const OWN_KEY = /^[0-9a-f]{64}$/
const HASH32 = /^0x[0-9a-f]{64}$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
/** A whole number from `min` to `max` (at most 2^53 − 1), as the schemas' `int().min().max()`. */
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
const isText = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max
/** A non-array object whose own keys are exactly `keys`. */
function hasKeys(body: unknown, keys: readonly string[]): body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false
  // for…in, as the schemas count keys (inherited enumerable ones too).
  let count = 0
  for (const _ in body) count++
  if (count !== keys.length) return false
  for (const key of keys) if (!Object.hasOwn(body, key)) return false
  return true
}
function isKeyList(v: unknown, max: number): boolean {
  if (!Array.isArray(v) || v.length > max) return false
  for (const k of v) if (typeof k !== 'string' || !OWN_KEY.test(k)) return false
  return true
}
const BLOCK_MAX = Number.MAX_SAFE_INTEGER
const VOTE_KEYS = ['request', 'vote']
const REQUEST_KEYS = ['info', 'payout']
const ASSIGN_KEYS = ['request', 'auditors', 'maxdays', 'block', 'entropy']
const DECIDE_KEYS = ['request', 'block']

/**
 * Hand-written checks of the most frequent bodies, each accepting only what its schema in
 * BODIES accepts unchanged (ops.ts holds the rules: keep the two in step; a property test in
 * test/impact-rules.test.ts checks it). Per op a schema
 * parse costs more than the rule it checks.
 */
export const FAST_BODIES: Partial<Record<keyof typeof BODIES, (body: unknown) => boolean>> = {
  [IMPACT_OP.vote]: (b) =>
    hasKeys(b, VOTE_KEYS) && isText(b.request, 1, 100) && isText(b.vote, 2, 2048),
  [IMPACT_OP.requestApproval]: (b) =>
    hasKeys(b, REQUEST_KEYS) &&
    isText(b.info, 2, 8192) &&
    typeof b.payout === 'string' &&
    ADDRESS.test(b.payout),
  [IMPACT_OP.assignAuditor]: (b) =>
    hasKeys(b, ASSIGN_KEYS) &&
    isText(b.request, 1, 100) &&
    isKeyList(b.auditors, 256) &&
    isInt(b.maxdays, 1, 365) &&
    isInt(b.block, 0, BLOCK_MAX) &&
    typeof b.entropy === 'string' &&
    HASH32.test(b.entropy),
  [IMPACT_OP.decide]: (b) =>
    hasKeys(b, DECIDE_KEYS) && isText(b.request, 1, 100) && isInt(b.block, 0, BLOCK_MAX),
}

/** Checksummed payout addresses seen so far: checking one costs a keccak. */
const CHECKED_ADDRESSES = new Set<string>()
function payoutAddress(text: string, field: string): Address {
  if (CHECKED_ADDRESSES.has(text)) return text as Address
  if (/^0x0{40}$/.test(text))
    throw new InvalidImpactInputError(
      `"${field}" is the zero address: what is paid there is lost for good; give an address you hold.`,
    )
  try {
    const address = parseChecksumAddress(text, field)
    if (CHECKED_ADDRESSES.size > 10_000) CHECKED_ADDRESSES.clear()
    CHECKED_ADDRESSES.add(address)
    return address
  } catch (error) {
    if (error instanceof BaseError) throw new InvalidImpactInputError(error.shortMessage)
    throw error
  }
}

// A vote as the routes and the chat write it: {"vote":"Y"|"N"} with, optionally, a printable
// ASCII "otherinfo" without quotes, backslashes or surrounding spaces. Such a text reads as
// exactly this (parseVote's rules: 1 to 1024 bytes, trimmed, no control characters); any other
// goes through parseVote.
const PLAIN_VOTE =
  /^\{"vote":"([YN])"(?:,"otherinfo":"([!#-[\]-~](?:[ !#-[\]-~]{0,1022}[!#-[\]-~])?)")?\}$/

/** Reads a vote's text (parseVote, with a fast path for its plain form). */
function voteOf(text: string): ImpactVote {
  const plain = PLAIN_VOTE.exec(text)
  if (!plain) return parseVote(text)
  const vote = plain[1] as 'Y' | 'N'
  return plain[2] === undefined ? { vote } : { vote, otherinfo: plain[2] }
}

const amountOf = (text: string) => BigInt(text)
const shortId = (id: string) => id.slice(0, 12)

/**
 * The rules of an impact community on the causal engine (ARCHITECTURE §1): every op is judged
 * against its own causal past.
 * - Registry changes form the control chain, each seeing every earlier one, so what a change
 *   left is versioned by chain prefix and any op sees the registry of the prefix it saw.
 * - Proxy ops (assign, unassign, decide, expire, deposits, batches) form a second chain: what
 *   they decide (seats, decisions, errors, suspensions, stakes, payments) is versioned the same
 *   way, and the blocks they claim are the community's only clock.
 * - A vote counts when its seat is in its causal past and its request's decision is not; one
 *   concurrent with the decision or the unassignment is excluded, as a poll's late vote.
 */
export class ImpactMachine implements Rules {
  readonly engine: CausalEngine
  readonly id: OpId
  readonly name: string
  readonly blocksPerDay: number
  readonly proxyChain: Sequence
  /** Block claimed by each member of the proxy chain. */
  private readonly blocks: number[] = []
  private readonly governance = new Versioned<0, Governance>()
  private readonly categories = new Versioned<number, Category>()
  private readonly actions = new Versioned<number, Action>()
  private readonly oracles = new Versioned<number, Oracle>()
  private readonly auditors = new Versioned<string, Auditor>()
  private readonly proxies = new Versioned<number, Proxy>()
  private readonly tokens = new Versioned<number, Address>()
  private readonly proposals = new Map<OpId, Proposal>()
  readonly requests = new Map<OpId, Request>()
  private readonly records = new Map<string, AuditorRecord>()
  private readonly pools = new Map<number, Pool>()
  private readonly deposits = new Set<string>()
  /** Counts for cheap listings. */
  decided = 0
  expired = 0

  constructor(genesis: EncodedOp) {
    if (genesis.op.type !== IMPACT_OP.create)
      throw new InvalidImpactInputError(
        `An impact community starts with "${IMPACT_OP.create}", not "${genesis.op.type}".`,
      )
    const body = bodyOf<{
      name: string
      governors?: string[]
      threshold?: number
      blocksPerDay?: number
    }>(IMPACT_OP.create, genesis.op.body)
    const governors = body.governors ?? [hex(genesis.op.author)]
    checkGovernors(governors, body.threshold ?? 1)
    this.engine = new CausalEngine(genesis)
    this.proxyChain = this.engine.sequence()
    this.id = genesis.id
    this.name = body.name
    this.blocksPerDay = body.blocksPerDay ?? DEFAULT_BLOCKS_PER_DAY
    // The genesis is version 0 of the governance: every op sees it.
    this.governance.set(0, -1, { governors, threshold: body.threshold ?? 1 })
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type
    if (REGISTRY_OPS.has(type)) this.propose(op, view, mode)
    else if (PROXY_OPS.has(type)) this.proxyOp(op, view, mode)
    else if (type === IMPACT_OP.approve) this.approve(op, view, mode)
    else if (type === IMPACT_OP.requestApproval) this.request(op, view, mode)
    else if (type === IMPACT_OP.vote) this.vote(op, view, mode)
    else if (type === IMPACT_OP.attest) this.attest(op, view, mode)
    else if (type === IMPACT_OP.signBatch) this.signBatch(op, view, mode)
    else
      throw new InvalidImpactInputError(
        `"${type}" is not an impact op; see the op types in /openapi.json.`,
      )
  }

  // ───────────────────────────── Registry ─────────────────────────────

  private governanceAt(seen: number): Governance {
    return this.governance.at(0, seen)!
  }

  private propose(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as keyof typeof BODIES
    const body = bodyOf<Record<string, unknown>>(type, op.op.body)
    const author = hex(op.op.author)
    const { governors, threshold } = this.governanceAt(view.seen)
    if (!governors.includes(author))
      throw forbid(
        `Only a governor of "${this.name}" may ${type}; this key is not one of its ${governors.length}.`,
      )
    if (threshold <= 1) {
      this.complete(view, mode, type, body)
      if (mode.commit) this.engine.control.append(view.position)
      return
    }
    // A proposal: static checks now, the registry's rules when the last approval arrives.
    this.validate(type, body, false)
    if (mode.commit)
      this.proposals.set(op.id, {
        id: op.id,
        pos: view.position,
        type,
        body,
        approvals: new Map([[author, view.position]]),
      })
  }

  private approve(op: EncodedOp, view: View, mode: Mode): void {
    const { proposal: ref } = bodyOf<{ proposal: string }>(IMPACT_OP.approve, op.op.body)
    const author = hex(op.op.author)
    const { governors, threshold } = this.governanceAt(view.seen)
    if (!governors.includes(author))
      throw forbid(`Only a governor of "${this.name}" may approve a change.`)
    const proposal = this.proposals.get(ref as OpId)
    if (!proposal || !view.reaches(proposal.pos))
      throw refuse(`No pending change "${shortId(ref)}" in this approval's past; check the id.`)
    if (proposal.completed !== undefined) {
      // Applied by an approval this one did not see: which of the two applies is the log's order.
      if (!view.reaches(proposal.completed)) this.engine.tieBreak(mode)
      throw refuse(`The change "${shortId(ref)}" is applied already.`)
    }
    const earlier = proposal.approvals.get(author)
    if (earlier !== undefined && !view.reaches(earlier)) {
      this.engine.tieBreak(mode)
      throw refuse('This governor has approved the change already; each approves once.')
    }
    // The approvals this op has seen, by governors still in office (they may have changed), and
    // its own: an approval it has not seen cannot make it the one that applies the change.
    const counted = new Set([author])
    for (const [key, pos] of proposal.approvals)
      if (governors.includes(key) && view.reaches(pos)) counted.add(key)
    if (counted.size >= threshold) {
      this.complete(view, mode, proposal.type as keyof typeof BODIES, proposal.body)
      if (!mode.commit) return
      this.engine.control.append(view.position)
      proposal.completed = view.position
      if (earlier === undefined) proposal.approvals.set(author, view.position)
      return
    }
    // A governor approves once; approving again applies the change once it sees enough others
    // (after two approvals crossed, neither seeing the other).
    if (earlier !== undefined)
      throw refuse(
        `This governor has approved the change already; it needs ${threshold - counted.size} more approval(s) this op has seen.`,
      )
    if (mode.commit) proposal.approvals.set(author, view.position)
  }

  /** Applies a registry change at `view` (which must have seen every earlier change). */
  private complete(
    view: View,
    mode: Mode,
    type: keyof typeof BODIES,
    body: Record<string, unknown>,
  ): void {
    if (view.seen < this.engine.control.length) {
      this.engine.tieBreak(mode)
      throw refuse(
        'Another registry change was made concurrently; make this one again on the current registry.',
      )
    }
    const apply = this.validate(type, body, true)
    if (mode.commit) apply?.(this.engine.control.length)
  }

  /**
   * Checks a registry change; with `state`, against the current registry too, returning how to
   * apply it at a chain index.
   */
  private validate(
    type: keyof typeof BODIES,
    body: Record<string, unknown>,
    state: boolean,
  ): ((at: number) => void) | undefined {
    switch (type) {
      case IMPACT_OP.createCategory: {
        const category = parseCategory(body.uid, body.description)
        if (!state) return
        if (this.categories.now(category.uid))
          throw refuse(`Category ${category.uid} exists already; ids are unique.`)
        return (at) => this.categories.set(category.uid, at, category)
      }
      case IMPACT_OP.destroyCategory: {
        const uid = body.uid as number
        if (!state) return
        if (!this.categories.now(uid)) throw refuse(`There is no category ${uid} to destroy.`)
        const actions = this.actions
          .keys()
          .filter((k) => this.actions.now(k)?.config.category === uid)
        const auditors = this.auditors
          .keys()
          .filter((k) => this.auditors.now(k)?.config.categories.includes(uid))
        if (actions.length > 0 || auditors.length > 0)
          throw refuse(
            `Category ${uid} is in use (${actions.length} action(s)${actions.length ? `: ${actions.slice(0, 5).join(', ')}` : ''}, ${auditors.length} auditor(s)); destroy or change them first, so no record is left pointing at nothing.`,
          )
        return (at) => this.categories.set(uid, at, undefined)
      }
      case IMPACT_OP.createImpactAction: {
        const uid = body.uid as number
        const config = parseImpactActionConfig(body.configuration)
        if (!state) return
        if (this.actions.now(uid)) throw refuse(`Impact action ${uid} exists already.`)
        checkCategories([config.category], new Set(this.categories.liveAt(Infinity)), 'category')
        if (config.rewardstoken !== 0 && !this.tokens.now(config.rewardstoken))
          throw refuse(
            `"rewardstoken" ${config.rewardstoken} is no token of this registry; map it to an ERC-20 first (impact token set) or use 0, the native coin.`,
          )
        const action = { uid, configuration: encodeImpactActionConfig(config), config }
        return (at) => this.actions.set(uid, at, action)
      }
      case IMPACT_OP.destroyImpactAction: {
        const uid = body.uid as number
        if (!state) return
        if (!this.actions.now(uid)) throw refuse(`There is no impact action ${uid} to destroy.`)
        return (at) => this.actions.set(uid, at, undefined)
      }
      case IMPACT_OP.createOracle: {
        const uid = body.uid as number
        const config = parseOracleConfig(body.configuration)
        const payout =
          body.payout === undefined ? undefined : payoutAddress(body.payout as string, 'payout')
        if (!state) return
        if (this.oracles.now(uid)) throw refuse(`Oracle ${uid} exists already.`)
        return (at) => this.oracles.set(uid, at, { uid, config, payout })
      }
      case IMPACT_OP.destroyOracle: {
        const uid = body.uid as number
        if (!state) return
        if (!this.oracles.now(uid)) throw refuse(`There is no oracle ${uid} to destroy.`)
        return (at) => this.oracles.set(uid, at, undefined)
      }
      case IMPACT_OP.createAuditor: {
        const account = body.account as string
        const config = parseAuditorConfig(body.configuration)
        const payout = payoutAddress(body.payout as string, 'payout')
        if (!state) return
        if (this.auditors.now(account)) throw refuse(`Auditor ${shortId(account)}… exists already.`)
        checkCategories(config.categories, new Set(this.categories.liveAt(Infinity)))
        const area = areaText(body.configuration as string)
        return (at) => this.auditors.set(account, at, { account, config, area, payout })
      }
      case IMPACT_OP.destroyAuditor: {
        const account = body.account as string
        if (!state) return
        if (!this.auditors.now(account))
          throw refuse(`There is no auditor ${shortId(account)}… to destroy.`)
        return (at) => this.auditors.set(account, at, undefined)
      }
      case IMPACT_OP.createProxy: {
        const { uid, account } = body as { uid: number; account: string }
        if (!state) return
        if (this.proxies.now(uid)) throw refuse(`Proxy ${uid} exists already.`)
        return (at) => this.proxies.set(uid, at, { uid, account })
      }
      case IMPACT_OP.destroyProxy: {
        const uid = body.uid as number
        if (!state) return
        if (!this.proxies.now(uid)) throw refuse(`There is no proxy ${uid} to destroy.`)
        return (at) => this.proxies.set(uid, at, undefined)
      }
      case IMPACT_OP.setToken: {
        const id = body.id as number
        const address = payoutAddress(body.address as string, 'address')
        if (!state) return
        const was = this.tokens.now(id)
        if (was && was !== address)
          throw refuse(
            `Token ${id} is ${was} already; a pool's token never changes, so map the new one to a new id.`,
          )
        return (at) => this.tokens.set(id, at, address)
      }
      case IMPACT_OP.setGovernors: {
        const { governors, threshold } = body as Governance
        checkGovernors(governors, threshold)
        if (!state) return
        return (at) => this.governance.set(0, at, { governors: [...governors], threshold })
      }
    }
    return undefined
  }

  // ───────────────────────────── Requests, votes, attestations ─────────────────────────────

  /** The last block the proxy claimed in an op's causal past (0 before any claim). */
  private blockSeen(view: View): number {
    const seen = view.seenIn(this.proxyChain)
    return seen === 0 ? 0 : this.blocks[seen - 1]!
  }

  private request(op: EncodedOp, view: View, mode: Mode): void {
    const body = bodyOf<{ info: string; payout: string }>(IMPACT_OP.requestApproval, op.op.body)
    const payout = payoutAddress(body.payout, 'payout')
    const input = parseApprovalRequest(body.info)
    const action = this.actions.at(input.impactactionid, view.seen)
    if (!action)
      throw refuse(
        `"impactactionid" ${input.impactactionid} names no impact action of "${this.name}"; list them with "rwa impact actions".`,
      )
    const { custom, free } = checkRequestFields(input, action.config.fields)
    const block = this.blockSeen(view)
    if (block > action.config.blockend)
      throw refuse(
        `Impact action ${action.uid} took requests until block ${action.config.blockend}; the chain is past block ${block}.`,
      )
    if (!mode.commit) return
    const required = action.config.auditors
    this.requests.set(op.id, {
      id: op.id,
      pos: view.position,
      requester: hex(op.op.author),
      payout,
      action: action.config,
      impactactionid: action.uid,
      description: input.description,
      coordinates: input.coordinates,
      evidence: input.evidence,
      fields: { ...custom, ...free },
      required,
      seats: new ByAuditor(),
      votes: new ByAuditor(),
      attestations: [],
      firstProxy: -1,
      note: 'Waiting for the proxy to assign auditors.',
    })
  }

  /** The request an op names, which must be in its causal past. */
  private requestIn(ref: string, view: View): Request {
    const request = this.requests.get(ref as OpId)
    if (request) {
      const known =
        request.firstProxy >= 0 && request.firstProxy < view.seenIn(this.proxyChain)
          ? true
          : view.reaches(request.pos)
      if (known) return request
    }
    throw refuse(
      `No approval request "${shortId(ref)}" in this op's past; check the id (rwa impact requests).`,
    )
  }

  private vote(op: EncodedOp, view: View, mode: Mode): void {
    const body = bodyOf<{ request: string; vote: string }>(IMPACT_OP.vote, op.op.body)
    const cast = voteOf(body.vote)
    const auditor = hex(op.op.author)
    const proxySeen = view.seenIn(this.proxyChain)
    const request = this.requests.get(body.request as OpId)
    const seat = request?.seats.get(auditor)
    if (!request || !seat || seat.at >= proxySeen)
      throw forbid(
        `Only an auditor assigned to request "${shortId(body.request)}" may vote on it; this key holds no seat there.`,
      )
    if (seat.unassignedAt !== undefined && seat.unassignedAt < proxySeen)
      throw refuse(
        `This auditor was unassigned from the request at block ${seat.unassigned!.block} (${seat.unassigned!.reason}); it votes no more.`,
      )
    if (request.decision && request.decision.at < proxySeen)
      throw refuse(`Request "${shortId(request.id)}" is decided (${request.decision.status}).`)
    if (request.expired && request.expired.at < proxySeen)
      throw refuse(`Request "${shortId(request.id)}" expired; it takes no votes.`)
    if (!this.auditors.at(auditor, view.seen))
      throw forbid('This auditor was destroyed in the registry; it votes no more.')
    const record = this.records.get(auditor)
    if (record?.suspendedAt !== undefined && record.suspendedAt < proxySeen)
      throw forbid(`This auditor is suspended after ${record.errors} errors; it votes no more.`)
    const earlier = request.votes.get(auditor)
    if (earlier) {
      if (!view.reaches(earlier.pos)) this.engine.tieBreak(mode)
      throw refuse('This auditor has voted on the request already; each votes once.')
    }
    if (!mode.commit) return
    const vote: Vote = { id: op.id, pos: view.position, auditor, vote: cast.vote }
    if (cast.otherinfo !== undefined) vote.otherinfo = cast.otherinfo
    request.votes.set(auditor, vote)
    // Concurrent with what closed the seat or the request: valid, but too late to count.
    if (seat.unassignedAt !== undefined)
      this.leaveOut(vote, 'the auditor was unassigned concurrently')
    else if (request.decision) this.leaveOut(vote, 'the request was decided concurrently')
    else if (request.expired) this.leaveOut(vote, 'the request expired concurrently')
  }

  private leaveOut(vote: Vote, why: string): void {
    vote.out = true
    this.engine.exclude(vote.pos, `${why}: the vote does not count`)
  }

  private attest(op: EncodedOp, view: View, mode: Mode): void {
    const body = bodyOf<{ request: string }>(IMPACT_OP.attest, op.op.body)
    const author = hex(op.op.author)
    const oracle = this.oracles
      .liveAt(view.seen)
      .map((uid) => this.oracles.at(uid, view.seen)!)
      .find((o) => o.config.account === author)
    if (!oracle) throw forbid(`Only an oracle of "${this.name}" may attest a request.`)
    const request = this.requestIn(body.request, view)
    const earlier = request.attestations.find((a) => a.oracle === oracle.uid)
    if (earlier) {
      if (!view.reaches(earlier.pos)) this.engine.tieBreak(mode)
      throw refuse(`Oracle ${oracle.uid} has attested this request already.`)
    }
    if (request.decision && request.decision.at < view.seenIn(this.proxyChain))
      throw refuse('The request is decided; attest before the decision.')
    if (mode.commit)
      request.attestations.push({
        oracle: oracle.uid,
        id: op.id,
        pos: view.position,
        payout: oracle.payout,
      })
  }

  // ───────────────────────────── The proxy's chain ─────────────────────────────

  private proxyOp(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as keyof typeof BODIES
    const body = bodyOf<Record<string, unknown> & { block: number }>(type, op.op.body)
    const author = hex(op.op.author)
    let isProxy = false
    for (const proxy of this.proxies.valuesAt(view.seen))
      if (proxy.account === author) isProxy = true
    if (!isProxy) throw forbid(`Only a proxy of "${this.name}" may sign ${type}.`)
    const seen = view.seenIn(this.proxyChain)
    if (seen < this.proxyChain.length) {
      this.engine.tieBreak(mode)
      throw refuse('Another proxy op was made concurrently; make this one again.')
    }
    const last = seen === 0 ? 0 : this.blocks[seen - 1]!
    if (body.block < last)
      throw refuse(`Block ${body.block} is before block ${last}, which the proxy claimed already.`)
    const at = this.proxyChain.length
    const apply = this.proxyRule(type, body, view, at)
    if (!mode.commit) return
    apply()
    this.proxyChain.append(view.position)
    this.blocks.push(body.block)
  }

  /** Checks a proxy op; returns how to apply it as member `at` of the proxy chain. */
  private proxyRule(
    type: keyof typeof BODIES,
    body: Record<string, unknown> & { block: number },
    view: View,
    at: number,
  ): () => void {
    switch (type) {
      case IMPACT_OP.assignAuditor:
        return this.assign(body as never, view, at)
      case IMPACT_OP.destroyAssignedAuditor:
        return this.unassign(body as never, view, at)
      case IMPACT_OP.decide:
        return this.decide(body as never, view, at)
      case IMPACT_OP.expire:
        return this.expire(body as never, view, at)
      case IMPACT_OP.deposit:
        return this.deposit(body as never, view)
      case IMPACT_OP.batch:
        return this.batch(body as never, view, at)
      case IMPACT_OP.settled:
        return this.settled(body as never)
      default:
        throw new InvalidImpactInputError(`"${type}" is not a proxy op.`)
    }
  }

  private openRequest(ref: string, view: View): Request {
    const request = this.requestIn(ref, view)
    if (request.decision) throw refuse(`Request "${shortId(ref)}" is decided already.`)
    if (request.expired) throw refuse(`Request "${shortId(ref)}" expired.`)
    return request
  }

  /**
   * The auditors eligible for a request at registry prefix `seen`, why the others are not, and
   * how many lack the stake their configuration requires (in the action's rewards token).
   */
  eligibility(request: Request, seen: number) {
    let understaked = 0
    const candidates = []
    for (const auditor of this.auditors.valuesAt(seen)) {
      const account = auditor.account
      const record = this.records.get(account)
      const stake = record?.stakes.get(request.action.rewardstoken) ?? 0n
      if (stake < auditor.config.stakesmin) {
        understaked++
        continue
      }
      candidates.push({
        account,
        categories: auditor.config.categories,
        area: auditor.config.area,
        suspended: record?.suspendedAt !== undefined,
      })
    }
    const active: string[] = []
    const gone: string[] = []
    for (const s of request.seats.values()) (s.unassigned ? gone : active).push(s.auditor)
    const result = eligibleAuditors({
      action: request.action,
      request: { coordinates: request.coordinates, assigned: active, unassigned: gone },
      auditors: candidates,
      requester: request.requester,
    })
    return {
      ...result,
      /** Why the others may not serve, in words (built on demand: an assignment rarely says it). */
      why(): string {
        const why = describeExclusions(result.excluded)
        return understaked === 0 ? why : `${why}; ${understaked} without their stake`
      },
    }
  }

  /**
   * The draw an assignment of `request` with `entropy` must name now (what the proxy service
   * signs): the auditors, how many seats were open, and why fewer were eligible.
   */
  drawFor(id: OpId, entropy: `0x${string}`): { auditors: string[]; wanted: number; why: string } {
    const request = this.requests.get(id)
    if (!request) throw refuse(`No approval request "${shortId(id)}".`)
    const wanted = ImpactMachine.open(request)
    if (wanted <= 0) return { auditors: [], wanted: 0, why: 'every seat is filled' }
    const { eligible, why: whyNot } = this.eligibility(request, this.engine.control.length)
    const why = whyNot()
    const seed = impactDrawSeed(parseOpIdBytes(id), Buffer.from(entropy.slice(2), 'hex'))
    const chosen = eligible.length === 0 ? [] : drawAuditors({ seed, eligible, n: wanted }).chosen
    return { auditors: [...chosen], wanted, why }
  }

  /** Seats of a request still to fill. */
  static open(request: Request): number {
    let held = 0
    for (const seat of request.seats.values()) if (!seat.unassigned) held++
    return seatsFor(request.required) - held
  }

  private assign(
    body: { request: string; auditors: string[]; maxdays: number; block: number; entropy: string },
    view: View,
    at: number,
  ): () => void {
    const request = this.openRequest(body.request, view)
    const { blockstart, blockend } = request.action
    if (body.block < blockstart || body.block > blockend)
      throw refuse(
        `Impact action ${request.impactactionid} runs from block ${blockstart} to ${blockend}; block ${body.block} is outside it (expire the request after its end).`,
      )
    const wanted = ImpactMachine.open(request)
    if (wanted <= 0) throw refuse(`Every seat of request "${shortId(request.id)}" is filled.`)
    const { eligible, why } = this.eligibility(request, view.seen)
    const seed = impactDrawSeed(
      parseOpIdBytes(request.id),
      Buffer.from(body.entropy.slice(2), 'hex'),
    )
    const draw =
      eligible.length === 0
        ? { chosen: [] as string[], shortfall: wanted }
        : drawAuditors({ seed, eligible, n: wanted })
    if (
      draw.chosen.length !== body.auditors.length ||
      draw.chosen.some((a, i) => a !== body.auditors[i])
    )
      throw refuse(
        `The assignment names ${body.auditors.length} auditor(s) but the draw with this entropy gives ${draw.chosen.length}${draw.chosen.length ? ` (${draw.chosen.map(shortId).join(', ')}…)` : ''}; assign what the draw gives.`,
      )
    return () => {
      if (request.firstProxy < 0) request.firstProxy = at
      const deadline = body.block + body.maxdays * this.blocksPerDay
      for (const auditor of draw.chosen)
        request.seats.set(auditor, {
          auditor,
          at,
          block: body.block,
          entropy: body.entropy,
          deadline,
          payout: this.auditors.at(auditor, view.seen)!.payout,
        })
      const still = ImpactMachine.open(request)
      request.note =
        still === 0
          ? `Voting: ${seatsFor(request.required)} auditor(s) assigned, ${request.required} matching vote(s) decide.`
          : `Waiting for auditors: ${still} seat(s) of ${seatsFor(request.required)} unfilled, none eligible now (${why()}).`
    }
  }

  private unassign(
    body: { request: string; auditor: string; block: number },
    view: View,
    at: number,
  ): () => void {
    const request = this.openRequest(body.request, view)
    const seat = request.seats.get(body.auditor)
    if (!seat || seat.unassigned)
      throw refuse(`Auditor ${shortId(body.auditor)}… holds no seat on this request.`)
    const vote = request.votes.get(body.auditor)
    if (vote && !vote.out && view.reaches(vote.pos))
      throw refuse('The auditor has voted on the request; a vote is never undone.')
    const record = this.records.get(body.auditor)
    const reason: UnassignReason | undefined = !this.auditors.at(body.auditor, view.seen)
      ? 'destroyed'
      : record?.suspendedAt !== undefined
        ? 'suspended'
        : body.block > seat.deadline
          ? 'deadline'
          : undefined
    if (!reason)
      throw refuse(
        `Auditor ${shortId(body.auditor)}… has until block ${seat.deadline} to vote; unassign it after that.`,
      )
    return () => {
      seat.unassignedAt = at
      seat.unassigned = { block: body.block, reason }
      if (reason === 'deadline') this.record(body.auditor).missed++
      if (vote && !vote.out) this.leaveOut(vote, 'the auditor was unassigned concurrently')
      request.note = `Waiting for a replacement of ${shortId(body.auditor)}… (${reason}).`
    }
  }

  private record(account: string): AuditorRecord {
    let record = this.records.get(account)
    if (!record) {
      record = { matched: 0, errors: 0, missed: 0, stakes: new Map(), earned: new Map() }
      this.records.set(account, record)
    }
    return record
  }

  private pool(token: number): Pool {
    let pool = this.pools.get(token)
    if (!pool) {
      pool = {
        deposited: 0n,
        stakes: 0n,
        batched: 0n,
        paid: 0n,
        queue: [],
        refunds: [],
        batches: [],
      }
      this.pools.set(token, pool)
    }
    return pool
  }

  private decide(body: { request: string; block: number }, view: View, at: number): () => void {
    const request = this.openRequest(body.request, view)
    const counted = [...request.votes.values()]
      .filter((v) => !v.out && view.reaches(v.pos))
      .sort((a, b) => (a.auditor < b.auditor ? -1 : 1))
    const approvals = counted.filter((v) => v.vote === 'Y').map((v) => v.auditor)
    const refusals = counted.filter((v) => v.vote === 'N').map((v) => v.auditor)
    const required = request.required
    const status =
      approvals.length >= required
        ? 'approved'
        : refusals.length >= required
          ? 'refused'
          : undefined
    if (!status)
      throw refuse(
        `Request "${shortId(request.id)}" has ${approvals.length} Y and ${refusals.length} N in this op's past; ${required} matching votes decide.`,
      )
    const matched = status === 'approved' ? approvals : refusals
    const contradicted = status === 'approved' ? refusals : approvals
    const token = request.action.rewardstoken
    const stakes = new Map(
      contradicted.map((a) => [a, this.records.get(a)?.stakes.get(token) ?? 0n]),
    )
    const attestation = request.attestations
      .filter((a) => view.reaches(a.pos))
      .sort((a, b) => compareOpIds(a.id, b.id))[0]
    const decision: Decision = {
      status,
      required,
      seats: seatsFor(required),
      approvals,
      refusals,
      matched,
      contradicted,
      late: [],
      silent: [],
      decidedBy: counted.length - 1,
    }
    const oracleKey = attestation?.payout ? `oracle:${attestation.oracle}` : undefined
    const result = payouts(decision, request.action, {
      requester: request.requester,
      oracle: oracleKey,
      stakes,
    })
    return () => {
      const pool = this.pool(token)
      const payments: PaymentRecord[] = result.payments.map((p) => {
        const to =
          p.role === 'requester'
            ? request.payout
            : p.role === 'oracle'
              ? attestation!.payout!
              : request.seats.get(p.account)!.payout
        const account = p.role === 'oracle' ? String(attestation!.oracle) : p.account
        if (p.role === 'auditor') add(this.record(p.account).earned, token, p.amount)
        return { to, amount: p.amount, role: p.role, account, request: request.id }
      })
      pool.queue.push(...payments)
      for (const a of matched) this.record(a).matched++
      for (const s of result.slashes) {
        const record = this.record(s.auditor)
        record.stakes.set(token, (record.stakes.get(token) ?? 0n) - s.taken)
        pool.stakes -= s.taken
      }
      for (const a of contradicted) {
        const record = this.record(a)
        record.errors++
        if (record.suspendedAt === undefined && record.errors >= request.action.maxerrorsauditor)
          record.suspendedAt = at
      }
      for (const v of request.votes.values())
        if (!v.out && !counted.includes(v)) this.leaveOut(v, 'the request was decided concurrently')
      request.decision = {
        status: status === 'approved' ? 'APPROVED' : 'REFUSED',
        block: body.block,
        approvals: approvals.length,
        refusals: refusals.length,
        matched,
        contradicted,
        payments,
        remainder: result.remainder,
        slashes: result.slashes.map((s) => ({ auditor: s.auditor, due: s.due, taken: s.taken })),
        oracle: attestation?.oracle,
        at,
      }
      request.note = `${status === 'approved' ? 'Approved' : 'Refused'} at block ${body.block}: ${approvals.length} Y, ${refusals.length} N.`
      this.decided++
    }
  }

  private expire(body: { request: string; block: number }, view: View, at: number): () => void {
    const request = this.openRequest(body.request, view)
    const action = this.actions.at(request.impactactionid, view.seen)
    const ended = body.block > request.action.blockend
    if (action && !ended)
      throw refuse(
        `Request "${shortId(request.id)}" may still be decided: its action runs until block ${request.action.blockend}.`,
      )
    return () => {
      if (request.firstProxy < 0) request.firstProxy = at
      request.expired = { at, block: body.block }
      request.note = ended
        ? `Expired at block ${body.block}: its action took requests until block ${request.action.blockend}.`
        : `Expired at block ${body.block}: its action was destroyed.`
      for (const v of request.votes.values())
        if (!v.out && !view.reaches(v.pos)) this.leaveOut(v, 'the request expired concurrently')
      this.expired++
    }
  }

  private deposit(
    body: {
      token: number
      from: string
      amount: string
      memo: string
      tx: string
      logIndex: number
      block: number
    },
    view: View,
  ): () => void {
    const amount = amountOf(body.amount)
    if (amount === 0n) throw new InvalidImpactInputError('A deposit of 0 is nothing to record.')
    if (body.token !== 0 && !this.tokens.at(body.token, view.seen))
      throw refuse(`Token ${body.token} is no token of this registry.`)
    const key = `${body.tx}:${body.logIndex}`
    if (this.deposits.has(key)) throw refuse(`Deposit ${key} is recorded already.`)
    const staker = body.memo.slice(2)
    const funding = /^0{64}$/.test(staker)
    const isStake = !funding && this.auditors.at(staker, view.seen) !== undefined
    const from = funding || isStake ? undefined : payoutAddress(body.from, 'from')
    return () => {
      this.deposits.add(key)
      const pool = this.pool(body.token)
      pool.deposited += amount
      if (funding) return
      // A stake is held for its auditor; one for a key that is no auditor in this op's past
      // (sent before the registration, or mistyped) goes back to whoever sent it.
      pool.stakes += amount
      if (isStake) add(this.record(staker).stakes, body.token, amount)
      else pool.refunds.push({ to: from!, amount, role: 'stake', account: staker })
    }
  }

  private batch(
    body: { token: number; batch: number; block: number; chainId: number; escrow: string },
    view: View,
    at: number,
  ): () => void {
    const escrow = payoutAddress(body.escrow, 'escrow')
    const pool = this.pool(body.token)
    if (body.batch !== pool.batches.length)
      throw refuse(
        `The next batch of token ${body.token} is ${pool.batches.length}, not ${body.batch}.`,
      )
    const previous = pool.batches.at(-1)
    if (previous && !previous.settled)
      throw refuse(
        `Batch ${previous.batch} of token ${body.token} is not settled yet; settle it first.`,
      )
    // Stakes of auditors who left go back to them; then decided payments, oldest first, while
    // the pool's free money covers them: at most MAX_BATCH_PAYEES addresses, so that
    // `settleBatch` fits a block (the rest waits for the next batch).
    const payees = new Set<string>()
    const fits = (p: PaymentRecord) => {
      const k = p.to.toLowerCase()
      if (payees.has(k)) return true
      if (payees.size >= MAX_BATCH_PAYEES) return false
      payees.add(k)
      return true
    }
    const returns: PaymentRecord[] = []
    let stakesBack = 0n
    let refunded = 0
    for (const refund of pool.refunds) {
      if (!fits(refund)) break
      returns.push(refund)
      stakesBack += refund.amount
      refunded++
    }
    for (const [account, record] of [...this.records].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const stake = record.stakes.get(body.token) ?? 0n
      if (stake === 0n) continue
      const live = this.auditors.at(account, view.seen)
      if (live && record.suspendedAt === undefined) continue
      const payout = (live ?? this.auditors.lastAt(account, view.seen))!.payout
      const payment: PaymentRecord = { to: payout, amount: stake, role: 'stake', account }
      if (!fits(payment)) break
      returns.push(payment)
      stakesBack += stake
    }
    let free = pool.deposited - pool.stakes - pool.batched
    let take = 0
    for (const p of pool.queue) {
      if (p.amount > free || !fits(p)) break
      free -= p.amount
      take++
    }
    const items = [...returns, ...pool.queue.slice(0, take)]
    if (items.length === 0)
      throw refuse(
        pool.queue.length > 0
          ? `Token ${body.token}'s pool has ${free} base units free, short of the next payment of ${pool.queue[0]!.amount}; fund the pool first.`
          : `Nothing to settle in token ${body.token}'s pool.`,
      )
    const byAddress = new Map<string, { to: Address; amount: bigint }>()
    for (const p of items) {
      const k = p.to.toLowerCase()
      const entry = byAddress.get(k)
      if (entry) entry.amount += p.amount
      else byAddress.set(k, { to: p.to, amount: p.amount })
    }
    const sorted = [...byAddress.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, e]) => e)
    const total = sorted.reduce((s, e) => s + e.amount, 0n)
    const requests = [...new Set(items.flatMap((p) => (p.request ? [p.request] : [])))]
    return () => {
      for (const p of items) p.batch = body.batch
      pool.queue.splice(0, take)
      for (const p of returns.slice(refunded)) this.record(p.account).stakes.set(body.token, 0n)
      pool.refunds.splice(0, refunded)
      pool.stakes -= stakesBack
      pool.batched += total
      pool.batches.push({
        token: body.token,
        batch: body.batch,
        block: body.block,
        chainId: body.chainId,
        escrow,
        payees: sorted.map((e) => e.to),
        amounts: sorted.map((e) => e.amount),
        total,
        returned: stakesBack,
        requests,
        signatures: [],
        at,
        signers: new Map(),
      })
    }
  }

  private settled(body: { token: number; batch: number; tx: string; block: number }): () => void {
    const batch = this.pools.get(body.token)?.batches[body.batch]
    if (!batch) throw refuse(`Token ${body.token} has no batch ${body.batch}.`)
    if (batch.settled) throw refuse(`Batch ${body.batch} is settled already (${batch.settled.tx}).`)
    return () => {
      ;(batch as { settled?: unknown }).settled = {
        tx: body.tx as `0x${string}`,
        block: body.block,
      }
      this.pool(body.token).paid += batch.total
    }
  }

  private signBatch(op: EncodedOp, view: View, mode: Mode): void {
    const body = bodyOf<{
      token: number
      batch: number
      signer: Address
      signature: `0x${string}`
    }>(IMPACT_OP.signBatch, op.op.body)
    const batch = this.pools.get(body.token)?.batches[body.batch]
    if (!batch || batch.at >= view.seenIn(this.proxyChain))
      throw refuse(`Token ${body.token} has no batch ${body.batch} in this op's past.`)
    const signer = recoverBatchSigner(
      {
        chainId: batch.chainId,
        escrow: batch.escrow,
        poolId: impactPoolId(this.id, body.token),
        batch: BigInt(body.batch),
        payees: batch.payees,
        amounts: batch.amounts,
      },
      body.signature,
    )
    if (!signer || signer.toLowerCase() !== body.signer.toLowerCase())
      throw new InvalidImpactInputError(
        `The signature is not ${body.signer}'s over batch ${body.batch} of token ${body.token}.`,
      )
    const earlier = batch.signers.get(signer)
    if (earlier) {
      if (!view.reaches(earlier.pos)) this.engine.tieBreak(mode)
      throw refuse(`${signer} has signed batch ${body.batch} already.`)
    }
    if (mode.commit) batch.signers.set(signer, { sig: body.signature, pos: view.position })
  }

  // ───────────────────────────── Queries ─────────────────────────────

  /** The proxy's current key(s). */
  proxyAccounts(): string[] {
    return this.proxies.liveAt(Infinity).map((uid) => this.proxies.now(uid)!.account)
  }

  /** The current governance. */
  governanceNow(): Governance {
    return this.governance.now(0)!
  }

  /** The latest block the proxy claimed. */
  get block(): number {
    return this.blocks.at(-1) ?? 0
  }

  requestState(request: Request): RequestState {
    const status: RequestStatus = request.decision
      ? request.decision.status
      : request.expired
        ? 'EXPIRED'
        : ImpactMachine.open(request) === 0
          ? 'VOTING'
          : 'WAITING_FOR_AUDITORS'
    const seats: Assignment[] = [...request.seats.values()]
      .sort((a, b) => a.at - b.at || (a.auditor < b.auditor ? -1 : 1))
      .map((s) => ({
        auditor: s.auditor,
        block: s.block,
        entropy: s.entropy as `0x${string}`,
        deadline: s.deadline,
        payout: s.payout,
        unassigned: s.unassigned,
      }))
    const votes: VoteRecord[] = [...request.votes.values()]
      .filter((v) => !v.out)
      .sort((a, b) => (a.auditor < b.auditor ? -1 : 1))
      .map((v) => ({ id: v.id, auditor: v.auditor, vote: v.vote, otherinfo: v.otherinfo }))
    const { at: _at, ...decision } = request.decision ?? { at: 0 }
    return {
      id: request.id,
      requester: request.requester,
      payout: request.payout,
      impactactionid: request.impactactionid,
      action: request.action,
      description: request.description,
      coordinates: request.coordinates,
      evidence: request.evidence,
      fields: request.fields,
      status,
      required: request.required,
      seats: seatsFor(request.required),
      assignments: seats,
      votes,
      attestations: [...request.attestations]
        .sort((a, b) => compareOpIds(a.id, b.id))
        .map((a) => ({ oracle: a.oracle, id: a.id })),
      note: request.note,
      decision: request.decision ? (decision as DecisionRecord) : undefined,
      expired: request.expired?.block,
    }
  }

  auditorState(account: string): AuditorState | undefined {
    const live = this.auditors.now(account)
    const auditor = live ?? this.auditors.lastAt(account, Number.POSITIVE_INFINITY)
    if (!auditor) return undefined
    const record = this.records.get(account)
    const history = {
      matched: record?.matched ?? 0,
      errors: record?.errors ?? 0,
      missed: record?.missed ?? 0,
    }
    const queue: OpId[] = []
    for (const request of this.requests.values()) {
      if (request.decision || request.expired) continue
      const seat = request.seats.get(account)
      if (seat && !seat.unassigned && !request.votes.has(account)) queue.push(request.id)
    }
    return {
      account,
      description: auditor.config.description,
      categories: auditor.config.categories,
      area: auditor.area,
      stakesmin: auditor.config.stakesmin,
      payout: auditor.payout,
      destroyed: !live,
      suspended: record?.suspendedAt !== undefined,
      ...history,
      ranking: auditorRanking(history),
      stakes: byToken(record?.stakes),
      earned: byToken(record?.earned),
      queue: queue.sort(compareOpIds),
    }
  }

  poolState(token: number): PoolState {
    const pool = this.pool(token)
    const queued = pool.queue.reduce((s, p) => s + p.amount, 0n)
    return {
      token,
      deposited: pool.deposited,
      stakes: pool.stakes,
      batched: pool.batched,
      paid: pool.paid,
      queued,
      refunding: pool.refunds.reduce((sum, p) => sum + p.amount, 0n),
      free: pool.deposited - pool.stakes - pool.batched,
      batches: pool.batches.map((b) => ({
        token: b.token,
        batch: b.batch,
        block: b.block,
        chainId: b.chainId,
        escrow: b.escrow,
        payees: b.payees,
        amounts: b.amounts,
        total: b.total,
        returned: b.returned,
        requests: b.requests,
        signatures: [...b.signers]
          .sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))
          .map(([signer, { sig }]) => ({ signer, signature: sig })),
        settled: b.settled,
      })),
    }
  }

  snapshot(): ImpactState {
    const { governors, threshold } = this.governanceNow()
    const live = <K, V>(v: Versioned<K, V>) => v.liveAt(Infinity).map((k) => v.now(k)!)
    const byUid = (a: { uid: number }, b: { uid: number }) => a.uid - b.uid
    return {
      id: this.id,
      name: this.name,
      governors: [...governors],
      threshold,
      blocksPerDay: this.blocksPerDay,
      block: this.block,
      categories: live(this.categories).sort(byUid),
      actions: live(this.actions).sort(byUid),
      oracles: live(this.oracles).sort(byUid),
      auditors: this.auditors
        .keys()
        .sort()
        .map((a) => this.auditorState(a)!),
      proxies: live(this.proxies).sort(byUid),
      tokens: this.tokens
        .liveAt(Infinity)
        .sort((a, b) => a - b)
        .map((id) => ({ id, address: this.tokens.now(id)! })),
      proposals: [...this.proposals.values()]
        .filter((p) => p.completed === undefined)
        .sort((a, b) => compareOpIds(a.id, b.id))
        .map((p) => ({
          id: p.id,
          type: p.type,
          body: p.body,
          approvals: [...p.approvals.keys()].sort(),
        })),
      requests: [...this.requests.keys()]
        .sort(compareOpIds)
        .map((id) => this.requestState(this.requests.get(id)!)),
      pools: [...this.pools.keys()].sort((a, b) => a - b).map((t) => this.poolState(t)),
      rejected: this.engine.notes.rejected(),
      excluded: this.engine.notes.excluded(),
    }
  }
}

function add(map: Map<number, bigint>, token: number, amount: bigint): void {
  map.set(token, (map.get(token) ?? 0n) + amount)
}

function byToken(map: Map<number, bigint> | undefined): Record<string, bigint> {
  const out: Record<string, bigint> = {}
  for (const [token, amount] of [...(map ?? [])].sort(([a], [b]) => a - b))
    out[String(token)] = amount
  return out
}

/** The `area` text of an auditor's configuration, as given (the registry shows it back). */
function areaText(configuration: string): string {
  try {
    const area = (JSON.parse(configuration) as { area?: unknown }).area
    return typeof area === 'string' ? area : ''
  } catch {
    return ''
  }
}

function checkGovernors(governors: readonly string[], threshold: number): void {
  if (new Set(governors).size !== governors.length)
    throw new InvalidImpactInputError('"governors" lists a key twice; each governor appears once.')
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > governors.length)
    throw new InvalidImpactInputError(
      `"threshold" ${describeValue(threshold)} must be from 1 to the ${governors.length} governor(s).`,
    )
  for (const g of governors)
    if (!/^[0-9a-f]{64}$/.test(g))
      throw new InvalidImpactInputError(
        `Governor ${describeValue(g)} is not an Ed25519 key (64 lowercase hex digits).`,
      )
}
