import { type Address, type Hex, isAddressEqual, recoverMessageAddress } from 'viem'
import {
  type ChannelStateReply,
  channelStateRequestMessage,
  serviceStateMessage,
  verifyChannelStateReply,
} from '../../../core/channel/payment.ts'
import { UntrustedChannelStateError } from '../../../core/channel/payment-errors.ts'
import { ServiceAnswerError } from './client-errors.ts'
import type { ClientChannelState } from './client-state.ts'
import { answerJson, exchange, quoteService } from './service-http.ts'
import { fetchServiceTerms, type ServiceTerms, termsUint } from './service-terms.ts'

// A stateless client gets its channel's state back from the service (snet's GetChannelState,
// `POST /channel/state`), and believes only what its own signatures prove.

/** What signs for a paying client: a claim digest, and an EIP-191 message (a viem local account). */
export type ChannelAccount = {
  readonly address: Address
  sign(args: { hash: Hex }): Promise<Hex>
  signMessage(args: { message: { raw: Hex } }): Promise<Hex>
}

/** The chain's view of a channel, to check a service's word against (read over an RPC the user trusts). */
export type ChainChannel = {
  readonly nonce: bigint
  readonly sender: Address
  readonly signer: Address
}

/** Reads a channel on chain, undefined when there is none. */
export type ReadChainChannel = (channelId: bigint) => Promise<ChainChannel | undefined>

const SIGNATURE = /^0x[0-9a-fA-F]{130}$/

function replySignature(field: string, value: unknown): Hex | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && SIGNATURE.test(value)) return value as Hex
  throw new ServiceAnswerError(
    `The service's channel state gives ${field} "${quoteService(value, 90)}", not a 65-byte signature in hex.`,
  )
}

function replyAmount(field: string, value: unknown): bigint | undefined {
  if (value === undefined || value === null) return undefined
  return termsUint(field, value)
}

/** A `POST /channel/state` answer read field by field; undefined fields are absent. */
export function parseChannelStateAnswer(
  json: unknown,
  channelId: bigint,
): ChannelStateReply & { serviceSignature?: Hex } {
  const r = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>
  if (r.channelId !== undefined && termsUint('channelId', r.channelId) !== channelId)
    throw new ServiceAnswerError(
      `The service answered the state of channel "${quoteService(r.channelId, 80)}" when asked for "${channelId}".`,
    )
  const fields = {
    currentNonce: termsUint('currentNonce', r.currentNonce),
    currentSignedAmount: replyAmount('currentSignedAmount', r.currentSignedAmount),
    currentSignature: replySignature('currentSignature', r.currentSignature),
    oldNonceSignedAmount: replyAmount('oldNonceSignedAmount', r.oldNonceSignedAmount),
    oldNonceSignature: replySignature('oldNonceSignature', r.oldNonceSignature),
    serviceSignature: replySignature('serviceSignature', r.serviceSignature),
  }
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as ChannelStateReply & { serviceSignature?: Hex }
}

/** Options of `recoverChannelState`. */
export type RecoverOptions = {
  readonly service: URL
  readonly channelId: bigint
  readonly account: ChannelAccount
  /** The terms to trust for the escrow and recipient (fresh ones are fetched for the block). */
  readonly terms: ServiceTerms
  /** The chain's channel: its parties and nonce bound what the service may claim. */
  readonly readChannel?: ReadChainChannel | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * Asks the service for a channel's state, signed by `account`, and checks the answer: every
 * amount carries a signature by the channel's signer or sender (by `account` itself without a
 * chain to read), the nonce is the chain's or the next (a claim under way), and the service's
 * own signature, when it sends one, is by its recipient.
 * @throws UntrustedChannelStateError for a state the client never signed; ServiceAnswerError for junk.
 */
export async function recoverChannelState({
  service,
  channelId,
  account,
  terms,
  readChannel,
  signal,
}: RecoverOptions): Promise<ClientChannelState> {
  const [fresh, chain] = await Promise.all([
    fetchServiceTerms(service, { signal }),
    readChannel?.(channelId),
  ])
  if (readChannel && chain === undefined)
    throw new ServiceAnswerError(
      `Channel "${channelId}" does not exist in escrow "${terms.escrow}"; open one with "rwa channel open".`,
    )
  const currentBlock = fresh.currentBlock
  const signature = await account.signMessage({
    message: { raw: channelStateRequestMessage(terms.escrow, channelId, currentBlock) },
  })
  const answer = await exchange({
    url: new URL('/channel/state', service.origin),
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      channelId: channelId.toString(),
      currentBlock: currentBlock.toString(),
      signature,
    }),
    maxBytes: 65_536,
    idleTimeoutMs: 30_000,
    signal,
  })
  const json = answerJson(answer, 'channel state')
  if (answer.status !== 200) {
    const { error, message } = (json ?? {}) as { error?: unknown; message?: unknown }
    throw new ServiceAnswerError(
      `The service refused the state of channel "${channelId}" (HTTP ${answer.status} ${quoteService(error, 60)}): ${quoteService(message)}`,
    )
  }
  const reply = parseChannelStateAnswer(json, channelId)
  const parties = chain ?? { sender: account.address, signer: account.address, nonce: undefined }
  if (chain && reply.currentNonce !== chain.nonce && reply.currentNonce !== chain.nonce + 1n)
    throw new UntrustedChannelStateError(
      `The service says channel "${channelId}" is at nonce "${reply.currentNonce}", but the chain has "${chain.nonce}" (the service may only be one ahead, while it claims); do not trust this reply.`,
    )
  const authorised = await verifyChannelStateReply(reply, { channelId, ...parties }, terms.escrow)
  await assertServiceSignature(reply, channelId, terms)
  return { nonce: reply.currentNonce, authorised }
}

async function assertServiceSignature(
  reply: ChannelStateReply & { serviceSignature?: Hex },
  channelId: bigint,
  terms: ServiceTerms,
): Promise<void> {
  if (reply.serviceSignature === undefined) return
  const raw = serviceStateMessage(
    terms.escrow,
    channelId,
    reply.currentNonce,
    reply.currentSignedAmount ?? 0n,
  )
  const by = await recoverMessageAddress({
    message: { raw },
    signature: reply.serviceSignature,
  }).catch(() => undefined)
  if (by === undefined || !isAddressEqual(by, terms.recipient))
    throw new UntrustedChannelStateError(
      `The service's state of channel "${channelId}" is signed by "${by ?? 'no key'}", not its recipient "${terms.recipient}"; do not trust this reply.`,
    )
}

export { serviceStateMessage }
