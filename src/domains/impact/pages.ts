import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { DocSummary } from '../../core/domain.ts'
import type { ImpactReducer, ImpactSummary } from '../../core/impact/domain.ts'
import type { ImpactActionConfig } from '../../core/impact/formats.ts'
import { IMPACT_OP, ImpactNotFoundError } from '../../core/impact/ops.ts'
import type {
  AuditorState,
  BatchState,
  ImpactState,
  PoolState,
  RequestState,
  RequestStatus,
} from '../../core/impact/state.ts'
import { readJson } from '../../http/body.ts'
import { ValidationError } from '../../http/errors.ts'
import { sendJson } from '../../http/route-group.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts, LocalAccount } from '../../node/accounts.ts'
import type { NodeConfig } from '../../node/config.ts'
import type { Listed } from '../../node/doc-index.ts'
import { type Explorer, txHtml } from '../../web/explorer.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import { accountNames, addressHtml, keyHtml, type NameOf } from '../../web/names.ts'
import type { WebPart } from '../plugin.ts'
import type { ImpactActions, ImpactIndex } from './actions.ts'

// The impact dashboard: a card on the home page, and pages under /ui/impact for a community's
// registry, its actions (with the request form), requests, auditors and pools. Its forms post to
// JSON endpoints beside the pages, which turn a form's text fields into the op body (numbers,
// the configuration JSON text, the request's JSON text) and sign it for the token's account.

/** At most this many requests are listed on a page; the page counts the rest. */
export const MAX_LISTED_REQUESTS = 200

/** At most this many settlement batches of a pool are shown (the newest). */
export const MAX_LISTED_BATCHES = 50

/** What the impact dashboard is built from. */
export type ImpactWebDeps = {
  readonly index: ImpactIndex
  readonly actions: ImpactActions
  /** The node's local accounts: who signs a form's op, and the names keys go by. */
  readonly accounts: Accounts
  readonly config: NodeConfig
  /** Where transactions and addresses link to (`[chain] explorer_url`). */
  readonly explorer?: Explorer | undefined
}

/** The impact domain's part of the dashboard: its home card, its pages and its page script. */
export function createImpactWeb(deps: ImpactWebDeps): WebPart {
  return {
    card: (documents) => impactCard(documents),
    pages: { prefix: '/ui/impact', app: impactPages(deps), docs: [] },
    script: IMPACT_JS,
  }
}

// ---------------------------------------------------------------------------------------------
// Amounts: base units, always with the token named (0 the chain's native coin, n a registry id).

/** A token id in words: `token 0 (native coin)`, or `token 2` with its address when mapped. */
export function tokenName(token: number, tokens?: ImpactState['tokens']): string {
  if (token === 0) return 'token 0 (native coin)'
  const mapped = tokens?.find((t) => t.id === token)
  return mapped ? `token ${token} (${mapped.address})` : `token ${token}`
}

/** An amount in base units of a token, named: `1000 base units of token 0 (native coin)`. */
export function formatImpactAmount(
  amount: bigint,
  token: number,
  tokens?: ImpactState['tokens'],
): string {
  return `${amount} base units of ${tokenName(token, tokens)}`
}

const money = (amount: bigint, token: number, tokens?: ImpactState['tokens']) =>
  `<span class="amount">${esc(formatImpactAmount(amount, token, tokens))}</span>`

// ---------------------------------------------------------------------------------------------
// The home card.

/** The impact communities' section of the home page: the list, and a form to start one. */
export function impactCard(communities: readonly Listed<DocSummary>[]): string {
  const rows = communities
    .map((listed) => {
      const c = listed as unknown as Listed<ImpactSummary>
      const closed = Number(c.requests) - Number(c.open)
      return `<tr><td><a href="/ui/impact/${encodeURIComponent(c.id)}">${esc(c.name)}</a></td><td>${esc(c.state)}</td><td class="num">${esc(c.requests)}</td><td class="num">${esc(c.open)}</td><td class="num">${esc(closed)}</td></tr>`
    })
    .join('')
  return `<section id="impact" data-noun="community"><h2>Impact communities</h2>
${rows ? `<table id="impact-communities"><tr><th>community</th><th>state</th><th class="num">requests</th><th class="num">open</th><th class="num">decided or expired</th></tr>${rows}</table>` : '<p class="muted">No impact community yet.</p>'}
</section>
<section id="impact-create" data-noun="community" data-needs-account><h2>Start an impact community</h2>
<form class="actions"><input name="name" placeholder="name" required><input name="blocksPerDay" placeholder="blocks per day (default 7200)" inputmode="numeric"><button class="primary" data-path="/ui/impact">Start</button></form>
<p class="muted">The account whose token is set becomes its governor.</p>
</section>`
}

// ---------------------------------------------------------------------------------------------
// The pages.

/** Where a community's pages live. */
const base = (community: string) => `/ui/impact/${encodeURIComponent(community)}`

/** The community's page links, under its name. */
function nav(state: { id: string; name: string }, current: string): string {
  const links = [
    ['', 'registry'],
    ['/actions', 'actions'],
    ['/requests', 'requests'],
    ['/auditors', 'auditors'],
  ]
    .map(([path, label]) =>
      label === current
        ? `<strong>${label}</strong>`
        : `<a href="${base(state.id)}${path}">${label}</a>`,
    )
    .join(' · ')
  return `<p class="muted" id="impact-nav"><a href="${base(state.id)}">${esc(state.name)}</a>: ${links} · <span id="impact-me"></span> · <a href="/impact/${encodeURIComponent(state.id)}">JSON</a></p>`
}

/** Keys of local accounts by name, and names of keys and addresses. */
function namesOf(accounts: Accounts): NameOf {
  return accountNames(accounts.list())
}

function actionSummary(config: ImpactActionConfig, tokens?: ImpactState['tokens']): string {
  const t = config.rewardstoken
  return `blocks ${config.blockstart}–${config.blockend} · ${config.auditors} approval(s) of ${2 * config.auditors - 1} seats · pays ${money(config.rewardsamount, t, tokens)} to the requester, ${money(config.rewardsoracle, t, tokens)} to an attesting oracle, ${money(config.rewardsauditors, t, tokens)} shared by matching auditors; slashes ${money(config.slashingsauditors, t, tokens)} per error, suspends at ${config.maxerrorsauditor} error(s)`
}

const fieldList = (config: ImpactActionConfig) =>
  config.fields.length === 0
    ? '<span class="muted">none</span>'
    : config.fields
        .map(
          (f) =>
            `${esc(f.fieldname)} <span class="muted">(${f.fieldtype === 'N' ? 'number' : 'text'}${f.mandatory ? ', mandatory' : ''})</span>`,
        )
        .join(', ')

/** A community's page: its registry, governance, the governors' forms, and its pools. */
export function communityPage({
  node,
  state,
  nameOf,
  explorer,
}: {
  node: string
  state: ImpactState
  nameOf: NameOf
  explorer?: Explorer | undefined
}): string {
  const governors = state.governors.join(' ')
  const body = `<section><h1>${esc(state.name)}</h1>
${nav(state, 'registry')}
<p class="muted" id="governance">Governors ${state.governors.map((g) => keyHtml(g, nameOf)).join(', ')} · ${state.threshold} of ${state.governors.length} approve a change · ${state.blocksPerDay} blocks a day · latest block claimed ${state.block} · <a href="${base(state.id)}/auditors">${state.auditors.length} auditor(s)</a> · <a href="${base(state.id)}/requests">${state.requests.length} request(s)</a></p>
<p class="muted" data-admin-hint="${esc(governors)}">A governor's forms show here with the token of a governor of this community.</p>
</section>
${registrySections(state, nameOf)}
${proposalsSection(state, nameOf)}
${governorForms(state)}
${poolsSection(state, nameOf, explorer)}`
  return layout({
    title: state.name,
    node,
    body,
    page: 'impact-community',
    // The whole snapshot is built for this page: it re-renders after an action, not on a timer.
    live: false,
    noun: 'community',
  })
}

/** A governor's button that removes a registry record (after a confirmation). */
export function removeButton(state: ImpactState, what: string, id: number | string): string {
  const path = `${base(state.id)}/registry/${what}/remove`
  const body = esc(JSON.stringify(typeof id === 'number' ? { uid: String(id) } : { account: id }))
  return `<button class="remove" data-admins="${esc(state.governors.join(' '))}" data-path="${path}" data-body="${body}" data-confirm-text="Propose to remove this ${what}?">Remove</button>`
}

function registrySections(state: ImpactState, nameOf: NameOf): string {
  const categories = state.categories
    .map(
      (c) =>
        `<tr><td class="num">${c.uid}</td><td>${esc(c.description)}</td><td>${removeButton(state, 'category', c.uid)}</td></tr>`,
    )
    .join('')
  const actions = state.actions
    .map(
      (a) =>
        `<tr><td class="num">${a.uid}</td><td><a href="${base(state.id)}/actions?action=${a.uid}">${esc(a.config.description)}</a></td><td class="num">${a.config.category}</td><td>${actionSummary(a.config, state.tokens)}</td><td>${fieldList(a.config)}</td><td>${removeButton(state, 'action', a.uid)}</td></tr>`,
    )
    .join('')
  const oracles = state.oracles
    .map(
      (o) =>
        `<tr><td class="num">${o.uid}</td><td>${esc(o.config.description)}</td><td>${keyHtml(o.config.account, nameOf)}</td><td>${o.payout ? addressHtml(o.payout, nameOf) : '<span class="muted">none</span>'}</td><td>${removeButton(state, 'oracle', o.uid)}</td></tr>`,
    )
    .join('')
  const proxies = state.proxies
    .map(
      (p) =>
        `<tr><td class="num">${p.uid}</td><td>${keyHtml(p.account, nameOf)}</td><td>${removeButton(state, 'proxy', p.uid)}</td></tr>`,
    )
    .join('')
  const tokens = [
    '<tr><td class="num">0</td><td>the native coin</td></tr>',
    ...state.tokens.map(
      (t) => `<tr><td class="num">${t.id}</td><td>${addressHtml(t.address, nameOf)}</td></tr>`,
    ),
  ].join('')
  const table = (id: string, title: string, head: string, rows: string, none: string) =>
    `<section id="${id}"><h2>${title}</h2>${rows ? `<table class="stack">${head}${rows}</table>` : `<p class="muted">${none}</p>`}</section>`
  return [
    table(
      'categories',
      'Categories',
      '<tr><th class="num">uid</th><th>description</th><th></th></tr>',
      categories,
      'No category yet.',
    ),
    table(
      'actions',
      'Impact actions',
      '<tr><th class="num">uid</th><th>action</th><th class="num">category</th><th>window and rewards</th><th>fields</th><th></th></tr>',
      actions,
      'No impact action yet.',
    ),
    table(
      'oracles',
      'Oracles',
      '<tr><th class="num">uid</th><th>oracle</th><th>key</th><th>payout</th><th></th></tr>',
      oracles,
      'No oracle.',
    ),
    table(
      'proxies',
      'Proxies',
      '<tr><th class="num">uid</th><th>key</th><th></th></tr>',
      proxies,
      'No proxy yet: nobody assigns auditors until a governor names one.',
    ),
    table('tokens', 'Rewards tokens', '<tr><th class="num">id</th><th>token</th></tr>', tokens, ''),
  ].join('\n')
}

function proposalsSection(state: ImpactState, nameOf: NameOf): string {
  const id = encodeURIComponent(state.id)
  const rows = state.proposals
    .map(
      (p) =>
        `<tr><td>${esc(p.type)}</td><td><code>${esc(JSON.stringify(p.body).slice(0, 300))}</code></td><td>${p.approvals.map((a) => keyHtml(a, nameOf)).join(', ')} (${p.approvals.length} of ${state.threshold})</td><td><button class="primary" data-admins="${esc(state.governors.join(' '))}" data-path="/ui/impact/${id}/proposals/${encodeURIComponent(p.id)}/approve">Approve</button></td></tr>`,
    )
    .join('')
  return `<section id="proposals" data-noun="community"><h2>Pending proposals (${state.proposals.length})</h2>
${rows ? `<table class="stack"><tr><th>change</th><th>body</th><th>approved by</th><th></th></tr>${rows}</table>` : '<p class="muted">None: every change proposed has applied.</p>'}
</section>`
}

/** The registry forms a governor may use; the node checks the signer anyway. */
function governorForms(state: ImpactState): string {
  const path = (what: string) => `/ui/impact/${encodeURIComponent(state.id)}/registry/${what}`
  return `<section id="governor" data-noun="community" data-admins="${esc(state.governors.join(' '))}"><h2>Change the registry</h2>
<p class="muted">Each change is a proposal of yours; it applies once ${state.threshold} governor(s) approve it.</p>
<h3>Category</h3>
<form class="actions" id="form-category"><input name="uid" placeholder="uid" inputmode="numeric" required><input name="description" placeholder="description" required><button data-path="${path('category')}">Create category</button></form>
<h3>Impact action</h3>
<form class="actions" id="form-action"><input name="uid" placeholder="uid" inputmode="numeric" required><input name="description" placeholder="description" required><input name="category" placeholder="category uid" required><input name="auditors" placeholder="approvals required" required><input name="blockstart" placeholder="first block" required><input name="blockend" placeholder="last block" required><input name="rewardstoken" placeholder="rewards token (0 native)" value="0"><input name="rewardsamount" placeholder="requester's reward, base units" required><input name="rewardsoracle" placeholder="oracle's reward, base units" value="0"><input name="rewardsauditors" placeholder="auditors' reward, base units" value="0"><input name="slashingsauditors" placeholder="slashing per error, base units" value="0"><input name="maxerrorsauditor" placeholder="errors before suspension" required><input name="fields" placeholder="fields: name:S:Y, trees:N:N (type S/N, mandatory Y/N)"><button data-path="${path('action')}">Create impact action</button></form>
<h3>Auditor</h3>
<form class="actions" id="form-auditor"><input name="account" placeholder="key, or a local account's name" required><input name="description" placeholder="description" required><input name="categories" placeholder="category uids: 1,2" required><input name="area" placeholder="area: lat,lon or lat,lon,lat,lon" required><input name="stakesmin" placeholder="stake, base units" value="0"><input name="payout" placeholder="payout address (a local account's by default)"><button data-path="${path('auditor')}">Create auditor</button></form>
<h3>Oracle</h3>
<form class="actions" id="form-oracle"><input name="uid" placeholder="uid" required><input name="description" placeholder="description" required><input name="account" placeholder="key, or a local account's name" required><input name="payout" placeholder="payout address (optional)"><button data-path="${path('oracle')}">Create oracle</button></form>
<h3>Proxy</h3>
<form class="actions" id="form-proxy"><input name="uid" placeholder="uid" required><input name="account" placeholder="key, or a local account's name" required><button data-path="${path('proxy')}">Create proxy</button></form>
<h3>Governors</h3>
<form class="actions" id="form-governors"><input name="governors" placeholder="keys or local account names, separated by spaces" required><input name="threshold" placeholder="approvals a change needs" required><button data-path="${path('governors')}">Replace governors</button></form>
<h3>Rewards token</h3>
<form class="actions" id="form-token"><input name="id" placeholder="token id (1 or more)" required><input name="address" placeholder="ERC-20 address" required><button data-path="${path('token')}">Map token</button></form>
</section>`
}

function poolsSection(state: ImpactState, nameOf: NameOf, explorer: Explorer | undefined): string {
  const pools = state.pools.map((p) => poolHtml(state, p, nameOf, explorer)).join('')
  return `<section id="pools"><h2>Pools</h2>
${pools || '<p class="muted">No deposit recorded yet: sponsors and auditors deposit into the escrow pool, and the proxy records what it sees on chain.</p>'}
</section>`
}

function poolHtml(
  state: ImpactState,
  pool: PoolState,
  nameOf: NameOf,
  explorer: Explorer | undefined,
): string {
  const m = (amount: bigint) => money(amount, pool.token, state.tokens)
  const shown = pool.batches.slice(-MAX_LISTED_BATCHES).reverse()
  const batches = shown.map((b) => batchRow(b, nameOf, explorer)).join('')
  const older = pool.batches.length - shown.length
  return `<div class="pool" id="pool-${pool.token}"><h3>${esc(tokenName(pool.token, state.tokens))}</h3>
<table class="stack"><tr><th class="num">deposited</th><th class="num">free</th><th class="num">staked</th><th class="num">queued</th><th class="num">batched</th><th class="num">paid</th></tr>
<tr><td class="num" data-label="deposited">${m(pool.deposited)}</td><td class="num" data-label="free">${m(pool.free)}</td><td class="num" data-label="staked">${m(pool.stakes)}</td><td class="num" data-label="queued">${m(pool.queued)}</td><td class="num" data-label="batched">${m(pool.batched)}</td><td class="num" data-label="paid">${m(pool.paid)}</td></tr></table>
${batches ? `<table class="stack batches"><tr><th class="num">batch</th><th class="num">block</th><th class="num">total</th><th class="num">payees</th><th class="num">requests</th><th class="num">signatures</th><th>settlement</th></tr>${batches}</table>` : '<p class="muted">No batch yet.</p>'}
${older > 0 ? `<p class="muted">${older} older batch(es) not shown.</p>` : ''}</div>`
}

function batchRow(b: BatchState, _nameOf: NameOf, explorer: Explorer | undefined): string {
  return `<tr><td class="num" data-label="batch">${b.batch}</td><td class="num" data-label="block">${b.block}</td><td class="num" data-label="total">${money(b.total, b.token)}</td><td class="num" data-label="payees">${b.payees.length}</td><td class="num" data-label="requests">${b.requests.length}</td><td class="num" data-label="signatures">${b.signatures.length}</td><td data-label="settlement">${settlementHtml(b, explorer)}</td></tr>`
}

function settlementHtml(b: BatchState, explorer: Explorer | undefined): string {
  return b.settled
    ? `settled in ${txHtml(b.settled.tx, explorer)} at block ${b.settled.block}`
    : `waiting for settlement (${b.signatures.length} node signature(s))`
}

/** The actions page: every impact action, and the request form of the chosen one. */
export function actionsPage({
  node,
  state,
  chosen,
}: {
  node: string
  state: ImpactState
  /** The action whose request form is shown (the first when none is chosen). */
  chosen: number | undefined
}): string {
  const action = state.actions.find((a) => a.uid === chosen) ?? state.actions[0]
  const options = state.actions
    .map(
      (a) =>
        `<option value="${a.uid}"${a === action ? ' selected' : ''}>${a.uid}: ${esc(a.config.description)}</option>`,
    )
    .join('')
  const rows = state.actions
    .map(
      (a) =>
        `<tr><td class="num">${a.uid}</td><td><a href="?action=${a.uid}">${esc(a.config.description)}</a></td><td>${actionSummary(a.config, state.tokens)}</td><td>${fieldList(a.config)}</td></tr>`,
    )
    .join('')
  const body = `<section><h1>${esc(state.name)}: impact actions</h1>
${nav(state, 'actions')}
${rows ? `<table class="stack" id="action-list"><tr><th class="num">uid</th><th>action</th><th>window and rewards</th><th>fields</th></tr>${rows}</table>` : '<p class="muted">No impact action yet: a governor creates them on the registry page.</p>'}
</section>
${
  action
    ? `<section id="request-form" data-noun="request"><h2>Request approval</h2>
<form method="get" class="actions" id="choose-action"><select name="action" aria-label="impact action">${options}</select><button type="submit">Choose</button></form>
${requestForm(state, action.uid, action.config)}
<p class="muted" data-account-hint>To request approval, use an account token above: the request is signed by that account.</p>
</section>`
    : ''
}`
  return layout({
    title: `${state.name}: impact actions`,
    node,
    body,
    page: 'impact-actions',
    live: false,
    noun: 'request',
  })
}

function requestForm(state: ImpactState, uid: number, config: ImpactActionConfig): string {
  const fields = config.fields
    .map((f) => {
      const label = `${esc(f.fieldname)}${f.mandatory ? ' *' : ''}`
      const kind = f.fieldtype === 'N' ? ' inputmode="decimal" placeholder="a number"' : ''
      return `<label>${label} <input name="field:${esc(f.fieldname)}" data-field="${esc(f.fieldname)}"${f.mandatory ? ' required' : ''}${kind}></label>`
    })
    .join('')
  return `<form class="actions" id="form-request" data-needs-account>
<input type="hidden" name="impactactionid" value="${uid}">
<p><strong>${esc(config.description)}</strong>: ${actionSummary(config, state.tokens)}. Fields marked * are mandatory.</p>
<label>description * <input name="description" required></label>
${fields}
<label>coordinates <input name="coordinates" placeholder="lat,lon"></label>
<label>evidence <input name="evidence" placeholder="IPFS CIDs, separated by spaces"></label>
<label>payout <input name="payout" placeholder="address (your account's by default)"></label>
<button class="primary" id="submit-request" data-path="${base(state.id)}/requests" data-go="${base(state.id)}/requests/">Request approval</button>
</form>`
}

const STATUSES: readonly RequestStatus[] = [
  'WAITING_FOR_AUDITORS',
  'VOTING',
  'APPROVED',
  'REFUSED',
  'EXPIRED',
]

/** The requests page: the newest requests (at most 200), filtered by status or requester. */
export function requestsPage({
  node,
  community,
  requests,
  more,
  status,
  nameOf,
}: {
  node: string
  community: { id: string; name: string }
  requests: readonly RequestState[]
  /** How many more match than are listed (undefined: more exist, uncounted). */
  more: number | undefined
  status: RequestStatus | undefined
  nameOf: NameOf
}): string {
  const filters = [
    status ? `<a href="?">all</a>` : '<strong>all</strong>',
    ...STATUSES.map((s) =>
      s === status ? `<strong>${s}</strong>` : `<a href="?status=${s}">${s}</a>`,
    ),
  ].join(' · ')
  const rows = requests
    .map(
      (r) =>
        `<tr><td data-label="request"><a href="${base(community.id)}/requests/${encodeURIComponent(r.id)}">${esc(r.description)}</a></td><td data-label="action">${r.impactactionid}: ${esc(r.action.description)}</td><td data-label="requester">${keyHtml(r.requester, nameOf)}</td><td data-label="status" class="status">${r.status}</td><td data-label="note" class="muted">${esc(r.note)}</td></tr>`,
    )
    .join('')
  const rest =
    more === undefined
      ? '<p class="muted" id="requests-more">More requests match than are listed; narrow the filter.</p>'
      : more > 0
        ? `<p class="muted" id="requests-more">${more} older request(s) not listed.</p>`
        : ''
  const body = `<section><h1>${esc(community.name)}: approval requests</h1>
${nav(community, 'requests')}
<p id="status-filter">${filters} · <span id="impact-mine"></span></p>
${rows ? `<table class="stack" id="request-list"><tr><th>request</th><th>action</th><th>requester</th><th>status</th><th>note</th></tr>${rows}</table>` : '<p class="muted">No request.</p>'}
${rest}
</section>`
  return layout({
    title: `${community.name}: requests`,
    node,
    body,
    page: 'impact-requests',
    live: true,
  })
}

/** A request's page: its status and why, seats with deadlines, votes, the decision, and its batch. */
export function requestPage({
  node,
  community,
  request,
  batches,
  nameOf,
  explorer,
}: {
  node: string
  community: { id: string; name: string }
  request: RequestState
  /** The batches carrying payments of this request. */
  batches: readonly BatchState[]
  nameOf: NameOf
  explorer?: Explorer | undefined
}): string {
  const r = request
  const token = r.action.rewardstoken
  const fields = Object.entries(r.fields)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`)
    .join('')
  const body = `<section><h1>${esc(r.description)}</h1>
${nav(community, 'request')}
<p>Status <strong id="request-status" class="status-${r.status}">${r.status}</strong></p>
<p id="request-note">${esc(r.note)}</p>
<p class="muted">Impact action ${r.impactactionid}: ${esc(r.action.description)} · requested by ${keyHtml(r.requester, nameOf)} · paid to ${addressHtml(r.payout, nameOf, explorer)} · ${r.required} approval(s) of ${r.seats} seat(s)${r.coordinates ? ` · at ${esc(`${r.coordinates.lat},${r.coordinates.lon}`)}` : ''}${r.expired !== undefined ? ` · expired at block ${r.expired}` : ''}</p>
${fields ? `<table id="request-fields"><tr><th>field</th><th>value</th></tr>${fields}</table>` : ''}
${r.evidence.length ? `<p id="evidence">Evidence: ${r.evidence.map((cid) => `<code>${esc(cid)}</code>`).join(' ')}</p>` : ''}
</section>
${assignmentsSection(r, nameOf)}
${attestationsSection(r)}
${decisionSection(r, token, nameOf, explorer)}
${batchesSection(r, batches, explorer)}`
  const live = r.status !== 'REFUSED' && r.status !== 'EXPIRED' && !batches.some((b) => b.settled)
  return layout({ title: r.description, node, body, page: 'impact-request', live, noun: 'request' })
}

function assignmentsSection(r: RequestState, nameOf: NameOf): string {
  const votes = new Map(r.votes.map((v) => [v.auditor, v]))
  const rows = r.assignments
    .map((a) => {
      const vote = votes.get(a.auditor)
      const standing = a.unassigned
        ? `unassigned at block ${a.unassigned.block} (${a.unassigned.reason})`
        : vote
          ? `voted <span class="${vote.vote === 'Y' ? 'yes' : 'no'}">${vote.vote}</span>`
          : `waiting for its vote (due by block ${a.deadline})`
      return `<tr><td data-label="auditor">${keyHtml(a.auditor, nameOf)}</td><td class="num" data-label="assigned">${a.block}</td><td class="num" data-label="deadline">${a.deadline}</td><td data-label="standing">${standing}</td></tr>`
    })
    .join('')
  const voteRows = r.votes
    .map(
      (v) =>
        `<tr><td>${keyHtml(v.auditor, nameOf)}</td><td class="${v.vote === 'Y' ? 'yes' : 'no'}">${v.vote}</td><td>${esc(v.otherinfo ?? '')}</td></tr>`,
    )
    .join('')
  return `<section id="assignments"><h2>Auditors (${r.assignments.filter((a) => !a.unassigned).length} of ${r.seats} seats)</h2>
${rows ? `<table class="stack"><tr><th>auditor</th><th class="num">assigned at block</th><th class="num">deadline block</th><th>standing</th></tr>${rows}</table>` : '<p class="muted">No auditor assigned yet.</p>'}
<h3>Votes (${r.votes.length})</h3>
${voteRows ? `<table id="votes"><tr><th>auditor</th><th>vote</th><th>other info</th></tr>${voteRows}</table>` : '<p class="muted">No vote yet.</p>'}
</section>`
}

function attestationsSection(r: RequestState): string {
  if (r.attestations.length === 0) return ''
  return `<section id="attestations"><h2>Attestations</h2><p>${r.attestations.map((a) => `oracle ${a.oracle}`).join(', ')}</p></section>`
}

function decisionSection(
  r: RequestState,
  token: number,
  nameOf: NameOf,
  explorer: Explorer | undefined,
): string {
  const d = r.decision
  if (!d)
    return `<section id="decision"><h2>Decision</h2><p class="muted">Not decided yet.</p></section>`
  const payments = d.payments
    .map(
      (p) =>
        `<tr><td data-label="role">${esc(p.role)}</td><td data-label="to">${addressHtml(p.to, nameOf, explorer)}</td><td class="num" data-label="amount">${money(p.amount, token)}</td><td data-label="batch">${p.batch === undefined ? 'not batched yet' : `batch ${p.batch}`}</td></tr>`,
    )
    .join('')
  const slashes = d.slashes
    .map(
      (s) =>
        `<tr><td>${keyHtml(s.auditor, nameOf)}</td><td class="num">${money(s.due, token)}</td><td class="num">${money(s.taken, token)}</td></tr>`,
    )
    .join('')
  return `<section id="decision"><h2>Decision: <span class="status-${d.status}">${d.status}</span></h2>
<p>At block ${d.block}: ${d.approvals} Y, ${d.refusals} N; ${d.matched.length} auditor(s) matched, ${d.contradicted.length} contradicted.${d.remainder > 0n ? ` What the equal split left (${money(d.remainder, token)}) stays in the pool.` : ''}</p>
${payments ? `<table class="stack" id="payments"><tr><th>role</th><th>to</th><th class="num">amount</th><th>batch</th></tr>${payments}</table>` : '<p class="muted">No payment.</p>'}
${slashes ? `<h3>Slashed</h3><table id="slashes"><tr><th>auditor</th><th class="num">due</th><th class="num">taken from its stake</th></tr>${slashes}</table>` : ''}
</section>`
}

function batchesSection(
  r: RequestState,
  batches: readonly BatchState[],
  explorer: Explorer | undefined,
): string {
  if (r.decision?.status !== 'APPROVED') return ''
  const rows = batches
    .map(
      (b) =>
        `<li>batch ${b.batch} of ${esc(tokenName(b.token))} (${money(b.total, b.token)} in all): ${settlementHtml(b, explorer)}</li>`,
    )
    .join('')
  return `<section id="paid"><h2>Settlement</h2>
${rows ? `<ul id="batches">${rows}</ul>` : '<p class="muted">Decided; its payments wait for the proxy to close the next batch of the pool.</p>'}
<p class="muted">Once a batch settles, each payee withdraws from the escrow (withdraw(token)).</p>
</section>`
}

/** The auditors page: ranking, history, suspension, stake and earnings per token. */
export function auditorsPage({
  node,
  state,
  nameOf,
}: {
  node: string
  state: ImpactState
  nameOf: NameOf
}): string {
  const perToken = (amounts: Readonly<Record<string, bigint>>) =>
    Object.entries(amounts)
      .map(([t, a]) => money(a, Number(t), state.tokens))
      .join('<br>') || '—'
  const rows = [...state.auditors]
    .sort((a, b) => b.ranking - a.ranking || (a.account < b.account ? -1 : 1))
    .map(
      (a) =>
        `<tr class="${a.suspended ? 'suspended' : ''}"><td data-label="auditor"><a href="${base(state.id)}/auditors/${a.account}">${esc(a.description)}</a> ${keyHtml(a.account, nameOf)}</td><td class="num" data-label="ranking">${a.ranking}</td><td class="num" data-label="matched">${a.matched}</td><td class="num" data-label="errors">${a.errors}</td><td class="num" data-label="missed">${a.missed}</td><td data-label="standing">${a.destroyed ? 'removed' : a.suspended ? '<span class="no">suspended</span>' : 'active'}</td><td class="num" data-label="stake">${perToken(a.stakes)}</td><td class="num" data-label="earned">${perToken(a.earned)}</td><td class="num" data-label="queue">${a.queue.length}</td><td>${a.destroyed ? '' : removeButton(state, 'auditor', a.account)}</td></tr>`,
    )
    .join('')
  const body = `<section><h1>${esc(state.name)}: auditors</h1>
${nav(state, 'auditors')}
${rows ? `<table class="stack" id="auditor-list"><tr><th>auditor</th><th class="num">ranking</th><th class="num">matched</th><th class="num">errors</th><th class="num">missed</th><th>standing</th><th class="num">stake</th><th class="num">earned</th><th class="num">queue</th><th></th></tr>${rows}</table>` : '<p class="muted">No auditor yet.</p>'}
</section>`
  return layout({
    title: `${state.name}: auditors`,
    node,
    body,
    page: 'impact-auditors',
    live: false,
  })
}

/** An auditor's page: its record, and its queue with Y/N buttons for the auditor itself. */
export function auditorPage({
  node,
  community,
  auditor,
  queue,
  nameOf,
}: {
  node: string
  community: { id: string; name: string }
  auditor: AuditorState
  /** The requests of its queue (awaiting its vote). */
  queue: readonly RequestState[]
  nameOf: NameOf
}): string {
  const a = auditor
  const path = (r: RequestState) =>
    `${base(community.id)}/requests/${encodeURIComponent(r.id)}/vote`
  const rows = queue
    .map((r) => {
      const seat = r.assignments.find((s) => s.auditor === a.account && !s.unassigned)
      return `<tr data-request="${esc(r.id)}"><td data-label="request"><a href="${base(community.id)}/requests/${encodeURIComponent(r.id)}">${esc(r.description)}</a></td><td data-label="action">${esc(r.action.description)}</td><td class="num" data-label="deadline">${seat ? seat.deadline : '—'}</td><td data-label="vote"><div class="actions" data-admins="${esc(a.account)}"><button class="primary vote-y" data-path="${path(r)}" data-body='{"vote":"Y"}'>Y</button><button class="vote-n" data-path="${path(r)}" data-body='{"vote":"N"}'>N</button></div></td></tr>`
    })
    .join('')
  const money2 = (amounts: Readonly<Record<string, bigint>>) =>
    Object.entries(amounts)
      .map(([t, v]) => money(v, Number(t)))
      .join(', ') || 'none'
  const body = `<section><h1>Auditor ${esc(a.description)}</h1>
${nav(community, 'auditor')}
<p class="muted">Key ${keyHtml(a.account, nameOf)} · paid to ${addressHtml(a.payout, nameOf)} · categories ${a.categories.join(', ')} · area ${esc(a.area)} · stake required ${esc(a.stakesmin)} base units</p>
<p id="auditor-record">Ranking ${a.ranking} · ${a.matched} matched · ${a.errors} error(s) · ${a.missed} missed · ${a.destroyed ? 'removed from the registry' : a.suspended ? '<span class="no">suspended</span>' : 'active'}</p>
<p>Stake held: ${money2(a.stakes)} · earned: ${money2(a.earned)}</p>
</section>
<section id="queue" data-noun="request"><h2>Queue (${queue.length})</h2>
${rows ? `<table class="stack"><tr><th>request</th><th>action</th><th class="num">vote due by block</th><th>vote</th></tr>${rows}</table>` : '<p class="muted" id="queue-empty">No request awaits this auditor\'s vote.</p>'}
<p class="muted" data-admin-hint="${esc(a.account)}">The vote buttons show with this auditor's account token.</p>
</section>`
  return layout({
    title: `Auditor ${a.description}`,
    node,
    body,
    page: 'impact-auditor',
    live: true,
    noun: 'request',
  })
}

// ---------------------------------------------------------------------------------------------
// Routes: pages (GET) and the forms' endpoints (POST, bearer token).

/** A form as posted: text fields (FormData) or a button's JSON body; bounded. */
const formBody = z
  .record(z.string().max(80), z.string().max(8192))
  .refine((form) => Object.keys(form).length <= 100, {
    message: 'must have at most 100 fields',
  })

type Form = Record<string, string>

function impactPages(deps: ImpactWebDeps): Hono {
  const { index, accounts, config } = deps
  const app = new Hono()
  const node = config.name
  const open = async (c: Context) => {
    const id = index.resolve(c.req.param('community') ?? '')
    return { id, reducer: await index.reducer(id) }
  }
  app.get('/:community', async (c) => {
    const { reducer } = await open(c)
    const page = communityPage({
      node,
      state: reducer.state(),
      nameOf: namesOf(accounts),
      explorer: deps.explorer,
    })
    return htmlPage(c, page)
  })
  app.get('/:community/actions', async (c) => {
    const { reducer } = await open(c)
    const chosen = Number(c.req.query('action'))
    return htmlPage(
      c,
      actionsPage({
        node,
        state: reducer.state(),
        chosen: Number.isSafeInteger(chosen) ? chosen : undefined,
      }),
    )
  })
  app.get('/:community/requests', async (c) =>
    htmlPage(c, await listRequests(c, deps, await open(c))),
  )
  app.get('/:community/requests/:request', async (c) => {
    const { id, reducer } = await open(c)
    const request = requestOf(reducer, c.req.param('request'))
    const batches = reducer
      .pool(request.action.rewardstoken)
      .batches.filter((b) => b.requests.includes(request.id))
    const community = { id, name: reducer.name }
    return htmlPage(
      c,
      requestPage({
        node,
        community,
        request,
        batches,
        nameOf: namesOf(accounts),
        explorer: deps.explorer,
      }),
    )
  })
  app.get('/:community/auditors', async (c) => {
    const { reducer } = await open(c)
    return htmlPage(c, auditorsPage({ node, state: reducer.state(), nameOf: namesOf(accounts) }))
  })
  app.get('/:community/auditors/:account', async (c) => {
    const { id, reducer } = await open(c)
    const key = keyOfAccount(accounts, c.req.param('account'), 'account')
    const auditor = reducer.auditor(key)
    if (!auditor)
      throw new ImpactNotFoundError(
        `No auditor ${key.slice(0, 16)}… in community "${reducer.name}"; see its auditors page.`,
      )
    const queue = auditor.queue.flatMap((r) => reducer.request(r) ?? [])
    return htmlPage(
      c,
      auditorPage({
        node,
        community: { id, name: reducer.name },
        auditor,
        queue,
        nameOf: namesOf(accounts),
      }),
    )
  })
  mountActions(app, deps)
  return app
}

async function listRequests(
  c: Context,
  deps: ImpactWebDeps,
  { id, reducer }: { id: OpId; reducer: ImpactReducer },
): Promise<string> {
  const given = c.req.query('status')
  const status = STATUSES.find((s) => s === given)
  const requesterRef = c.req.query('requester')
  const requester = requesterRef
    ? keyOfAccount(deps.accounts, requesterRef, 'requester')
    : undefined
  const found = reducer.requests({ status, requester, limit: MAX_LISTED_REQUESTS + 1 })
  const requests = found.slice(0, MAX_LISTED_REQUESTS)
  // Without a filter the rest is counted exactly; with one, counting would build every request.
  const more =
    !status && !requester
      ? reducer.counts.requests - requests.length
      : found.length > MAX_LISTED_REQUESTS
        ? undefined
        : 0
  return requestsPage({
    node: deps.config.name,
    community: { id, name: reducer.name },
    requests,
    more,
    status,
    nameOf: namesOf(deps.accounts),
  })
}

function requestOf(reducer: ImpactReducer, ref: string | undefined): RequestState {
  const request = ref ? reducer.request(ref as OpId) : undefined
  if (!request)
    throw new ImpactNotFoundError(
      `No approval request "${String(ref).slice(0, 100)}" in community "${reducer.name}"; see its requests page.`,
    )
  return request
}

/** A key from a form or URL: 64 hex digits, or the name of a local account. */
function keyOfAccount(accounts: Accounts, ref: string | undefined, field: string): string {
  const text = (ref ?? '').trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase()
  const local = accounts.get(text)
  if (local) return local.key
  throw new ValidationError(
    `"${field}" must be an Ed25519 key (64 hex digits) or the name of one of this node's accounts; got "${text.slice(0, 80)}".`,
  )
}

/** The forms' endpoints: each reads its form, builds the op body and signs it for the account. */
function mountActions(app: Hono, deps: ImpactWebDeps): void {
  const { actions, accounts, config } = deps
  const read = async (c: Context) => {
    const account = accounts.authenticate(c.req.header('authorization'))
    const form = await readJson(c, config.http.bodyLimit, formBody)
    return { account, form }
  }
  app.post('/', async (c) => {
    const { account, form } = await read(c)
    const body: Record<string, unknown> = { name: (form.name ?? '').trim() }
    if (form.blocksPerDay?.trim()) body.blocksPerDay = integerOf(form.blocksPerDay)
    const op = await actions.create(account, body)
    return sendJson(c, { op: op.id, community: op.id, type: IMPACT_OP.create })
  })
  app.post('/:community/registry/:what', async (c) => {
    const { account, form } = await read(c)
    const { type, body } = registryOp(c.req.param('what'), form, accounts)
    return sendJson(c, await actions.act(account, c.req.param('community'), type, body))
  })
  app.post('/:community/registry/:what/remove', async (c) => {
    const { account, form } = await read(c)
    const { type, body } = removeOp(c.req.param('what'), form, accounts)
    return sendJson(c, await actions.act(account, c.req.param('community'), type, body))
  })
  app.post('/:community/proposals/:proposal/approve', async (c) => {
    const { account } = await read(c)
    const body = { proposal: c.req.param('proposal') }
    return sendJson(
      c,
      await actions.act(account, c.req.param('community'), IMPACT_OP.approve, body),
    )
  })
  app.post('/:community/requests', async (c) => {
    const { account, form } = await read(c)
    const body = { info: requestInfo(form), payout: form.payout?.trim() || account.address }
    return sendJson(
      c,
      await actions.act(account, c.req.param('community'), IMPACT_OP.requestApproval, body),
    )
  })
  app.post('/:community/requests/:request/vote', async (c) => {
    const { account, form } = await read(c)
    const vote = JSON.stringify({
      vote: form.vote ?? '',
      ...(form.otherinfo ? { otherinfo: form.otherinfo } : {}),
    })
    const body = { request: c.req.param('request'), vote }
    return sendJson(c, await actions.act(account, c.req.param('community'), IMPACT_OP.vote, body))
  })
  app.post('/:community/requests/:request/attest', async (c) => {
    const { account, form } = await read(c)
    const body = {
      request: c.req.param('request'),
      ...(form.otherinfo ? { otherinfo: form.otherinfo } : {}),
    }
    return sendJson(c, await actions.act(account, c.req.param('community'), IMPACT_OP.attest, body))
  })
}

/** A whole number typed in a form: as a number when it is one, else the text (the rules name the field). */
function integerOf(text: string | undefined): number | string {
  const t = (text ?? '').trim()
  return /^\d{1,15}$/.test(t) ? Number(t) : t
}

/** An amount typed in a form: decimal base units as text (exact), as the canonical encoding has them. */
const amountOf = (text: string | undefined, fallback = '0') => (text ?? '').trim() || fallback

/** `name:S:Y, trees:N:N` → the action's custom fields. */
function fieldsOf(
  text: string | undefined,
): { fieldname: string; fieldtype: string; mandatory: string }[] {
  return (text ?? '')
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .slice(0, 100)
    .map((part) => {
      const [fieldname = '', fieldtype = 'S', mandatory = 'N'] = part
        .split(':')
        .map((s) => s.trim())
      return { fieldname, fieldtype: fieldtype.toUpperCase(), mandatory: mandatory.toUpperCase() }
    })
}

const listOf = (text: string | undefined) =>
  (text ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .slice(0, 100)

/** The registry op a governor's form asks for, with its body. */
function registryOp(
  what: string | undefined,
  form: Form,
  accounts: Accounts,
): { type: string; body: Record<string, unknown> } {
  const text = (name: string) => (form[name] ?? '').trim()
  switch (what) {
    case 'category':
      return {
        type: IMPACT_OP.createCategory,
        body: { uid: integerOf(form.uid), description: text('description') },
      }
    case 'action':
      return {
        type: IMPACT_OP.createImpactAction,
        body: { uid: integerOf(form.uid), configuration: actionConfiguration(form) },
      }
    case 'auditor':
      return auditorOp(form, accounts)
    case 'oracle': {
      const account = keyOfAccount(accounts, form.account, 'account')
      const configuration = JSON.stringify({ description: text('description'), account })
      const payout = text('payout')
      return {
        type: IMPACT_OP.createOracle,
        body: { uid: integerOf(form.uid), configuration, ...(payout ? { payout } : {}) },
      }
    }
    case 'proxy':
      return {
        type: IMPACT_OP.createProxy,
        body: {
          uid: integerOf(form.uid),
          account: keyOfAccount(accounts, form.account, 'account'),
        },
      }
    case 'governors':
      return {
        type: IMPACT_OP.setGovernors,
        body: {
          governors: listOf(form.governors).map((g) => keyOfAccount(accounts, g, 'governors')),
          threshold: integerOf(form.threshold),
        },
      }
    case 'token':
      return {
        type: IMPACT_OP.setToken,
        body: { id: integerOf(form.id), address: text('address') },
      }
    default:
      throw new ImpactNotFoundError(
        `"${String(what).slice(0, 40)}" is not a registry form; use category, action, auditor, oracle, proxy, governors or token.`,
      )
  }
}

const REMOVE_OPS: Readonly<Record<string, string>> = {
  category: IMPACT_OP.destroyCategory,
  action: IMPACT_OP.destroyImpactAction,
  oracle: IMPACT_OP.destroyOracle,
  proxy: IMPACT_OP.destroyProxy,
}

/** The destroy op a governor's Remove button asks for. */
function removeOp(
  what: string | undefined,
  form: Form,
  accounts: Accounts,
): { type: string; body: Record<string, unknown> } {
  if (what === 'auditor')
    return {
      type: IMPACT_OP.destroyAuditor,
      body: { account: keyOfAccount(accounts, form.account, 'account') },
    }
  const type = what === undefined ? undefined : REMOVE_OPS[what]
  if (!type)
    throw new ImpactNotFoundError(
      `"${String(what).slice(0, 40)}" is not a registry record to remove; use category, action, oracle, proxy or auditor.`,
    )
  return { type, body: { uid: integerOf(form.uid) } }
}

function actionConfiguration(form: Form): string {
  return JSON.stringify({
    description: (form.description ?? '').trim(),
    category: integerOf(form.category),
    auditors: integerOf(form.auditors),
    blockstart: integerOf(form.blockstart),
    blockend: integerOf(form.blockend),
    rewardstoken: integerOf(form.rewardstoken?.trim() || '0'),
    rewardsamount: amountOf(form.rewardsamount, ''),
    rewardsoracle: amountOf(form.rewardsoracle),
    rewardsauditors: amountOf(form.rewardsauditors),
    slashingsauditors: amountOf(form.slashingsauditors),
    maxerrorsauditor: integerOf(form.maxerrorsauditor),
    fields: fieldsOf(form.fields),
  })
}

function auditorOp(
  form: Form,
  accounts: Accounts,
): { type: string; body: Record<string, unknown> } {
  const ref = (form.account ?? '').trim()
  const account = keyOfAccount(accounts, ref, 'account')
  const local: LocalAccount | undefined = accounts.list().find((a) => a.key === account)
  const payout = (form.payout ?? '').trim() || local?.address
  if (!payout)
    throw new ValidationError(
      `"payout" is missing: ${ref.slice(0, 16)}… is not an account of this node, so give the address its rewards go to.`,
    )
  const configuration = JSON.stringify({
    description: (form.description ?? '').trim(),
    categories: listOf(form.categories).map((c) => integerOf(c)),
    area: (form.area ?? '').trim(),
    stakesmin: amountOf(form.stakesmin),
  })
  return { type: IMPACT_OP.createAuditor, body: { account, configuration, payout } }
}

/** The approval request's JSON text from the request form: custom fields are `field:<name>`. */
function requestInfo(form: Form): string {
  const info: Record<string, unknown> = {
    impactactionid: integerOf(form.impactactionid),
    description: (form.description ?? '').trim(),
  }
  for (const [key, value] of Object.entries(form))
    if (key.startsWith('field:') && value.trim() !== '')
      info[key.slice('field:'.length)] = value.trim()
  if (form.coordinates?.trim()) info.coordinates = form.coordinates.trim()
  const evidence = listOf(form.evidence)
  if (evidence.length > 0) info.evidence = evidence
  return JSON.stringify(info)
}

/**
 * The impact pages' script: a form whose button has `data-go` opens the page of what it made
 * (the request form opens the new request), and the pages link the token's account to its own
 * requests and auditor page.
 */
export const IMPACT_JS = `
(() => {
async function submitAndGo(button) {
  const form = button.closest('form')
  const payload = form ? Object.fromEntries(new FormData(form)) : JSON.parse(button.dataset.body || '{}')
  button.disabled = true
  try {
    const result = await api('POST', button.dataset.path, payload)
    location.href = button.dataset.go + encodeURIComponent(result.op)
  } catch (error) {
    show(error.message, 'error')
  } finally {
    button.disabled = false
  }
}

function bindGo() {
  for (const button of document.querySelectorAll('button[data-go]'))
    button.onclick = (event) => { event.preventDefault(); submitAndGo(button) }
}

async function linkMe() {
  const nav = $('#impact-nav a')
  if (!nav) return
  const me = await whoAmI().catch(() => null)
  const community = nav.getAttribute('href')
  const own = $('#impact-me')
  if (own) own.innerHTML = me ? '<a id="impact-my-auditor" href="' + community + '/auditors/' + me.key + '">your auditor page</a> · <a id="impact-my-requests" href="' + community + '/requests?requester=' + me.key + '">your requests</a>' : ''
}

for (const page of ['impact-community', 'impact-actions', 'impact-requests', 'impact-request', 'impact-auditors', 'impact-auditor']) {
  onPage(page, bindGo)
  onPage(page, () => { linkMe() })
}
})()
`
