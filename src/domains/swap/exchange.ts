import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { Address } from 'viem'
import {
  decodeSwapAnswer,
  decodeSwapRequest,
  encodeSwap,
  MAX_SWAP_MESSAGE,
  SWAP_PROTOCOL,
  type SwapAnswer,
  type SwapRequest,
  type SwapTerms,
} from '../../core/swap/protocol.ts'
import {
  ChequeRefusedError,
  checkChequeBacking,
  checkChequeTerms,
  type ReceivedCheque,
} from '../../core/swap/receive.ts'
import type { ReplicatorHost } from '../../net/replicator.ts'
import type { Book } from './book.ts'
import type { Bookkeeper } from './bookkeeper.ts'
import type { SwapMode } from './types.ts'

// The `/rwa/swap/1` protocol on the replicator's host (issue 22): the handshake each side makes
// when a connection opens (its terms, binding its peer id to its chequebook), cheque delivery,
// and the receiver's acknowledgement with its view of the balance.

/** How long a handshake or a cheque exchange may take. */
const EXCHANGE_TIMEOUT_MS = 10_000
/** How long a pull waits for the handshake with its peer before going on without it. */
const HANDSHAKE_WAIT_MS = 5000
/** How long a peer whose handshake failed (it has no SWAP) is not asked again before a pull. */
const NO_SWAP_MS = 60_000
/** Swap streams one peer may have open at once. */
const MAX_STREAMS_PER_PEER = 4

/** What the exchange is built on. */
export type ExchangeOptions = {
  readonly host: ReplicatorHost
  readonly mode: Exclude<SwapMode, 'off'>
  /** Our terms, as the handshake announces them. */
  readonly terms: SwapTerms & { readonly issuer: Address }
  readonly bookkeeper: Bookkeeper
  /** Our chequebook (mock or hard); none in soft mode. */
  readonly book: Book | undefined
  readonly logger: Logger
  /** A cheque came in and was stored (auto-cash may follow). */
  readonly onCheque?: (peer: string) => void
  /** A peer's terms arrived (its debt may be due). */
  readonly onTerms?: (peer: string) => void
}

/** The protocol, served and spoken. */
export interface Exchange {
  start(): Promise<void>
  stop(): Promise<void>
  /** Exchanges terms with a peer (at most one at a time per peer); never rejects. */
  handshake(peer: string): Promise<void>
  /** Waits (bounded) for a running or first handshake with the peer. */
  awaitHandshake(peer: string, signal: AbortSignal): Promise<void>
  /** Sends a cheque; the peer's answer (ack or refusal). */
  sendCheque(peer: string, cheque: ReceivedCheque): Promise<SwapAnswer>
  /** The issuer a peer announced (mock mode takes cheques on this word). */
  issuerOf(peer: string): Address | undefined
}

type Hello = SwapTerms & { readonly issuer?: Address }

/** The exchange over `host`. */
export function createExchange(options: ExchangeOptions): Exchange {
  const { host, bookkeeper, logger, mode } = options
  const handshakes = new Map<string, Promise<void>>()
  /** Peers whose last handshake failed, until when pulls do not wait for another. */
  const noSwap = new Map<string, number>()
  const issuers = new Map<string, Address>()
  const receiving = new Map<string, Promise<unknown>>()
  const open = new Map<string, number>()
  const onConnect = (event: CustomEvent<PeerId>) => {
    // A new connection may be a peer that turned SWAP on: it is asked again.
    noSwap.delete(event.detail.toString())
    void handshake(event.detail.toString())
  }
  const onDisconnect = (event: CustomEvent<PeerId>) =>
    bookkeeper.disconnected(event.detail.toString())

  const learn = (peer: string, hello: Hello) => {
    const { issuer, ...terms } = hello
    if (issuer) issuers.set(peer, issuer)
    bookkeeper.setTerms(peer, terms)
    options.onTerms?.(peer)
  }

  function handshake(peer: string): Promise<void> {
    const running = handshakes.get(peer)
    if (running) return running
    const task = (async () => {
      const answer = await ask(host, peer, { t: 'hello', terms: options.terms })
      if (answer.t !== 'hello') throw new Error(`answered hello with ${answer.t}`)
      learn(peer, answer.terms as Hello)
      noSwap.delete(peer)
    })()
      .catch((err: Error) => {
        if (noSwap.size >= 10_000) noSwap.clear()
        noSwap.set(peer, Date.now() + NO_SWAP_MS)
        logger.debug({ peer, err: err.message }, 'no SWAP handshake with the peer')
      })
      .finally(() => {
        // Kept while it runs; a later connection makes a new one.
        setTimeout(() => handshakes.delete(peer), 0).unref()
      })
    handshakes.set(peer, task)
    return task
  }

  async function receiveCheque(peer: string, cheque: ReceivedCheque): Promise<SwapAnswer> {
    const book = options.book
    if (mode === 'soft' || !book)
      return {
        t: 'refused',
        check: 'mode',
        message: 'This node runs SWAP in soft mode: it keeps accounts and takes no cheques.',
      }
    try {
      const last = bookkeeper.lastCheque('in', peer)
      const balance = bookkeeper.balance(peer)
      // A cheque must at least bring the debt back under our payment threshold.
      const threshold = bookkeeper.view(peer)?.paymentThreshold ?? 0n
      const owed = balance > threshold ? balance - threshold : 0n
      // Not more than the debt, with the disconnect threshold as slack for answers the payer
      // counted before this node did: bookkeeping that drifts cannot grow into a payment loop.
      const most = (balance > 0n ? balance : 0n) + bookkeeper.disconnectThreshold
      const increase = checkChequeTerms(cheque, {
        boundChequebook: last?.chequebook ?? bookkeeper.terms(peer)?.chequebook,
        beneficiary: book.beneficiary,
        lastCumulative: last?.cumulativePayout ?? 0n,
        owed,
        most,
      })
      checkChequeBacking(cheque, await book.witness(cheque, issuers.get(peer)))
      bookkeeper.chequeTaken({
        peer,
        ...cheque,
        increase,
        at: Date.now(),
        cashed: last?.cashed ?? 0n,
        lastCash: last?.lastCash ?? null,
      })
      logger.info(
        { peer, increase: increase.toString(), cumulative: cheque.cumulativePayout.toString() },
        'cheque received',
      )
      options.onCheque?.(peer)
      return { t: 'ack', balance: bookkeeper.balance(peer) }
    } catch (error) {
      if (error instanceof ChequeRefusedError) {
        logger.warn({ peer, check: error.check, err: error.message }, 'cheque refused')
        return { t: 'refused', check: error.check, message: error.message }
      }
      logger.warn({ peer, err: (error as Error).message }, 'cheque could not be checked')
      return {
        t: 'refused',
        check: 'busy',
        message:
          'The cheque could not be checked now (the chain did not answer); send it again later.',
      }
    }
  }

  /** Cheques of one peer are taken one at a time, in order. */
  function serialised(peer: string, cheque: ReceivedCheque): Promise<SwapAnswer> {
    const before = receiving.get(peer) ?? Promise.resolve()
    const next = before.then(() => receiveCheque(peer, cheque))
    const tail = next.catch(() => undefined)
    receiving.set(peer, tail)
    void tail.then(() => {
      if (receiving.get(peer) === tail) receiving.delete(peer)
    })
    return next
  }

  async function serve(stream: Stream, peer: string): Promise<void> {
    const count = (open.get(peer) ?? 0) + 1
    open.set(peer, count)
    try {
      if (count > MAX_STREAMS_PER_PEER) {
        stream.abort(new Error('too many swap streams'))
        return
      }
      const lp = lpStream(stream, { maxDataLength: MAX_SWAP_MESSAGE })
      let request: SwapRequest
      try {
        request = decodeSwapRequest(
          (await lp.read({ signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS) })).subarray(),
        )
      } catch (error) {
        logger.debug({ peer, err: (error as Error).message }, 'bad swap request')
        stream.abort(new Error('bad request'))
        return
      }
      let answer: SwapAnswer
      if (request.t === 'hello') {
        learn(peer, request.terms as Hello)
        answer = { t: 'hello', terms: options.terms }
      } else {
        answer = await serialised(peer, request.cheque)
      }
      await lp.write(encodeSwap(answer))
      await stream.close({ signal: AbortSignal.timeout(5000) })
    } catch (error) {
      stream.abort(error as Error)
    } finally {
      const left = (open.get(peer) ?? 1) - 1
      if (left > 0) open.set(peer, left)
      else open.delete(peer)
    }
  }

  return {
    async start() {
      await host.handle(
        SWAP_PROTOCOL,
        (stream, connection) => serve(stream, connection.remotePeer.toString()),
        { maxInboundStreams: 16 },
      )
      host.addEventListener('peer:connect', onConnect)
      host.addEventListener('peer:disconnect', onDisconnect)
      for (const peer of host.getPeers()) void handshake(peer.toString())
    },
    async stop() {
      host.removeEventListener('peer:connect', onConnect)
      host.removeEventListener('peer:disconnect', onDisconnect)
      await host.unhandle(SWAP_PROTOCOL).catch(() => undefined)
    },
    handshake,
    async awaitHandshake(peer, signal) {
      if (bookkeeper.terms(peer) && !handshakes.has(peer)) return
      if ((noSwap.get(peer) ?? 0) > Date.now() && !handshakes.has(peer)) return
      const running = handshakes.get(peer) ?? handshake(peer)
      await Promise.race([
        running,
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, HANDSHAKE_WAIT_MS)
          timer.unref()
          signal.addEventListener('abort', () => resolve(), { once: true })
        }),
      ])
    },
    sendCheque: (peer, { chequebook, beneficiary, cumulativePayout, signature }) =>
      ask(host, peer, {
        t: 'cheque',
        cheque: { chequebook, beneficiary, cumulativePayout, signature },
      }),
    issuerOf: (peer) => issuers.get(peer),
  }
}

/** One request and its answer on a new stream. */
async function ask(host: ReplicatorHost, peer: string, request: SwapRequest): Promise<SwapAnswer> {
  const stream = await host.dialProtocol(peerIdFromString(peer), SWAP_PROTOCOL, {
    signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS),
  })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_SWAP_MESSAGE })
    await lp.write(encodeSwap(request))
    const bytes = (await lp.read({ signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS) })).subarray()
    await stream.close().catch(() => undefined)
    return decodeSwapAnswer(bytes)
  } catch (error) {
    stream.abort(error as Error)
    throw error
  }
}
