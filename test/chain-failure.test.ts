import { HttpRequestError, TimeoutError } from 'viem'
import { describe, expect, test } from 'vitest'
import { ChainError, PaymentError } from '../src/chain/errors.ts'
import { chainFailure } from '../src/chain/payments.ts'
import { errorResponse } from '../src/http/errors.ts'

describe('chainFailure', () => {
  test('a chain that does not answer is 503 (try again), not a refusal (409)', () => {
    for (const cause of [
      new HttpRequestError({ url: 'http://127.0.0.1:1', details: 'fetch failed' }),
      new TimeoutError({ body: {}, url: 'http://127.0.0.1:1' }),
    ]) {
      const error = chainFailure(cause, 'fund the audit')
      expect(error).toBeInstanceOf(ChainError)
      expect(errorResponse(error).status).toBe(503)
      expect(error.shortMessage).toContain('the chain does not answer')
    }
  })

  test('other chain errors stay payment errors', () => {
    const error = chainFailure(new PaymentError('no'), 'fund the audit')
    expect(errorResponse(error).status).toBe(409)
  })
})
