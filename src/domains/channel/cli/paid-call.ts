import { signClaim } from '../../../core/channel/claim.ts'
import {
  type ChannelPayment,
  formatPaymentHeaders,
  MAX_UINT256,
  PAYMENT_HEADERS,
} from '../../../core/channel/payment.ts'
import type { ErrorKind } from '../../../errors/base.ts'
import { PaidCallRefusedError, ServiceAnswerError } from './client-errors.ts'
import type { ClientChannelKey, ClientChannelState, ClientStateStore } from './client-state.ts'
import { type ChannelAccount, type ReadChainChannel, recoverChannelState } from './recover-state.ts'
import { exchange, quoteService, type ServiceAnswer } from './service-http.ts'
import {
  fetchServiceTerms,
  priceOf,
  type ServiceTerms,
  serviceUrl,
  termsUint,
} from './service-terms.ts'

// `rwa call`: one HTTP call paid from a payment channel (snet-cli's `call`, over HTTP). The client
// signs authorised + price at the channel's nonce and sends the snet headers; the service
// answers with what it now holds as authorised. A refusal that a fresh state or the right price
// cures is retried once; a lost state is recovered from the service.

/** What `paidCall` needs. */
export type PaidCallOptions = {
  readonly url: string
  readonly method?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | Uint8Array | undefined
  readonly channelId: bigint
  /** The channel's sender or signer. */
  readonly account: ChannelAccount
  readonly state: ClientStateStore
  /** The service's terms; fetched from `<origin>/channel` when absent. */
  readonly terms?: ServiceTerms | undefined
  /** Reads the channel on chain, to check a recovered state against (see recoverChannelState). */
  readonly readChannel?: ReadChainChannel | undefined
  /** The largest answer body read (bytes). */
  readonly maxBytes?: number | undefined
  readonly idleTimeoutMs?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/** What one paid call did. */
export type PaidCallResult = {
  /** The service's (or its upstream's) answer. */
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  /** The payment the service took, absent when it took none (a free route, a failed call). */
  readonly paid?: {
    readonly channelId: bigint
    readonly nonce: bigint
    readonly amount: bigint
    readonly price: bigint
  }
  /** Set when the service's payment headers disagree with what was signed: the state was dropped. */
  readonly warning?: string
  /** Requests sent (1 unless a refusal was cured and retried). */
  readonly attempts: number
  /** Whether the channel's state was asked of the service. */
  readonly recovered: boolean
  readonly terms: ServiceTerms
}

/** The refusals of the wire (payment-errors.ts): other error answers are the route's own. */
const PAYMENT_REFUSALS = new Set([
  'PaymentRequiredError',
  'InvalidPaymentError',
  'UnknownChannelError',
  'ForeignChannelError',
  'WrongChannelNonceError',
  'PaymentSignerError',
  'ChannelExpiringError',
  'ChannelValueExceededError',
  'WrongPaymentAmountError',
  'PaymentPendingError',
])

const KIND_OF_STATUS: Record<number, ErrorKind> = {
  400: 'malformed',
  401: 'unauthorised',
  402: 'payment-required',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
}

/** What to do next about a refusal, beyond the service's message. */
const ADVICE: Record<string, string> = {
  ChannelExpiringError: 'extend it with "rwa channel extend"',
  ChannelValueExceededError: 'add funds with "rwa channel add-funds"',
  UnknownChannelError: 'open one to this service with "rwa channel open"',
  ForeignChannelError: 'pay from a channel opened to this service (rwa channel open)',
  PaymentPendingError: 'another call on this channel is under way; try again',
}

/** A payment refusal as the service answered it (its status, error name, message and price). */
export type PaymentRefusal = {
  status: number
  error: string
  message: string
  price: bigint | undefined
}

/** A payment refusal in an answer, or undefined for any other answer (the route's own). */
function refusalOf(answer: ServiceAnswer): PaymentRefusal | undefined {
  if (KIND_OF_STATUS[answer.status] === undefined || answer.body.length > 65_536) return undefined
  let json: { error?: unknown; message?: unknown; price?: unknown; terms?: unknown }
  try {
    json = JSON.parse(answer.body.toString('utf8')) as typeof json
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null || typeof json.error !== 'string') return undefined
  if (!PAYMENT_REFUSALS.has(json.error) && json.terms === undefined) return undefined
  const header = answer.headers['snet-payment-price']
  const priceText = json.price ?? header
  return {
    status: answer.status,
    error: json.error,
    message: quoteService(json.message ?? `HTTP ${answer.status}`),
    price: priceText === undefined ? undefined : termsUint('price', priceText),
  }
}

function refused(r: PaymentRefusal, url: URL): PaidCallRefusedError {
  const advice = ADVICE[r.error]
  return new PaidCallRefusedError(
    `The service at ${url.origin} refused the call (HTTP ${r.status} ${quoteService(r.error, 60)}): ${r.message}${advice ? ` (${advice})` : ''}`,
    { status: r.status, error: r.error, kind: KIND_OF_STATUS[r.status] ?? 'conflict' },
  )
}

/** The payment the service says it now holds, from a successful answer's headers. */
function heldPayment(answer: ServiceAnswer): { nonce: bigint; amount: bigint } | undefined {
  const nonce = answer.headers[PAYMENT_HEADERS.nonce]
  const amount = answer.headers[PAYMENT_HEADERS.amount]
  if (nonce === undefined && amount === undefined) return undefined
  return {
    nonce: termsUint(`header ${PAYMENT_HEADERS.nonce}`, nonce),
    amount: termsUint(`header ${PAYMENT_HEADERS.amount}`, amount),
  }
}

async function signPayment(
  account: ChannelAccount,
  terms: ServiceTerms,
  channelId: bigint,
  state: ClientChannelState,
  price: bigint,
): Promise<ChannelPayment> {
  const amount = state.authorised + price
  if (amount > MAX_UINT256)
    throw new ServiceAnswerError(
      `Amount "${amount}" does not fit a uint256; the price "${price}" is absurd.`,
    )
  const signature = await signClaim(account, terms.escrow, channelId, state.nonce, amount)
  return { channelId, nonce: state.nonce, amount, signature }
}

/**
 * Calls `url`, paying its price from channel `channelId`: signs the authorised amount plus the
 * price at the channel's nonce, sends it in snet's headers, and records what the service holds
 * after a successful call. A 402 naming a price (the terms did not) is paid and retried once; a
 * wrong nonce or amount (a lost or stale state) is cured by asking the service and retried once.
 * @throws PaidCallRefusedError when the service refuses for good; ServiceAnswerError, ServiceTermsError.
 * @example
 * const result = await paidCall({ url: 'http://127.0.0.1:8720/call/echo/hi', channelId: 3n, account, state })
 */
export async function paidCall(options: PaidCallOptions): Promise<PaidCallResult> {
  const url = serviceUrl(options.url)
  const method = (options.method ?? (options.body === undefined ? 'GET' : 'POST')).toUpperCase()
  const terms = options.terms ?? (await fetchServiceTerms(url, options))
  const key: ClientChannelKey = {
    origin: url.origin,
    escrow: terms.escrow,
    channelId: options.channelId,
  }
  const tried = { priced: false, recovered: false }
  let price = priceOf(terms, method, url.pathname)
  let state = options.state.get(key)
  const recover = async () => {
    tried.recovered = true
    state = await recoverChannelState({ ...options, service: url, terms })
    options.state.put(key, state)
    return state
  }
  for (let attempts = 1; ; attempts++) {
    const payment =
      price === undefined
        ? undefined
        : await signPayment(
            options.account,
            terms,
            key.channelId,
            state ?? (await recover()),
            price,
          )
    const answer = await exchange({
      ...options,
      url,
      method,
      headers: { ...options.headers, ...(payment && formatPaymentHeaders(payment)) },
    })
    const refusal = refusalOf(answer)
    if (refusal === undefined)
      return {
        ...settle(options.state, key, answer, payment, price),
        attempts,
        recovered: tried.recovered,
        terms,
      }
    const cure = cureOf(refusal, { price, paid: payment !== undefined, ...tried })
    if (cure === undefined) throw refused(refusal, url)
    if (cure.price !== undefined) [tried.priced, price] = [true, cure.price]
    if (cure.recover) await recover()
  }
}

/**
 * What cures a refusal, each cure tried once (a service that keeps refusing is not asked for
 * ever): a 402 naming a price the call was not paid at is paid at it; a wrong nonce or amount
 * (a lost or stale state) is asked of the service. Undefined: nothing cures it.
 */
export function cureOf(
  refusal: Pick<PaymentRefusal, 'error' | 'price'>,
  tried: { price: bigint | undefined; paid: boolean; priced: boolean; recovered: boolean },
): { price?: bigint; recover: boolean } | undefined {
  const { error } = refusal
  const newPrice =
    refusal.price !== undefined && refusal.price !== tried.price && !tried.priced
      ? refusal.price
      : undefined
  const stale = error === 'WrongPaymentAmountError' || error === 'WrongChannelNonceError'
  const recover = stale && !tried.recovered
  if (error === 'PaymentRequiredError' && !tried.paid && newPrice !== undefined)
    return { price: newPrice, recover: false }
  if (error === 'WrongPaymentAmountError' && newPrice !== undefined)
    return { price: newPrice, recover }
  return recover ? { recover } : undefined
}

/** Records what the service holds after an answer, checked against what was signed. */
function settle(
  store: ClientStateStore,
  key: ClientChannelKey,
  answer: ServiceAnswer,
  payment: ChannelPayment | undefined,
  price: bigint | undefined,
): Pick<PaidCallResult, 'status' | 'headers' | 'body' | 'paid' | 'warning'> {
  const base = { status: answer.status, headers: answer.headers, body: answer.body }
  const held = heldPayment(answer)
  if (payment === undefined || price === undefined || held === undefined) return base
  if (held.nonce === payment.nonce && held.amount === payment.amount) {
    store.put(key, { nonce: held.nonce, authorised: held.amount })
    return {
      ...base,
      paid: { channelId: key.channelId, nonce: held.nonce, amount: held.amount, price },
    }
  }
  // The service holds something other than what was signed: it can claim no more than the
  // signature, but the state is in doubt; the next call asks the service again.
  store.forget(key.escrow, key.channelId, key.origin)
  return {
    ...base,
    warning: `The service says it holds amount "${held.amount}" at nonce "${held.nonce}" on channel "${key.channelId}", but amount "${payment.amount}" at nonce "${payment.nonce}" was signed; the local state was dropped and the next call asks the service.`,
  }
}
