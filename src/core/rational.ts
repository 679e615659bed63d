import { BaseError } from '../errors/base.ts'

/** An exact non-negative rational number: `num / den` with `den > 0`, always reduced. */
export type Rational = { readonly num: bigint; readonly den: bigint }

/** Thrown when text is not a valid ratio. */
export class InvalidRatioError extends BaseError {
  override name = 'InvalidRatioError' as const
  override readonly kind = 'invalid' as const
  constructor(field: string, value: string) {
    super(
      `"${value}" is not a valid ${field}; write a non-negative fraction such as "1/2" or a decimal such as "0.5".`,
    )
  }
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b))

/** Builds a reduced rational. */
export function rational(num: bigint, den = 1n): Rational {
  if (den <= 0n || num < 0n)
    throw new RangeError(`rational ${num}/${den} must have num ≥ 0 and den > 0`)
  const g = gcd(num, den) || 1n
  return { num: num / g, den: den / g }
}

/**
 * Parses "3/4", "0.75" or "2" into an exact rational (no floating point anywhere).
 * @throws InvalidRatioError naming `field` for anything else.
 */
export function parseRational(text: string, field = 'ratio'): Rational {
  const value = text.trim()
  const fraction = /^(\d{1,30})\s*\/\s*(\d{1,30})$/.exec(value)
  if (fraction) {
    const den = BigInt(fraction[2]!)
    if (den === 0n) throw new InvalidRatioError(field, text)
    return rational(BigInt(fraction[1]!), den)
  }
  const decimal = /^(\d{1,30})(?:\.(\d{1,30}))?$/.exec(value)
  if (!decimal) throw new InvalidRatioError(field, text)
  const fractionDigits = decimal[2] ?? ''
  return rational(BigInt(decimal[1]! + fractionDigits), 10n ** BigInt(fractionDigits.length))
}

/** Formats a rational as "num/den" (or "num" when whole): the form stored in ops. */
export function formatRational(value: Rational): string {
  return value.den === 1n ? `${value.num}` : `${value.num}/${value.den}`
}

export const add = (a: Rational, b: Rational): Rational =>
  rational(a.num * b.den + b.num * a.den, a.den * b.den)
export const mul = (a: Rational, b: Rational): Rational => rational(a.num * b.num, a.den * b.den)
/** `a − b`, or zero when `b > a`: the `max(0, …)` of the RWA formula. */
export const subClamped = (a: Rational, b: Rational): Rational => {
  const num = a.num * b.den - b.num * a.den
  return num <= 0n ? rational(0n) : rational(num, a.den * b.den)
}
/** Rounds down to a whole number of base units. */
export const floor = (a: Rational): bigint => a.num / a.den
export const compare = (a: Rational, b: Rational): number => {
  const d = a.num * b.den - b.num * a.den
  return d < 0n ? -1 : d > 0n ? 1 : 0
}
