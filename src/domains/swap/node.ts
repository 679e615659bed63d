import { join } from 'node:path'
import type { Logger } from 'pino'
import { type Address, type LocalAccount, zeroAddress } from 'viem'
import { earlyPaymentLine } from '../../core/swap/accounting.ts'
import type { SwapBookReducer, SwapBookState, SwapBookSummary } from '../../core/swap/domain.ts'
import type { SwapTerms } from '../../core/swap/protocol.ts'
import { OPERATOR } from '../../node/accounts.ts'
import type { DomainMetrics } from '../../node/metrics.ts'
import type { NodePart } from '../plugin.ts'
import { publishBinding } from './binding.ts'
import { type Book, MOCK_CHAIN_ID, openBook, SwapModeError } from './book.ts'
import { type Bookkeeper, createBookkeeper } from './bookkeeper.ts'
import { createExchange, type Exchange } from './exchange.ts'
import { createSwapWeb } from './pages.ts'
import { type SwapService, swapRoutes } from './routes.ts'
import { type SwapSettings, swapSettings } from './settings.ts'
import { createSettlement, type Settlement } from './settlement.ts'
import { sqliteSwapStore } from './store.ts'
import type { PeerView, SwapOverview } from './types.ts'

/** What a SWAP node part exposes on the node (`node.swap`), for tests and tools. */
export type SwapNode = {
  readonly mode: SwapSettings['mode']
  readonly bookkeeper: Bookkeeper | undefined
  readonly exchange: Exchange | undefined
  readonly settlement: Settlement | undefined
  readonly book: Book | undefined
  readonly service: SwapService
}

declare module '../../node/node.ts' {
  interface NodeExtensions {
    /** SWAP accounting (after `start`). */
    readonly swap: SwapNode
  }
}

/** Peers listed in `/status` at most (the largest balances first); `/swap/peers` lists all. */
const STATUS_PEERS = 100

/**
 * The node side of SWAP accounting (issue 22): a serving policy on sync that prices what this
 * node serves each peer and takes from it, the `/rwa/swap/1` handshake and cheques on the
 * replicator's host, the chequebook (mock or hard), paying and cashing, and the `/swap` routes,
 * page, status and metrics.
 */
export const swapNode: NodePart<SwapBookState, SwapBookReducer, SwapBookSummary> = {
  settings: swapSettings,
  async create({ config, logger, accounts, chain, network, metrics, settings, ledger, index }) {
    const s = settings as SwapSettings
    const log = logger.child({ part: 'swap' })
    const disabled = (why: string): SwapService => {
      const refuse = async (): Promise<never> => {
        throw new SwapModeError(why)
      }
      return {
        overview: async () => offOverview(s, network?.peerId ?? null),
        peers: () => [],
        cheques: () => ({ received: [], sent: [] }),
        cash: refuse,
        deposit: refuse,
        withdraw: refuse,
      }
    }
    const mode = s.mode
    if (mode === 'off' || network === undefined) {
      if (mode !== 'off')
        log.warn('SWAP is configured but the node does not replicate ([net] enabled = false): off')
      const service = disabled(
        mode === 'off'
          ? 'SWAP accounting is off on this node: set [domains.swap] mode in config.toml.'
          : 'SWAP needs the peer-to-peer network, which this node runs without.',
      )
      return {
        extend: {
          swap: {
            mode: 'off',
            bookkeeper: undefined,
            exchange: undefined,
            settlement: undefined,
            book: undefined,
            service,
          } satisfies SwapNode,
        },
        routes: [swapRoutes({ accounts, bodyLimit: config.http.bodyLimit, service })],
        web: createSwapWeb({
          node: config.name,
          overview: () => service.overview(),
          peers: async () => [],
          cheques: async () => ({ received: [], sent: [] }),
        }),
        status: () => ({ mode: 'off' }),
      }
    }
    const store = sqliteSwapStore(join(config.dataDir, 'swap.sqlite'))
    const { host } = network
    const bookkeeper = createBookkeeper({
      mode,
      store,
      logger: log,
      prices: { perOp: s.price_per_op, perByte: s.price_per_byte },
      maxPeerPrices: { perOp: s.max_peer_price_per_op, perByte: s.max_peer_price_per_byte },
      paymentThreshold: s.payment_threshold,
      tolerancePercent: s.payment_tolerance_percent,
      refreshRate: s.refresh_rate,
      connected: (peer) => host.getConnections().some((c) => c.remotePeer.toString() === peer),
    })
    const book =
      mode === 'soft'
        ? undefined
        : await openBook({
            mode,
            settings: s,
            chain,
            account: accounts.get(OPERATOR)?.ethAccount as LocalAccount | undefined,
            store,
            logger: log,
          })
    const terms: SwapTerms & { issuer: Address } = {
      mode,
      chainId: book?.chainId ?? chain?.info.chainId ?? MOCK_CHAIN_ID,
      chequebook: book?.chequebook ?? zeroAddress,
      beneficiary: book?.beneficiary ?? zeroAddress,
      pricePerOp: s.price_per_op,
      pricePerByte: s.price_per_byte,
      paymentThreshold: s.payment_threshold,
      refreshRate: s.refresh_rate,
      issuer: book?.issuer ?? zeroAddress,
    }
    const counters = swapMetrics(metrics, bookkeeper)
    let settlement: Settlement | undefined
    const exchange = createExchange({
      host,
      mode,
      terms,
      bookkeeper,
      book,
      logger: log,
      onCheque: (peer) => {
        counters.received.inc()
        settlement?.settleSoon()
        log.debug({ peer }, 'cheque stored')
      },
      onTerms: () => settlement?.settleSoon(),
    })
    settlement = createSettlement({
      mode,
      bookkeeper,
      exchange,
      book,
      earlyPercent: s.early_payment_percent,
      autoCash: s.auto_cash,
      intervalMs: s.settle_interval_ms,
      logger: log,
      hangUp: (peer) => network.hangUp(peer),
      onPaid: () => counters.sent.inc(),
      onCashed: (result) => counters.cashed.inc({ outcome: result.bounced ? 'bounced' : 'paid' }),
    })
    // A debtor past the disconnect threshold is refused, and hung up on once (it may dial back
    // to pay). Not when the answer that took it past is sent: it must reach the peer, which
    // counts it too.
    const cut = new Set<string>()
    network.addServingPolicy({
      admit(peer) {
        const wait = bookkeeper.admit(peer)
        if (wait === undefined) {
          cut.delete(peer)
          return undefined
        }
        if (!cut.has(peer)) {
          cut.add(peer)
          counters.disconnects.inc()
          void network.hangUp(peer)
        }
        return wait
      },
      budget: (peer) => bookkeeper.budget(peer),
      served: (peer, answer) => bookkeeper.served(peer, answer),
      beforePull: (peer, signal) => exchange.awaitHandshake(peer, signal),
      received(peer, answer) {
        bookkeeper.received(peer, answer)
        const terms = bookkeeper.terms(peer)
        if (!terms || !book) return
        const debt = -bookkeeper.balance(peer)
        if (debt >= earlyPaymentLine(terms.paymentThreshold, s.early_payment_percent))
          settlement?.settleSoon()
      },
    })
    const overview = async (): Promise<SwapOverview> => {
      let owedToUs = 0n
      let weOwe = 0n
      for (const v of bookkeeper.views()) {
        if (v.balance > 0n) owedToUs += v.balance
        else weOwe -= v.balance
      }
      return {
        ...offOverview(s, network.peerId),
        mode,
        chainId: terms.chainId,
        chequebook: book?.chequebook ?? null,
        beneficiary: book?.beneficiary ?? null,
        token: book?.token ?? null,
        book: (await book?.onChain()) ?? null,
        disconnectThreshold: bookkeeper.disconnectThreshold,
        owedToUs,
        weOwe,
      }
    }
    const byBalance = (a: PeerView, b: PeerView) => {
      const x = a.balance < 0n ? -a.balance : a.balance
      const y = b.balance < 0n ? -b.balance : b.balance
      return x === y ? 0 : x > y ? -1 : 1
    }
    const refuseMock = (): never => {
      throw new SwapModeError(
        mode === 'soft'
          ? 'In soft mode the node keeps accounts only: there is no chequebook. Set [domains.swap] mode = "hard" for one.'
          : 'In mock mode the chequebook is not on chain: there is nothing to deposit or withdraw. Set [domains.swap] mode = "hard" for that.',
      )
    }
    const service: SwapService = {
      overview,
      peers: () => bookkeeper.views().sort(byBalance),
      cheques: () => ({
        received: bookkeeper.cheques('in').map(chequeOf),
        sent: bookkeeper.cheques('out').map(chequeOf),
      }),
      cash: (peer) => settlement.cash(peer),
      deposit: (amount) => (book ? book.deposit(amount) : refuseMock()),
      withdraw: (amount) => (book ? book.withdraw(amount) : refuseMock()),
    }
    return {
      extend: {
        swap: { mode, bookkeeper, exchange, settlement, book, service } satisfies SwapNode,
      },
      routes: [swapRoutes({ accounts, bodyLimit: config.http.bodyLimit, service })],
      web: createSwapWeb({
        node: config.name,
        overview,
        peers: async () => service.peers(),
        cheques: async () => service.cheques(),
      }),
      status: () => statusOf(mode, terms, bookkeeper, service.peers().slice(0, STATUS_PEERS)),
      services: [
        { name: 'swap.exchange', start: () => exchange.start(), stop: () => exchange.stop() },
        {
          name: 'swap.binding',
          async start() {
            const operator = accounts.get(OPERATOR)
            if (!book || !operator) return
            // The public binding is a convenience for others: a failure is logged, not fatal.
            await publishBinding({
              ledger,
              index,
              account: operator,
              binding: {
                peerId: network.peerId,
                chainId: book.chainId,
                chequebook: book.chequebook,
                beneficiary: book.beneficiary,
                mode: book.mode,
              },
              logger: log,
            }).catch((err: Error) =>
              log.warn({ err: err.message }, 'the SWAP chequebook binding could not be published'),
            )
          },
          stop: () => undefined,
        },
        settlement,
        {
          name: 'swap.store',
          start: () => undefined,
          stop: () => closeStore(bookkeeper, store, log),
        },
      ],
    }
  },
}

function chequeOf<T extends { lastCash: unknown }>(c: T) {
  const { lastCash, ...rest } = c
  return lastCash ? { ...rest, lastCash } : rest
}

function closeStore(bookkeeper: Bookkeeper, store: { close(): void }, log: Logger): void {
  try {
    bookkeeper.flush()
  } catch (error) {
    log.error({ err: error }, 'SWAP balances could not be written on stop')
  }
  store.close()
}

/** The overview of a node whose SWAP is off (or before its chequebook is known). */
function offOverview(s: SwapSettings, peerId: string | null): SwapOverview {
  return {
    mode: 'off',
    peerId,
    chainId: null,
    chequebook: null,
    beneficiary: null,
    token: null,
    book: null,
    pricePerOp: s.price_per_op,
    pricePerByte: s.price_per_byte,
    paymentThreshold: s.payment_threshold,
    disconnectThreshold: (s.payment_threshold * BigInt(100 + s.payment_tolerance_percent)) / 100n,
    earlyPaymentPercent: s.early_payment_percent,
    refreshRate: s.refresh_rate,
    autoCash: s.auto_cash > 0n ? s.auto_cash : null,
    owedToUs: 0n,
    weOwe: 0n,
  }
}

/** What SWAP adds to `/status`: the terms, and the peers with the largest balances. */
function statusOf(
  mode: string,
  terms: SwapTerms,
  bookkeeper: Bookkeeper,
  peers: readonly PeerView[],
) {
  return {
    mode,
    chequebook: terms.chequebook,
    paymentThreshold: terms.paymentThreshold,
    disconnectThreshold: bookkeeper.disconnectThreshold,
    refreshRate: terms.refreshRate,
    peers: peers.map((p) => ({
      peer: p.peer,
      balance: p.balance,
      standing: p.standing,
      connected: p.connected,
      theirPaymentThreshold: p.terms?.paymentThreshold ?? null,
      served: p.served.amount,
      received: p.received.amount,
      uncashed: p.uncashed,
    })),
  }
}

/** The SWAP metrics (`rwa_swap_…`); balances in base units of the chequebook's token. */
function swapMetrics(metrics: DomainMetrics, bookkeeper: Bookkeeper) {
  metrics.gauge({
    name: 'peer_balance',
    help: 'Balance with each peer in base units (> 0: it owes this node), the 100 largest.',
    labelNames: ['peer'],
    collect() {
      this.reset()
      const views = bookkeeper.views()
      views.sort((a, b) => {
        const x = a.balance < 0n ? -a.balance : a.balance
        const y = b.balance < 0n ? -b.balance : b.balance
        return x === y ? 0 : x > y ? -1 : 1
      })
      for (const v of views.slice(0, STATUS_PEERS)) this.set({ peer: v.peer }, Number(v.balance))
    },
  })
  metrics.gauge({
    name: 'peers',
    help: 'Peers by standing (ok, owes, cut-off, in-debt, bounced).',
    labelNames: ['standing'],
    collect() {
      this.reset()
      const counts = new Map<string, number>()
      for (const v of bookkeeper.views()) counts.set(v.standing, (counts.get(v.standing) ?? 0) + 1)
      for (const [standing, n] of counts) this.set({ standing }, n)
    },
  })
  metrics.gauge({
    name: 'owed_to_us',
    help: 'What peers owe this node in all, in base units.',
    collect() {
      let sum = 0n
      for (const v of bookkeeper.views()) if (v.balance > 0n) sum += v.balance
      this.set(Number(sum))
    },
  })
  metrics.gauge({
    name: 'we_owe',
    help: 'What this node owes peers in all, in base units.',
    collect() {
      let sum = 0n
      for (const v of bookkeeper.views()) if (v.balance < 0n) sum -= v.balance
      this.set(Number(sum))
    },
  })
  return {
    sent: metrics.counter({
      name: 'cheques_sent_total',
      help: 'Cheques this node sent and peers acknowledged.',
    }),
    received: metrics.counter({
      name: 'cheques_received_total',
      help: 'Cheques peers sent that passed the checks.',
    }),
    cashed: metrics.counter({
      name: 'cashes_total',
      help: 'Cheques cashed on chain, by outcome (paid, bounced).',
      labelNames: ['outcome'],
    }),
    disconnects: metrics.counter({
      name: 'disconnects_total',
      help: 'Peers hung up on for owing past the disconnect threshold.',
    }),
  }
}
