import { formatRational, parseRational, type Rational, rational } from '../rational.ts'
import { describeValue } from '../text.ts'
import { InvalidAuditInputError } from './errors.ts'

/** How auditors are paid: the RWA formula (`classic`), or with a stake taken at registration. */
export type RewardMode =
  | { readonly mode: 'classic' }
  | {
      readonly mode: 'staked'
      readonly stake: bigint
      readonly slashWrong: Rational
      readonly slashMissing: Rational
    }

/** Everything an audit's genesis op fixes; `audit.param.set` may change some before `start`. */
export type AuditParams = {
  readonly name: string
  /** Hex Ed25519 keys allowed to run the audit (the genesis author always is one). */
  readonly admins: readonly string[]
  /** The reward budget, in base units of `token`. */
  readonly bond: bigint
  /** `native` or the ERC-20 token's address. */
  readonly token: string
  /** k: distinct auditors per item, odd and ≥ 3. */
  readonly auditsPerItem: number
  /** Misaligned inspections cost this many aligned ones (classic mode). */
  readonly slashingRatio: Rational
  readonly reward: RewardMode
  /** Answers are committed first and revealed after `stop`. */
  readonly commitReveal: boolean
  /** Milliseconds an auditor has for an inspection before it may be reassigned. */
  readonly inspectionDeadline: number
  /** What an item with as many true as false answers is (the original: false). */
  readonly tie: boolean
}

/** Defaults of the original RWA where it had them. */
export const AUDIT_DEFAULTS = {
  auditsPerItem: 3,
  slashingRatio: rational(1n, 2n),
  commitReveal: false,
  inspectionDeadline: 24 * 60 * 60 * 1000,
  tie: false,
  token: 'native',
} as const

/** Names accepted by `audit.param.set`, with the original bot's names as aliases. */
export const SETTABLE_PARAMS = {
  auditsPerItem: 'auditsPerItem',
  num_audits_per_item: 'auditsPerItem',
  slashingRatio: 'slashingRatio',
  slashing_ratio: 'slashingRatio',
  bond: 'bond',
  inspectionDeadline: 'inspectionDeadline',
  inspection_deadline: 'inspectionDeadline',
} as const
export type SettableParam = (typeof SETTABLE_PARAMS)[keyof typeof SETTABLE_PARAMS]

const invalid = (message: string) => new InvalidAuditInputError(message)

/** Control characters: names and descriptions are printed to terminals and chats as they are. */
export const CONTROL = /\p{Cc}/u

/** The largest amount a settlement can pay (the escrow's `uint256`). */
export const MAX_AMOUNT = 2n ** 256n - 1n

/** Parses a base-unit amount: a decimal string or a safe integer, > 0 unless `allowZero`, < 2^256. */
export function parseAmount(value: unknown, field: string, { allowZero = false } = {}): bigint {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? `${value}` : value
  if (typeof text !== 'string' || !/^\d{1,78}$/.test(text.trim())) {
    throw invalid(
      `${field} ${describeValue(value)} is not an amount; give a whole number of base units, e.g. "1000".`,
    )
  }
  const amount = BigInt(text.trim())
  if (amount === 0n && !allowZero) throw invalid(`${field} must be greater than 0.`)
  if (amount > MAX_AMOUNT)
    throw invalid(
      `${field} ${amount} is too large; an amount is at most 2^256 − 1 base units (what the escrow can pay).`,
    )
  return amount
}

/** Validates k: odd and at least 3. */
export function parseAuditsPerItem(value: unknown): number {
  const k = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 3 || k % 2 === 0) {
    throw invalid(
      `audits per item ${describeValue(value)} is not allowed; use an odd number of at least 3 (3, 5, 7…), so every item has a majority.`,
    )
  }
  return k
}

function parseRatio(value: unknown, field: string): Rational {
  if (typeof value !== 'string' && typeof value !== 'number')
    throw invalid(`${field} must be a fraction such as "1/2".`)
  try {
    return parseRational(`${value}`, field)
  } catch (cause) {
    throw invalid((cause as Error).message)
  }
}

function parseDeadline(value: unknown): number {
  const ms = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1000) {
    throw invalid(
      `inspection deadline ${describeValue(value)} is not allowed; give milliseconds, at least 1000.`,
    )
  }
  return ms
}

const REWARD_KEYS = { classic: ['mode'], staked: ['mode', 'stake', 'slashWrong', 'slashMissing'] }

function parseReward(value: unknown): RewardMode {
  if (value === undefined) return { mode: 'classic' }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('reward must be an object such as {"mode": "classic"}.')
  const reward = value as Record<string, unknown>
  if (reward.mode !== 'classic' && reward.mode !== 'staked')
    throw invalid('reward mode must be "classic" or "staked".')
  const extra = Object.keys(reward).filter(
    (key) => !REWARD_KEYS[reward.mode as 'classic'].includes(key),
  )
  if (extra.length > 0)
    throw invalid(
      `reward ${describeValue(extra[0])} is not a setting of the ${reward.mode} mode; it takes ${REWARD_KEYS[reward.mode as 'classic'].join(', ')}.`,
    )
  if (reward.mode === 'classic') return { mode: 'classic' }
  return {
    mode: 'staked',
    stake: parseAmount(reward.stake, 'stake'),
    slashWrong: parseRatio(reward.slashWrong ?? '1/2', 'slash rate for wrong answers'),
    slashMissing: parseRatio(reward.slashMissing ?? '1/2', 'slash rate for missing answers'),
  }
}

/**
 * Reads and validates the body of an `audit.create` op.
 * @throws InvalidAuditInputError saying which field is wrong and what is allowed.
 */
export function parseAuditParams(body: unknown, creator: string): AuditParams {
  if (typeof body !== 'object' || body === null)
    throw invalid('an audit needs a body with at least "name" and "bond".')
  const b = body as Record<string, unknown>
  const name = typeof b.name === 'string' ? b.name.trim() : ''
  if (name.length === 0 || name.length > 200)
    throw invalid('an audit needs a name of 1 to 200 characters.')
  if (CONTROL.test(name))
    throw invalid(
      'an audit name must not contain control characters (line breaks, tabs, terminal escapes).',
    )
  const admins = b.admins === undefined ? [] : b.admins
  if (
    !Array.isArray(admins) ||
    !admins.every((a) => typeof a === 'string' && /^[0-9a-f]{64}$/.test(a))
  ) {
    throw invalid('admins must be a list of Ed25519 public keys in lowercase hex (64 digits).')
  }
  const token = b.token ?? AUDIT_DEFAULTS.token
  if (token !== 'native' && (typeof token !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(token))) {
    throw invalid('token must be "native" or an ERC-20 address.')
  }
  if (b.commitReveal !== undefined && typeof b.commitReveal !== 'boolean')
    throw invalid('commitReveal must be true or false.')
  if (b.tie !== undefined && typeof b.tie !== 'boolean')
    throw invalid('tie must be true or false (what an item with a tied vote is).')
  return {
    name,
    admins: [...new Set([creator, ...(admins as string[])])],
    bond: parseAmount(b.bond, 'bond'),
    token,
    auditsPerItem:
      b.auditsPerItem === undefined
        ? AUDIT_DEFAULTS.auditsPerItem
        : parseAuditsPerItem(b.auditsPerItem),
    slashingRatio:
      b.slashingRatio === undefined
        ? AUDIT_DEFAULTS.slashingRatio
        : parseRatio(b.slashingRatio, 'slashing ratio'),
    reward: parseReward(b.reward),
    commitReveal: (b.commitReveal as boolean | undefined) ?? AUDIT_DEFAULTS.commitReveal,
    inspectionDeadline:
      b.inspectionDeadline === undefined
        ? AUDIT_DEFAULTS.inspectionDeadline
        : parseDeadline(b.inspectionDeadline),
    tie: (b.tie as boolean | undefined) ?? AUDIT_DEFAULTS.tie,
  }
}

/** Resolves a parameter name (ours or the original bot's) or explains which exist. */
export function parseParamName(name: unknown): SettableParam {
  // Own keys only: "__proto__" or "toString" must not find Object.prototype's members.
  const known =
    typeof name === 'string' && Object.hasOwn(SETTABLE_PARAMS, name)
      ? SETTABLE_PARAMS[name as keyof typeof SETTABLE_PARAMS]
      : undefined
  if (!known) {
    throw invalid(
      `${describeValue(name)} is not a parameter you can set; use one of ${Object.keys(SETTABLE_PARAMS).join(', ')}.`,
    )
  }
  return known
}

/** Returns `params` with one parameter changed, validated as at creation. */
export function setParam(params: AuditParams, name: SettableParam, value: unknown): AuditParams {
  switch (name) {
    case 'auditsPerItem':
      return { ...params, auditsPerItem: parseAuditsPerItem(value) }
    case 'slashingRatio':
      return { ...params, slashingRatio: parseRatio(value, 'slashing ratio') }
    case 'bond':
      return { ...params, bond: parseAmount(value, 'bond') }
    case 'inspectionDeadline':
      return { ...params, inspectionDeadline: parseDeadline(value) }
  }
}

/** The params as plain JSON-friendly values (amounts and ratios as strings). */
export function formatParams(params: AuditParams) {
  const reward =
    params.reward.mode === 'classic'
      ? { mode: 'classic' as const }
      : {
          mode: 'staked' as const,
          stake: `${params.reward.stake}`,
          slashWrong: formatRational(params.reward.slashWrong),
          slashMissing: formatRational(params.reward.slashMissing),
        }
  return {
    ...params,
    bond: `${params.bond}`,
    slashingRatio: formatRational(params.slashingRatio),
    reward,
  }
}
