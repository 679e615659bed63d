import {
  type Address,
  bytesToBigInt,
  bytesToHex,
  encodePacked,
  type Hex,
  hexToBytes,
  isAddressEqual,
  keccak256,
  numberToHex,
  recoverMessageAddress,
} from 'viem'
import { describeValue } from '../text.ts'
import { recoverClaimSigner } from './claim.ts'
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
} from './payment-errors.ts'

// The service side of a SingularityNET Multi-Party Escrow payment (../shared/specs/payments.md):
// the request headers snet-daemon reads (handler/stream_interceptor.go), its checks in its order
// (escrow/validation.go, then the income check of escrow/payment_handler.go), and its
// GetChannelState reply (escrow/state_service.go). Pure: the block, the price and the channel come
// in as arguments; the caller commits what `checkPayment` returns once the call has succeeded.

/** The request headers of an escrow payment, as snet-daemon names them. */
export const PAYMENT_HEADERS = {
  type: 'snet-payment-type',
  channelId: 'snet-payment-channel-id',
  nonce: 'snet-payment-channel-nonce',
  amount: 'snet-payment-channel-amount',
  /** gRPC binary metadata: the 65-byte signature in base64 (`-bin`). */
  signature: 'snet-payment-channel-signature-bin',
} as const

/** The only payment type this gateway takes (snet's `EscrowPaymentType`). */
export const ESCROW_PAYMENT_TYPE = 'escrow'

/** Largest channel id, nonce or amount (a Solidity `uint256`). */
export const MAX_UINT256 = 2n ** 256n - 1n

/** Digits of the largest uint256: a longer decimal header is refused before it is parsed. */
const MAX_DECIMAL_DIGITS = 78
/** Base64 of 65 bytes is 88 characters padded; anything much longer is not a signature. */
const MAX_SIGNATURE_CHARS = 100
/** The order of secp256k1: signatures with `s` above half of it are malleable twins. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
/** Standard base64 (gRPC `-bin` metadata), padded or not. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const DECIMAL = /^[0-9]+$/

/** A payment as the client sent it: cumulative `amount` authorised on the channel at `nonce`. */
export type ChannelPayment = {
  readonly channelId: bigint
  readonly nonce: bigint
  readonly amount: bigint
  /** 65 bytes r ‖ s ‖ v: v normalised to 27 or 28 as `ecrecover` wants, and low s. */
  readonly signature: Hex
}

/** What the service knows of a channel: the chain's fields plus the amount authorised so far. */
export type ChannelView = {
  readonly channelId: bigint
  readonly nonce: bigint
  readonly sender: Address
  readonly signer: Address
  readonly recipient: Address
  readonly groupId: Hex
  /** Tokens in the channel (reduced by each claim). */
  readonly value: bigint
  /** The block after which the sender may take the value back (`channelClaimTimeout`). */
  readonly expiration: bigint
  /** The largest amount signed at `nonce` and committed after a successful call; 0 at first. */
  readonly authorised: bigint
  /** The client's signature of `authorised`, absent while nothing is authorised at `nonce`. */
  readonly signature?: Hex
}

/** What the service checks a payment against. */
export type PaymentContext = {
  /** The MultiPartyEscrow contract the claim message names. */
  readonly escrow: Address
  /** This service's recipient address. */
  readonly recipient: Address
  /** The latest block the service knows. */
  readonly currentBlock: bigint
  /** Blocks before expiration within which payments are refused, to leave time to claim. */
  readonly expirationThreshold: bigint
  /** The price of this call, in the token's base units. */
  readonly price: bigint
  /**
   * How to find who signed a claim message; `recoverPaymentSigner` unless given (claim.ts's
   * `recoverClaimSigner` has this shape, and a verifier with the channel's keys precomputed can
   * be several times faster). It may throw or answer undefined for a signature of no key.
   */
  readonly recoverSigner?: RecoverClaimSigner | undefined
}

/** Who signed the claim message of (escrow, channel id, nonce, amount), the shape of claim.ts. */
export type RecoverClaimSigner = (
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
  signature: Hex,
) => Address | undefined | Promise<Address | undefined>

/** A payment that passed every check: what to commit once the call has succeeded. */
export type AcceptedPayment = {
  readonly channelId: bigint
  readonly nonce: bigint
  /** The new authorised amount (the payment's amount). */
  readonly authorised: bigint
  readonly signature: Hex
  /** The address the signature recovered to: the channel's signer or its sender. */
  readonly signedBy: Address
  /** What this call earns: the price. */
  readonly income: bigint
}

/**
 * Reads the snet payment headers of a request; header names are matched case-insensitively.
 * A missing header is a `PaymentRequiredError` (402, naming the price when given); a header
 * that cannot be read is an `InvalidPaymentError` (400).
 * @example
 * parsePaymentHeaders(Object.fromEntries(request.headers), { price: 10n })
 */
export function parsePaymentHeaders(
  headers: Readonly<Record<string, string | undefined>>,
  { price }: { price?: bigint | undefined } = {},
): ChannelPayment {
  const lower = new Map<string, string>()
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) lower.set(name.toLowerCase(), value)
  const names = Object.values(PAYMENT_HEADERS)
  const missing = names.filter((name) => !lower.has(name))
  if (missing.length > 0) throw paymentRequired(missing, price)
  const type = lower.get(PAYMENT_HEADERS.type)
  if (type !== ESCROW_PAYMENT_TYPE)
    throw new InvalidPaymentError(
      `Payment type ${describeValue(type, 16)} is not supported; send "${PAYMENT_HEADERS.type}: ${ESCROW_PAYMENT_TYPE}".`,
    )
  return {
    channelId: parseUint256(PAYMENT_HEADERS.channelId, lower.get(PAYMENT_HEADERS.channelId)),
    nonce: parseUint256(PAYMENT_HEADERS.nonce, lower.get(PAYMENT_HEADERS.nonce)),
    amount: parseUint256(PAYMENT_HEADERS.amount, lower.get(PAYMENT_HEADERS.amount)),
    signature: parseSignature(lower.get(PAYMENT_HEADERS.signature)),
  }
}

/** The snet headers that carry a payment, as a client sends them. */
export function formatPaymentHeaders(payment: ChannelPayment): Record<string, string> {
  return {
    [PAYMENT_HEADERS.type]: ESCROW_PAYMENT_TYPE,
    [PAYMENT_HEADERS.channelId]: payment.channelId.toString(),
    [PAYMENT_HEADERS.nonce]: payment.nonce.toString(),
    [PAYMENT_HEADERS.amount]: payment.amount.toString(),
    [PAYMENT_HEADERS.signature]: Buffer.from(hexToBytes(payment.signature)).toString('base64'),
  }
}

function paymentRequired(missing: readonly string[], price: bigint | undefined) {
  const cost = price === undefined ? 'This call needs a payment' : `This call costs "${price}"`
  return new PaymentRequiredError(
    `${cost}; pay from an escrow channel with the headers ${missing.map((m) => `"${m}"`).join(', ')}.`,
    missing,
  )
}

/** Reads a decimal uint256 header, bounded before parsing. */
function parseUint256(name: string, value: string | undefined): bigint {
  const text = value?.trim() ?? ''
  if (text.length === 0 || text.length > MAX_DECIMAL_DIGITS || !DECIMAL.test(text))
    throw new InvalidPaymentError(
      `Header "${name}" is ${describeValue(value, 90)}, not a decimal number of at most ${MAX_DECIMAL_DIGITS} digits; send the value in base 10.`,
    )
  const n = BigInt(text)
  if (n > MAX_UINT256)
    throw new InvalidPaymentError(
      `Header "${name}" is "${text}", more than a uint256 holds; send a value below 2^256.`,
    )
  return n
}

/** Reads the base64 signature header: 65 bytes, v of 0, 1, 27 or 28; normalised (see below). */
function parseSignature(value: string | undefined): Hex {
  const text = value?.trim() ?? ''
  const bad = (why: string) =>
    new InvalidPaymentError(
      `Header "${PAYMENT_HEADERS.signature}" is ${describeValue(value, 40)}: ${why}; send the 65-byte signature (r, s, v) in base64.`,
    )
  if (text.length === 0 || text.length > MAX_SIGNATURE_CHARS || !BASE64.test(text))
    throw bad('not base64 of a signature')
  const bytes = new Uint8Array(Buffer.from(text, 'base64'))
  if (bytes.length !== 65) throw bad(`${bytes.length} bytes, not 65`)
  const v = bytes[64] ?? 0
  if (v !== 0 && v !== 1 && v !== 27 && v !== 28) throw bad(`v is ${v}, not 27 or 28`)
  // r and s are scalars of the curve: 0 or past its order is no signature (and n − s of such an
  // s would not be a uint256).
  const r = bytesToBigInt(bytes.subarray(0, 32))
  const s = bytesToBigInt(bytes.subarray(32, 64))
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N)
    throw bad('its r or s is 0 or not below the secp256k1 order')
  return normaliseSignature(bytes, v < 27 ? v + 27 : v)
}

/**
 * The signature with v of 27 or 28 and the low `s` of its pair (`s` and `n − s` recover the same
 * key): what a client sent in high-s form stays claimable by a contract that refuses high `s`.
 */
function normaliseSignature(bytes: Uint8Array, v: number): Hex {
  const s = bytesToBigInt(bytes.subarray(32, 64))
  const high = s > SECP256K1_N / 2n
  const r = bytesToHex(bytes.subarray(0, 32))
  const low = numberToHex(high ? SECP256K1_N - s : s, { size: 32 })
  const parity = high ? 55 - v : v
  return `${r}${low.slice(2)}${parity.toString(16)}` as Hex
}

/**
 * The address that signed a payment's claim message, or undefined when the signature recovers
 * to no key. Byte-compatible with SingularityNET MultiPartyEscrow `channelClaim`: EIP-191 over
 * keccak256 of the packed `__MPE_claim_message`, escrow, channel id, nonce and amount, no chain id.
 */
export async function recoverPaymentSigner(
  escrow: Address,
  payment: ChannelPayment,
): Promise<Address | undefined> {
  return recoverClaimSigner(
    escrow,
    payment.channelId,
    payment.nonce,
    payment.amount,
    payment.signature,
  )
}

/**
 * Runs the service's checks of a paid call in the spec's order (snet-daemon's): the channel is
 * known and pays us; the nonce is the channel's; the signature is by its signer or sender; it
 * does not expire within the threshold; the amount fits its value; the amount adds exactly the
 * price. Returns what to commit (`commitPayment`) after the call succeeds; throws a
 * `PaymentError` naming what was wrong and what to sign instead.
 */
export async function checkPayment(
  payment: ChannelPayment,
  channel: ChannelView | undefined,
  ctx: PaymentContext,
): Promise<AcceptedPayment> {
  const known = assertOurChannel(payment, channel, ctx)
  assertNonce(payment, known, ctx)
  const signedBy = await assertSigner(payment, known, ctx)
  assertNotExpiring(known, ctx)
  assertWithinValue(payment, known)
  assertPrice(payment, known, ctx)
  return {
    channelId: payment.channelId,
    nonce: payment.nonce,
    authorised: payment.amount,
    signature: payment.signature,
    signedBy,
    income: ctx.price,
  }
}

/** The channel after a successful call: the accepted amount and signature authorised. */
export function commitPayment(channel: ChannelView, accepted: AcceptedPayment): ChannelView {
  if (channel.channelId !== accepted.channelId || channel.nonce !== accepted.nonce)
    throw new WrongChannelNonceError(
      `Channel "${channel.channelId}" moved to nonce "${channel.nonce}" before the payment for nonce "${accepted.nonce}" was committed; check the payment again.`,
    )
  return { ...channel, authorised: accepted.authorised, signature: accepted.signature }
}

function assertOurChannel(
  payment: ChannelPayment,
  channel: ChannelView | undefined,
  ctx: PaymentContext,
): ChannelView {
  if (channel === undefined || channel.channelId !== payment.channelId)
    throw new UnknownChannelError(
      `Channel "${payment.channelId}" is not known to this service; open a channel to recipient "${ctx.recipient}" in escrow "${ctx.escrow}" and pay from it.`,
    )
  if (!isAddressEqual(channel.recipient, ctx.recipient))
    throw new ForeignChannelError(
      `Channel "${payment.channelId}" pays recipient "${channel.recipient}", not this service's "${ctx.recipient}"; pay from a channel opened to "${ctx.recipient}".`,
    )
  return channel
}

function assertNonce(payment: ChannelPayment, channel: ChannelView, ctx: PaymentContext): void {
  if (payment.nonce === channel.nonce) return
  throw new WrongChannelNonceError(
    `Channel "${channel.channelId}" is at nonce "${channel.nonce}", not "${payment.nonce}"; sign amount "${channel.authorised + ctx.price}" for nonce "${channel.nonce}" (ask the service for the channel state if you lost it).`,
  )
}

async function assertSigner(
  payment: ChannelPayment,
  channel: ChannelView,
  ctx: PaymentContext,
): Promise<Address> {
  const signedBy = await recoverWith(ctx, payment)
  if (
    signedBy !== undefined &&
    (isAddressEqual(signedBy, channel.signer) || isAddressEqual(signedBy, channel.sender))
  )
    return signedBy
  throw new PaymentSignerError(
    `The payment for channel "${channel.channelId}" is signed by "${signedBy ?? 'no key'}", neither its signer "${channel.signer}" nor its sender "${channel.sender}"; sign the claim message for escrow "${ctx.escrow}" with one of them.`,
  )
}

async function recoverWith(ctx: PaymentContext, p: ChannelPayment): Promise<Address | undefined> {
  if (ctx.recoverSigner === undefined) return recoverPaymentSigner(ctx.escrow, p)
  try {
    return await ctx.recoverSigner(ctx.escrow, p.channelId, p.nonce, p.amount, p.signature)
  } catch {
    // A signature of no key proves nothing; assertSigner reports it with the channel's parties.
    return undefined
  }
}

function assertNotExpiring(channel: ChannelView, ctx: PaymentContext): void {
  const last = ctx.currentBlock + ctx.expirationThreshold
  if (last < channel.expiration) return
  throw new ChannelExpiringError(
    `Channel "${channel.channelId}" expires at block "${channel.expiration}", within this service's threshold of "${ctx.expirationThreshold}" blocks from block "${ctx.currentBlock}"; extend it past block "${last}" (channelExtend) and pay again.`,
  )
}

function assertWithinValue(payment: ChannelPayment, channel: ChannelView): void {
  if (payment.amount <= channel.value) return
  throw new ChannelValueExceededError(
    `Amount "${payment.amount}" is more than channel "${channel.channelId}" holds ("${channel.value}"); add at least "${payment.amount - channel.value}" to it (channelAddFunds) and pay again.`,
  )
}

function assertPrice(payment: ChannelPayment, channel: ChannelView, ctx: PaymentContext): void {
  if (payment.amount - channel.authorised === ctx.price) return
  throw new WrongPaymentAmountError(
    `This call costs "${ctx.price}": sign amount "${channel.authorised + ctx.price}" for channel "${channel.channelId}" at nonce "${channel.nonce}", not "${payment.amount}" (authorised so far: "${channel.authorised}").`,
  )
}

/** A client's request for a channel's state, signed so that only the channel's parties get it. */
export type ChannelStateRequest = {
  readonly channelId: bigint
  /** The block the client signed at; the service accepts it within a few blocks of its own. */
  readonly currentBlock: bigint
  readonly signature: Hex
}

/**
 * snet-daemon's `GetChannelState` answer: the channel's nonce, the last amount and signature at
 * that nonce, and while a claim is under way (the service's nonce one past the chain's) the last
 * amount and signature at the previous nonce. No service signature: each amount is proven by
 * the client's own signature, which the client checks with `verifyChannelStateReply`.
 */
export type ChannelStateReply = {
  readonly currentNonce: bigint
  readonly currentSignedAmount?: bigint
  readonly currentSignature?: Hex
  readonly oldNonceSignedAmount?: bigint
  readonly oldNonceSignature?: Hex
}

/** Blocks a state request's block may be from the service's (snet's `AllowedBlockDifference`). */
export const CHANNEL_STATE_BLOCK_DIFFERENCE = 5n

/**
 * The digest a client signs to ask for a channel's state. Byte-compatible with snet-daemon's
 * `GetChannelState`: EIP-191 over keccak256 of `__get_channel_state`, escrow, channel id, block.
 */
export function channelStateRequestMessage(
  escrow: Address,
  channelId: bigint,
  currentBlock: bigint,
): Hex {
  return keccak256(
    encodePacked(
      ['string', 'address', 'uint256', 'uint256'],
      ['__get_channel_state', escrow, channelId, currentBlock],
    ),
  )
}

/**
 * Checks a channel-state request as snet-daemon does: the signature is by the channel's signer,
 * sender or recipient, and its block is within 5 of the service's. Returns the requester.
 */
export async function checkChannelStateRequest(
  request: ChannelStateRequest,
  channel: ChannelView | undefined,
  { escrow, currentBlock }: { escrow: Address; currentBlock: bigint },
): Promise<Address> {
  if (channel === undefined || channel.channelId !== request.channelId)
    throw new UnknownChannelError(
      `Channel "${request.channelId}" is not known to this service; open one to it first.`,
    )
  const inner = channelStateRequestMessage(escrow, request.channelId, request.currentBlock)
  const requester = await recoverMessageAddress({
    message: { raw: inner },
    signature: request.signature,
  }).catch(() => undefined)
  const parties = [channel.signer, channel.sender, channel.recipient]
  if (requester === undefined || !parties.some((p) => isAddressEqual(p, requester)))
    throw new ChannelStateRequestError(
      `Only channel "${channel.channelId}"'s signer, sender or recipient may read its state, not "${requester ?? 'no key'}"; sign the request with one of them.`,
    )
  const drift = request.currentBlock - currentBlock
  if (drift > CHANNEL_STATE_BLOCK_DIFFERENCE || -drift > CHANNEL_STATE_BLOCK_DIFFERENCE)
    throw new ChannelStateRequestError(
      `The state request is signed at block "${request.currentBlock}", more than ${CHANNEL_STATE_BLOCK_DIFFERENCE} blocks from the service's "${currentBlock}"; sign it again at the latest block.`,
    )
  return requester
}

/**
 * Builds the `GetChannelState` reply for a channel: the current amount and signature when the
 * client signed something at this nonce, and `previous` (the last payment at nonce − 1) while
 * a claim of it is not yet final on chain.
 */
export function channelStateReply(
  channel: ChannelView,
  previous?: { readonly amount: bigint; readonly signature: Hex },
): ChannelStateReply {
  const current =
    channel.signature === undefined
      ? {}
      : { currentSignedAmount: channel.authorised, currentSignature: channel.signature }
  const old =
    previous === undefined
      ? {}
      : { oldNonceSignedAmount: previous.amount, oldNonceSignature: previous.signature }
  return { currentNonce: channel.nonce, ...current, ...old }
}

/**
 * Checks a `GetChannelState` reply on the client side: every amount it reports must carry a
 * signature by the channel's signer or sender, so a service cannot claim more than was signed.
 * Returns the amount the client has authorised at the reply's nonce (0 when none).
 */
export async function verifyChannelStateReply(
  reply: ChannelStateReply,
  channel: Pick<ChannelView, 'channelId' | 'signer' | 'sender'>,
  escrow: Address,
): Promise<bigint> {
  const checks: [bigint, bigint | undefined, Hex | undefined][] = [
    [reply.currentNonce, reply.currentSignedAmount, reply.currentSignature],
    [reply.currentNonce - 1n, reply.oldNonceSignedAmount, reply.oldNonceSignature],
  ]
  for (const [nonce, amount, signature] of checks) {
    if (amount === undefined && signature === undefined) continue
    const signedBy =
      amount === undefined || signature === undefined || nonce < 0n
        ? undefined
        : await recoverPaymentSigner(escrow, {
            channelId: channel.channelId,
            nonce,
            amount,
            signature,
          })
    const ok =
      signedBy !== undefined &&
      (isAddressEqual(signedBy, channel.signer) || isAddressEqual(signedBy, channel.sender))
    if (!ok)
      throw new UntrustedChannelStateError(
        `The service's state of channel "${channel.channelId}" reports amount ${describeValue(amount)} at nonce "${nonce}" without the channel's signature of it; do not trust this reply.`,
      )
  }
  return reply.currentSignedAmount ?? 0n
}

/**
 * The hash a service signs (EIP-191, with its recipient key) over its view of a channel in a
 * GetChannelState answer: rwa's addition to snet's reply, so a client can hold the service to it.
 * keccak256(abi.encodePacked("__rwa_channel_state", escrow, channelId, nonce, amount)).
 */
export function serviceStateMessage(
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
): Hex {
  return keccak256(
    encodePacked(
      ['string', 'address', 'uint256', 'uint256', 'uint256'],
      ['__rwa_channel_state', escrow, channelId, nonce, amount],
    ),
  )
}
