import { Hono } from 'hono'
import type { DocSummary } from '../../core/domain.ts'
import { NotFoundError, ValidationError } from '../../http/errors.ts'
import type { Listed } from '../../node/doc-index.ts'
import type { Explorer } from '../../web/explorer.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import type { WebPart } from '../plugin.ts'
import { type FeedSeriesWire, renderFeedChart, seriesChartData } from './chart.ts'

// The feeds' dashboard: a card on the home page, a list at /ui/feed, and a page per feed with a
// chart redrawn every 2 s, the oracles' quality and anomalies, and the last round on chain. The
// pages are shells that read the node's JSON routes (/feed/feeds/…) from the browser, so they
// need nothing of the domain but its routes; the chart is drawn on the server by chart.ts (the
// same drawing as the demo's and the CLI's) at /ui/feed/:ref/chart.svg.

/** The most windows a chart shows. */
export const MAX_CHART_WINDOWS = 1000

/** The windows a chart shows unless asked. */
export const DEFAULT_CHART_WINDOWS = 120

/** What the feed pages are built from. */
export type FeedWebOptions = {
  /** The node's name, in the pages' header. */
  readonly node?: string
  /** Where transactions and addresses link to (`[chain] explorer_url`). */
  readonly explorer?: Explorer | undefined
  /**
   * A feed's last `last` windows as `GET /feed/feeds/:ref/series` answers them (undefined: no
   * such feed), for the chart drawn on the server. Without it the pages show no chart.
   */
  readonly series?: (
    ref: string,
    last: number,
  ) => FeedSeriesWire | undefined | Promise<FeedSeriesWire | undefined>
}

/**
 * The feed domain's part of the dashboard: its home card, its pages and its page script.
 * @example createFeedWeb({ node: config.name, explorer: explorerAt(config.explorerUrl), series })
 */
export function createFeedWeb(options: FeedWebOptions = {}): WebPart {
  return {
    card: (documents) => feedCard(documents),
    pages: { prefix: '/ui/feed', app: feedPages(options), docs: [] },
    script: FEED_JS,
  }
}

/** A feed's page. */
const feedUrl = (ref: string) => `/ui/feed/${encodeURIComponent(ref)}`

/**
 * The feeds' section of the home page: each feed (its summary: the pair, its state) with its
 * last answer. A summary that carries `lastAnswerText` shows it at once; otherwise the page's
 * script fills it from `GET /feed/feeds`.
 */
export function feedCard(feeds: readonly Listed<DocSummary>[]): string {
  const rows = feeds
    .map((feed) => {
      const last = feed.lastAnswerText
      const cell =
        last === undefined
          ? `<td class="num" data-feed-last="${esc(feed.id)}"><span class="muted">…</span></td>`
          : `<td class="num">${esc(last)}</td>`
      return `<tr><td><a href="${feedUrl(feed.id)}">${esc(feed.name)}</a></td><td>${esc(feed.state)}</td>${cell}</tr>`
    })
    .join('')
  return `<section id="feed" data-noun="feed"><h2>Price feeds</h2>
${rows ? `<table id="feed-card"><tr><th>feed</th><th>state</th><th class="num">last answer</th></tr>${rows}</table>` : '<p class="muted">No price feed yet.</p>'}
<p class="muted"><a href="/ui/feed">All feeds</a> · oracles attest with <code>rwa oracle run</code></p>
</section>`
}

/** The list of feeds, filled from `GET /feed/feeds`. */
export function feedListPage(node: string): string {
  const body = `<section id="feeds"><h1>Price feeds</h1>
<table id="feed-list" class="stack"><tr><th>feed</th><th class="num">last answer</th><th class="num">window</th><th class="num">oracles</th><th class="num">signers</th></tr></table>
<p class="muted" id="feed-list-empty" hidden>No price feed yet.</p>
<p class="muted"><a href="/feed/feeds">JSON</a></p>
</section>`
  return layout({ title: 'Price feeds', node, body, page: 'feed-list', live: false })
}

/** A feed's page: the latest answer, the chart, the oracles and the rounds on chain. */
export function feedPage(
  node: string,
  ref: string,
  { explorer, chart }: { explorer?: Explorer | undefined; chart: boolean },
): string {
  const links = explorer
    ? ` data-explorer-tx="${esc(explorer.tx(''))}" data-explorer-address="${esc(explorer.address(''))}"`
    : ''
  const body = `<section id="feed-page" data-feed="${esc(ref)}"${links}${chart ? ` data-chart="${feedUrl(ref)}/chart.svg"` : ''}>
<h1 id="feed-title">${esc(ref)}</h1>
<p class="muted" id="feed-settings"></p>
<div class="grid" id="feed-latest"><div><span>latest answer</span><strong id="feed-answer">…</strong></div><div><span>window (UTC)</span><span id="feed-window">…</span></div><div><span>confidence</span><span id="feed-confidence">…</span></div><div><span>observations</span><span id="feed-observations">…</span></div><div><span>outliers</span><span id="feed-outliers">…</span></div></div>
</section>
<section id="feed-chart-section"><h2>Attestations and aggregate</h2>
<div id="feed-chart">${chart ? '<p class="muted">Loading the chart…</p>' : '<p class="muted">This node draws no chart.</p>'}</div>
</section>
<section id="feed-oracles"><h2>Oracles</h2>
<table class="stack" id="feed-oracle-table"><tr><th>oracle</th><th class="num">attestations</th><th class="num">quality %</th><th class="num">avg deviation %</th><th>anomalies</th><th class="num">last price</th><th>last submission (UTC)</th></tr></table>
</section>
<section id="feed-chain"><h2>On chain</h2>
<p id="feed-round" class="muted">…</p>
<table class="stack" id="feed-reports"><tr><th class="num">window</th><th class="num">answer</th><th class="num">signatures</th><th>posted</th></tr></table>
</section>`
  return layout({ title: ref, node, body, page: 'feed', live: false, noun: 'feed' })
}

function feedPages({ node = 'node', explorer, series }: FeedWebOptions): Hono {
  const app = new Hono()
  app.get('/', (c) => htmlPage(c, feedListPage(node)))
  app.get('/:ref/chart.svg', async (c) => {
    const ref = c.req.param('ref')
    const last = chartWindows(c.req.query('last'))
    const found = series ? await series(ref, last) : undefined
    if (!found)
      throw new NotFoundError(
        series
          ? `No feed "${ref}" on this node; the list is at /ui/feed.`
          : 'This node draws no feed charts.',
      )
    const svg = renderFeedChart(seriesChartData(found, { label: `aggregate (${node})` }))
    return c.body(svg, 200, {
      'content-type': 'image/svg+xml; charset=utf-8',
      'cache-control': 'no-store',
    })
  })
  app.get('/:ref', (c) =>
    htmlPage(c, feedPage(node, c.req.param('ref'), { explorer, chart: series !== undefined })),
  )
  return app
}

/** `?last=` of a chart: 1 to 1000 windows, 120 when not given. */
function chartWindows(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_CHART_WINDOWS
  const n = Number(text)
  if (!/^\d{1,4}$/.test(text) || n < 1 || n > MAX_CHART_WINDOWS)
    throw new ValidationError(
      `"last" must be a whole number of windows from 1 to ${MAX_CHART_WINDOWS}; got "${text.slice(0, 20)}".`,
    )
  return n
}

/**
 * The pages' script (served at /ui/feed.js, after app.js, whose `api`, `show`, `onPage`, `$`
 * and `esc` it uses): fills the list, the home card's last answers, and a feed's page every 2 s.
 */
export const FEED_JS = `
(() => {
const feedApi = (ref, tail) => '/feed/feeds/' + encodeURIComponent(ref) + (tail || '')
const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
// Parts per million as a percentage with two decimals, in integers (12345 → "1.23").
const percent = (ppm) => Math.floor(ppm / 10000) + '.' + String(Math.floor((ppm % 10000) / 100)).padStart(2, '0')
const short = (key) => key.length > 14 ? key.slice(0, 8) + '…' + key.slice(-4) : key

async function fillCard() {
  const cells = document.querySelectorAll('[data-feed-last]')
  if (cells.length === 0) return
  const { feeds } = await api('GET', '/feed/feeds')
  for (const cell of cells) {
    const feed = feeds.find((f) => f.id === cell.dataset.feedLast)
    cell.textContent = feed && feed.lastAnswerText ? feed.lastAnswerText : '—'
  }
}

async function fillList() {
  const table = $('#feed-list')
  if (!table) return
  const { feeds } = await api('GET', '/feed/feeds')
  for (const row of table.querySelectorAll('tr[data-feed]')) row.remove()
  $('#feed-list-empty').hidden = feeds.length > 0
  for (const f of feeds) {
    const row = document.createElement('tr')
    row.dataset.feed = f.id
    row.innerHTML = '<td data-label="feed"><a href="/ui/feed/' + encodeURIComponent(f.id) + '">' + esc(f.pair) + '</a></td>' +
      '<td class="num" data-label="last answer">' + esc(f.lastAnswerText || '—') + '</td>' +
      '<td class="num" data-label="window">' + esc(f.window) + ' s</td>' +
      '<td class="num" data-label="oracles">' + esc(Array.isArray(f.oracles) ? f.oracles.length : f.oracles) + '</td>' +
      '<td class="num" data-label="signers">' + esc(f.threshold) + ' of ' + esc(Array.isArray(f.signers) ? f.signers.length : f.signers) + '</td>'
    table.appendChild(row)
  }
}

function link(base, value) {
  return base ? '<a class="addr" rel="noreferrer" href="' + esc(base + encodeURIComponent(value)) + '">' + esc(value) + '</a>' : '<span class="addr">' + esc(value) + '</span>'
}

async function fillSettings(section, ref) {
  const f = await api('GET', feedApi(ref))
  $('#feed-title').textContent = f.pair
  document.title = f.pair + ' · ' + document.title.split(' · ').slice(-1)[0]
  const chain = f.chain ? 'chain ' + f.chain.chainId + ', aggregator ' + link(section.dataset.explorerAddress, f.chain.aggregator) : 'no chain'
  $('#feed-settings').innerHTML = esc(f.decimals) + ' decimals · window ' + esc(f.window) + ' s · heartbeat ' + esc(f.heartbeat) + ' s · deviation ' + percent(f.deviation) + '% · ' + esc(f.oracles.length) + ' oracle(s) · ' + esc(f.threshold) + ' of ' + esc(f.signers.length) + ' signer(s) sign a report · ' + chain + ' · <a href="' + feedApi(ref) + '">JSON</a>'
}

async function fillLatest(section, ref) {
  const response = await fetch(feedApi(ref, '/latest'))
  if (response.status === 404) {
    $('#feed-answer').textContent = 'no answer yet'
    return null
  }
  const l = await response.json()
  if (!response.ok) throw new Error(l.message || 'The node answered ' + response.status + '.')
  $('#feed-answer').textContent = l.answerText
  $('#feed-window').textContent = l.window + ': ' + utc(l.start) + ' – ' + utc(l.end).slice(11)
  $('#feed-confidence').textContent = l.confidence + ' of 100'
  $('#feed-observations').textContent = l.observations
  $('#feed-outliers').textContent = Array.isArray(l.outliers) ? l.outliers.length : l.outliers
  return l
}

async function fillOracles(ref) {
  const { oracles } = await api('GET', feedApi(ref, '/oracles'))
  const table = $('#feed-oracle-table')
  for (const row of table.querySelectorAll('tr[data-oracle]')) row.remove()
  for (const o of oracles) {
    const anomalies = Object.entries(o.anomalies || {}).filter(([, n]) => n > 0).map(([kind, n]) => kind + ' ' + n).join(', ') || 'none'
    const row = document.createElement('tr')
    row.dataset.oracle = o.oracle
    row.innerHTML = '<td data-label="oracle"><span class="addr" title="' + esc(o.oracle) + '">' + esc(short(o.oracle)) + '</span></td>' +
      '<td class="num" data-label="attestations">' + esc(o.attestations) + '</td>' +
      '<td class="num ' + (o.quality < 500000 ? 'no' : '') + '" data-label="quality %">' + percent(o.quality) + '</td>' +
      '<td class="num" data-label="avg deviation %">' + percent(o.deviationPpm) + '</td>' +
      '<td data-label="anomalies">' + esc(anomalies) + '</td>' +
      '<td class="num" data-label="last price">' + esc(o.lastPriceText || '—') + '</td>' +
      '<td data-label="last submission">' + (o.lastSubmission ? utc(o.lastSubmission) : '—') + '</td>'
    table.appendChild(row)
  }
}

async function fillChain(section, ref, latest) {
  const tx = section.dataset.explorerTx
  const on = latest && latest.onChain
  $('#feed-round').innerHTML = on
    ? 'Round <strong id="feed-onchain-round">' + esc(on.round) + '</strong> (window ' + esc(on.window) + '): <strong>' + esc(on.answerText) + '</strong> in transaction ' + link(tx, on.tx) + ' on chain ' + esc(on.chainId)
    : 'No report posted on chain yet.'
  const { reports } = await api('GET', feedApi(ref, '/reports?limit=5'))
  const table = $('#feed-reports')
  for (const row of table.querySelectorAll('tr[data-window]')) row.remove()
  for (const r of reports) {
    const row = document.createElement('tr')
    row.dataset.window = r.window
    row.innerHTML = '<td class="num" data-label="window">' + esc(r.window) + '</td>' +
      '<td class="num" data-label="answer">' + esc(r.answerText) + '</td>' +
      '<td class="num" data-label="signatures">' + esc(Array.isArray(r.signatures) ? r.signatures.length : r.signatures) + ' of ' + esc(r.threshold) + '</td>' +
      '<td data-label="posted">' + (r.posted ? 'round ' + esc(r.posted.round) + ', ' + link(tx, r.posted.tx) : r.complete ? 'signed, not posted yet' : 'collecting signatures') + '</td>'
    table.appendChild(row)
  }
}

async function fillChart(section) {
  const path = section.dataset.chart
  if (!path) return
  const response = await fetch(path + '?last=120', { cache: 'no-store' })
  if (!response.ok) return
  // The node's own drawing (chart.ts escapes every label).
  $('#feed-chart').innerHTML = await response.text()
}

let feedTimer = null
async function refreshFeed() {
  const section = $('#feed-page')
  if (!section || document.hidden) return
  const ref = section.dataset.feed
  try {
    const latest = await fillLatest(section, ref)
    await Promise.all([fillOracles(ref), fillChain(section, ref, latest), fillChart(section)])
  } catch (error) {
    show(error.message, 'error')
  }
}

onPage('home', () => { fillCard().catch(() => {}) })
onPage('feed-list', () => { fillList().catch((error) => show(error.message, 'error')) })
onPage('feed', () => {
  const section = $('#feed-page')
  if (!section) return
  fillSettings(section, section.dataset.feed).catch((error) => show(error.message, 'error'))
  refreshFeed()
  if (feedTimer === null) feedTimer = setInterval(refreshFeed, 2000)
})
})()
`
