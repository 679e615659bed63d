import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  ETH_UNIT,
  formatAmount,
  InvalidAmountError,
  MAX_AMOUNT,
  parseAmount,
  parseTokenRef,
  type TokenUnit,
  toTokenUnit,
  unknownUnit,
} from '../src/core/amount.ts'

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const RWT: TokenUnit = { address: TOKEN, symbol: 'RWT', decimals: 6 }
const WHOLE: TokenUnit = { address: TOKEN, symbol: 'PTS', decimals: 0 }
const UNITS = { 0: WHOLE, 6: RWT, 18: ETH_UNIT }

/** The error message `parseAmount` throws for `input`. */
function refusal(input: string, unit: TokenUnit): string {
  try {
    parseAmount(input, unit)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidAmountError)
    return (error as InvalidAmountError).shortMessage
  }
  throw new Error(`"${input}" was accepted`)
}

describe('formatAmount', () => {
  test('places the decimals exactly and trims trailing zeros', () => {
    expect(formatAmount(1_500_000n, RWT)).toBe('1.5 RWT')
    expect(formatAmount(1n, RWT)).toBe('0.000001 RWT')
    expect(formatAmount(0n, RWT)).toBe('0 RWT')
    expect(formatAmount(7_000_000n, RWT)).toBe('7 RWT')
    expect(formatAmount(900n, WHOLE)).toBe('900 PTS')
    expect(formatAmount(10n ** 16n, ETH_UNIT)).toBe('0.01 ETH')
    expect(formatAmount(MAX_AMOUNT, ETH_UNIT)).toBe(
      '115792089237316195423570985008687907853269984665640564039457.584007913129639935 ETH',
    )
  })

  test('a token of unknown unit is shown in base units with its address', () => {
    expect(formatAmount(1_500_000n, unknownUnit(TOKEN))).toBe(
      `1500000 base units of token ${TOKEN}`,
    )
  })
})

describe('parseAmount', () => {
  test('reads base units and decimals with the unit', () => {
    expect(parseAmount('1500000', RWT)).toBe(1_500_000n)
    expect(parseAmount('1.5 RWT', RWT)).toBe(1_500_000n)
    expect(parseAmount('1.5rwt', RWT)).toBe(1_500_000n)
    expect(parseAmount(' .5 RWT ', RWT)).toBe(500_000n)
    expect(parseAmount('2. RWT', RWT)).toBe(2_000_000n)
    expect(parseAmount('0.01 ETH', ETH_UNIT)).toBe(10n ** 16n)
    expect(parseAmount('12 PTS', WHOLE)).toBe(12n)
    expect(parseAmount('0', RWT)).toBe(0n)
  })

  test('round-trips every amount for 0, 6 and 18 decimals', () => {
    for (const unit of Object.values(UNITS))
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT }), (base) => {
          expect(parseAmount(formatAmount(base, unit), unit)).toBe(base)
          expect(parseAmount(`${base}`, unit)).toBe(base)
        }),
      )
  })

  test('refuses a wrong unit, too many decimals, negatives and junk, saying what to do', () => {
    expect(refusal('1.5 ETH', RWT)).toBe(
      '"1.5 ETH" is in "ETH", but the amount is paid in RWT; give it in RWT (e.g. "1.5 RWT") or in base units.',
    )
    expect(refusal('1.0000001 RWT', RWT)).toBe(
      '"1.0000001 RWT" has 7 decimals, but RWT has 6; round it to 6 or fewer.',
    )
    expect(refusal('0.5 PTS', WHOLE)).toMatch(/has 1 decimals, but PTS has 0/)
    expect(refusal('-5', RWT)).toBe('"-5" is negative; an amount is zero or more.')
    expect(refusal('-1.5 RWT', RWT)).toMatch(/is negative/)
    expect(refusal('1.5', RWT)).toBe(
      '"1.5" has a decimal point but no unit; write it with the token\'s symbol (e.g. "1.5 RWT"), or give whole base units.',
    )
    for (const junk of ['', 'lots', '1,5 RWT', '1.5.5 RWT', '. RWT', '1 2 RWT', '0x10', 'RWT 1'])
      expect(refusal(junk, RWT)).toMatch(/is (not an amount|in ")/)
    expect(refusal('9'.repeat(200), RWT)).toMatch(/^"9{40}…" is not an amount/)
    expect(refusal(`${MAX_AMOUNT + 1n}`, RWT)).toMatch(/more than a contract can hold/)
    expect(refusal('1.5 RWT', unknownUnit(TOKEN))).toBe(
      `The token ${TOKEN} did not tell its symbol and decimals, so "1.5 RWT" cannot be read; give whole base units.`,
    )
    expect(parseAmount('1500000', unknownUnit(TOKEN))).toBe(1_500_000n)
  })
})

describe('toTokenUnit', () => {
  test('takes what a well-behaved ERC-20 answers', () => {
    expect(toTokenUnit(TOKEN, 'RWT', 6)).toEqual(RWT)
    expect(toTokenUnit(TOKEN, 'RWT', 6n)).toEqual(RWT)
  })

  test('falls back to base units for junk a hostile token may answer', () => {
    for (const [symbol, decimals] of [
      ['RWT', 78],
      ['RWT', -1],
      ['RWT', 1.5],
      ['RWT', undefined],
      ['', 6],
      ['<script>', 6],
      ['TWO WORDS', 6],
      ['X'.repeat(17), 6],
      [undefined, 6],
      [42, 6],
    ] as const)
      expect(toTokenUnit(TOKEN, symbol, decimals)).toEqual(unknownUnit(TOKEN))
  })

  test('a contract calling itself ETH is not shown as ether, nor read in its decimals', () => {
    for (const symbol of ['ETH', 'eth', 'Eth'])
      expect(toTokenUnit(TOKEN, symbol, 18)).toEqual(unknownUnit(TOKEN))
    expect(() => parseAmount('1 ETH', toTokenUnit(TOKEN, 'ETH', 18))).toThrow()
    expect(toTokenUnit('native', 'ETH', 18)).toEqual(ETH_UNIT)
  })
})

describe('parseTokenRef', () => {
  test('names native ETH or an ERC-20 address; refuses anything else', () => {
    expect(parseTokenRef('native')).toBe('native')
    expect(parseTokenRef('ETH')).toBe('native')
    expect(parseTokenRef(`0x${'0'.repeat(40)}`)).toBe('native')
    expect(parseTokenRef(TOKEN)).toBe(TOKEN)
    expect(() => parseTokenRef('RWT')).toThrow(
      '"RWT" is not a token; give "native" for ETH or an ERC-20 contract address (0x and 40 hex digits).',
    )
  })
})
