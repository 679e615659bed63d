import { BaseError } from '../../errors/base.ts'
import { describeValue } from '../text.ts'

// The pure core of an approval request's end: its decision, what it pays and slashes, who is
// suspended, and what a batch of decided requests settles. No I/O, no clock: the reducer feeds
// the votes in log order and records the first decision it gets.

/** An auditor, oracle or requester, named by its account (the spec's `account`, a payout address). */
export type Account = string

/** One auditor's vote on an approval request, as the spec writes it: `Y` approve, `N` refuse. */
export type ImpactVote = { readonly auditor: Account; readonly vote: 'Y' | 'N' }

/** Where a request stands: no decision yet, approved, or refused. */
export type DecisionStatus = 'pending' | 'approved' | 'refused'

/** The outcome of `decide`: the status and which auditors' votes matched or contradicted it. */
export type Decision = {
  readonly status: DecisionStatus
  /** Approvals required (the action's `auditors`). */
  readonly required: number
  /** Seats that can vote (at least `max(required, assigned)`); an unfilled seat waits for a replacement. */
  readonly seats: number
  /** Auditors that voted `Y` / `N` before the decision (or so far, while pending), in vote order. */
  readonly approvals: readonly Account[]
  readonly refusals: readonly Account[]
  /** Decided: the voters whose vote was the decision (paid) and those whose vote was not (slashed). */
  readonly matched: readonly Account[]
  readonly contradicted: readonly Account[]
  /** Votes cast after the deciding vote: neither paid nor slashed (the reducer should refuse them). */
  readonly late: readonly Account[]
  /** Assigned auditors who had not voted when the request was decided (or have not yet). */
  readonly silent: readonly Account[]
  /** Index in `votes` of the vote that decided, or -1 while pending. */
  readonly decidedBy: number
}

/** The amounts of an impact action that the decision moves, in base units of `rewardstoken`. */
export type DecisionAmounts = {
  /** 0 is the chain's native coin, n a token id the registry maps to an ERC-20 address. */
  readonly rewardstoken: number
  readonly rewardsamount: bigint
  readonly rewardsoracle: bigint
  readonly rewardsauditors: bigint
  readonly slashingsauditors: bigint
}

/** Why an account is paid. */
export type PaymentRole = 'requester' | 'oracle' | 'auditor'

/** One payment out of the pool. */
export type Payment = {
  readonly account: Account
  readonly role: PaymentRole
  readonly amount: bigint
}

/** One slash: what was due, what the stake covered (taken into the pool) and what it could not. */
export type Slash = {
  readonly auditor: Account
  readonly due: bigint
  readonly taken: bigint
  readonly shortfall: bigint
}

/** What one decided request pays, keeps and slashes. `funded` = sum of payments + `remainder`. */
export type Payouts = {
  readonly status: 'approved' | 'refused'
  /** What the pool commits for this request. */
  readonly funded: bigint
  readonly payments: readonly Payment[]
  /** What the equal split of `rewardsauditors` leaves (floor division): it stays in the pool. */
  readonly remainder: bigint
  readonly slashes: readonly Slash[]
  /** Auditors that get one error each (their vote contradicted the decision), in vote order. */
  readonly errors: readonly Account[]
  /** Each slashed auditor's stake after this request. */
  readonly stakes: ReadonlyMap<Account, bigint>
}

/** Most auditors one request may have assigned: a bound on hostile input, far above any action. */
export const MAX_SEATS = 256
/** Most decided requests one settlement batch may hold. */
export const MAX_BATCH = 10_000
/** Longest account string accepted. */
export const MAX_ACCOUNT_LENGTH = 128
/** The largest amount (the escrow's `uint256`). */
export const MAX_IMPACT_AMOUNT = 2n ** 256n - 1n

/** Thrown when a decision, payout or settlement input breaks a rule (a bad count, vote or amount). */
export class InvalidImpactDecisionError extends BaseError {
  override name = 'InvalidImpactDecisionError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when payouts are asked for a request that is not decided yet. */
export class ImpactNotDecidedError extends BaseError {
  override name = 'ImpactNotDecidedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the pool cannot cover a settlement batch; nothing of the batch is paid. */
export class ImpactPoolShortError extends BaseError {
  override name = 'ImpactPoolShortError' as const
  override readonly kind = 'conflict' as const
  readonly needed: bigint
  readonly pool: bigint
  constructor(needed: bigint, pool: bigint, requests: number) {
    super(
      `The pool holds ${pool} base units but the batch of ${requests} decided requests pays ${needed}; fund the pool with at least ${needed - pool} more, or settle fewer requests.`,
    )
    this.needed = needed
    this.pool = pool
  }
}

const invalid = (message: string) => new InvalidImpactDecisionError(message)

function assertCount(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(
      `${field} ${describeValue(value)} is out of range; give a whole number from ${min} to ${max}.`,
    )
  }
  return value
}

function assertAccount(value: unknown, field: string): Account {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ACCOUNT_LENGTH) {
    throw invalid(
      `${field} ${describeValue(value)} is not an account; give its address (1–${MAX_ACCOUNT_LENGTH} characters).`,
    )
  }
  return value
}

function assertAmount(value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_IMPACT_AMOUNT) {
    throw invalid(
      `${field} ${describeValue(value)} is not an amount; give a bigint of base units from 0 to 2^256 − 1.`,
    )
  }
  return value
}

function assertAssigned(assigned: readonly Account[]): Set<Account> {
  if (!Array.isArray(assigned)) throw invalid('assigned must be a list of auditor accounts.')
  assertCount(assigned.length, 'assigned (its length)', 0, MAX_SEATS)
  const seen = new Set<Account>()
  for (const [i, auditor] of assigned.entries()) {
    assertAccount(auditor, `assigned[${i}]`)
    if (seen.has(auditor))
      throw invalid(`assigned[${i}] "${auditor}" is listed twice; an auditor holds one seat.`)
    seen.add(auditor)
  }
  return seen
}

function assertVotes(votes: readonly ImpactVote[], assigned: Set<Account>): void {
  if (!Array.isArray(votes)) throw invalid('votes must be a list of { auditor, vote }.')
  assertCount(votes.length, 'votes (its length)', 0, MAX_SEATS)
  const voted = new Set<Account>()
  for (const [i, v] of votes.entries()) {
    const auditor = assertAccount(v?.auditor, `votes[${i}].auditor`)
    if (v.vote !== 'Y' && v.vote !== 'N')
      throw invalid(`votes[${i}].vote ${describeValue(v.vote)} must be exactly "Y" or "N".`)
    if (!assigned.has(auditor))
      throw invalid(
        `votes[${i}].auditor "${auditor}" is not assigned to this request; only assigned auditors vote.`,
      )
    if (voted.has(auditor))
      throw invalid(`votes[${i}].auditor "${auditor}" already voted; an auditor votes once.`)
    voted.add(auditor)
  }
}

/**
 * Decides an approval request from its votes, taken in log order.
 *
 * The rule: the request has `seats` seats, at least `max(required, assigned.length)` (a seat
 * whose auditor missed its deadline and was unassigned, or that no eligible auditor fills yet,
 * still counts: a replacement may vote; pass `seats` so unassigning does not shrink it).
 * The request is **approved** at the vote that brings the `Y` votes to `required`, and
 * **refused** at the vote that makes approval unreachable: `Y + seats still unvoted < required`,
 * i.e. `N > seats − required`. Both can never hold at once, so there is no tie to break: a
 * decision is a threshold, not a majority (2 of 4 with `Y,N,N,Y` approves; 2 of 3 with `Y,N,N`
 * refuses; 2 of 2 with `Y,N` refuses; 2 of 3 with `Y,N` and the third silent stays pending until
 * the third seat — or its replacement — votes). Votes after the deciding one are `late`.
 * @example
 * decide({ required: 2, assigned: ['a', 'b', 'c'], votes: [{ auditor: 'a', vote: 'Y' }] }).status // 'pending'
 */
export function decide({
  required,
  assigned,
  votes,
  seats: drawn,
}: {
  required: number
  /** The auditors holding a seat now: every auditor whose vote stands, and those still to vote. */
  assigned: readonly Account[]
  votes: readonly ImpactVote[]
  /** The seats the request was drawn with; defaults to `max(required, assigned.length)`. */
  seats?: number | undefined
}): Decision {
  assertCount(required, 'required (the action\'s "auditors")', 1, MAX_SEATS)
  assertVotes(votes, assertAssigned(assigned))
  const least = Math.max(required, assigned.length)
  const seats = drawn === undefined ? least : assertCount(drawn, 'seats', least, MAX_SEATS)
  const approvals: Account[] = []
  const refusals: Account[] = []
  let status: DecisionStatus = 'pending'
  let decidedBy = -1
  for (const [i, { auditor, vote }] of votes.entries()) {
    ;(vote === 'Y' ? approvals : refusals).push(auditor)
    if (approvals.length >= required) status = 'approved'
    else if (refusals.length > seats - required) status = 'refused'
    if (status !== 'pending') {
      decidedBy = i
      break
    }
  }
  const late = decidedBy < 0 ? [] : votes.slice(decidedBy + 1).map((v) => v.auditor)
  const voted = new Set([...approvals, ...refusals, ...late])
  return {
    status,
    required,
    seats,
    approvals,
    refusals,
    matched: status === 'approved' ? approvals : status === 'refused' ? refusals : [],
    contradicted: status === 'approved' ? refusals : status === 'refused' ? approvals : [],
    late,
    silent: assigned.filter((a) => !voted.has(a)),
    decidedBy,
  }
}

function assertAmounts(action: DecisionAmounts): void {
  if (typeof action !== 'object' || action === null) throw invalid('action must be an object.')
  assertCount(action.rewardstoken, 'rewardstoken', 0, Number.MAX_SAFE_INTEGER)
  assertAmount(action.rewardsamount, 'rewardsamount')
  assertAmount(action.rewardsoracle, 'rewardsoracle')
  assertAmount(action.rewardsauditors, 'rewardsauditors')
  assertAmount(action.slashingsauditors, 'slashingsauditors')
}

/** Takes `due` from each contradicting auditor's stake, never more than it holds. */
function slashAll(
  auditors: readonly Account[],
  due: bigint,
  stakes: ReadonlyMap<Account, bigint>,
): { slashes: Slash[]; after: Map<Account, bigint> } {
  const after = new Map<Account, bigint>()
  const slashes = auditors.map((auditor) => {
    const held = assertAmount(stakes.get(auditor) ?? 0n, `stake of "${auditor}"`)
    const taken = due < held ? due : held
    after.set(auditor, held - taken)
    return { auditor, due, taken, shortfall: due - taken }
  })
  return { slashes, after }
}

/** A decision built by hand is checked as hostile input: bounded lists of accounts, one matching. */
function assertDecided(decision: Decision): Decision {
  const { status, matched, contradicted } = decision
  if (status !== 'approved' && status !== 'refused')
    throw invalid(`decision.status ${describeValue(status)} must be "approved" or "refused".`)
  if (!Array.isArray(matched) || !Array.isArray(contradicted))
    throw invalid(
      'decision.matched and decision.contradicted must be lists; build them with decide().',
    )
  assertCount(matched.length, 'decision.matched (its length)', 1, MAX_SEATS)
  assertCount(contradicted.length, 'decision.contradicted (its length)', 0, MAX_SEATS)
  for (const [i, a] of matched.entries()) assertAccount(a, `decision.matched[${i}]`)
  for (const [i, a] of contradicted.entries()) assertAccount(a, `decision.contradicted[${i}]`)
  return decision
}

/**
 * What a decided request pays and slashes. Approval pays `rewardsamount` to the requester,
 * `rewardsoracle` to `oracle` when one attested (else the pool keeps it: it is not funded), and
 * `rewardsauditors` split equally (floor) among the auditors whose vote matched. A refusal pays
 * the requester and the oracle nothing but still pays the matching auditors their split, as the
 * spec says ("split equally among the auditors whose vote matched the decision"): verifying a
 * wrong request is work too. What the split leaves is `remainder` and stays in the pool. Each
 * auditor whose vote contradicted the decision gets one error and is slashed
 * `slashingsauditors` from `stakes` (a missing entry holds 0), never more than it holds; the
 * rest is reported as `shortfall`. Late and silent auditors are neither paid nor slashed.
 * @example
 * payouts(decision, action, { requester: '0xR…', stakes: new Map() }).payments
 */
export function payouts(
  decision: Decision,
  action: DecisionAmounts,
  {
    requester,
    oracle,
    stakes = new Map(),
  }: { requester: Account; oracle?: Account | undefined; stakes?: ReadonlyMap<Account, bigint> },
): Payouts {
  if (decision.status === 'pending')
    throw new ImpactNotDecidedError(
      'The approval request is still pending; payouts follow only an approval or a refusal, so wait for more votes.',
    )
  assertAmounts(action)
  assertAccount(requester, 'requester')
  if (oracle !== undefined) assertAccount(oracle, 'oracle')
  const { matched, contradicted } = assertDecided(decision)
  const status = decision.status
  const payments: Payment[] = []
  if (status === 'approved') {
    payments.push({ account: requester, role: 'requester', amount: action.rewardsamount })
    if (oracle !== undefined)
      payments.push({ account: oracle, role: 'oracle', amount: action.rewardsoracle })
  }
  const share = action.rewardsauditors / BigInt(matched.length)
  for (const auditor of matched) payments.push({ account: auditor, role: 'auditor', amount: share })
  const remainder = action.rewardsauditors - share * BigInt(matched.length)
  const { slashes, after } = slashAll(contradicted, action.slashingsauditors, stakes)
  const paid = payments.reduce((sum, p) => sum + p.amount, 0n)
  return {
    status,
    funded: paid + remainder,
    payments: payments.filter((p) => p.amount > 0n),
    remainder,
    slashes,
    errors: [...contradicted],
    stakes: after,
  }
}

/**
 * The auditors suspended by their error counts: those with at least `maxerrorsauditor` errors
 * (so exactly at the limit suspends), sorted. The reducer counts one error per contradicted vote
 * (`Payouts.errors`) and applies the `maxerrorsauditor` of the action on which the error fell.
 */
export function suspensions(
  errors: ReadonlyMap<Account, number>,
  maxerrorsauditor: number,
): Account[] {
  assertCount(maxerrorsauditor, 'maxerrorsauditor', 1, Number.MAX_SAFE_INTEGER)
  const suspended: Account[] = []
  for (const [auditor, count] of errors) {
    assertCount(count, `errors of "${auditor}"`, 0, Number.MAX_SAFE_INTEGER)
    if (count >= maxerrorsauditor) suspended.push(auditor)
  }
  return suspended.sort(compareText)
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** One decided request to settle, with the parties `payouts` needs. */
export type DecidedRequest = {
  readonly decision: Decision
  readonly action: DecisionAmounts
  readonly requester: Account
  readonly oracle?: Account | undefined
}

/** What a batch of decided requests settles from the pool, in one token. */
export type ImpactSettlement = {
  readonly rewardstoken: number
  /** One amount per account (merged case-insensitively), sorted by lowercase account; no zeros. */
  readonly payees: readonly Account[]
  readonly amounts: readonly bigint[]
  /** Sum of `amounts`: what leaves the pool. */
  readonly total: bigint
  /** The pool before the batch. */
  readonly pool: bigint
  /** Stake taken from contradicting auditors, moved into the pool. */
  readonly slashed: bigint
  /** Slashing that the stakes could not cover (reported, never taken). */
  readonly shortfall: bigint
  /** Rounding of the auditors' splits, which the pool keeps. */
  readonly remainder: bigint
  /** The pool after the batch: `pool + slashed − total`. */
  readonly kept: bigint
  /** Every auditor's stake after the batch (the input stakes, less what was slashed). */
  readonly stakes: ReadonlyMap<Account, bigint>
  /** Errors each auditor got in this batch. */
  readonly errors: ReadonlyMap<Account, number>
  /** Each request's payouts, in batch (decision) order. */
  readonly requests: readonly Payouts[]
}

/**
 * Settles a batch of decided requests from a pool, all or nothing: when the pool cannot pay
 * the whole batch it throws `ImpactPoolShortError` and nothing is paid (a partial batch would
 * make which requests are paid depend on where the batch was cut; the caller funds the pool or
 * settles fewer requests). Slashed stake enters the pool but does not count towards covering
 * the batch, so a batch never depends on stake it has not yet taken. Stakes are threaded through
 * the batch in order, so an auditor slashed twice never loses more than it held.
 */
export function settleBatch({
  pool,
  requests,
  stakes = new Map(),
}: {
  pool: bigint
  requests: readonly DecidedRequest[]
  stakes?: ReadonlyMap<Account, bigint>
}): ImpactSettlement {
  assertAmount(pool, 'pool')
  if (!Array.isArray(requests)) throw invalid('requests must be a list of decided requests.')
  assertCount(requests.length, 'requests (its length)', 1, MAX_BATCH)
  const rewardstoken = assertSameToken(requests)
  const held = new Map(stakes)
  const errors = new Map<Account, number>()
  const results = requests.map((r) => {
    const result = payouts(r.decision, r.action, {
      requester: r.requester,
      oracle: r.oracle,
      stakes: held,
    })
    for (const [auditor, stake] of result.stakes) held.set(auditor, stake)
    for (const auditor of result.errors) errors.set(auditor, (errors.get(auditor) ?? 0) + 1)
    return result
  })
  const { payees, amounts } = mergePayments(results.flatMap((r) => r.payments))
  const total = amounts.reduce((sum, a) => sum + a, 0n)
  if (total > pool) throw new ImpactPoolShortError(total, pool, requests.length)
  const slashes = results.flatMap((r) => r.slashes)
  const slashed = slashes.reduce((sum, s) => sum + s.taken, 0n)
  return {
    rewardstoken,
    payees,
    amounts,
    total,
    pool,
    slashed,
    shortfall: slashes.reduce((sum, s) => sum + s.shortfall, 0n),
    remainder: results.reduce((sum, r) => sum + r.remainder, 0n),
    kept: pool + slashed - total,
    stakes: held,
    errors,
    requests: results,
  }
}

function assertSameToken(requests: readonly DecidedRequest[]): number {
  const token = requests[0]?.action?.rewardstoken
  for (const [i, r] of requests.entries()) {
    if (r?.action?.rewardstoken !== token)
      throw invalid(
        `requests[${i}] pays in token ${describeValue(r?.action?.rewardstoken)} but the batch pays in ${describeValue(token)}; settle each token in its own batch.`,
      )
  }
  return assertCount(token, 'rewardstoken', 0, Number.MAX_SAFE_INTEGER)
}

/** Sums payments per account (case-insensitive, first spelling kept), drops zeros, sorts. */
function mergePayments(payments: readonly Payment[]): { payees: Account[]; amounts: bigint[] } {
  const byKey = new Map<string, { account: Account; amount: bigint }>()
  for (const { account, amount } of payments) {
    const key = account.toLowerCase()
    const entry = byKey.get(key)
    if (entry) entry.amount += amount
    else byKey.set(key, { account, amount })
  }
  const entries = [...byKey.entries()]
    .filter(([, e]) => e.amount > 0n)
    .sort(([a], [b]) => compareText(a, b))
  return { payees: entries.map(([, e]) => e.account), amounts: entries.map(([, e]) => e.amount) }
}
