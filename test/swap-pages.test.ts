import type { Address, Hex } from 'viem'
import { describe, expect, test, vi } from 'vitest'
import {
  createSwapWeb,
  MAX_LISTED,
  type SwapCheques,
  sortPeers,
} from '../src/domains/swap/pages.ts'
import type { ChequeView, PeerStanding, PeerView, SwapOverview } from '../src/domains/swap/types.ts'

// The SWAP page and home card rendered through the WebPart's Hono app from sample accounts: the
// chequebook and thresholds, balances with units and direction, the standings marked, the
// cheques both ways, escaping of what peers and tokens tell, and SWAP off.

const EXPLORER = 'https://explorer.example'
const explorer = {
  tx: (hash: string) => `${EXPLORER}/tx/${hash}`,
  address: (a: string) => `${EXPLORER}/address/${a}`,
}
const BOOK = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
const PEER_BOOK = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' as Address
const US = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address
const TOKEN = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as Address
const TX = `0x${'34'.repeat(32)}` as Hex
const T0 = Date.UTC(2025, 0, 31, 12, 0, 5)
const TT = 1_000_000n

const OVERVIEW: SwapOverview = {
  mode: 'hard',
  peerId: '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
  chainId: 31337,
  chequebook: BOOK,
  beneficiary: US,
  token: { address: TOKEN, symbol: 'TT', decimals: 6 },
  book: { balance: 50n * TT, liquidBalance: 40n * TT, totalPaidOut: 3_250_000n, bounced: false },
  pricePerOp: 10n,
  pricePerByte: 1n,
  paymentThreshold: 10n * TT,
  disconnectThreshold: 15n * TT,
  earlyPaymentPercent: 50,
  refreshRate: 1_000n,
  autoCash: 5n * TT,
  owedToUs: 28_200_000n,
  weOwe: 11_000_000n,
}

/** A peer id of this test: distinct ends, so the short forms differ. */
const id = (n: number) => `12D3KooW${String(n).padStart(2, '0').repeat(22)}Peer${n}`

function cheque(
  peer: string,
  cumulativePayout: bigint,
  more: Partial<ChequeView> = {},
): ChequeView {
  return {
    peer,
    chequebook: PEER_BOOK,
    beneficiary: US,
    cumulativePayout,
    increase: TT,
    signature: `0x${'ab'.repeat(65)}`,
    at: T0,
    ...more,
  }
}

function peer(
  n: number,
  standing: PeerStanding,
  balance: bigint,
  more: Partial<PeerView> = {},
): PeerView {
  return {
    peer: id(n),
    balance,
    standing,
    connected: true,
    terms: null,
    paymentThreshold: 10n * TT,
    disconnectThreshold: 15n * TT,
    served: { answers: 3, ops: 120, bytes: 24_000, amount: 1_200_000n },
    received: { answers: 1, ops: 4, bytes: 800, amount: 40n },
    forgiven: 0n,
    lastSent: null,
    lastReceived: null,
    uncashed: 0n,
    acknowledged: null,
    ...more,
  }
}

/** One peer of each standing, in no particular order. */
const PEERS: PeerView[] = [
  peer(1, 'ok', 1_200_000n, {
    lastReceived: cheque(id(1), 7n * TT, { cashed: 5n * TT }),
    uncashed: 2n * TT,
  }),
  peer(2, 'in-debt', -11n * TT, { lastSent: cheque(id(2), 4n * TT), connected: false }),
  peer(3, 'cut-off', 16n * TT),
  peer(4, 'owes', 11n * TT),
  peer(5, 'bounced', 0n),
]

const CHEQUES: SwapCheques = {
  received: [
    cheque(id(1), 7n * TT, {
      cashed: 5n * TT,
      lastCash: {
        peer: id(1),
        txHash: TX,
        paid: 2n * TT,
        cumulativePayout: 5n * TT,
        bounced: false,
        at: T0 + 60_000,
      },
    }),
    cheque(id(5), 3n * TT, {
      at: T0 - 5_000,
      cashed: TT,
      lastCash: {
        peer: id(5),
        txHash: TX,
        paid: TT,
        cumulativePayout: 3n * TT,
        bounced: true,
        at: T0 - 1_000,
      },
    }),
  ],
  sent: [cheque(id(2), 4n * TT, { chequebook: BOOK, beneficiary: PEER_BOOK, at: T0 - 2_000 })],
}

type Sample = {
  overview: SwapOverview | undefined
  peers: readonly PeerView[]
  cheques: SwapCheques
}

const webOf = (sample: Partial<Sample> = {}) =>
  createSwapWeb({
    node: 'n1',
    explorer,
    overview: async () => ('overview' in sample ? sample.overview : OVERVIEW),
    peers: async () => sample.peers ?? PEERS,
    cheques: async () => sample.cheques ?? CHEQUES,
  })

/** The SWAP page as the sub-app answers it. */
async function render(sample: Partial<Sample> = {}): Promise<{ status: number; html: string }> {
  const response = await webOf(sample).pages!.app.request('/')
  return { status: response.status, html: await response.text() }
}

/** The peers table's rows, in order. */
function peerRows(html: string): string[] {
  const table = html.match(/<table id="swap-peers"[\s\S]*?<\/table>/)
  expect(table, 'the peers table').not.toBeNull()
  return [...table![0].matchAll(/<tr data-peer="[^"]*"[\s\S]*?<\/tr>/g)].map((m) => m[0])
}

function rowOf(html: string, n: number): string {
  const row = peerRows(html).find((r) => r.startsWith(`<tr data-peer="${id(n)}"`))
  expect(row, `row of peer ${n}`).toBeDefined()
  return row!
}

describe('the SWAP page', () => {
  test('shows the totals, the chequebook and the thresholds with the token unit', async () => {
    const { status, html } = await render()
    expect(status).toBe(200)
    expect(html).toContain('<strong id="swap-mode">hard</strong>')
    expect(html).toContain('<span class="amount" id="swap-owed">28.2 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-owe">11 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-book-balance">50 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-book-liquid">40 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-book-paid">3.25 TT</span>')
    expect(html).toContain('<span id="swap-book-bounced" class="yes">no</span>')
    expect(html).toContain('<span class="amount" id="swap-payment-threshold">10 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-disconnect-threshold">15 TT</span>')
    expect(html).toContain('<span class="amount" id="swap-refresh">0.001 TT</span>')
    expect(html).toContain('<span id="swap-autocash">once 5 TT is uncashed</span>')
    expect(html).toContain('<span id="swap-peer-count">5</span>')
    for (const address of [BOOK, US, TOKEN])
      expect(html).toContain(`href="${EXPLORER}/address/${address}"`)
  })

  test('marks a bounced chequebook of ours', async () => {
    const { html } = await render({
      overview: { ...OVERVIEW, book: { ...OVERVIEW.book!, bounced: true } },
    })
    expect(html).toContain(
      '<span id="swap-book-bounced" class="no">yes: a cheque of ours could not be covered</span>',
    )
  })

  test('shows each balance with its direction and unit, and the traffic both ways', async () => {
    const { html } = await render()
    expect(rowOf(html, 1)).toContain(
      '<td data-label="balance" class="balance owes-us">owes us 1.2 TT</td>',
    )
    expect(rowOf(html, 2)).toContain(
      '<td data-label="balance" class="balance we-owe">we owe 11 TT</td>',
    )
    expect(rowOf(html, 5)).toContain('<td data-label="balance" class="balance even">even</td>')
    const one = rowOf(html, 1)
    expect(one).toContain(
      'data-label="served"><span class="amount">1.2 TT</span><br><span class="muted">120 ops · 3 answers · 24000 bytes</span>',
    )
    expect(one).toContain(
      'data-label="received"><span class="amount">0.00004 TT</span><br><span class="muted">4 ops · 1 answers · 800 bytes</span>',
    )
    expect(one).toContain('<span class="amount">10 TT</span> / <span class="amount">15 TT</span>')
    expect(one).toContain('data-label="uncashed"><span class="amount">2 TT</span>')
    expect(one).toContain('received <span class="amount">7 TT</span> at 2025-01-31 12:00:05')
    expect(one).toContain('<span class="muted">sent none</span>')
    expect(rowOf(html, 2)).toContain('sent <span class="amount">4 TT</span>')
    expect(rowOf(html, 2)).toContain('not connected')
  })

  test('lists the peers worst standing first and marks cut-off, bounced and in-debt', async () => {
    const { html } = await render()
    const order = peerRows(html).map((r) => r.match(/Peer(\d)"/)?.[1])
    expect(order).toEqual(['5', '3', '2', '4', '1'])
    expect(rowOf(html, 5)).toMatch(/^<tr data-peer="[^"]+" class="standing-bounced">/)
    expect(rowOf(html, 3)).toMatch(/^<tr data-peer="[^"]+" class="standing-cut-off">/)
    expect(rowOf(html, 2)).toMatch(/^<tr data-peer="[^"]+" class="standing-in-debt">/)
    expect(rowOf(html, 3)).toContain(
      '<span class="standing no">cut off: past our disconnect threshold, not served</span>',
    )
    expect(rowOf(html, 4)).toContain(
      '<span class="standing">owes: past our payment threshold</span>',
    )
    expect(rowOf(html, 1)).toMatch(/^<tr data-peer="[^"]+"><td/)
    expect(html).toContain('<span id="swap-marked" class="no">3</span>')
    // Same standing: the larger debt either way first.
    const ok = sortPeers([peer(7, 'ok', 5n), peer(8, 'ok', -9n), peer(9, 'ok', 9n)])
    expect(ok.map((p) => p.peer)).toEqual([id(8), id(9), id(7)])
  })

  test('shows the cheques both ways, newest first, with cashings and bounces', async () => {
    const { html } = await render()
    const received = html.match(/<table id="swap-received"[\s\S]*?<\/table>/)![0]
    const rows = [...received.matchAll(/<tr data-peer="([^"]+)"[^>]*>/g)].map((m) => m[1])
    expect(rows).toEqual([id(1), id(5)])
    expect(received).toContain('data-label="uncashed"><span class="amount">2 TT</span>')
    expect(received).toContain(
      `<span class="amount">2 TT</span> at 2025-01-31 12:01:05, tx <a class="addr" href="${EXPLORER}/tx/${TX}" title="${TX}" rel="noreferrer">0x3434…3434</a>`,
    )
    expect(received).toMatch(
      /<tr data-peer="[^"]+Peer5" class="bounced">[\s\S]*<span class="no bounced">bounced<\/span>/,
    )
    const sent = html.match(/<table id="swap-sent"[\s\S]*?<\/table>/)![0]
    expect(sent).toContain('<span class="amount">4 TT</span>')
    expect(sent).toContain('2025-01-31 12:00:03')
    expect(sent).toContain(`href="${EXPLORER}/address/${BOOK}"`)
  })

  test('says when there are no peers and no cheques yet', async () => {
    const { html } = await render({ peers: [], cheques: { received: [], sent: [] } })
    expect(html).toContain('id="swap-peers-empty"')
    expect(html).toContain('No cheque received yet.')
    expect(html).toContain('No cheque sent yet.')
    expect(html).not.toContain('<table id="swap-peers"')
  })

  test('lists at most MAX_LISTED peers and counts the rest', async () => {
    const many = Array.from({ length: MAX_LISTED + 3 }, (_, i) => peer(i + 10, 'ok', BigInt(i)))
    const { html } = await render({ peers: many })
    expect(peerRows(html)).toHaveLength(MAX_LISTED)
    expect(html).toContain('<p class="muted" id="swap-peers-more">3 more peer(s)')
  })

  test('shows amounts in base units when the token told no unit, and a mode without chequebook', async () => {
    const { html } = await render({
      overview: {
        ...OVERVIEW,
        mode: 'mock',
        token: { address: TOKEN, symbol: null, decimals: null },
        book: null,
      },
    })
    expect(html).toContain('<span class="amount" id="swap-owed">28200000 base units</span>')
    expect(rowOf(html, 2)).toContain('we owe 11000000 base units')
    expect(html).toContain(
      'No chequebook on chain in mode mock: cheques are signed but never cashed.',
    )
  })

  test('escapes what peers and tokens tell: a hostile peer id and symbol stay text', async () => {
    const hostileId = '"><script>alert(1)</script><b x="'
    const { html } = await render({
      overview: {
        ...OVERVIEW,
        token: { address: TOKEN, symbol: '<img src=x onerror=alert(1)>', decimals: 6 },
      },
      peers: [
        peer(1, 'cut-off', 16n * TT, { peer: hostileId, lastReceived: cheque(hostileId, TT) }),
      ],
      cheques: { received: [cheque(hostileId, TT)], sent: [cheque(hostileId, TT)] },
    })
    expect(html).not.toContain('<script>alert(1)</script>')
    expect(html).not.toContain('<img src=x')
    expect(html).toContain(
      'data-peer="&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#60;b x=&#34;"',
    )
    // The shell's two scripts only.
    expect(html.match(/<script/g)).toHaveLength(2)
    // The symbol is not usable: amounts show in base units.
    expect(html).toContain('<span class="amount" id="swap-owed">28200000 base units</span>')
  })

  test('says how to turn SWAP on when it is off', async () => {
    const { status, html } = await render({ overview: undefined })
    expect(status).toBe(200)
    expect(html).toContain('<section id="swap-off">')
    expect(html).toContain('[domains.swap] mode = "soft"')
    expect(html).toContain('window.rwaLive = false')
    const off = await render({ overview: { ...OVERVIEW, mode: 'off' } })
    expect(off.html).toContain('<section id="swap-off">')
    expect((await render()).html).toContain('window.rwaLive = true')
  })
})

/** Waits for the card's background read: no tight timeout, the reads are in memory. */
const settled = { timeout: 10_000, interval: 5 }

describe('the SWAP home card', () => {
  test('shows the mode, the peers and the totals read last', async () => {
    const web = webOf()
    expect(web.card([])).toContain('Reading the accounts…')
    await vi.waitFor(() => expect(web.card([])).toContain('id="swap-card-mode">hard<'), settled)
    const card = web.card([])
    expect(card).toContain('<span id="swap-card-peers">5</span>')
    expect(card).toContain('<span class="amount" id="swap-card-owed">28.2 TT</span>')
    expect(card).toContain('<span class="amount" id="swap-card-owe">11 TT</span>')
    expect(card).toContain('<span id="swap-card-marked" class="no">3</span>')
    expect(card).toContain('href="/ui/swap"')
  })

  test('follows the accounts: a later drawing shows what the last one read', async () => {
    let owed = 1n * TT
    const web = createSwapWeb({
      node: 'n1',
      overview: async () => ({ ...OVERVIEW, owedToUs: owed }),
      peers: async () => [],
      cheques: async () => ({ received: [], sent: [] }),
    })
    web.card([])
    await vi.waitFor(() => expect(web.card([])).toContain('id="swap-card-owed">1 TT<'), settled)
    owed = 2n * TT
    await vi.waitFor(() => expect(web.card([])).toContain('id="swap-card-owed">2 TT<'), settled)
    // Rendering the page reads the accounts too.
    owed = 3n * TT
    await web.pages!.app.request('/')
    expect(web.card([])).toContain('id="swap-card-owed">3 TT<')
  })

  test('says SWAP is off, and says why the accounts cannot be read', async () => {
    const off = webOf({ overview: undefined })
    off.card([])
    await vi.waitFor(() => expect(off.card([])).toContain('SWAP is off on this node'), settled)
    const broken = createSwapWeb({
      node: 'n1',
      overview: async () => {
        throw new Error('the store is <closed>')
      },
      peers: async () => [],
      cheques: async () => ({ received: [], sent: [] }),
    })
    broken.card([])
    await vi.waitFor(
      () =>
        expect(broken.card([])).toContain(
          'The accounts cannot be read: the store is &#60;closed&#62;',
        ),
      settled,
    )
  })
})
