import { Hono } from 'hono'
import { formatAmount, type TokenUnit } from '../../core/amount.ts'
import type { ChannelSummary } from '../../core/channel/domain.ts'
import type { DocSummary } from '../../core/domain.ts'
import type { Listed } from '../../node/doc-index.ts'
import type { Explorer } from '../../web/explorer.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import { addressHtml } from '../../web/names.ts'
import type { WebPart } from '../plugin.ts'
import type { ChannelRow, ChannelsOverview } from './types.ts'

// The channels' dashboard: a card on the home page listing the service offers on the ledger, and
// a page at /ui/channel with what the service is owed: its balance in the escrow (claimed money
// to withdraw) and the channels paid into it, nearest expiry first, those with money unclaimed
// close to their expiry marked. The page is rendered on the server from the treasurer's overview
// and re-rendered by the shell's live refresh.

/** Channels with money unclaimed this close to their expiry (in blocks) are marked, unless told. */
export const DEFAULT_WARN_BLOCKS = 200n

/** At most this many channels are listed (the nearest expiry first); the page counts the rest. */
export const MAX_LISTED_CHANNELS = 500

/** What the channels' dashboard is built from. */
export type ChannelWebOptions = {
  /** The node's name, in the pages' header. */
  readonly node: string
  /** Where addresses link to (`[chain] explorer_url`). */
  readonly explorer?: Explorer | undefined
  /** The service's escrow balance and channels; undefined when the node has no chain or no gateway. */
  readonly overview: () => Promise<ChannelsOverview | undefined>
  /** How close to its expiry (blocks) a channel with money unclaimed is marked. */
  readonly warnBlocks?: bigint
}

/**
 * The channel domain's part of the dashboard: its home card and the channels page.
 * @example createChannelWeb({ node: config.name, explorer: explorerAt(config.explorerUrl), overview: () => treasurer.list() })
 */
export function createChannelWeb(options: ChannelWebOptions): WebPart {
  return {
    card: (documents) => channelCard(documents),
    pages: { prefix: '/ui/channel', app: channelPages(options), docs: [] },
  }
}

function channelPages({
  node,
  explorer,
  overview,
  warnBlocks = DEFAULT_WARN_BLOCKS,
}: ChannelWebOptions): Hono {
  const app = new Hono()
  app.get('/', async (c) =>
    htmlPage(c, channelsPage({ node, explorer, overview: await overview(), warnBlocks })),
  )
  return app
}

// ---------------------------------------------------------------------------------------------
// The home card.

/** The channels' section of the home page: the service offers on the ledger and the channels page. */
export function channelCard(offers: readonly Listed<DocSummary>[]): string {
  const rows = offers
    .map((listed) => {
      const offer = listed as Listed<Partial<ChannelSummary> & DocSummary>
      // Read defensively: a summary from another version may lack a field.
      const routes = typeof offer.routes === 'number' ? String(offer.routes) : '—'
      return `<tr><td>${esc(offer.name ?? offer.id)}</td><td>${esc(offer.state ?? '—')}</td><td class="num">${esc(routes)}</td></tr>`
    })
    .join('')
  return `<section id="channel" data-noun="offer"><h2>Service offers (payment channels)</h2>
${rows ? `<table id="channel-offers"><tr><th>offer</th><th>state</th><th class="num">priced routes</th></tr>${rows}</table>` : '<p class="muted">No service offer yet.</p>'}
<p class="muted"><a href="/ui/channel">Channels paid to this node</a> · terms at <a href="/channel">/channel</a></p>
</section>`
}

// ---------------------------------------------------------------------------------------------
// The channels page.

/** Blocks until a channel expires, in words: `in 120 blocks`, `expired at this block`, `expired 3 blocks ago`. */
export function formatCountdown(blocksLeft: bigint): string {
  const blocks = (n: bigint) => `${n} block${n === 1n ? '' : 's'}`
  if (blocksLeft > 0n) return `in ${blocks(blocksLeft)}`
  if (blocksLeft === 0n) return 'expired at this block'
  return `expired ${blocks(-blocksLeft)} ago`
}

/**
 * Whether a channel needs the operator: money unclaimed, and its expiry (from which the sender
 * may take the value back) within `warnBlocks` blocks or already past.
 */
export function isExpiring(row: ChannelRow, warnBlocks: bigint): boolean {
  return row.unclaimed > 0n && row.blocksLeft <= warnBlocks
}

/** The channels, nearest expiry first (then by id), whatever order they came in. */
export function sortChannels(channels: readonly ChannelRow[]): ChannelRow[] {
  return [...channels].sort((a, b) =>
    a.expiration !== b.expiration
      ? a.expiration < b.expiration
        ? -1
        : 1
      : a.channelId < b.channelId
        ? -1
        : a.channelId > b.channelId
          ? 1
          : 0,
  )
}

const money = (amount: bigint, unit: TokenUnit) =>
  `<span class="amount">${esc(formatAmount(amount, unit))}</span>`

/** Pages open to anyone name no accounts: addresses show as they are. */
const noName = () => undefined

/** The channels page: the escrow balance, the channels with their countdowns, or why there are none. */
export function channelsPage({
  node,
  explorer,
  overview,
  warnBlocks = DEFAULT_WARN_BLOCKS,
}: {
  node: string
  explorer?: Explorer | undefined
  overview: ChannelsOverview | undefined
  warnBlocks?: bigint
}): string {
  const body = overview
    ? `${summarySection(overview, explorer, warnBlocks)}\n${channelsSection(overview, explorer, warnBlocks)}`
    : noChainSection()
  return layout({
    title: 'Payment channels',
    node,
    body,
    page: 'channel',
    // Blocks come and clients pay: the page follows them.
    live: overview !== undefined,
  })
}

function noChainSection(): string {
  return `<section id="channels-none"><h1>Payment channels</h1>
<p>This node reads no payment channels: it runs without a chain, or its chain has no MultiPartyEscrow, or it serves no priced routes.</p>
<p class="muted">Run it on the devnet (<code>[chain] mode = "devnet"</code>, the default, which deploys a MultiPartyEscrow), or on an RPC chain name the escrow with <code>[chain] mpe = "0x…"</code>; then price routes in <code>[domains.channel]</code> (<code>[[domains.channel.prices]]</code> or <code>[[domains.channel.upstreams]]</code>).</p>
</section>`
}

function summarySection(
  overview: ChannelsOverview,
  explorer: Explorer | undefined,
  warnBlocks: bigint,
): string {
  const { token, channels } = overview
  const unclaimed = channels.reduce((sum, row) => sum + row.unclaimed, 0n)
  const expiring = channels.filter((row) => isExpiring(row, warnBlocks)).length
  return `<section id="channels-summary"><h1>Payment channels</h1>
<div class="grid">
<div><span>escrow balance (claimed, to withdraw)</span><strong id="channel-balance">${money(overview.balance, token)}</strong></div>
<div><span>unclaimed in channels</span><strong id="channel-unclaimed">${money(unclaimed, token)}</strong></div>
<div><span>channels</span><span id="channel-count">${channels.length}</span></div>
<div><span>expiring with money unclaimed</span><span id="channel-expiring"${expiring > 0 ? ' class="no"' : ''}>${expiring}</span></div>
<div><span>current block</span><span id="channel-block">${overview.currentBlock}</span></div>
</div>
<p class="muted">Recipient ${addressHtml(overview.recipient, noName, explorer)} · escrow ${addressHtml(overview.escrow, noName, explorer)} · token ${token.address === 'native' ? 'the native coin' : addressHtml(token.address, noName, explorer)}</p>
<p class="muted">A channel is marked when money is unclaimed within ${warnBlocks} blocks of its expiry: from then on its sender may take the value back. The operator claims with <code>rwa treasurer claim-expiring</code> or <code>rwa treasurer claim-all</code>.</p>
</section>`
}

function channelsSection(
  overview: ChannelsOverview,
  explorer: Explorer | undefined,
  warnBlocks: bigint,
): string {
  const sorted = sortChannels(overview.channels)
  const shown = sorted.slice(0, MAX_LISTED_CHANNELS)
  const rows = shown.map((row) => channelRowHtml(row, overview.token, explorer, warnBlocks))
  const more =
    sorted.length > shown.length
      ? `<p class="muted" id="channel-more">${sorted.length - shown.length} more channel(s), expiring later, are not listed.</p>`
      : ''
  // The warning style lives with the table: the shell's stylesheet knows no such row.
  return `<section id="channels"><h2>Channels</h2>
<style>#channel-table tr.warn td { background: #fff4e5; } #channel-table tr.warn .countdown { color: var(--bad); font-weight: 600; } #channel-table .amount { white-space: nowrap; }</style>
${
  rows.length > 0
    ? `<table id="channel-table" class="stack"><tr><th class="num">id</th><th>sender</th><th class="num">value</th><th class="num">authorised</th><th class="num">unclaimed</th><th class="num">expiration block</th><th>expires</th><th>state</th></tr>${rows.join('')}</table>`
    : '<p class="muted" id="channel-empty">No channel paid into this service yet.</p>'
}
${more}
</section>`
}

function channelRowHtml(
  row: ChannelRow,
  token: TokenUnit,
  explorer: Explorer | undefined,
  warnBlocks: bigint,
): string {
  const warn = isExpiring(row, warnBlocks)
  const signer =
    row.signer.toLowerCase() === row.sender.toLowerCase()
      ? ''
      : `<br><span class="muted">signer</span> ${addressHtml(row.signer, noName, explorer)}`
  return `<tr data-channel="${esc(row.channelId)}"${warn ? ' class="warn"' : ''}><td class="num" data-label="id">${esc(row.channelId)}</td><td data-label="sender">${addressHtml(row.sender, noName, explorer)}${signer}</td><td class="num" data-label="value">${money(row.value, token)}</td><td class="num" data-label="authorised">${money(row.authorised, token)}</td><td class="num" data-label="unclaimed">${money(row.unclaimed, token)}</td><td class="num" data-label="expiration">${esc(row.expiration)}</td><td class="countdown" data-label="expires">${esc(formatCountdown(row.blocksLeft))}</td><td data-label="state">${stateHtml(row, token)}</td></tr>`
}

function stateHtml(row: ChannelRow, token: TokenUnit): string {
  const marks: string[] = []
  if (row.claiming)
    marks.push(
      `<span class="claiming">claiming ${money(row.claiming.amount, token)} at nonce ${esc(row.claiming.nonce)}</span>`,
    )
  if (row.busy) marks.push('<span class="busy">call in progress</span>')
  return marks.length > 0
    ? marks.join('<br>')
    : `<span class="muted">nonce ${esc(row.nonce)}</span>`
}
