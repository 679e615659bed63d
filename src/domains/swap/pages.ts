import { Hono } from 'hono'
import type { TokenUnit } from '../../core/amount.ts'
import type { Explorer } from '../../web/explorer.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import { addressHtml } from '../../web/names.ts'
import type { WebPart } from '../plugin.ts'
import {
  balanceWords,
  formatSwapAmount,
  formatTime,
  STANDING_WORDS,
  shortPeer,
  swapUnit,
} from './cli/format.ts'
import type { ChequeView, PeerStanding, PeerView, SwapOverview, Traffic } from './types.ts'

// SWAP accounting on the dashboard (issue 22): a card on the home page (the mode, the peers,
// what they owe us and what we owe) and a page at /ui/swap for the operator: the chequebook,
// the thresholds, every peer with its balance, standing, traffic, last cheques and what is
// uncashed (peers cut off, bounced or owed by us marked), and the cheques both ways. The page is
// rendered on the server and re-rendered by the shell's live refresh.

/** At most this many peers and cheques each way are listed; the page counts the rest. */
export const MAX_LISTED = 500

/** The cheques both ways, as `GET /swap/cheques` answers them. */
export type SwapCheques = {
  readonly received: readonly ChequeView[]
  readonly sent: readonly ChequeView[]
}

/** What the SWAP dashboard is built from. */
export type SwapWebOptions = {
  /** The node's name, in the pages' header. */
  readonly node: string
  /** Where addresses and transactions link to (`[chain] explorer_url`). */
  readonly explorer?: Explorer | undefined
  /** This node's SWAP terms and chequebook; undefined when SWAP is off. */
  overview(): Promise<SwapOverview | undefined>
  peers(): Promise<readonly PeerView[]>
  cheques(): Promise<SwapCheques>
}

/** What the home card shows: the last overview and peers read, or why none could be read. */
type CardSnapshot =
  | { readonly overview: SwapOverview | undefined; readonly peers: readonly PeerView[] }
  | { readonly error: string }

/**
 * The SWAP domain's part of the dashboard: its home card and the page at /ui/swap.
 * @example createSwapWeb({ node: config.name, explorer, overview: () => swap.overview(), peers: () => swap.peers(), cheques: () => swap.cheques() })
 */
export function createSwapWeb(options: SwapWebOptions): WebPart {
  // The home card is drawn synchronously: it shows what was last read, and each drawing starts
  // one read for the next (the home page re-renders itself every few seconds).
  let snapshot: CardSnapshot | undefined
  let reading: Promise<void> | undefined
  const read = (): Promise<void> =>
    (reading ??= Promise.all([options.overview(), options.peers()])
      .then(([overview, peers]) => {
        snapshot = { overview, peers }
      })
      .catch((error: unknown) => {
        snapshot = { error: error instanceof Error ? error.message : String(error) }
      })
      .finally(() => {
        reading = undefined
      }))
  const app = new Hono()
  app.get('/', async (c) => {
    const [overview, peers, cheques] = await Promise.all([
      options.overview(),
      options.peers(),
      options.cheques(),
    ])
    snapshot = { overview, peers }
    return htmlPage(c, swapPage({ ...options, overview, peers, cheques }))
  })
  return {
    card: () => {
      void read()
      return swapCard(snapshot)
    },
    pages: { prefix: '/ui/swap', app, docs: [] },
  }
}

// ---------------------------------------------------------------------------------------------
// The home card.

/** The SWAP section of the home page from what was last read (undefined: nothing read yet). */
export function swapCard(snapshot: CardSnapshot | undefined): string {
  const head = '<section id="swap"><h2>SWAP accounting (sync paid with cheques)</h2>'
  const link =
    '<p class="muted"><a href="/ui/swap">Peers, chequebook and cheques</a> · <a href="/swap">/swap</a></p></section>'
  if (snapshot === undefined)
    return `${head}\n<p class="muted" id="swap-card-reading">Reading the accounts…</p>\n${link}`
  if ('error' in snapshot)
    return `${head}\n<p class="no" id="swap-card-error">The accounts cannot be read: ${esc(snapshot.error)}</p>\n${link}`
  const { overview, peers } = snapshot
  if (overview === undefined || overview.mode === 'off')
    return `${head}\n<p class="muted" id="swap-card-off">SWAP is off on this node: it serves sync without accounts.</p>\n${link}`
  const unit = swapUnit(overview.token)
  const marked = peers.filter((p) => isMarked(p.standing)).length
  return `${head}
<div class="grid">
<div><span>mode</span><span id="swap-card-mode">${esc(overview.mode)}</span></div>
<div><span>peers</span><span id="swap-card-peers">${peers.length}</span></div>
<div><span>owed to us</span>${amountHtml(overview.owedToUs, unit, 'swap-card-owed')}</div>
<div><span>we owe</span>${amountHtml(overview.weOwe, unit, 'swap-card-owe')}</div>
<div><span>cut off, bounced or in debt</span><span id="swap-card-marked"${marked > 0 ? ' class="no"' : ''}>${marked}</span></div>
</div>
${link}`
}

// ---------------------------------------------------------------------------------------------
// The page.

/** Standings the operator should look at, worst first. */
const SEVERITY: Readonly<Record<PeerStanding, number>> = {
  bounced: 0,
  'cut-off': 1,
  'in-debt': 2,
  owes: 3,
  ok: 4,
}

/** Whether a standing is highlighted: a peer not served, or one this node owes past its threshold. */
export function isMarked(standing: PeerStanding): boolean {
  return standing === 'bounced' || standing === 'cut-off' || standing === 'in-debt'
}

/** The peers worst standing first, then the largest debt either way, then by id. */
export function sortPeers(peers: readonly PeerView[]): PeerView[] {
  const size = (b: bigint) => (b < 0n ? -b : b)
  return [...peers].sort(
    (a, b) =>
      (SEVERITY[a.standing] ?? 5) - (SEVERITY[b.standing] ?? 5) ||
      (size(a.balance) > size(b.balance) ? -1 : size(a.balance) < size(b.balance) ? 1 : 0) ||
      (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0),
  )
}

const amountHtml = (amount: bigint, unit: TokenUnit, id?: string) =>
  `<span class="amount"${id ? ` id="${id}"` : ''}>${esc(formatSwapAmount(amount, unit))}</span>`

/** Pages open to anyone name no accounts: addresses show as they are. */
const noName = () => undefined

/** The SWAP page: the node's terms and chequebook, its peers, the cheques; or why there are none. */
export function swapPage({
  node,
  explorer,
  overview,
  peers,
  cheques,
}: {
  node: string
  explorer?: Explorer | undefined
  overview: SwapOverview | undefined
  peers: readonly PeerView[]
  cheques: SwapCheques
}): string {
  const on = overview !== undefined && overview.mode !== 'off'
  const body = on
    ? [
        summarySection(overview, peers, explorer),
        bookSection(overview),
        termsSection(overview),
        peersSection(overview, peers),
        chequesSection(overview, cheques, explorer),
      ].join('\n')
    : offSection()
  // Peers are served and pay all the time: the page follows them.
  return layout({ title: 'SWAP accounting', node, body, page: 'swap', live: on })
}

function offSection(): string {
  return `<section id="swap-off"><h1>SWAP accounting</h1>
<p>SWAP is off on this node: it serves sync to its peers without keeping accounts, and pays none.</p>
<p class="muted">Turn it on in config.toml with <code>[domains.swap] mode = "soft"</code> (accounts only), <code>"mock"</code> (signed cheques, no chain) or <code>"hard"</code> (cheques cashed on chain from a chequebook).</p>
</section>`
}

function summarySection(
  o: SwapOverview,
  peers: readonly PeerView[],
  explorer: Explorer | undefined,
): string {
  const unit = swapUnit(o.token)
  const marked = peers.filter((p) => isMarked(p.standing)).length
  const addresses = [
    o.chequebook && `chequebook ${addressHtml(o.chequebook, noName, explorer)}`,
    o.beneficiary && `cheques to us made out to ${addressHtml(o.beneficiary, noName, explorer)}`,
    o.token && `token ${addressHtml(o.token.address, noName, explorer)}`,
  ].filter(Boolean)
  return `<section id="swap-summary"><h1>SWAP accounting</h1>
<div class="grid">
<div><span>mode</span><strong id="swap-mode">${esc(o.mode)}</strong></div>
<div><span>owed to us</span><strong>${amountHtml(o.owedToUs, unit, 'swap-owed')}</strong></div>
<div><span>we owe</span><strong>${amountHtml(o.weOwe, unit, 'swap-owe')}</strong></div>
<div><span>peers</span><span id="swap-peer-count">${peers.length}</span></div>
<div><span>cut off, bounced or in debt</span><span id="swap-marked"${marked > 0 ? ' class="no"' : ''}>${marked}</span></div>
<div><span>chain</span><span id="swap-chain">${o.chainId === null ? 'none' : esc(o.chainId)}</span></div>
</div>
${o.peerId ? `<p class="muted">Peer id <span class="addr">${esc(o.peerId)}</span></p>` : ''}
${addresses.length > 0 ? `<p class="muted">${addresses.join(' · ')}</p>` : ''}
</section>`
}

function bookSection(o: SwapOverview): string {
  if (!o.book)
    return `<section id="swap-book"><h2>Chequebook</h2>
<p class="muted" id="swap-book-none">No chequebook on chain in mode ${esc(o.mode)}: cheques are ${o.mode === 'mock' ? 'signed but never cashed' : 'not sent'}.</p>
</section>`
  const unit = swapUnit(o.token)
  const b = o.book
  return `<section id="swap-book"><h2>Chequebook</h2>
<div class="grid">
<div><span>balance</span><strong>${amountHtml(b.balance, unit, 'swap-book-balance')}</strong></div>
<div><span>liquid (not reserved by hard deposits)</span>${amountHtml(b.liquidBalance, unit, 'swap-book-liquid')}</div>
<div><span>paid out</span>${amountHtml(b.totalPaidOut, unit, 'swap-book-paid')}</div>
<div><span>bounced</span><span id="swap-book-bounced" class="${b.bounced ? 'no' : 'yes'}">${b.bounced ? 'yes: a cheque of ours could not be covered' : 'no'}</span></div>
</div>
<p class="muted">The operator moves tokens with <code>rwa swap deposit &lt;amount&gt;</code> and <code>rwa swap withdraw &lt;amount&gt;</code>.</p>
</section>`
}

function termsSection(o: SwapOverview): string {
  const unit = swapUnit(o.token)
  const money = (n: bigint, id: string) => amountHtml(n, unit, id)
  return `<section id="swap-terms"><h2>Thresholds and prices</h2>
<div class="grid">
<div><span>payment threshold (a peer owing this should pay)</span>${money(o.paymentThreshold, 'swap-payment-threshold')}</div>
<div><span>disconnect threshold (a peer owing this is cut off)</span>${money(o.disconnectThreshold, 'swap-disconnect-threshold')}</div>
<div><span>we pay at</span><span id="swap-early">${esc(o.earlyPaymentPercent)}% of a peer's payment threshold</span></div>
<div><span>refresh rate (forgiven per second)</span>${money(o.refreshRate, 'swap-refresh')}</div>
<div><span>price per op</span>${money(o.pricePerOp, 'swap-price-op')}</div>
<div><span>price per byte</span>${money(o.pricePerByte, 'swap-price-byte')}</div>
<div><span>cash received cheques</span><span id="swap-autocash">${o.autoCash === null ? 'on demand (rwa swap cash)' : `once ${esc(formatSwapAmount(o.autoCash, unit))} is uncashed`}</span></div>
</div>
</section>`
}

function peersSection(o: SwapOverview, peers: readonly PeerView[]): string {
  const unit = swapUnit(o.token)
  const sorted = sortPeers(peers)
  const shown = sorted.slice(0, MAX_LISTED)
  const more =
    sorted.length > shown.length
      ? `<p class="muted" id="swap-peers-more">${sorted.length - shown.length} more peer(s), in good standing and owing less, are not listed.</p>`
      : ''
  // The marks live with the table: the shell's stylesheet knows no such rows.
  return `<section id="swap-peers-section"><h2>Peers</h2>
<style>#swap-peers tr.standing-cut-off td, #swap-peers tr.standing-bounced td { background: #fdecea; } #swap-peers tr.standing-in-debt td { background: #fff4e5; } #swap-peers .standing { font-weight: 600; } #swap-peers .amount { white-space: nowrap; }</style>
${
  shown.length > 0
    ? `<table id="swap-peers" class="stack"><tr><th>peer</th><th>balance</th><th>standing</th><th class="num">pay at / cut off at</th><th>served</th><th>received</th><th>last cheques</th><th class="num">uncashed</th></tr>${shown.map((p) => peerRowHtml(p, unit)).join('')}</table>`
    : '<p class="muted" id="swap-peers-empty">No peer has an account with this node yet.</p>'
}
${more}
<p class="muted">Balance: what a peer owes us for the sync we served it, less what it paid and what the refresh rate forgave (or what we owe it). A peer past our disconnect threshold is cut off until it pays; one whose cheque bounced is never served again.</p>
</section>`
}

function peerRowHtml(p: PeerView, unit: TokenUnit): string {
  const marked = isMarked(p.standing) || p.standing === 'owes'
  const money = (n: bigint) => amountHtml(n, unit)
  const direction = p.balance > 0n ? 'owes-us' : p.balance < 0n ? 'we-owe' : 'even'
  return `<tr data-peer="${esc(p.peer)}"${marked ? ` class="standing-${esc(p.standing)}"` : ''}><td data-label="peer"><span class="addr" title="${esc(p.peer)}">${esc(shortPeer(p.peer))}</span><br><span class="muted">${p.connected ? 'connected' : 'not connected'}</span></td><td data-label="balance" class="balance ${direction}">${esc(balanceWords(p.balance, unit))}</td><td data-label="standing"><span class="standing${isMarked(p.standing) ? ' no' : ''}">${esc(STANDING_WORDS[p.standing] ?? p.standing)}</span></td><td class="num" data-label="pay at / cut off at">${money(p.paymentThreshold)} / ${money(p.disconnectThreshold)}</td><td data-label="served">${trafficHtml(p.served, unit)}</td><td data-label="received">${trafficHtml(p.received, unit)}</td><td data-label="last cheques">${lastChequesHtml(p, unit)}</td><td class="num" data-label="uncashed">${p.uncashed > 0n ? money(p.uncashed) : '<span class="muted">—</span>'}</td></tr>`
}

function trafficHtml(t: Traffic, unit: TokenUnit): string {
  return `${amountHtml(t.amount, unit)}<br><span class="muted">${esc(t.ops)} ops · ${esc(t.answers)} answers · ${esc(t.bytes)} bytes</span>`
}

function lastChequesHtml(p: PeerView, unit: TokenUnit): string {
  const line = (word: string, c: ChequeView | null) =>
    c
      ? `${word} ${amountHtml(c.cumulativePayout, unit)} at ${esc(formatTime(c.at))}`
      : `<span class="muted">${word} none</span>`
  return `${line('received', p.lastReceived)}<br>${line('sent', p.lastSent)}`
}

function chequesSection(
  o: SwapOverview,
  cheques: SwapCheques,
  explorer: Explorer | undefined,
): string {
  const unit = swapUnit(o.token)
  return `<section id="swap-cheques"><h2>Cheques</h2>
<p class="muted">The last cheque each way with each peer. A cheque's cumulative payout is all its chequebook has promised the beneficiary so far; cashing it pays what was not paid out yet.</p>
<h2>Received</h2>
${listed(cheques.received, 'swap-received', 'No cheque received yet.', (rows) => `<table id="swap-received" class="stack"><tr><th>peer</th><th class="num">cumulative payout</th><th class="num">last increase</th><th class="num">cashed</th><th class="num">uncashed</th><th>received</th><th>last cash</th></tr>${rows.map((c) => receivedRowHtml(c, unit, explorer)).join('')}</table>`)}
<h2>Sent</h2>
${listed(cheques.sent, 'swap-sent', 'No cheque sent yet.', (rows) => `<table id="swap-sent" class="stack"><tr><th>peer</th><th class="num">cumulative payout</th><th class="num">last increase</th><th>sent</th><th>chequebook</th></tr>${rows.map((c) => sentRowHtml(c, unit, explorer)).join('')}</table>`)}
</section>`
}

/** A list's table of at most `MAX_LISTED` rows (newest first), or a line saying it is empty. */
function listed(
  cheques: readonly ChequeView[],
  id: string,
  empty: string,
  tableOf: (rows: readonly ChequeView[]) => string,
): string {
  if (cheques.length === 0) return `<p class="muted" id="${id}-empty">${empty}</p>`
  const sorted = [...cheques].sort((a, b) => b.at - a.at)
  const shown = sorted.slice(0, MAX_LISTED)
  const more =
    sorted.length > shown.length
      ? `<p class="muted" id="${id}-more">${sorted.length - shown.length} older cheque(s) are not listed.</p>`
      : ''
  return `${tableOf(shown)}${more}`
}

function receivedRowHtml(c: ChequeView, unit: TokenUnit, explorer: Explorer | undefined): string {
  const cashed = c.cashed ?? 0n
  const uncashed = c.cumulativePayout - cashed
  const last = c.lastCash
  const cash = last
    ? `${amountHtml(last.paid, unit)} at ${esc(formatTime(last.at))}, tx ${shortTxHtml(last.txHash, explorer)}${last.bounced ? ' <span class="no bounced">bounced</span>' : ''}`
    : '<span class="muted">not cashed</span>'
  return `<tr data-peer="${esc(c.peer)}"${last?.bounced ? ' class="bounced"' : ''}><td data-label="peer"><span class="addr" title="${esc(c.peer)}">${esc(shortPeer(c.peer))}</span></td><td class="num" data-label="cumulative payout">${amountHtml(c.cumulativePayout, unit)}</td><td class="num" data-label="last increase">${amountHtml(c.increase, unit)}</td><td class="num" data-label="cashed">${amountHtml(cashed, unit)}</td><td class="num" data-label="uncashed">${uncashed > 0n ? amountHtml(uncashed, unit) : '<span class="muted">—</span>'}</td><td data-label="received">${esc(formatTime(c.at))}</td><td data-label="last cash">${cash}</td></tr>`
}

/** A transaction hash shortened (`0x3434…3434`, in full on hover), linked to the explorer when there is one. */
function shortTxHtml(hash: string, explorer: Explorer | undefined): string {
  const text = esc(`${hash.slice(0, 6)}…${hash.slice(-4)}`)
  return explorer
    ? `<a class="addr" href="${esc(explorer.tx(hash))}" title="${esc(hash)}" rel="noreferrer">${text}</a>`
    : `<span class="addr" title="${esc(hash)}">${text}</span>`
}

function sentRowHtml(c: ChequeView, unit: TokenUnit, explorer: Explorer | undefined): string {
  return `<tr data-peer="${esc(c.peer)}"><td data-label="peer"><span class="addr" title="${esc(c.peer)}">${esc(shortPeer(c.peer))}</span></td><td class="num" data-label="cumulative payout">${amountHtml(c.cumulativePayout, unit)}</td><td class="num" data-label="last increase">${amountHtml(c.increase, unit)}</td><td data-label="sent">${esc(formatTime(c.at))}</td><td data-label="chequebook">${addressHtml(c.chequebook, noName, explorer)}</td></tr>`
}
