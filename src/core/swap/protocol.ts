import type { Address, Hex } from 'viem'
import { BaseError } from '../../errors/base.ts'
import type { ChequeCheck, ReceivedCheque } from './receive.ts'

// The `/rwa/swap/1` protocol's messages (issue 22): one request and one answer per stream, each a
// length-prefixed JSON object of at most `MAX_SWAP_MESSAGE` bytes. Bigints travel as decimal
// strings. A peer's identity is the libp2p peer id of the connection (Noise-authenticated), which
// the handshake binds to its chequebook.
//   hello  → hello   the terms of each side (mode, chain, chequebook, beneficiary, prices, thresholds)
//   cheque → ack     the receiver's view of the payer's balance after the cheque
//          → refused the check that refused it, and why

/** The protocol id, served on the replicator's libp2p host. */
export const SWAP_PROTOCOL = '/rwa/swap/1'
/** The largest message either side takes. */
export const MAX_SWAP_MESSAGE = 4096

/** Thrown for a message that is not one of the protocol's. */
export class SwapMessageError extends BaseError {
  override name = 'SwapMessageError' as const
}

/** What a node announces in the handshake. */
export type SwapTerms = {
  readonly mode: 'off' | 'soft' | 'mock' | 'hard'
  readonly chainId: number
  readonly chequebook: Address
  readonly beneficiary: Address
  readonly pricePerOp: bigint
  readonly pricePerByte: bigint
  readonly paymentThreshold: bigint
  readonly refreshRate: bigint
  /** Who signs its cheques (mock mode takes cheques on this word; hard mode reads the chain). */
  readonly issuer?: Address
}

export type SwapRequest =
  | { readonly t: 'hello'; readonly terms: SwapTerms }
  | { readonly t: 'cheque'; readonly cheque: ReceivedCheque }

export type SwapAnswer =
  | { readonly t: 'hello'; readonly terms: SwapTerms }
  | { readonly t: 'ack'; readonly balance: bigint }
  | {
      readonly t: 'refused'
      readonly check: ChequeCheck | 'mode' | 'busy'
      readonly message: string
    }

const MAX_UINT256 = 2n ** 256n - 1n
const CHECKS = new Set(['chequebook', 'beneficiary', 'increase', 'signer', 'cover', 'mode', 'busy'])
const MODES = new Set(['off', 'soft', 'mock', 'hard'])

/** Encodes a request or an answer. */
export function encodeSwap(message: SwapRequest | SwapAnswer): Uint8Array {
  const text = JSON.stringify(message, (_key, value) =>
    typeof value === 'bigint' ? value.toString() : value,
  )
  return new TextEncoder().encode(text)
}

/** Decodes a request. @throws SwapMessageError saying what is wrong. */
export function decodeSwapRequest(bytes: Uint8Array): SwapRequest {
  const m = parse(bytes)
  if (m.t === 'hello') return { t: 'hello', terms: terms(m.terms) }
  if (m.t === 'cheque') return { t: 'cheque', cheque: cheque(m.cheque) }
  throw new SwapMessageError(
    `Unknown swap request ${String(m.t).slice(0, 20)}; send hello or cheque.`,
  )
}

/** Decodes an answer. @throws SwapMessageError saying what is wrong. */
export function decodeSwapAnswer(bytes: Uint8Array): SwapAnswer {
  const m = parse(bytes)
  if (m.t === 'hello') return { t: 'hello', terms: terms(m.terms) }
  if (m.t === 'ack') return { t: 'ack', balance: integer(m.balance, 'balance', true) }
  if (m.t === 'refused') {
    if (typeof m.check !== 'string' || !CHECKS.has(m.check))
      throw new SwapMessageError('A refusal names no known check.')
    return {
      t: 'refused',
      check: m.check as ChequeCheck,
      message: text(m.message, 'message', 500),
    }
  }
  throw new SwapMessageError(`Unknown swap answer ${String(m.t).slice(0, 20)}.`)
}

type Raw = Record<string, unknown>

function parse(bytes: Uint8Array): Raw {
  if (bytes.length > MAX_SWAP_MESSAGE)
    throw new SwapMessageError(
      `A swap message of ${bytes.length} bytes is over ${MAX_SWAP_MESSAGE}.`,
    )
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new SwapMessageError('A swap message is not UTF-8 JSON.')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SwapMessageError('A swap message is a JSON object.')
  return value as Raw
}

function object(value: unknown, name: string): Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SwapMessageError(`${name} is not an object.`)
  return value as Raw
}

function text(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.length > max)
    throw new SwapMessageError(`${name} is not a string of at most ${max} characters.`)
  return value
}

function address(value: unknown, name: string): Address {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value))
    throw new SwapMessageError(`${name} is not an address (0x and 40 hex digits).`)
  return value.toLowerCase() as Address
}

function integer(value: unknown, name: string, signed = false): bigint {
  const pattern = signed ? /^-?\d{1,78}$/ : /^\d{1,78}$/
  if (typeof value !== 'string' || !pattern.test(value))
    throw new SwapMessageError(`${name} is not an integer as a decimal string.`)
  const n = BigInt(value)
  if (n > MAX_UINT256 || n < -MAX_UINT256) throw new SwapMessageError(`${name} is beyond 256 bits.`)
  return n
}

function terms(value: unknown): SwapTerms {
  const t = object(value, 'terms')
  if (typeof t.mode !== 'string' || !MODES.has(t.mode))
    throw new SwapMessageError('terms.mode is not off, soft, mock or hard.')
  if (typeof t.chainId !== 'number' || !Number.isSafeInteger(t.chainId) || t.chainId < 0)
    throw new SwapMessageError('terms.chainId is not a chain id.')
  return {
    mode: t.mode as SwapTerms['mode'],
    chainId: t.chainId,
    chequebook: address(t.chequebook, 'terms.chequebook'),
    beneficiary: address(t.beneficiary, 'terms.beneficiary'),
    pricePerOp: integer(t.pricePerOp, 'terms.pricePerOp'),
    pricePerByte: integer(t.pricePerByte, 'terms.pricePerByte'),
    paymentThreshold: integer(t.paymentThreshold, 'terms.paymentThreshold'),
    refreshRate: integer(t.refreshRate, 'terms.refreshRate'),
    ...(t.issuer === undefined ? {} : { issuer: address(t.issuer, 'terms.issuer') }),
  }
}

function cheque(value: unknown): ReceivedCheque {
  const c = object(value, 'cheque')
  const signature = c.signature
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature))
    throw new SwapMessageError(
      'cheque.signature is not a 65-byte signature (0x and 130 hex digits).',
    )
  return {
    chequebook: address(c.chequebook, 'cheque.chequebook'),
    beneficiary: address(c.beneficiary, 'cheque.beneficiary'),
    cumulativePayout: integer(c.cumulativePayout, 'cheque.cumulativePayout'),
    signature: signature.toLowerCase() as Hex,
  }
}
