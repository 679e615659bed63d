import type { Context, MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { Address, PublicClient } from 'viem'
import { type Channel, readChannel, readNextChannelId } from '../../chain/mpe.ts'
import {
  type ChannelPayment,
  type ChannelView,
  checkPayment,
  PAYMENT_HEADERS,
  type PaymentContext,
  parsePaymentHeaders,
} from '../../core/channel/payment.ts'
import {
  ChannelExpiringError,
  ChannelValueExceededError,
  PaymentError,
  WrongChannelNonceError,
} from '../../core/channel/payment-errors.ts'
import { type PricedRoute, priceOf } from '../../core/channel/routes.ts'
import { BaseError } from '../../errors/base.ts'
import { errorResponse } from '../../http/errors.ts'
import {
  type ChannelMutex,
  createChannelMutex,
  type PaymentStore,
  type StoredChannel,
} from './payment-store.ts'
import { type ClaimVerifier, createClaimVerifier } from './verifier.ts'

// The paid-call gateway (snet-daemon's part in front of a service): for each priced route it
// reads the payment headers, runs the spec's checks in order on the channel as the chain and the
// store know it, writes the payment ahead, lets the call run, and commits the payment only when
// the call answered without error, before handing the answer over. Calls on one channel run one
// at a time (ChannelMutex); calls on different channels run side by side.

/** What the gateway needs from the node. */
export type GatewayOptions = {
  readonly store: PaymentStore
  readonly client: PublicClient
  readonly escrow: Address
  /** This service's recipient (the node operator's Ethereum address). */
  readonly recipient: Address
  /** Blocks before a channel's expiration within which payments are refused. */
  readonly expirationThreshold: bigint
  readonly routes: readonly PricedRoute[]
  readonly logger: Logger
  /** Largest answer held back until its payment is committed, in bytes. */
  readonly maxAnswerBytes?: number
  /** Milliseconds the latest block number is reused before it is read again. */
  readonly blockTtlMs?: number
  /** Counts paid calls by outcome (`paid`, `replayed`, `refused`, `failed`). */
  readonly onCall?: (outcome: 'paid' | 'replayed' | 'refused' | 'failed', price: bigint) => void
  readonly now?: () => number
}

/** The gateway: middleware for priced routes, and the channel state it serves. */
export interface Gateway {
  /** Charges the priced routes; free routes pass through untouched. */
  readonly middleware: MiddlewareHandler
  /** The channel as the service sees it: the chain's fields, the store's nonce and amount. */
  view(channelId: bigint, options?: { fresh?: boolean }): Promise<ChannelView | undefined>
  /** The stored state of a channel (the payment at the previous nonce while a claim runs). */
  stored(channelId: bigint): Promise<StoredChannel | undefined>
  /** The latest block the gateway knows (read again when older than the TTL). */
  currentBlock(options?: { fresh?: boolean }): Promise<bigint>
  /** Forgets what it cached of these channels (the treasurer moved them). */
  invalidate(channelIds: readonly bigint[]): void
  readonly verifier: ClaimVerifier
}

/** Most channels whose chain fields (and stored states) are cached. */
const MAX_CACHED = 50_000

/**
 * Creates the paid-call gateway.
 * @example
 * const gateway = createGateway({ store, client, escrow, recipient, expirationThreshold: 20n, routes, logger })
 * app.use('*', gateway.middleware)
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { store, client, escrow, recipient, expirationThreshold, routes, logger } = options
  const maxAnswerBytes = options.maxAnswerBytes ?? 16 * 1024 * 1024
  const blockTtlMs = options.blockTtlMs ?? 1000
  const now = options.now ?? Date.now
  const mutex: ChannelMutex = createChannelMutex()
  const verifier = createClaimVerifier()
  const chainCache = new Map<bigint, Channel>()
  // The escrow's next channel id, read at most once per block TTL: an id at or above it names
  // no channel, so a flood of unknown ids costs no chain read each.
  let next: { id: bigint; at: number } | undefined
  const storeCache = new Map<bigint, StoredChannel | undefined>()
  let block: { number: bigint; at: number } | undefined
  // Channels whose last committed answer is being handed over by this process: its free retry is
  // for a client that lost it (a crash, a dropped connection), not for a second copy meanwhile.
  const delivering = new Set<bigint>()

  const currentBlock = async ({ fresh = false } = {}) => {
    if (!fresh && block !== undefined && now() - block.at < blockTtlMs) return block.number
    const number = await client.getBlockNumber({ cacheTime: 0 })
    block = { number, at: now() }
    return number
  }

  const nextChannelId = async () => {
    if (next !== undefined && now() - next.at < blockTtlMs) return next.id
    const id = await readNextChannelId(client, escrow)
    next = { id, at: now() }
    return id
  }

  const chainChannel = async (id: bigint, fresh: boolean): Promise<Channel | undefined> => {
    if (!fresh) {
      const cached = chainCache.get(id)
      if (cached !== undefined) return cached
    }
    if (id >= (await nextChannelId())) return undefined
    const channel = await readChannel(client, escrow, id)
    if (channel === undefined) return undefined
    if (chainCache.size >= MAX_CACHED && !chainCache.has(id))
      chainCache.delete(chainCache.keys().next().value as bigint)
    chainCache.set(id, channel)
    return channel
  }

  const storedOf = async (id: bigint): Promise<StoredChannel | undefined> => {
    if (storeCache.has(id)) return storeCache.get(id)
    const stored = await store.get(id)
    if (storeCache.size >= MAX_CACHED) storeCache.delete(storeCache.keys().next().value as bigint)
    storeCache.set(id, stored)
    return stored
  }

  const view = async (id: bigint, { fresh = false } = {}): Promise<ChannelView | undefined> => {
    const chain = await chainChannel(id, fresh)
    if (chain === undefined) return undefined
    let stored = await storedOf(id)
    if (stored !== undefined && stored.nonce < chain.nonce && stored.pending === undefined) {
      // The chain moved on without us (a refund after expiry, a claim made elsewhere): what was
      // signed at the old nonce is kept as the previous payment, and payments restart from 0.
      logger.warn(
        { channel: id.toString(), stored: stored.nonce.toString(), chain: chain.nonce.toString() },
        'channel nonce moved on chain; following it',
      )
      await store.claimed(id, chain.nonce, chain.value)
      storeCache.delete(id)
      stored = await storedOf(id)
    }
    const base = {
      channelId: id,
      sender: chain.sender,
      signer: chain.signer,
      recipient: chain.recipient,
      groupId: chain.groupId,
      expiration: chain.expiration,
    }
    if (stored === undefined || stored.nonce < chain.nonce)
      return { ...base, nonce: chain.nonce, value: chain.value, authorised: 0n }
    // A claim under way (the store one nonce ahead): the claimed amount leaves the value.
    const claiming =
      stored.nonce > chain.nonce && stored.previous?.nonce === chain.nonce
        ? stored.previous.amount
        : 0n
    return {
      ...base,
      nonce: stored.nonce,
      value: chain.value - claiming,
      authorised: stored.authorised,
      ...(stored.signature === undefined ? {} : { signature: stored.signature }),
    }
  }

  const contextFor = (price: bigint, block: bigint, channel: ChannelView | undefined) =>
    ({
      escrow,
      recipient,
      currentBlock: block,
      expirationThreshold,
      price,
      recoverSigner: (e, id, nonce, amount, signature) =>
        verifier.signerOf(
          channel === undefined ? [] : [channel.signer, channel.sender],
          e,
          id,
          nonce,
          amount,
          signature,
        ),
    }) satisfies PaymentContext

  /**
   * Checks a payment. On a refusal that fresher chain state could lift (funds added, the channel
   * extended, a nonce moved, a block passed) and that was judged on cached state, reads the chain
   * again once. An unknown id is judged on a next channel id at most one block TTL old.
   */
  const accept = async (payment: ChannelPayment, price: bigint) => {
    const id = payment.channelId
    const cached = chainCache.has(id)
    const channel = await view(id)
    try {
      return await checkPayment(payment, channel, contextFor(price, await currentBlock(), channel))
    } catch (error) {
      const stale =
        error instanceof ChannelExpiringError ||
        (cached &&
          (error instanceof ChannelValueExceededError ||
            (error instanceof WrongChannelNonceError &&
              channel !== undefined &&
              payment.nonce > channel.nonce)))
      if (!stale) throw error
      const fresh = await view(id, { fresh: true })
      const block = await currentBlock({ fresh: true })
      return checkPayment(payment, fresh, contextFor(price, block, fresh))
    }
  }

  const refuse = (c: Context, error: unknown, price: bigint) => {
    const { status, body } = errorResponse(error)
    if (status >= 500) logger.error({ err: error, path: c.req.path }, 'paid call failed')
    const headers: Record<string, string> = {}
    if (status === 402) headers['snet-payment-price'] = price.toString()
    return c.json({ ...body, price: price.toString(), terms: '/channel' }, status as 400, headers)
  }

  const paid = async (c: Context, price: bigint, next: () => Promise<void>) => {
    let payment: ChannelPayment
    try {
      payment = parsePaymentHeaders(c.req.header(), { price })
    } catch (error) {
      options.onCall?.('refused', price)
      return refuse(c, error, price)
    }
    const id = payment.channelId
    try {
      return await mutex.run(id, async () => {
        const stored = await storedOf(id)
        if (
          !delivering.has(id) &&
          stored?.replays !== undefined &&
          stored.replays > 0 &&
          stored.authorised === payment.amount &&
          (await store.takeReplay(id, payment))
        ) {
          // The same signed payment again, after a crash or a lost answer: served once, free.
          storeCache.delete(id)
          await next()
          options.onCall?.('replayed', price)
          c.res = withPaymentHeaders(c.res, payment.nonce, payment.amount)
          return c.res
        }
        const accepted = await accept(payment, price)
        const pending = await store.begin(id, accepted)
        storeCache.delete(id)
        const abort = async () => {
          // Nothing is charged for a call that failed (or whose answer could not be held).
          await store
            .abort(id, pending.callId)
            .catch((error) =>
              logger.error({ err: error, channel: id.toString() }, 'could not abort a payment'),
            )
          storeCache.delete(id)
          options.onCall?.('failed', price)
        }
        let answer: Response | undefined
        try {
          await next()
          if (c.res.status < 400 && c.error === undefined)
            answer = await heldAnswer(c.res, maxAnswerBytes)
        } catch (error) {
          await abort()
          throw error
        }
        if (answer === undefined) {
          await abort()
          return c.res
        }
        const committed = await store.commit(id, pending.callId)
        storeCache.set(id, committed)
        options.onCall?.('paid', price)
        delivering.add(id)
        c.res = handOver(
          answer,
          pending.nonce,
          pending.amount,
          () => {
            store.delivered(id, pending.callId).then(
              () => {
                // What the store now holds, unless the channel moved on meanwhile.
                if (storeCache.get(id) === committed)
                  storeCache.set(id, { ...committed, replays: 0 })
                delivering.delete(id)
              },
              (error) => {
                delivering.delete(id)
                logger.warn({ err: error, channel: id.toString() }, 'delivered not recorded')
              },
            )
          },
          // The client went away before the whole answer: its free retry stays.
          () => delivering.delete(id),
        )
        return c.res
      })
    } catch (error) {
      if (error instanceof PaymentError || error instanceof BaseError) {
        options.onCall?.('refused', price)
        return refuse(c, error, price)
      }
      throw error
    }
  }

  const middleware: MiddlewareHandler = async (c, next) => {
    const route = priceOf(routes, c.req.method, c.req.path)
    if (route === undefined) return next()
    return paid(c, route.price, next)
  }

  return {
    middleware,
    view,
    stored: storedOf,
    currentBlock,
    invalidate(channelIds) {
      for (const id of channelIds) {
        chainCache.delete(id)
        storeCache.delete(id)
      }
    },
    verifier,
  }
}

/** Thrown when an answer is larger than the gateway holds before committing its payment. */
export class AnswerTooLargeError extends BaseError {
  override name = 'AnswerTooLargeError' as const
  override readonly kind = 'unavailable' as const
}

/** The answer read whole (bounded), so that its payment is committed before any byte leaves. */
async function heldAnswer(response: Response, limit: number): Promise<Response> {
  const length = Number(response.headers.get('content-length') ?? 0)
  if (length > limit) throw tooLarge(length, limit)
  const reader = response.body?.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  if (reader !== undefined)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) {
        await reader.cancel()
        throw tooLarge(size, limit)
      }
      chunks.push(value)
    }
  const headers = new Headers(response.headers)
  headers.delete('content-length')
  return new Response(response.body === null ? null : Buffer.concat(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers,
  })
}

function tooLarge(size: number, limit: number) {
  return new AnswerTooLargeError(
    `The answer is ${size} bytes, more than the ${limit} bytes the gateway holds until the call's payment is committed; nothing was charged. Ask for less, or raise [domains.channel] max_answer_bytes.`,
  )
}

/** Bytes of a held answer handed to the server at a time. */
const HANDOVER_SLICE = 64 * 1024

/**
 * The committed answer, with the payment it cost; `handed` runs once its body was read out,
 * `dropped` when the reader gave up first.
 */
function handOver(
  answer: Response,
  nonce: bigint,
  amount: bigint,
  handed: () => void,
  dropped: () => void,
): Response {
  const source = answer.body
  let body: ReadableStream<Uint8Array> | null = null
  if (source === null) handed()
  else {
    const reader = source.getReader()
    let rest = new Uint8Array(0)
    body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (rest.byteLength === 0) {
          const { done, value } = await reader.read()
          if (done) {
            controller.close()
            return handed()
          }
          rest = value
        }
        // The held answer is one chunk: handed over in slices, the stream ends only once the
        // server took the last one through the socket's backpressure, not at its first read.
        controller.enqueue(rest.subarray(0, HANDOVER_SLICE))
        rest = rest.subarray(HANDOVER_SLICE)
      },
      cancel: (reason) => {
        dropped()
        return reader.cancel(reason)
      },
    })
  }
  return withPaymentHeaders(new Response(body, answer), nonce, amount)
}

function withPaymentHeaders(response: Response, nonce: bigint, amount: bigint): Response {
  const headers = new Headers(response.headers)
  headers.set(PAYMENT_HEADERS.nonce, nonce.toString())
  headers.set(PAYMENT_HEADERS.amount, amount.toString())
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  })
}

/** The escrow payment headers a proxied request must not carry upstream. */
export const PAYMENT_HEADER_NAMES: readonly string[] = Object.values(PAYMENT_HEADERS)
