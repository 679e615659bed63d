import { describe, expect, test } from 'vitest'
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
})
