import { describe, expect, test } from 'vitest'
import {
  disconnectThreshold,
  earlyPaymentLine,
  forgive,
  msUntilUnder,
  priceOf,
  sharedRefreshRate,
  standingOf,
} from '../src/core/swap/accounting.ts'
import {
  decodeSwapAnswer,
  decodeSwapRequest,
  encodeSwap,
  MAX_SWAP_MESSAGE,
  type SwapTerms,
} from '../src/core/swap/protocol.ts'
import {
  ChequeRefusedError,
  checkChequeBacking,
  checkChequeTerms,
  type ReceivedCheque,
} from '../src/core/swap/receive.ts'

// The pure rules of SWAP accounting: prices, thresholds, forgiveness, the receiving checks in
// the spec's order, and the `/rwa/swap/1` messages against hostile bytes.

const book = '0x1111111111111111111111111111111111111111' as const
const other = '0x3333333333333333333333333333333333333333' as const
const me = '0x2222222222222222222222222222222222222222' as const
const issuer = '0x4444444444444444444444444444444444444444' as const
const cheque: ReceivedCheque = {
  chequebook: book,
  beneficiary: me,
  cumulativePayout: 1000n,
  signature: `0x${'ab'.repeat(65)}`,
}
const context = {
  boundChequebook: book,
  beneficiary: me,
  lastCumulative: 400n,
  owed: 0n,
  most: 10_000n,
} as const

const refusal = (f: () => unknown) => {
  try {
    f()
  } catch (error) {
    if (error instanceof ChequeRefusedError) return error.check
    throw error
  }
  return 'accepted'
}

describe('accounting', () => {
  test('prices per op and per byte, thresholds as Bee has them', () => {
    expect(priceOf({ perOp: 1000n, perByte: 2n }, { ops: 3, bytes: 500 })).toBe(4000n)
    expect(disconnectThreshold(13_500_000n, 25)).toBe(16_875_000n)
    expect(earlyPaymentLine(13_500_000n, 50)).toBe(6_750_000n)
    expect(earlyPaymentLine(100n, 100)).toBe(0n)
  })

  test('forgiveness moves a balance toward zero, never past it, both ways', () => {
    expect(forgive(10_000n, 1000n, 2500)).toEqual({ balance: 7500n, forgiven: 2500n })
    expect(forgive(-10_000n, 1000n, 2500)).toEqual({ balance: -7500n, forgiven: 2500n })
    expect(forgive(1000n, 1000n, 60_000)).toEqual({ balance: 0n, forgiven: 1000n })
    expect(forgive(-1000n, 1000n, 60_000)).toEqual({ balance: 0n, forgiven: 1000n })
    expect(forgive(1000n, 0n, 60_000)).toEqual({ balance: 1000n, forgiven: 0n })
    expect(forgive(1000n, 1000n, -5)).toEqual({ balance: 1000n, forgiven: 0n })
    expect(sharedRefreshRate(100n, 40n)).toBe(40n)
    expect(sharedRefreshRate(100n, undefined)).toBe(100n)
  })

  test('the wait until forgiveness brings a debt back under a line', () => {
    expect(msUntilUnder(100n, 200n, 10n)).toBe(0)
    expect(msUntilUnder(300n, 200n, 10n)).toBe(10_100)
    expect(msUntilUnder(300n, 200n, 0n)).toBeUndefined()
  })

  test('standing by the thresholds on both sides', () => {
    const bounds = { payment: 100n, disconnect: 125n, theirPayment: 50n, bounced: false }
    expect(standingOf(0n, bounds)).toBe('ok')
    expect(standingOf(100n, bounds)).toBe('owes')
    expect(standingOf(125n, bounds)).toBe('cut-off')
    expect(standingOf(-50n, bounds)).toBe('in-debt')
    expect(standingOf(-50n, { ...bounds, theirPayment: undefined })).toBe('ok')
    expect(standingOf(0n, { ...bounds, bounced: true })).toBe('bounced')
  })
})

describe('receiving a cheque: the checks in order', () => {
  test('a good cheque passes and its increase is returned', () => {
    expect(checkChequeTerms(cheque, context)).toBe(600n)
    expect(() =>
      checkChequeBacking(cheque, { signer: issuer, issuer, cover: { liquid: 1000n, paidOut: 0n } }),
    ).not.toThrow()
    // Addresses compare without case.
    expect(
      checkChequeTerms(
        { ...cheque, beneficiary: me.toUpperCase().replace('0X', '0x') as never },
        context,
      ),
    ).toBe(600n)
  })

  test('each bad field is refused by its own check', () => {
    expect(refusal(() => checkChequeTerms({ ...cheque, chequebook: other }, context))).toBe(
      'chequebook',
    )
    expect(refusal(() => checkChequeTerms({ ...cheque, beneficiary: other }, context))).toBe(
      'beneficiary',
    )
    expect(refusal(() => checkChequeTerms({ ...cheque, cumulativePayout: 400n }, context))).toBe(
      'increase',
    )
    expect(refusal(() => checkChequeTerms({ ...cheque, cumulativePayout: 399n }, context))).toBe(
      'increase',
    )
    expect(refusal(() => checkChequeTerms(cheque, { ...context, owed: 601n }))).toBe('increase')
    // An overpayment: more than owed with its slack.
    expect(refusal(() => checkChequeTerms(cheque, { ...context, most: 599n }))).toBe('increase')
    expect(checkChequeTerms(cheque, { ...context, most: 600n })).toBe(600n)
    expect(refusal(() => checkChequeBacking(cheque, { signer: other, issuer }))).toBe('signer')
    expect(
      refusal(() =>
        checkChequeBacking(cheque, {
          signer: issuer,
          issuer,
          cover: { liquid: 599n, paidOut: 400n },
        }),
      ),
    ).toBe('cover')
    // Mock mode: no cover check.
    expect(
      refusal(() =>
        checkChequeBacking({ ...cheque, cumulativePayout: 10n ** 30n }, { signer: issuer, issuer }),
      ),
    ).toBe('accepted')
  })

  test('the first failing check in the spec’s order is the one named', () => {
    const everythingWrong = {
      ...cheque,
      chequebook: other,
      beneficiary: other,
      cumulativePayout: 1n,
    }
    expect(refusal(() => checkChequeTerms(everythingWrong, context))).toBe('chequebook')
    expect(refusal(() => checkChequeTerms({ ...everythingWrong, chequebook: book }, context))).toBe(
      'beneficiary',
    )
    // Before any binding, the first cheque binds nothing it is compared with.
    expect(
      checkChequeTerms(
        { ...cheque, chequebook: other },
        { ...context, boundChequebook: undefined },
      ),
    ).toBe(600n)
  })

  test('refusals say what was wrong and what to do', () => {
    expect(() => checkChequeTerms({ ...cheque, cumulativePayout: 400n }, context)).toThrow(
      /not above the last one received \(400\); a cheque must add to the lifetime total/,
    )
    expect(() =>
      checkChequeBacking(cheque, { signer: issuer, issuer, cover: { liquid: 1n, paidOut: 0n } }),
    ).toThrow(/deposit into the chequebook/)
  })
})

describe('/rwa/swap/1 messages', () => {
  const terms: SwapTerms = {
    mode: 'hard',
    chainId: 31337,
    chequebook: book,
    beneficiary: me,
    pricePerOp: 1000n,
    pricePerByte: 1n,
    paymentThreshold: 13_500_000n,
    refreshRate: 4_500_000n,
    issuer,
  }

  test('requests and answers round-trip', () => {
    expect(decodeSwapRequest(encodeSwap({ t: 'hello', terms }))).toEqual({ t: 'hello', terms })
    expect(decodeSwapRequest(encodeSwap({ t: 'cheque', cheque }))).toEqual({ t: 'cheque', cheque })
    expect(decodeSwapAnswer(encodeSwap({ t: 'hello', terms }))).toEqual({ t: 'hello', terms })
    expect(decodeSwapAnswer(encodeSwap({ t: 'ack', balance: -12n }))).toEqual({
      t: 'ack',
      balance: -12n,
    })
    const refused = { t: 'refused', check: 'cover', message: 'deposit first' } as const
    expect(decodeSwapAnswer(encodeSwap(refused))).toEqual(refused)
  })

  test('hostile bytes are refused with a message saying what is wrong', () => {
    const bytes = (value: unknown) =>
      new TextEncoder().encode(
        JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
      )
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(MAX_SWAP_MESSAGE + 1), /over 4096/],
      [new Uint8Array([0xff, 0xfe]), /not UTF-8 JSON/],
      [bytes([1, 2]), /is a JSON object/],
      [bytes({ t: 'pay' }), /Unknown swap request/],
      [bytes({ t: 'hello', terms: { ...terms, mode: 'rich' } }), /terms.mode/],
      [bytes({ t: 'hello', terms: { ...terms, chainId: -1 } }), /terms.chainId/],
      [
        bytes({ t: 'hello', terms: { ...terms, chequebook: '0x12' } }),
        /terms.chequebook is not an address/,
      ],
      [
        bytes({ t: 'hello', terms: { ...terms, pricePerOp: '-1' } }),
        /terms.pricePerOp is not an integer/,
      ],
      [
        bytes({ t: 'hello', terms: { ...terms, pricePerOp: 5 } }),
        /terms.pricePerOp is not an integer/,
      ],
      [
        bytes({ t: 'hello', terms: { ...terms, refreshRate: '9'.repeat(79) } }),
        /terms.refreshRate/,
      ],
      [
        bytes({ t: 'cheque', cheque: { ...cheque, cumulativePayout: String(2n ** 256n) } }),
        /beyond 256 bits/,
      ],
      [bytes({ t: 'cheque', cheque: { ...cheque, signature: '0x1234' } }), /65-byte signature/],
      [bytes({ t: 'cheque', cheque: null }), /cheque is not an object/],
    ]
    for (const [input, message] of cases) expect(() => decodeSwapRequest(input)).toThrow(message)
    expect(() => decodeSwapAnswer(bytes({ t: 'refused', check: 'whim', message: 'x' }))).toThrow(
      /no known check/,
    )
    expect(() => decodeSwapAnswer(bytes({ t: 'ack', balance: '1.5' }))).toThrow(/balance/)
  })
})
