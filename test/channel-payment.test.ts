import fc from 'fast-check'
import {
  type Address,
  encodePacked,
  type Hex,
  hashMessage,
  hexToBytes,
  keccak256,
  toHex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import {
  type ChannelPayment,
  type ChannelView,
  channelStateReply,
  channelStateRequestMessage,
  checkChannelStateRequest,
  checkPayment,
  commitPayment,
  formatPaymentHeaders,
  PAYMENT_HEADERS,
  type PaymentContext,
  parsePaymentHeaders,
  recoverPaymentSigner,
  verifyChannelStateReply,
} from '../src/core/channel/payment.ts'
import {
  ChannelExpiringError,
  ChannelStateRequestError,
  ChannelValueExceededError,
  ForeignChannelError,
  InvalidPaymentError,
  PaymentRequiredError,
  PaymentSignerError,
  UnknownChannelError,
  UntrustedChannelStateError,
  WrongChannelNonceError,
  WrongPaymentAmountError,
} from '../src/core/channel/payment-errors.ts'
import { errorResponse } from '../src/http/errors.ts'

// Well-known public development keys (anvil #0, #1, #2, #3); never real keys.
const sender = privateKeyToAccount(
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
)
const signer = privateKeyToAccount(
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
)
const service = privateKeyToAccount(
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
)
const stranger = privateKeyToAccount(
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
)
type Account = typeof sender

const ESCROW: Address = '0x5e592F9b1d303183d963635f895f0f0C48284f4e'
const PRICE = 10n
const CTX: PaymentContext = {
  escrow: ESCROW,
  recipient: service.address,
  currentBlock: 1_000n,
  expirationThreshold: 100n,
  price: PRICE,
}
const CHANNEL: ChannelView = {
  channelId: 42n,
  nonce: 0n,
  sender: sender.address,
  signer: signer.address,
  recipient: service.address,
  groupId: toHex(7n, { size: 32 }),
  value: 10_000n,
  expiration: 2_000n,
  authorised: 0n,
}

/** The claim message of the spec, computed here independently of the code under test. */
function claimInner(channelId: bigint, nonce: bigint, amount: bigint, escrow = ESCROW): Hex {
  return keccak256(
    encodePacked(
      ['string', 'address', 'uint256', 'uint256', 'uint256'],
      ['__MPE_claim_message', escrow, channelId, nonce, amount],
    ),
  )
}

async function pay(
  amount: bigint,
  { by = signer as Account, channelId = 42n, nonce = 0n, escrow = ESCROW } = {},
): Promise<ChannelPayment> {
  const inner = claimInner(channelId, nonce, amount, escrow)
  const signature = await by.signMessage({ message: { raw: inner } })
  return { channelId, nonce, amount, signature }
}

/** Runs a check and returns the error it threw (the test fails when it throws none). */
async function refusal(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a refusal, the payment was accepted')
}

function headersOf(payment: ChannelPayment): Record<string, string> {
  return formatPaymentHeaders(payment)
}

describe('the claim message', () => {
  test('matches the spec vector: 135 packed bytes, inner hash and EIP-191 digest', async () => {
    const packed = encodePacked(
      ['string', 'address', 'uint256', 'uint256', 'uint256'],
      ['__MPE_claim_message', ESCROW, 42n, 0n, 100n],
    )
    expect(hexToBytes(packed).length).toBe(135)
    const inner = claimInner(42n, 0n, 100n)
    expect(inner).toBe('0x7be34a0f9c2390ddcac9e2f02874e983b390b2871b5527b011ba9453bef38023')
    expect(hashMessage({ raw: inner })).toBe(
      '0x1e21ccce3c674207932248dce500a0c07aeddf83d45516911a416e0f4b5b12cb',
    )
  })

  test('recoverPaymentSigner finds the key that signed the spec message', async () => {
    const payment = await pay(100n, { by: sender })
    expect(await recoverPaymentSigner(ESCROW, payment)).toBe(sender.address)
    // The escrow address is part of the message: another escrow recovers another key.
    const other = await recoverPaymentSigner('0x1111111111111111111111111111111111111111', payment)
    expect(other).not.toBe(sender.address)
  })

  test('recoverPaymentSigner answers undefined for a signature that is no point', async () => {
    const payment = await pay(100n)
    const zeros = `0x${'00'.repeat(64)}1b` as Hex
    expect(await recoverPaymentSigner(ESCROW, { ...payment, signature: zeros })).toBeUndefined()
  })
})

describe('parsePaymentHeaders', () => {
  test('reads what formatPaymentHeaders writes (snet names, base64 signature)', async () => {
    const payment = await pay(30n, { nonce: 3n })
    const headers = headersOf(payment)
    expect(Object.keys(headers).sort()).toEqual(Object.values(PAYMENT_HEADERS).sort())
    expect(headers['snet-payment-channel-signature-bin']).toMatch(/^[A-Za-z0-9+/]{87}=$/)
    expect(parsePaymentHeaders(headers)).toEqual(payment)
  })

  test('matches header names case-insensitively and takes unpadded base64', async () => {
    const payment = await pay(30n)
    const headers = Object.fromEntries(
      Object.entries(headersOf(payment)).map(([k, v]) => [k.toUpperCase(), v.replace(/=+$/, '')]),
    )
    expect(parsePaymentHeaders(headers)).toEqual(payment)
  })

  test('normalises v of 0 or 1 to 27 or 28, which still recovers the signer', async () => {
    const payment = await pay(30n)
    const bytes = hexToBytes(payment.signature)
    const v = bytes[64] ?? 0
    bytes[64] = v - 27
    const headers = {
      ...headersOf(payment),
      [PAYMENT_HEADERS.signature]: Buffer.from(bytes).toString('base64'),
    }
    const parsed = parsePaymentHeaders(headers)
    expect(parsed.signature).toBe(payment.signature)
    expect(await recoverPaymentSigner(ESCROW, parsed)).toBe(signer.address)
  })

  test('turns a high-s signature into its low-s twin, which still recovers the signer', async () => {
    const payment = await pay(30n)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(`0x${payment.signature.slice(66, 130)}`)
    const v = Number.parseInt(payment.signature.slice(130), 16)
    const twin =
      `${payment.signature.slice(0, 66)}${toHex(n - s, { size: 32 }).slice(2)}${(55 - v).toString(16)}` as Hex
    expect(s < n / 2n).toBe(true)
    expect(await recoverPaymentSigner(ESCROW, { ...payment, signature: twin })).toBe(signer.address)
    const headers = {
      ...headersOf(payment),
      [PAYMENT_HEADERS.signature]: Buffer.from(hexToBytes(twin)).toString('base64'),
    }
    expect(parsePaymentHeaders(headers).signature).toBe(payment.signature)
  })

  test('answers a call with no payment with 402 naming the price and every header', () => {
    const error = (() => {
      try {
        parsePaymentHeaders({ 'content-type': 'application/json' }, { price: PRICE })
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(PaymentRequiredError)
    const required = error as PaymentRequiredError
    expect(errorResponse(required).status).toBe(402)
    expect(required.shortMessage).toContain('costs "10"')
    expect(required.missing).toEqual(Object.values(PAYMENT_HEADERS))
    for (const name of Object.values(PAYMENT_HEADERS)) expect(required.shortMessage).toContain(name)
  })

  test('answers a payment missing one header with 402 naming that header', async () => {
    const headers: Record<string, string | undefined> = headersOf(await pay(10n))
    headers[PAYMENT_HEADERS.nonce] = undefined
    expect(() => parsePaymentHeaders(headers, { price: PRICE })).toThrow(
      expect.objectContaining({
        name: 'PaymentRequiredError',
        kind: 'payment-required',
        missing: [PAYMENT_HEADERS.nonce],
      }),
    )
  })

  const numeric = [
    ['a 79-digit number', '1'.repeat(79)],
    ['2^256, one past uint256', (2n ** 256n).toString()],
    ['a negative number', '-1'],
    ['hex', '0x2a'],
    ['an exponent', '1e3'],
    ['a fraction', '1.5'],
    ['trailing junk', '12abc'],
    ['an empty value', ''],
    ['a megabyte of digits', '9'.repeat(1_000_000)],
    ['two values joined by a proxy', '1, 2'],
  ] as const
  for (const header of [PAYMENT_HEADERS.channelId, PAYMENT_HEADERS.nonce, PAYMENT_HEADERS.amount])
    for (const [what, value] of numeric)
      test(`refuses ${what} in ${header} with 400 naming the header`, async () => {
        const headers = { ...headersOf(await pay(10n)), [header]: value }
        const error = await refusal(async () => parsePaymentHeaders(headers))
        expect(error).toBeInstanceOf(InvalidPaymentError)
        expect(errorResponse(error).status).toBe(400)
        expect((error as InvalidPaymentError).shortMessage).toContain(header)
        expect((error as InvalidPaymentError).shortMessage.length).toBeLessThan(400)
      })

  test('takes the largest uint256 and leading zeros', async () => {
    const max = (2n ** 256n - 1n).toString()
    const headers = {
      ...headersOf(await pay(10n)),
      [PAYMENT_HEADERS.amount]: max,
      [PAYMENT_HEADERS.nonce]: '0007',
    }
    const parsed = parsePaymentHeaders(headers)
    expect(parsed.amount).toBe(2n ** 256n - 1n)
    expect(parsed.nonce).toBe(7n)
  })

  const signatures = [
    ['not base64', '!!!not-base64!!!'],
    ['base64url', '-_'.repeat(44)],
    ['64 bytes', Buffer.alloc(64, 1).toString('base64')],
    ['66 bytes', Buffer.alloc(66, 1).toString('base64')],
    ['a v of 5', Buffer.concat([Buffer.alloc(64, 1), Buffer.from([5])]).toString('base64')],
    ['hex instead of base64', `0x${'ab'.repeat(65)}`],
    ['a long string', 'A'.repeat(100_000)],
  ] as const
  for (const [what, value] of signatures)
    test(`refuses a signature that is ${what} with 400`, async () => {
      const headers = { ...headersOf(await pay(10n)), [PAYMENT_HEADERS.signature]: value }
      const error = await refusal(async () => parsePaymentHeaders(headers))
      expect(error).toBeInstanceOf(InvalidPaymentError)
      expect((error as InvalidPaymentError).shortMessage).toContain(PAYMENT_HEADERS.signature)
      expect((error as InvalidPaymentError).shortMessage.length).toBeLessThan(400)
    })

  test('refuses a payment type other than escrow with 400', async () => {
    const headers = { ...headersOf(await pay(10n)), [PAYMENT_HEADERS.type]: 'job' }
    expect(() => parsePaymentHeaders(headers)).toThrow(
      expect.objectContaining({ name: 'InvalidPaymentError', kind: 'malformed' }),
    )
  })
})

describe('checkPayment', () => {
  test('accepts a payment of the price signed by the signer, and one signed by the sender', async () => {
    for (const by of [signer, sender]) {
      const accepted = await checkPayment(await pay(PRICE, { by }), CHANNEL, CTX)
      expect(accepted).toEqual({
        channelId: 42n,
        nonce: 0n,
        authorised: PRICE,
        signature: expect.stringMatching(/^0x[0-9a-f]{130}$/),
        signedBy: by.address,
        income: PRICE,
      })
    }
  })

  test('refuses an unknown channel with 404 saying where to open one', async () => {
    const error = await refusal(async () => checkPayment(await pay(PRICE), undefined, CTX))
    expect(error).toBeInstanceOf(UnknownChannelError)
    expect(errorResponse(error).status).toBe(404)
    expect((error as UnknownChannelError).shortMessage).toContain(service.address)
    const other = await refusal(async () =>
      checkPayment(await pay(PRICE, { channelId: 43n }), CHANNEL, CTX),
    )
    expect(other).toBeInstanceOf(UnknownChannelError)
  })

  test('refuses a channel to another recipient with 403', async () => {
    const channel = { ...CHANNEL, recipient: stranger.address }
    const error = await refusal(async () => checkPayment(await pay(PRICE), channel, CTX))
    expect(error).toBeInstanceOf(ForeignChannelError)
    expect(errorResponse(error).status).toBe(403)
    expect((error as ForeignChannelError).shortMessage).toContain(stranger.address)
  })

  test('compares the recipient regardless of address case', async () => {
    const channel = { ...CHANNEL, recipient: service.address.toLowerCase() as Address }
    expect((await checkPayment(await pay(PRICE), channel, CTX)).authorised).toBe(PRICE)
  })

  test('refuses a wrong nonce with 409 naming the current nonce and the amount to sign', async () => {
    const channel = { ...CHANNEL, nonce: 2n, authorised: 30n }
    const error = await refusal(async () =>
      checkPayment(await pay(40n, { nonce: 1n }), channel, CTX),
    )
    expect(error).toBeInstanceOf(WrongChannelNonceError)
    expect(errorResponse(error).status).toBe(409)
    expect((error as WrongChannelNonceError).shortMessage).toContain('nonce "2"')
    expect((error as WrongChannelNonceError).shortMessage).toContain('amount "40"')
  })

  test('uses the recoverSigner it is given, and refuses when that one throws', async () => {
    const calls: bigint[] = []
    const recoverSigner = (escrow: Address, id: bigint, nonce: bigint, amount: bigint) => {
      calls.push(amount)
      return escrow === ESCROW && id === 42n && nonce === 0n ? sender.address : undefined
    }
    const payment = await pay(PRICE, { by: stranger })
    const accepted = await checkPayment(payment, CHANNEL, { ...CTX, recoverSigner })
    expect(accepted.signedBy).toBe(sender.address)
    expect(calls).toEqual([PRICE])
    const throwing = () => {
      throw new Error('invalid signature')
    }
    const error = await refusal(() =>
      checkPayment(payment, CHANNEL, { ...CTX, recoverSigner: throwing }),
    )
    expect(error).toBeInstanceOf(PaymentSignerError)
    expect((error as PaymentSignerError).shortMessage).toContain('"no key"')
  })

  test('refuses a signature by neither signer nor sender with 401', async () => {
    const error = await refusal(async () =>
      checkPayment(await pay(PRICE, { by: stranger }), CHANNEL, CTX),
    )
    expect(error).toBeInstanceOf(PaymentSignerError)
    expect(errorResponse(error).status).toBe(401)
    expect((error as PaymentSignerError).shortMessage).toContain(stranger.address)
  })

  test('refuses a signature over another amount, escrow or channel', async () => {
    const signed = await pay(PRICE)
    const forged = { ...signed, amount: PRICE * 2n }
    const channel = { ...CHANNEL, authorised: PRICE }
    expect(await refusal(() => checkPayment(forged, channel, CTX))).toBeInstanceOf(
      PaymentSignerError,
    )
    const elsewhere = await pay(PRICE, { escrow: '0x1111111111111111111111111111111111111111' })
    expect(await refusal(() => checkPayment(elsewhere, CHANNEL, CTX))).toBeInstanceOf(
      PaymentSignerError,
    )
  })

  test('refuses a channel expiring within the threshold with 409, and accepts one block later', async () => {
    const atEdge = { ...CHANNEL, expiration: CTX.currentBlock + CTX.expirationThreshold }
    const error = await refusal(async () => checkPayment(await pay(PRICE), atEdge, CTX))
    expect(error).toBeInstanceOf(ChannelExpiringError)
    expect(errorResponse(error).status).toBe(409)
    expect((error as ChannelExpiringError).shortMessage).toContain('past block "1100"')
    const past = { ...CHANNEL, expiration: 10n }
    expect(await refusal(async () => checkPayment(await pay(PRICE), past, CTX))).toBeInstanceOf(
      ChannelExpiringError,
    )
    const justIn = { ...atEdge, expiration: atEdge.expiration + 1n }
    expect((await checkPayment(await pay(PRICE), justIn, CTX)).authorised).toBe(PRICE)
  })

  test("refuses an amount over the channel's value with 402 saying how much to add", async () => {
    const channel = { ...CHANNEL, value: 25n, authorised: 20n }
    const error = await refusal(async () => checkPayment(await pay(30n), channel, CTX))
    expect(error).toBeInstanceOf(ChannelValueExceededError)
    expect(errorResponse(error).status).toBe(402)
    expect((error as ChannelValueExceededError).shortMessage).toContain('add at least "5"')
    // Exactly the value is fine.
    const full = { ...channel, value: 30n }
    expect((await checkPayment(await pay(30n), full, CTX)).authorised).toBe(30n)
  })

  test('refuses an increment other than the price with 402 naming the price and next amount', async () => {
    const channel = { ...CHANNEL, authorised: 50n }
    for (const amount of [50n, 55n, 61n, 40n, 0n]) {
      const error = await refusal(async () => checkPayment(await pay(amount), channel, CTX))
      expect(error).toBeInstanceOf(WrongPaymentAmountError)
      expect(errorResponse(error).status).toBe(402)
      expect((error as WrongPaymentAmountError).shortMessage).toContain('costs "10"')
      expect((error as WrongPaymentAmountError).shortMessage).toContain('sign amount "60"')
    }
  })

  test('any amount but authorised + price is refused (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 0n, max: 5_000n }),
        fc.bigInt({ min: 0n, max: 10_000n }),
        async (authorised, amount) => {
          fc.pre(amount !== authorised + PRICE)
          const channel = { ...CHANNEL, authorised }
          const error = await refusal(async () => checkPayment(await pay(amount), channel, CTX))
          expect(error).toBeInstanceOf(WrongPaymentAmountError)
        },
      ),
      { numRuns: 40 },
    )
  })

  // Each fault breaks one check; listed in the spec's order. With faults i..n all present, the
  // check of fault i must be the one that refuses: no later check runs before an earlier one.
  const faults: {
    name: string
    error: new (...args: never[]) => Error
    apply: (c: ChannelView, p: PayOptions) => [ChannelView, PayOptions]
  }[] = [
    {
      name: 'unknown channel',
      error: UnknownChannelError,
      apply: (c, p) => [c, { ...p, channelId: 99n }],
    },
    {
      name: 'another recipient',
      error: ForeignChannelError,
      apply: (c, p) => [{ ...c, recipient: stranger.address }, p],
    },
    {
      name: 'wrong nonce',
      error: WrongChannelNonceError,
      apply: (c, p) => [c, { ...p, nonce: 5n }],
    },
    {
      name: 'signed by a stranger',
      error: PaymentSignerError,
      apply: (c, p) => [c, { ...p, by: stranger }],
    },
    {
      name: 'too close to expiry',
      error: ChannelExpiringError,
      apply: (c, p) => [{ ...c, expiration: 1_050n }, p],
    },
    {
      name: 'over the value',
      error: ChannelValueExceededError,
      apply: (c, p) => [{ ...c, value: 5n }, p],
    },
    {
      name: 'wrong increment',
      error: WrongPaymentAmountError,
      apply: (c, p) => [c, { ...p, amount: 7n }],
    },
  ]
  type PayOptions = {
    amount: bigint
    by: Account
    channelId: bigint
    nonce: bigint
  }
  for (const [i, fault] of faults.entries())
    test(`with "${fault.name}" and every later fault, refuses for "${fault.name}"`, async () => {
      let channel = CHANNEL
      let options: PayOptions = { amount: PRICE, by: signer, channelId: 42n, nonce: 0n }
      for (const later of faults.slice(i)) [channel, options] = later.apply(channel, options)
      const { amount, ...rest } = options
      const payment = await pay(amount, rest)
      // The channel view keeps its id; an unknown channel is one whose id the payment misses.
      const error = await refusal(() => checkPayment(payment, channel, CTX))
      expect(error).toBeInstanceOf(fault.error)
    })

  test('takes 100 consecutive paid calls, then refuses a replay and the old nonce after a claim', async () => {
    let channel = CHANNEL
    let income = 0n
    const signatures = new Set<Hex>()
    for (let call = 1n; call <= 100n; call++) {
      const headers = headersOf(await pay(call * PRICE, { by: call % 2n === 0n ? sender : signer }))
      const payment = parsePaymentHeaders(headers, { price: PRICE })
      const accepted = await checkPayment(payment, channel, CTX)
      channel = commitPayment(channel, accepted)
      income += accepted.income
      signatures.add(accepted.signature)
    }
    expect(channel.authorised).toBe(100n * PRICE)
    expect(income).toBe(100n * PRICE)
    expect(signatures.size).toBe(100)
    expect(
      await recoverPaymentSigner(ESCROW, {
        ...channel,
        amount: channel.authorised,
        signature: channel.signature ?? '0x',
      }),
    ).toBe(sender.address)
    // A replay of the last payment adds nothing: refused.
    const replay = await pay(100n * PRICE, { by: sender })
    expect(await refusal(() => checkPayment(replay, channel, CTX))).toBeInstanceOf(
      WrongPaymentAmountError,
    )
    // The treasurer claims: the nonce moves on, the value shrinks, amounts restart from 0.
    const { signature: _, ...rest } = channel
    const claimed: ChannelView = {
      ...rest,
      nonce: 1n,
      value: channel.value - channel.authorised,
      authorised: 0n,
    }
    const old = await pay(101n * PRICE)
    expect(await refusal(() => checkPayment(old, claimed, CTX))).toBeInstanceOf(
      WrongChannelNonceError,
    )
    const fresh = await checkPayment(await pay(PRICE, { nonce: 1n }), claimed, CTX)
    expect(commitPayment(claimed, fresh).authorised).toBe(PRICE)
  })

  test('commitPayment refuses a payment for a nonce the channel has left', async () => {
    const accepted = await checkPayment(await pay(PRICE), CHANNEL, CTX)
    const moved = { ...CHANNEL, nonce: 1n }
    expect(() => commitPayment(moved, accepted)).toThrow(WrongChannelNonceError)
    expect(commitPayment(CHANNEL, accepted)).toEqual({
      ...CHANNEL,
      authorised: PRICE,
      signature: accepted.signature,
    })
  })
})

describe('channel state (snet GetChannelState)', () => {
  async function stateRequest(by: Account, currentBlock: bigint, channelId = 42n) {
    // snet-daemon's message: "__get_channel_state" ‖ escrow ‖ uint256 id ‖ uint256 block.
    const inner = keccak256(
      encodePacked(
        ['string', 'address', 'uint256', 'uint256'],
        ['__get_channel_state', ESCROW, channelId, currentBlock],
      ),
    )
    expect(channelStateRequestMessage(ESCROW, channelId, currentBlock)).toBe(inner)
    return { channelId, currentBlock, signature: await by.signMessage({ message: { raw: inner } }) }
  }
  const at = { escrow: ESCROW, currentBlock: 1_000n }

  test('answers the signer, sender and recipient', async () => {
    for (const by of [signer, sender, service]) {
      const request = await stateRequest(by, 1_003n)
      expect(await checkChannelStateRequest(request, CHANNEL, at)).toBe(by.address)
    }
  })

  test('refuses a stranger, a stale block and an unknown channel', async () => {
    const strangers = await refusal(async () =>
      checkChannelStateRequest(await stateRequest(stranger, 1_000n), CHANNEL, at),
    )
    expect(strangers).toBeInstanceOf(ChannelStateRequestError)
    expect(errorResponse(strangers).status).toBe(401)
    const stale = await refusal(async () =>
      checkChannelStateRequest(await stateRequest(sender, 994n), CHANNEL, at),
    )
    expect(stale).toBeInstanceOf(ChannelStateRequestError)
    expect((stale as ChannelStateRequestError).shortMessage).toContain('"994"')
    const unknown = await refusal(async () =>
      checkChannelStateRequest(await stateRequest(sender, 1_000n, 7n), CHANNEL, at),
    )
    expect(unknown).toBeInstanceOf(UnknownChannelError)
  })

  test('replies the nonce alone before any payment at it', () => {
    expect(channelStateReply({ ...CHANNEL, nonce: 3n })).toEqual({ currentNonce: 3n })
  })

  test('replies the current and previous nonce amounts, which the client verifies', async () => {
    const previous = await pay(70n, { nonce: 0n })
    const current = await pay(20n, { nonce: 1n, by: sender })
    const channel = { ...CHANNEL, nonce: 1n, authorised: 20n, signature: current.signature }
    const reply = channelStateReply(channel, previous)
    expect(reply).toEqual({
      currentNonce: 1n,
      currentSignedAmount: 20n,
      currentSignature: current.signature,
      oldNonceSignedAmount: 70n,
      oldNonceSignature: previous.signature,
    })
    expect(await verifyChannelStateReply(reply, CHANNEL, ESCROW)).toBe(20n)
    expect(await verifyChannelStateReply({ currentNonce: 1n }, CHANNEL, ESCROW)).toBe(0n)
  })

  test('the client refuses a reply claiming more than it signed, or an old amount unsigned', async () => {
    const current = await pay(20n, { nonce: 1n })
    const inflated = {
      currentNonce: 1n,
      currentSignedAmount: 90n,
      currentSignature: current.signature,
    }
    expect(await refusal(() => verifyChannelStateReply(inflated, CHANNEL, ESCROW))).toBeInstanceOf(
      UntrustedChannelStateError,
    )
    const unsigned = { currentNonce: 1n, oldNonceSignedAmount: 70n }
    expect(await refusal(() => verifyChannelStateReply(unsigned, CHANNEL, ESCROW))).toBeInstanceOf(
      UntrustedChannelStateError,
    )
  })
})

describe('priced routes: one rule for the gateway, the client and the ledger', () => {
  test('a prefix covers itself and what is below it, not its neighbours; methods match exactly', async () => {
    const { parseRoute, priceOf, routeCovers, PricedRouteError } = await import(
      '../src/core/channel/routes.ts'
    )
    const feed = { ...parseRoute('get /feed/*'), price: 1n }
    expect(feed).toEqual({ method: 'GET', path: '/feed/*', price: 1n })
    expect(routeCovers(feed, 'GET', '/feed')).toBe(true)
    expect(routeCovers(feed, 'get', '/feed/eth/usd')).toBe(true)
    expect(routeCovers(feed, 'GET', '/feeds')).toBe(false)
    expect(routeCovers(feed, 'POST', '/feed/x')).toBe(false)
    const exact = { ...parseRoute('/status'), price: 3n }
    expect(exact.method).toBe('*')
    expect(routeCovers(exact, 'DELETE', '/status')).toBe(true)
    expect(routeCovers(exact, 'GET', '/status/x')).toBe(false)
    expect(priceOf([feed, exact], 'GET', '/status')?.price).toBe(3n)
    expect(priceOf([feed, exact], 'GET', '/other')).toBeUndefined()
    for (const bad of ['GET /a b', 'FETCH /x', 'GET feed', 'GET /a/*/b', `GET /${'a'.repeat(200)}`])
      expect(() => parseRoute(bad)).toThrow(PricedRouteError)
  })
})
