import { hash } from 'node:crypto'
import { BaseError } from '../../errors/base.ts'
import { SeededRandom } from '../audit/assign.ts'
import { describeValue } from '../text.ts'

// Eligibility and the assignment draw of impact-action approval requests (issue 19): where an
// auditor works (its `area`), who may be assigned to a request, the seeded draw the proxy makes
// and anyone can repeat, and an auditor's ranking. Pure: no clock, no randomness, no I/O.

/** Thrown when an auditor's `area` or a request's `coordinates` cannot be read. */
export class InvalidLocationError extends BaseError {
  override name = 'InvalidLocationError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when the input of an eligibility check or a draw breaks a rule (a count, a bound). */
export class InvalidAssignmentInputError extends BaseError {
  override name = 'InvalidAssignmentInputError' as const
  override readonly kind = 'invalid' as const
}

// ───────────────────────────── Geography ─────────────────────────────

/** The mean Earth radius (IUGG R1) in metres: the sphere every distance here is measured on. */
export const EARTH_RADIUS_METRES = 6_371_008.8

/** The radius of an area given as a centre only ("lat,lon"): 25 km. */
export const DEFAULT_AREA_RADIUS_METRES = 25_000

/** The longest `area` or `coordinates` text read, in bytes (the spec bounds `area` to 4–128). */
export const MAX_LOCATION_BYTES = 128

/** A point on the sphere, in decimal degrees. */
export type GeoPoint = { readonly lat: number; readonly lon: number }

/** An auditor's region: every point within `radius` whole metres of `centre`. */
export type Area = {
  readonly centre: GeoPoint
  /** The border point it was given with, when there was one. */
  readonly border?: GeoPoint | undefined
  /** Whole metres: the distance centre–border, or DEFAULT_AREA_RADIUS_METRES. */
  readonly radius: number
}

// A decimal degree as people write it: at most 3 integer digits and 15 decimals, no exponent.
const DEGREES = /^[+-]?\d{1,3}(?:\.\d{1,15})?$/

const utf8Length = (text: string) => Buffer.byteLength(text, 'utf8')

/** Splits "a,b,…" into trimmed numbers, refusing anything that is not a plain decimal degree. */
function parseDegrees(text: unknown, field: string, example: string): number[] {
  if (typeof text !== 'string')
    throw new InvalidLocationError(
      `${field} ${describeValue(text)} is not text; write it as "${example}".`,
    )
  if (utf8Length(text) > MAX_LOCATION_BYTES)
    throw new InvalidLocationError(
      `${field} is ${utf8Length(text)} bytes; it is at most ${MAX_LOCATION_BYTES} bytes, e.g. "${example}".`,
    )
  const parts = text.split(',').map((p) => p.trim())
  for (const part of parts) {
    if (!DEGREES.test(part))
      throw new InvalidLocationError(
        `${field} ${describeValue(text)} has ${describeValue(part)}, which is not a number of degrees; write decimal degrees such as "${example}".`,
      )
  }
  return parts.map(Number)
}

/** Builds a point, checking latitude in [−90, 90] and longitude in [−180, 180]. */
function toPoint(lat: number, lon: number, field: string): GeoPoint {
  if (lat < -90 || lat > 90)
    throw new InvalidLocationError(
      `${field} has latitude ${lat}, outside −90…90; latitude comes first ("lat,lon").`,
    )
  if (lon < -180 || lon > 180)
    throw new InvalidLocationError(
      `${field} has longitude ${lon}, outside −180…180; longitude comes second ("lat,lon").`,
    )
  return { lat, lon }
}

/**
 * Parses a request's `coordinates`: "lat,lon" in decimal degrees (spaces around the numbers
 * are allowed).
 * @example
 * parseCoordinates('41.40338,2.17403') // { lat: 41.40338, lon: 2.17403 }
 */
export function parseCoordinates(text: unknown, field = 'coordinates'): GeoPoint {
  const numbers = parseDegrees(text, field, '41.40338,2.17403')
  if (numbers.length !== 2)
    throw new InvalidLocationError(
      `${field} ${describeValue(text)} has ${numbers.length} numbers; give two, "lat,lon", e.g. "41.40338,2.17403".`,
    )
  return toPoint(numbers[0]!, numbers[1]!, field)
}

/**
 * Parses an auditor's `area`: "lat,lon" (a centre, radius DEFAULT_AREA_RADIUS_METRES) or
 * "lat,lon,lat,lon" (a centre and a border point: the radius is the distance between them).
 * @example
 * parseArea('41.40338,2.17403').radius // 25000
 * parseArea('41.38,2.17,41.40,2.17').radius // about 2224 metres
 */
export function parseArea(text: unknown, field = 'area'): Area {
  const numbers = parseDegrees(text, field, '41.40338,2.17403,41.5,2.2')
  if (numbers.length !== 2 && numbers.length !== 4)
    throw new InvalidLocationError(
      `${field} ${describeValue(text)} has ${numbers.length} numbers; give a centre "lat,lon" or a centre and a border point "lat,lon,lat,lon".`,
    )
  const centre = toPoint(numbers[0]!, numbers[1]!, field)
  if (numbers.length === 2) return { centre, radius: DEFAULT_AREA_RADIUS_METRES }
  const border = toPoint(numbers[2]!, numbers[3]!, `${field} border point`)
  return { centre, border, radius: distanceMetres(centre, border) }
}

const RADIANS = Math.PI / 180
const HALF_PI = Math.PI / 2

// The trigonometry below uses only + − × ÷ and sqrt, which IEEE-754 rounds correctly, in a fixed
// order: unlike Math.sin, Math.cos and Math.asin (which ECMAScript leaves approximate, and whose
// bundled implementations have changed between V8 versions), it gives the same bits on every
// engine and platform, so replicas on different Node versions agree on every distance.

/** sin x for |x| ≤ π: reduced to |x| ≤ π/2, then its Taylor series to x²⁵ (error < 1e-22). */
function sine(x: number): number {
  const r = x > HALF_PI ? Math.PI - x : x < -HALF_PI ? -Math.PI - x : x
  const r2 = r * r
  let term = 1
  // Horner form of 1 − r²/(2·3)·(1 − r²/(4·5)·(1 − …)), innermost first.
  for (let k = 24; k >= 2; k -= 2) term = 1 - (r2 / (k * (k + 1))) * term
  return r * term
}

/** cos x for |x| ≤ π/2 (a latitude), as sin(π/2 − |x|). */
const cosine = (x: number): number => sine(HALF_PI - Math.abs(x))

/** atan t for 0 ≤ t ≤ 1: halved twice (t ≤ 0.2), then its Taylor series to t³⁹ (error < 1e-28). */
function arctanUnit(t: number): number {
  let u = t
  for (let i = 0; i < 2; i++) u = u / (1 + Math.sqrt(1 + u * u))
  const u2 = u * u
  let sum = 0
  for (let k = 39; k >= 1; k -= 2) sum = 1 / k - u2 * sum
  return 4 * u * sum
}

/** atan2(y, x) for y, x ≥ 0, not both 0: the angle in [0, π/2]. */
const arctan2 = (y: number, x: number): number =>
  y <= x ? arctanUnit(y / x) : HALF_PI - arctanUnit(x / y)

/**
 * The great-circle distance between two points in whole metres (haversine on a sphere of
 * EARTH_RADIUS_METRES, rounded half up). Deterministic: IEEE-754 double arithmetic with only
 * correctly rounded operations, so every replica computes the same whole metres; accurate to
 * well under a millimetre against the exact haversine.
 * @example
 * distanceMetres({ lat: 41.3874, lon: 2.1686 }, { lat: 40.4168, lon: -3.7038 }) // 505096
 */
export function distanceMetres(a: GeoPoint, b: GeoPoint): number {
  const sinLat = sine(((b.lat - a.lat) * RADIANS) / 2)
  // A longitude difference beyond 180° is the same as its complement the other way round.
  const dLon = Math.abs(b.lon - a.lon)
  const sinLon = sine(((dLon > 180 ? 360 - dLon : dLon) * RADIANS) / 2)
  const h = sinLat * sinLat + cosine(a.lat * RADIANS) * cosine(b.lat * RADIANS) * sinLon * sinLon
  // Clamp: rounding can push h a hair outside [0, 1] near antipodes.
  const hc = Math.min(1, Math.max(0, h))
  if (hc === 0) return 0
  const central = 2 * arctan2(Math.sqrt(hc), Math.sqrt(1 - hc))
  return Math.round(EARTH_RADIUS_METRES * central)
}

/** Returns true when `point` lies within `area` (distance to the centre ≤ radius, whole metres). */
export function isInArea(area: Area, point: GeoPoint): boolean {
  return distanceMetres(area.centre, point) <= area.radius
}

// ───────────────────────────── Eligibility ─────────────────────────────

/** The most auditors one eligibility check or draw takes. */
export const MAX_AUDITORS = 10_000

/** The most auditors one draw may ask for. */
export const MAX_DRAW = 1_000

/** The longest account text accepted, in characters. */
export const MAX_ACCOUNT_LENGTH = 256

/** An auditor as the registry holds it, with what eligibility needs. */
export type AuditorCandidate = {
  /** The auditor's account, in the registry's canonical spelling (compared exactly). */
  readonly account: string
  readonly categories: readonly number[]
  /** The `area` text of its configuration, or that text already parsed. */
  readonly area: string | Area
  readonly suspended?: boolean | undefined
  readonly destroyed?: boolean | undefined
}

/** Why an auditor may not be assigned to a request, in the order they are checked. */
export type ExclusionReason =
  | 'destroyed'
  | 'suspended'
  | 'requester'
  | 'category'
  | 'area'
  | 'assigned'
  | 'unassigned'

/** The order reasons are checked in: an excluded auditor carries the first that applies. */
export const EXCLUSION_REASONS: readonly ExclusionReason[] = [
  'destroyed',
  'suspended',
  'requester',
  'category',
  'area',
  'assigned',
  'unassigned',
]

/** What eligibility reads of an approval request. */
export type RequestForEligibility = {
  /** The request's `coordinates` ("lat,lon"); without them every area matches. */
  readonly coordinates?: string | GeoPoint | undefined
  /** Auditors assigned to it now. */
  readonly assigned?: readonly string[] | undefined
  /** Auditors once assigned to it and unassigned (a missed deadline): never drawn again for it. */
  readonly unassigned?: readonly string[] | undefined
}

/** The outcome of an eligibility check: who may be drawn, and who may not and why. */
export type Eligibility = {
  /** Accounts that may be drawn, sorted (the draw's canonical order). */
  readonly eligible: readonly string[]
  /** Everyone else, sorted by account, each with the first reason that excludes it. */
  readonly excluded: readonly { readonly account: string; readonly reason: ExclusionReason }[]
}

/** Checks a list of accounts: a bounded count, bounded non-empty strings, no duplicates. */
function assertAccounts(accounts: readonly unknown[], field: string): void {
  if (accounts.length > MAX_AUDITORS)
    throw new InvalidAssignmentInputError(
      `${field} lists ${accounts.length} auditors; at most ${MAX_AUDITORS} are taken at once.`,
    )
  const seen = new Set<string>()
  for (const account of accounts) {
    if (typeof account !== 'string' || account.length === 0 || account.length > MAX_ACCOUNT_LENGTH)
      throw new InvalidAssignmentInputError(
        `${field} has account ${describeValue(account)}; an account is 1–${MAX_ACCOUNT_LENGTH} characters of text.`,
      )
    if (seen.has(account))
      throw new InvalidAssignmentInputError(
        `${field} lists account "${account}" twice; each auditor appears once.`,
      )
    seen.add(account)
  }
}

/** The most categories an auditor may list. */
export const MAX_AUDITOR_CATEGORIES = 1_024

/** Checks an auditor's categories: a bounded list. */
function assertCategories(auditor: AuditorCandidate): void {
  const { categories } = auditor
  if (!Array.isArray(categories) || categories.length > MAX_AUDITOR_CATEGORIES)
    throw new InvalidAssignmentInputError(
      `Auditor "${auditor.account}" has categories ${describeValue(categories)}; give a list of at most ${MAX_AUDITOR_CATEGORIES} category ids.`,
    )
}

/** Sorts accounts by UTF-16 code units: the same order on every replica (no locale). */
export const sortAccounts = (accounts: readonly string[]): string[] =>
  [...accounts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** The first reason `auditor` may not serve the request, or undefined when it may. */
function exclusionOf(
  auditor: AuditorCandidate,
  category: number,
  point: GeoPoint | undefined,
  requester: string,
  assigned: ReadonlySet<string>,
  unassigned: ReadonlySet<string>,
): ExclusionReason | undefined {
  if (auditor.destroyed === true) return 'destroyed'
  if (auditor.suspended === true) return 'suspended'
  if (auditor.account === requester) return 'requester'
  if (!auditor.categories.includes(category)) return 'category'
  if (point !== undefined && !coversPoint(auditor.area, point)) return 'area'
  if (assigned.has(auditor.account)) return 'assigned'
  if (unassigned.has(auditor.account)) return 'unassigned'
  return undefined
}

/** Whether an area covers a point; an area text that does not parse covers nothing. */
function coversPoint(area: string | Area, point: GeoPoint): boolean {
  if (typeof area !== 'string') return isInArea(area, point)
  try {
    return isInArea(parseArea(area), point)
  } catch (error) {
    // The registry validates areas on the way in; one that slipped through excludes its auditor
    // (reason "area") rather than blocking every request.
    if (error instanceof InvalidLocationError) return false
    throw error
  }
}

/**
 * The auditors that may be assigned to an approval request: not destroyed, not suspended, not
 * the requester, with the action's category, whose area covers the request's coordinates (a
 * request without coordinates matches every area), not assigned to it now and never unassigned
 * from it. Everyone else comes back with the first reason, in EXCLUSION_REASONS order.
 * @example
 * const { eligible, excluded } = eligibleAuditors({ action, request, auditors, requester })
 */
export function eligibleAuditors({
  action,
  request,
  auditors,
  requester,
}: {
  action: { readonly category: number }
  request: RequestForEligibility
  auditors: readonly AuditorCandidate[]
  requester: string
}): Eligibility {
  assertAccounts(
    auditors.map((a) => a?.account),
    'auditors',
  )
  for (const auditor of auditors) assertCategories(auditor)
  const assigned = new Set(request.assigned ?? [])
  const unassigned = new Set(request.unassigned ?? [])
  assertAccounts([...assigned], 'the assigned auditors')
  assertAccounts([...unassigned], 'the unassigned auditors')
  const point =
    typeof request.coordinates === 'string'
      ? parseCoordinates(request.coordinates)
      : request.coordinates
  const eligible: string[] = []
  const excluded: { account: string; reason: ExclusionReason }[] = []
  for (const auditor of auditors) {
    const reason = exclusionOf(auditor, action.category, point, requester, assigned, unassigned)
    if (reason === undefined) eligible.push(auditor.account)
    else excluded.push({ account: auditor.account, reason })
  }
  const byAccount = (a: { account: string }, b: { account: string }) =>
    a.account < b.account ? -1 : a.account > b.account ? 1 : 0
  return { eligible: sortAccounts(eligible), excluded: excluded.sort(byAccount) }
}

const REASON_TEXT: Record<ExclusionReason, string> = {
  destroyed: 'destroyed',
  suspended: 'suspended',
  requester: 'the requester',
  category: 'in other categories',
  area: 'outside the area',
  assigned: 'already assigned',
  unassigned: 'unassigned earlier',
}

/**
 * Why nobody else could be drawn, for "no eligible auditor" messages: the excluded auditors
 * counted by reason.
 * @example
 * describeExclusions(excluded) // "3 auditors excluded: 2 in other categories, 1 suspended"
 */
export function describeExclusions(excluded: Eligibility['excluded']): string {
  if (excluded.length === 0) return 'no auditor is registered'
  const counts = new Map<ExclusionReason, number>()
  for (const { reason } of excluded) counts.set(reason, (counts.get(reason) ?? 0) + 1)
  const parts = EXCLUSION_REASONS.filter((r) => counts.has(r)).map(
    (r) => `${counts.get(r)} ${REASON_TEXT[r]}`,
  )
  const noun = excluded.length === 1 ? 'auditor' : 'auditors'
  return `${excluded.length} ${noun} excluded: ${parts.join(', ')}`
}

// ───────────────────────────── The draw ─────────────────────────────

const DRAW_TAG = Buffer.from('rwa/impact/assign/v1', 'utf8')
const REPLACE_TAG = Buffer.from('rwa/impact/replace/v1', 'utf8')

/** The longest `requestId` or `entropy` a seed takes, in bytes. */
export const MAX_SEED_INPUT_BYTES = 1024

/** SHA-256 over a tag and length-prefixed parts (u32 big-endian lengths, so parts cannot blur). */
function taggedHash(tag: Buffer, parts: readonly Uint8Array[]): Uint8Array {
  const chunks: Uint8Array[] = [tag]
  for (const part of parts) {
    if (!(part instanceof Uint8Array) || part.length > MAX_SEED_INPUT_BYTES)
      throw new InvalidAssignmentInputError(
        `A seed input is ${describeValue(part)}; give bytes, at most ${MAX_SEED_INPUT_BYTES} of them.`,
      )
    const length = Buffer.alloc(4)
    length.writeUInt32BE(part.length)
    chunks.push(length, part)
  }
  return new Uint8Array(hash('sha256', Buffer.concat(chunks), 'buffer') as unknown as Buffer)
}

/**
 * The seed of a request's assignment draw: SHA-256("rwa/impact/assign/v1" ‖ u32 len ‖ requestId
 * ‖ u32 len ‖ entropy). `requestId` is the request op's id bytes (fixed by the requester);
 * `entropy` is public data the requester could not know when signing, such as the block hash in
 * the proxy's signed block claim, so neither party alone picks its auditors.
 */
export function impactDrawSeed(requestId: Uint8Array, entropy: Uint8Array): Uint8Array {
  return taggedHash(DRAW_TAG, [requestId, entropy])
}

/**
 * The seed of the `attempt`-th replacement draw of a request (1 for the first):
 * SHA-256("rwa/impact/replace/v1" ‖ u32 len ‖ seed ‖ u32 len ‖ u32be attempt).
 */
export function replacementSeed(seed: Uint8Array, attempt: number): Uint8Array {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 0xffff_ffff)
    throw new InvalidAssignmentInputError(
      `Replacement attempt ${describeValue(attempt)} is not a whole number from 1 to 2^32 − 1; count replacements of the request from 1.`,
    )
  const counter = Buffer.alloc(4)
  counter.writeUInt32BE(attempt)
  return taggedHash(REPLACE_TAG, [seed, counter])
}

/** The outcome of a draw. */
export type DrawResult = {
  /** The auditors drawn, in draw order, distinct. */
  readonly chosen: readonly string[]
  /** How many were asked for. */
  readonly wanted: number
  /** How many could be drawn from. */
  readonly eligible: number
  /** wanted − chosen.length: how many are missing (0 when the draw is complete). */
  readonly shortfall: number
}

/** Checks the count a draw asks for. */
function assertWanted(n: unknown): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_DRAW)
    throw new InvalidAssignmentInputError(
      `A draw of ${describeValue(n)} auditors is not possible; ask for a whole number from 1 to ${MAX_DRAW} (the action's "auditors").`,
    )
}

/**
 * Draws `n` distinct auditors from `eligible`: the accounts are put in canonical order (sorted)
 * and a partial Fisher–Yates shuffle driven by SeededRandom(seed) picks them, so anyone with
 * the seed and the eligible set repeats the draw, and every n-subset is equally likely. When
 * fewer than `n` are eligible all of them are drawn (in a seeded order) and `shortfall` says
 * how many are missing.
 * @example
 * drawAuditors({ seed: impactDrawSeed(requestId, blockHash), eligible, n: 3 })
 */
export function drawAuditors({
  seed,
  eligible,
  n,
}: {
  seed: Uint8Array
  eligible: readonly string[]
  n: number
}): DrawResult {
  assertWanted(n)
  assertAccounts(eligible, 'the eligible auditors')
  if (!(seed instanceof Uint8Array) || seed.length !== 32)
    throw new InvalidAssignmentInputError(
      `A draw seed is 32 bytes, not ${describeValue(seed)}; derive it with impactDrawSeed.`,
    )
  const pool = sortAccounts(eligible)
  const take = Math.min(n, pool.length)
  const random = new SeededRandom(seed)
  for (let i = 0; i < take; i++) {
    const j = i + random.below(pool.length - i)
    const picked = pool[j]!
    pool[j] = pool[i]!
    pool[i] = picked
  }
  return { chosen: pool.slice(0, take), wanted: n, eligible: pool.length, shortfall: n - take }
}

/**
 * Draws `n` (default 1) replacements after missed deadlines, from `eligible` minus `taken`
 * (everyone assigned to the request now or ever), with replacementSeed(seed, attempt): a
 * replacement is never someone already assigned or unassigned for the request.
 */
export function drawReplacements({
  seed,
  attempt,
  eligible,
  taken,
  n = 1,
}: {
  seed: Uint8Array
  attempt: number
  eligible: readonly string[]
  taken: readonly string[]
  n?: number
}): DrawResult {
  if (taken.length > MAX_AUDITORS)
    throw new InvalidAssignmentInputError(
      `The taken auditors number ${taken.length}; at most ${MAX_AUDITORS} are taken at once.`,
    )
  const excluded = new Set(taken)
  return drawAuditors({
    seed: replacementSeed(seed, attempt),
    eligible: eligible.filter((account) => !excluded.has(account)),
    n,
  })
}

/**
 * One sentence for a draw the request records: complete, short, or empty.
 * @example
 * formatDraw({ chosen: ['a', 'b'], wanted: 3, eligible: 2, shortfall: 1 })
 * // "2 of 3 auditors assigned: only 2 eligible."
 */
export function formatDraw(result: DrawResult, excluded?: Eligibility['excluded']): string {
  const why = excluded === undefined ? '' : ` (${describeExclusions(excluded)})`
  const noun = result.wanted === 1 ? 'auditor' : 'auditors'
  if (result.shortfall === 0) return `${result.chosen.length} of ${result.wanted} ${noun} assigned.`
  if (result.chosen.length === 0)
    return `No auditor assigned of ${result.wanted} wanted: none eligible${why}.`
  return `${result.chosen.length} of ${result.wanted} ${noun} assigned: only ${result.eligible} eligible${why}.`
}

// ───────────────────────────── Ranking ─────────────────────────────

/** What an auditor's ranking is computed from, counted over all its decided requests. */
export type AuditorHistory = {
  /** Votes that matched the request's decision. */
  readonly matched: number
  /** Votes that contradicted it (each one an error, slashed). */
  readonly errors: number
  /** Deadlines missed (each one an unassignment). */
  readonly missed: number
}

/** What each event is worth in a ranking. */
export const RANKING_WEIGHTS = { matched: 1, error: -3, missed: -2 } as const

/** The largest count a history may hold (so the ranking stays an exact safe integer). */
export const MAX_HISTORY_COUNT = 2 ** 40

/**
 * An auditor's ranking: matched − 3·errors − 2·missed, an integer (higher is better; a new
 * auditor starts at 0). Every matched vote raises it by 1; every error lowers it by 3 (a wrong
 * vote harms a decision); every missed deadline lowers it by 2 (it delays one and costs a
 * replacement draw). Counts are whole numbers up to 2^40, so the result is exact.
 * @example
 * auditorRanking({ matched: 10, errors: 1, missed: 2 }) // 3
 */
export function auditorRanking(history: AuditorHistory): number {
  for (const field of ['matched', 'errors', 'missed'] as const) {
    const value = history[field]
    if (!Number.isInteger(value) || value < 0 || value > MAX_HISTORY_COUNT)
      throw new InvalidAssignmentInputError(
        `An auditor's ${field} count is ${describeValue(value)}; it is a whole number from 0 to 2^40.`,
      )
  }
  return (
    history.matched * RANKING_WEIGHTS.matched +
    history.errors * RANKING_WEIGHTS.error +
    history.missed * RANKING_WEIGHTS.missed
  )
}
