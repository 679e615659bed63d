import { BaseError } from '../errors/base.ts'

/**
 * The unit of an amount: the token it is paid in, with the symbol and decimals to show it by.
 * `symbol` and `decimals` are null when the token did not tell them (no contract, a revert,
 * junk): its amounts are then shown in base units, with the token's address.
 */
export type TokenUnit = {
  /** `native` for the chain's own coin, else the ERC-20 contract's address. */
  readonly address: string
  readonly symbol: string | null
  readonly decimals: number | null
}

/** Thrown when an amount typed by a user or sent over the network cannot be read. */
export class InvalidAmountError extends BaseError {
  override name = 'InvalidAmountError' as const
  override readonly kind = 'invalid' as const
}

/** Native ETH: 18 decimals (wei). */
export const ETH_UNIT: TokenUnit = { address: 'native', symbol: 'ETH', decimals: 18 }

/** Largest amount a contract can hold (uint256). */
export const MAX_AMOUNT = 2n ** 256n - 1n
/** Most decimals a token may declare and still be shown by them (10^77 > 2^256). */
export const MAX_DECIMALS = 77
/** Longest amount text read (a uint256 has 78 digits; room for a point and a unit). */
const MAX_INPUT = 120
/** What a token symbol may look like: short, printable, no spaces or markup. */
const SYMBOL = /^[\p{L}\p{N}$._-]{1,16}$/u

/** The unit a token that told nothing usable gets: its address, base units. */
export function unknownUnit(address: string): TokenUnit {
  return { address, symbol: null, decimals: null }
}

/**
 * A unit from what a token answered, or `unknownUnit` when the answer is not usable: a hostile
 * contract may return any symbol or decimals.
 */
export function toTokenUnit(address: string, symbol: unknown, decimals: unknown): TokenUnit {
  const d = typeof decimals === 'bigint' ? Number(decimals) : decimals
  if (typeof symbol !== 'string' || !SYMBOL.test(symbol)) return unknownUnit(address)
  // Any contract can call itself "ETH": only native ETH goes by that name here.
  if (address !== 'native' && symbol.toUpperCase() === 'ETH') return unknownUnit(address)
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > MAX_DECIMALS)
    return unknownUnit(address)
  return { address, symbol, decimals: d }
}

/** Whether a unit has a symbol and decimals to show amounts by. */
export function isKnownUnit(
  unit: TokenUnit,
): unit is TokenUnit & { symbol: string; decimals: number } {
  return unit.symbol !== null && unit.decimals !== null
}

/**
 * Shows an amount of base units in its token, exactly: decimals placed, trailing zeros trimmed.
 * A token of unknown unit shows base units and its address.
 * @example formatAmount(1_500_000n, { address: '0x…', symbol: 'RWT', decimals: 6 }) // "1.5 RWT"
 */
export function formatAmount(base: bigint, unit: TokenUnit): string {
  if (!isKnownUnit(unit)) return `${base} base units of token ${unit.address}`
  return `${formatDecimal(base, unit.decimals)} ${unit.symbol}`
}

/** An amount of base units as a decimal number of whole tokens (`1500000`, 6 → `"1.5"`). */
export function formatDecimal(base: bigint, decimals: number): string {
  const sign = base < 0n ? '-' : ''
  const digits = (base < 0n ? -base : base).toString().padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`
}

/**
 * Reads an amount: a whole number of base units (`"1500000"`), or a decimal with the token's
 * symbol (`"1.5 RWT"`, `"0.01 ETH"`, any letter case), into base units.
 * @throws InvalidAmountError for a negative, junk, a wrong unit, or more decimals than the token has.
 */
export function parseAmount(input: string, unit: TokenUnit): bigint {
  const text = input.trim()
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
  if (text.length === 0 || text.length > MAX_INPUT)
    throw new InvalidAmountError(
      `${shown} is not an amount; give base units (e.g. "1500000") or a decimal with the token's symbol (e.g. "${example(unit)}").`,
    )
  if (/^\d+$/.test(text)) return bounded(BigInt(text), shown)
  if (text.startsWith('-'))
    throw new InvalidAmountError(`${shown} is negative; an amount is zero or more.`)
  const match = /^(\d*)(?:\.(\d*))?\s*([\p{L}$_][\p{L}\p{N}$._-]*)?$/u.exec(text)
  if (!match || (!match[1] && !match[2]))
    throw new InvalidAmountError(
      `${shown} is not an amount; give base units (e.g. "1500000") or a decimal with the token's symbol (e.g. "${example(unit)}").`,
    )
  const [, whole = '', fraction = '', symbol] = match
  if (!symbol)
    throw new InvalidAmountError(
      `${shown} has a decimal point but no unit; write it with the token's symbol (e.g. "${example(unit)}"), or give whole base units.`,
    )
  if (!isKnownUnit(unit))
    throw new InvalidAmountError(
      `The token ${unit.address} did not tell its symbol and decimals, so ${shown} cannot be read; give whole base units.`,
    )
  if (symbol.toLowerCase() !== unit.symbol.toLowerCase())
    throw new InvalidAmountError(
      `${shown} is in ${JSON.stringify(symbol)}, but the amount is paid in ${unit.symbol}; give it in ${unit.symbol} (e.g. "${example(unit)}") or in base units.`,
    )
  if (fraction.length > unit.decimals)
    throw new InvalidAmountError(
      `${shown} has ${fraction.length} decimals, but ${unit.symbol} has ${unit.decimals}; round it to ${unit.decimals} or fewer.`,
    )
  const base = BigInt(`${whole || '0'}${fraction.padEnd(unit.decimals, '0')}`)
  return bounded(base, shown)
}

function bounded(base: bigint, shown: string): bigint {
  if (base > MAX_AMOUNT)
    throw new InvalidAmountError(
      `${shown} is more than a contract can hold (2^256 − 1 base units); give a smaller amount.`,
    )
  return base
}

const example = (unit: TokenUnit) => (isKnownUnit(unit) ? `1.5 ${unit.symbol}` : '1500000')

/** Thrown when a token is named by something that is not "native" or a contract address. */
export class InvalidTokenError extends BaseError {
  override name = 'InvalidTokenError' as const
  override readonly kind = 'invalid' as const
}

/**
 * A token as a user names it: `native` (or `ETH`, or address(0)) for the chain's own coin, else
 * an ERC-20 contract address, as audits store it.
 * @throws InvalidTokenError for anything else.
 */
export function parseTokenRef(text: string): string {
  const t = text.trim()
  if (/^(native|eth)$/i.test(t) || /^0x0{40}$/i.test(t)) return 'native'
  if (/^0x[0-9a-fA-F]{40}$/.test(t)) return t
  throw new InvalidTokenError(
    `${JSON.stringify(t.slice(0, 60))} is not a token; give "native" for ETH or an ERC-20 contract address (0x and 40 hex digits).`,
  )
}
