import { describe, expect, test } from 'vitest'
import {
  ChannelValueExceededError,
  PaymentRequiredError,
  WrongPaymentAmountError,
} from '../src/core/channel/payment-errors.ts'
import { BaseError } from '../src/errors/base.ts'
import { errorResponse, STATUS_OF_KIND } from '../src/http/errors.ts'

describe('errors carry a kind', () => {
  test('a new error class gets its HTTP status from its kind, with no table to edit', () => {
    class SeatTakenError extends BaseError {
      override name = 'SeatTakenError' as const
      override readonly kind = 'conflict' as const
    }
    expect(errorResponse(new SeatTakenError('Seat 4 is taken; pick another.'))).toEqual({
      status: 409,
      body: { error: 'SeatTakenError', message: 'Seat 4 is taken; pick another.' },
    })
  })

  test('every kind has a status, an unnamed BaseError is a 400 and anything else a 500', () => {
    expect(Object.values(STATUS_OF_KIND).every((s) => s >= 400 && s < 600)).toBe(true)
    expect(errorResponse(new BaseError('Say it again, slower.')).status).toBe(400)
    const internal = errorResponse(new TypeError('x is undefined'))
    expect(internal.status).toBe(500)
    // The cause stays in the log: nothing of a bug's message reaches the client.
    expect(internal.body.message).not.toContain('undefined')
  })

  test('kind payment-required is a 402, and the body names the error', () => {
    expect(STATUS_OF_KIND['payment-required']).toBe(402)
    const required = new PaymentRequiredError('This call costs "10"; open a channel and pay.', [
      'snet-payment-channel-id',
    ])
    expect(errorResponse(required)).toEqual({
      status: 402,
      body: {
        error: 'PaymentRequiredError',
        message: 'This call costs "10"; open a channel and pay.',
      },
    })
  })

  test('an unpaid or underpaid call answers 402 over HTTP', () => {
    const refusals = [
      new PaymentRequiredError('Pay first.', []),
      new ChannelValueExceededError('Channel "7" holds "5"; add funds.'),
      new WrongPaymentAmountError('Sign "20", not "15".'),
    ]
    for (const error of refusals) {
      expect(error.kind).toBe('payment-required')
      const { status, body } = errorResponse(error)
      expect(status).toBe(402)
      expect(body).toEqual({ error: error.name, message: error.shortMessage })
    }
  })
})
