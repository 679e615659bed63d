import { type Context, Hono } from 'hono'
import type { ChainInfo } from '../../chain/chain-service.ts'
import { payoutTokens } from '../../chain/payments.ts'
import { formatAmount, isKnownUnit, type TokenUnit } from '../../core/amount.ts'
import type { AuditSummary } from '../../core/audit/domain.ts'
import { answersByItem } from '../../core/audit/queries.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { AUDIT_STATES } from '../../core/audit/states.ts'
import { formatRational } from '../../core/rational.ts'
import type { RouteGroup } from '../../http/route-group.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { Accounts } from '../../node/accounts.ts'
import type { Listed } from '../../node/doc-index.ts'
import { type Explorer, explorerAt, txHtml } from '../../web/explorer.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import { accountNames, addressHtml, keyHtml, type NameOf } from '../../web/names.ts'
import type { AuditIndex } from './audit-index.ts'
import {
  type AuditMoney,
  distinctTokens,
  escrowTokenOf,
  type Funding,
  type Owed,
  VIEW_READ_MS,
  within,
} from './funding.ts'
import {
  fillPayingAudits,
  parsePageAddress,
  payoutsPage,
  searchPayingAudits,
} from './payouts-page.ts'
import { type SettledTransaction, settledTransaction } from './settled-tx.ts'

/** The audits' section of the home page: the list, and a form to create one. */
export function auditCard(audits: readonly Listed<AuditSummary>[]): string {
  const rows = audits
    .map(
      (a) =>
        `<tr><td><a href="/ui/audits/${encodeURIComponent(a.id)}">${esc(a.name)}</a></td><td>${esc(a.state)}</td><td class="num">${a.items}</td><td class="num">${a.auditors}</td></tr>`,
    )
    .join('')
  return `<section id="audits" data-noun="audit"><h2>Audits</h2>
${rows ? `<table><tr><th>audit</th><th>state</th><th class="num">items</th><th class="num">auditors</th></tr>${rows}</table>` : '<p>No audits yet. Run <code>rwa demo</code> (or <code>npm run demo</code>) and this list fills in.</p>'}
</section>
<section id="create" data-noun="audit" data-needs-account><h2>Create an audit</h2>
<form class="actions"><input name="name" placeholder="name" required><input name="bond" placeholder="bond (0.01 ETH, or base units)" required><button class="primary" data-path="/audits">Create</button></form>
</section>
<p class="muted" id="create-hint" data-account-hint>To create an audit, use an account token above (the operator's is in the data dir's keys/operator.token).</p>`
}

const ADMIN_ACTIONS: Record<string, string[]> = {
  INITIALIZATION: ['open'],
  AUDITOR_REGISTRATION: ['close'],
  AUDITOR_REGISTRATION_COMPLETE: ['start'],
  AUDITING: ['stop'],
}

/** An audit's page: states, items with progress, outstanding inspections, results, payouts, settlement. */
export function auditPage({
  node,
  state,
  settledTx,
  chain,
  nameOf = () => undefined,
  explorer,
  unit,
  funding,
}: {
  node: string
  state: AuditState
  settledTx: SettledTransaction | undefined
  chain: ChainInfo | undefined
  /** Names of keys and addresses (the node's accounts): shown instead of hex, which is on hover. */
  nameOf?: NameOf | undefined
  /** The block explorer transactions and addresses link to (`[chain] explorer_url`). */
  explorer?: Explorer | undefined
  /** The unit of the audit's token: every amount is shown in it. */
  unit: TokenUnit
  /** The escrow's funding of the audit (undefined without a chain, or when it cannot be read). */
  funding: Funding | undefined
}): string {
  const money = (base: bigint) => esc(formatAmount(base, unit))
  const id = encodeURIComponent(state.id)
  const current = AUDIT_STATES.indexOf(state.state)
  const states = AUDIT_STATES.map(
    (s, i) => `<li class="${i === current ? 'current' : i < current ? 'done' : ''}">${i} ${s}</li>`,
  ).join('')
  const k = state.params.auditsPerItem
  const answers = answersByItem(state)
  const itemRows = state.items
    .map((item) => {
      const received = answers.get(item.id) ?? 0
      const result = state.results?.items[item.number - 1]
      const verdict = result
        ? result.result
          ? '<span class="yes">yes</span>'
          : '<span class="no">no</span>'
        : '—'
      return `<tr><td data-label="#">${item.number}</td><td data-label="item">${esc(item.description)}</td><td data-label="answers"><div class="bar" title="${received} of ${k}"><span style="width:${Math.min(100, (100 * received) / k)}%"></span></div></td><td class="num" data-label="answered">${received}/${k}</td><td data-label="result">${verdict}${result ? ` <span class="muted">(${result.yes} yes, ${result.no} no, ${result.missing} missing)</span>` : ''}</td></tr>`
    })
    .join('')
  const described = new Map(state.items.map((i) => [i.id, i.description]))
  const outstanding = state.inspections.filter((i) => i.status === 'outstanding')
  const outstandingRows = outstanding
    .map(
      (i) =>
        `<tr><td>${esc(described.get(i.item) ?? i.item)}</td><td>${keyHtml(i.auditor, nameOf)}</td></tr>`,
    )
    .join('')
  // An auditor's payout address goes by the name of its key, when that is a local account's.
  const byPayout = new Map(state.auditors.map((a) => [a.payout.toLowerCase(), nameOf(a.key)]))
  const nameOfAddress: NameOf = (address) => nameOf(address) ?? byPayout.get(address.toLowerCase())
  const auditorRows = (state.results?.auditors ?? [])
    .map(
      (a) =>
        `<tr><td data-label="auditor">${addressHtml(a.payout, nameOfAddress, explorer)} ${payoutsLink(a.payout)}</td><td class="num" data-label="aligned">${a.aligned}</td><td class="num" data-label="misaligned">${a.misaligned}</td><td class="num" data-label="missing">${a.missing}</td><td class="num" data-label="payout">${money(a.paid + a.returned)}</td></tr>`,
    )
    .join('')
  const s = state.settlement
  const payoutRows = s
    ? s.payees
        .map(
          (p, i) =>
            `<tr><td>${addressHtml(p, nameOfAddress, explorer)} ${payoutsLink(p)}</td><td class="num">${money(s.amounts[i]!)}</td></tr>`,
        )
        .join('')
    : ''
  const actions = (ADMIN_ACTIONS[state.state] ?? [])
    .map(
      (a) =>
        `<button class="primary" id="action-${a}" data-path="/audits/${id}/${a}">${a}</button>${a === 'stop' ? `<button id="action-stop-force" data-path="/audits/${id}/stop" data-body='{"force":true}' data-confirm-text="Count every outstanding inspection as missing?">stop (force)</button>` : ''}`,
    )
    .join('')
  const live = state.state !== 'COMPLETE'
  const body = `<section><h1>${esc(state.params.name)}</h1>
<ul class="states" id="states">${states}</ul>
<p class="muted">Bond ${money(state.params.bond)} · k = ${k} · slashing ratio ${formatRational(state.params.slashingRatio)} · ${state.auditors.length} auditors · admin ${state.params.admins.map((a) => keyHtml(a, nameOf)).join(', ')} · <a href="/ui/audits/${id}/me" id="auditor-link">auditor page</a> · <a href="/audits/${id}">JSON</a></p>
<p class="muted" id="admin-hint" data-admin-hint="${esc(state.params.admins.join(' '))}">The admin's controls show here with the token of an admin of this audit.</p>
</section>
<section id="admin" data-admins="${esc(state.params.admins.join(' '))}"><h2>Admin</h2>
<div class="actions">${actions || '<span class="muted">No admin command applies in this state.</span>'}</div>
${state.state === 'INITIALIZATION' ? `<form class="actions" style="margin-top:.6rem"><input name="description" placeholder="item description" required><button id="add-item" data-path="/audits/${id}/items">Add item</button></form>` : ''}
</section>
<section id="items"><h2>Items</h2>
${itemRows ? `<table class="stack"><tr><th>#</th><th>item</th><th>answers</th><th class="num"></th><th>result</th></tr>${itemRows}</table>` : '<p class="muted">No items yet.</p>'}
</section>
<section id="outstanding"><h2>Outstanding inspections (${outstanding.length})</h2>
${outstandingRows ? `<table><tr><th>item</th><th>auditor</th></tr>${outstandingRows}</table>` : '<p class="muted">None.</p>'}
</section>
<section id="auditors"><h2>Auditors</h2>
${auditorRows ? `<table class="stack"><tr><th>auditor</th><th class="num">aligned</th><th class="num">misaligned</th><th class="num">missing</th><th class="num">payout</th></tr>${auditorRows}</table>` : `<p class="muted">${state.auditors.length} registered; results come when the audit stops.</p>`}
</section>
${fundingSection({ state, chain, funding, unit })}
<section id="settlement"><h2>Settlement</h2>
${
  s
    ? `<table id="payouts"><tr><th>payee</th><th class="num">amount</th></tr>${payoutRows}<tr><td>remainder of the bond (back to the sponsor)</td><td class="num">${money(s.remainder)}</td></tr></table>
<p id="settlement-status">${state.state === 'COMPLETE' ? `Settled${settledTx ? ` in transaction ${txHtml(settledTx.hash, explorer)}` : ''}.` : funding && funding.funded < funding.needed ? `Waiting for funding: the escrow holds ${money(funding.funded)} of the ${money(funding.needed)} the settlement pays; fund it above.` : chain ? `Waiting for the contract: the node settles on chain ${chain.chainId} once the escrow is funded and enough nodes have signed.` : 'Waiting for the contract: this node runs without a chain, so the Chainlink data_dump route hands the settlement over.'} ${state.settlementSignatures.length} node signature(s).</p>`
    : '<p class="muted">Not computed yet.</p>'
}
</section>`
  return layout({ title: state.params.name, node, body, page: 'audit', live, noun: 'audit' })
}

/** A link to a payout address's page (what it is owed, and how to withdraw it). */
function payoutsLink(address: string): string {
  return `<a class="payouts-link muted" href="/ui/audits/payouts/${encodeURIComponent(address)}" title="What ${esc(address)} is owed, and how to withdraw it">payouts</a>`
}

/** The funding section: funded against needed, and a Fund form while the audit is not settled. */
function fundingSection({
  state,
  chain,
  funding,
  unit,
}: {
  state: AuditState
  chain: ChainInfo | undefined
  funding: Funding | undefined
  unit: TokenUnit
}): string {
  const money = (base: bigint) => esc(formatAmount(base, unit))
  if (!chain)
    return `<section id="funding"><h2>Funding</h2><p class="muted">This node runs without a chain: the audit is funded on the chain that settles it.</p></section>`
  if (!funding)
    return `<section id="funding"><h2>Funding</h2><p class="muted">The escrow ${esc(chain.escrow)} on chain ${chain.chainId} does not answer; its funding shows again when it does.</p></section>`
  if (funding.escrowToken.toLowerCase() !== escrowTokenOf(state.params.token).toLowerCase())
    return `<section id="funding"><h2>Funding</h2><p id="funded" class="error">The escrow holds ${esc(`${funding.funded}`)} base units of another token (${esc(funding.escrowToken)}) than the audit pays in, so no node settles it; settle it by hand or run a new audit.</p></section>`
  const missing = funding.needed - funding.funded
  const id = encodeURIComponent(state.id)
  const form =
    state.state === 'COMPLETE' || funding.settled
      ? ''
      : `<div data-needs-account><form class="actions"><input name="amount" placeholder="amount: base units${unit.symbol ? `, or e.g. 1.5 ${esc(unit.symbol)}` : ''}"${missing > 0n ? ` value="${esc(isKnownUnit(unit) ? money(missing) : `${missing}`)}"` : ''} required><button class="primary" id="fund" data-path="/audits/${id}/fund">Fund</button></form>
<p class="muted">Funds the escrow from the Ethereum key of the account whose token is set; its first funder is the sponsor, who gets back what the payouts leave.</p></div>
<p class="muted" data-account-hint>To fund it from this page, use an account token above.</p>`
  return `<section id="funding" data-noun="audit"><h2>Funding</h2>
<p id="funded">Funded <strong>${money(funding.funded)}</strong> of <strong>${money(funding.needed)}</strong> needed${missing > 0n ? ` (${money(missing)} to go)` : ''}; escrow <span class="addr">${esc(chain.escrow)}</span> on chain ${chain.chainId}.</p>
${form}
</section>`
}

/** An auditor's page: filled in by the script with the account of the token. */
export function auditorPage({
  node,
  state,
  unit,
}: {
  node: string
  state: AuditState
  /** The unit the script shows earnings in. */
  unit: TokenUnit
}): string {
  const body = `<section><h1>${esc(state.params.name)}: auditor</h1>
<p class="muted">State ${esc(state.state)} · <a href="/ui/audits/${encodeURIComponent(state.id)}">audit page</a></p></section>
<section id="auditor" data-audit="${esc(state.id)}" data-token="${esc(unit.address)}"${unit.symbol === null ? '' : ` data-symbol="${esc(unit.symbol)}" data-decimals="${unit.decimals}"`}><p class="muted">Loading…</p></section>`
  return layout({
    title: `${state.params.name}: auditor`,
    node,
    body,
    page: 'auditor',
    live: false,
    noun: 'audit',
  })
}

/** The auditor page's script: the account's next inspection with yes/no buttons, its history and earnings. */
export const AUDIT_JS = `
(() => {
async function loadAuditor() {
  const box = $('#auditor')
  if (!box) return
  const audit = box.dataset.audit
  if (!localStorage.getItem(TOKEN)) {
    box.innerHTML = '<p>Paste your account token at the top of the page to see your inspections.</p>'
    return
  }
  try {
    const me = await api('GET', '/accounts/me')
    const [{ inspection }, summary] = await Promise.all([
      api('GET', '/audits/' + audit + '/next').catch((e) => ({ inspection: null, error: e })),
      api('GET', '/audits/' + audit + '/auditors/' + me.key),
    ])
    const rows = summary.inspections.map((i) =>
      '<tr><td>' + esc(i.description || i.item) + '</td><td>' + i.status + '</td><td>' + (i.answer === true ? '<span class="yes">yes</span>' : i.answer === false ? '<span class="no">no</span>' : '—') + '</td></tr>').join('')
    const result = summary.result
    box.innerHTML =
      '<h2>You: ' + esc(me.name) + ' <span class="addr muted">' + me.address + '</span></h2>' +
      (inspection
        ? '<div class="next"><p>Your inspection: <strong id="inspection">' + esc(inspection.description) + '</strong></p><p>Is it true?</p>' +
          '<div class="actions"><button class="big primary" id="answer-yes" data-path="/audits/' + audit + '/answer" data-body=\\'{"answer":true}\\'>Yes</button>' +
          '<button class="big" id="answer-no" data-path="/audits/' + audit + '/answer" data-body=\\'{"answer":false}\\'>No</button></div></div>'
        : '<p id="inspection-none">No inspection is waiting for you.</p>') +
      '<h2>History</h2>' + (rows ? '<table><tr><th>item</th><th>status</th><th>answer</th></tr>' + rows + '</table>' : '<p class="muted">Nothing yet.</p>') +
      (result ? '<h2>Earnings</h2><p id="earnings">' + result.aligned + ' aligned, ' + result.misaligned + ' misaligned, ' + result.missing + ' missing: <strong>' + esc(money(result.paid, box.dataset)) + '</strong></p>' : '')
    bind()
  } catch (error) {
    box.innerHTML = ''
    show(error.message, 'error')
  }
}

// An amount of base units in the audit's token, exactly (as formatAmount in src/core/amount.ts).
function money(base, unit) {
  if (!unit.symbol) return base + ' base units of token ' + unit.token
  const decimals = Number(unit.decimals)
  const digits = String(base).padStart(decimals + 1, '0')
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return digits.slice(0, digits.length - decimals) + (fraction ? '.' + fraction : '') + ' ' + unit.symbol
}

onPage('auditor', loadAuditor)
})()
`

/** The audit pages under `/ui/audits`: an audit's page, its auditor page, and a payout address's page. */
export function auditPages({
  node,
  audits,
  ledger,
  accounts,
  chain,
  explorerUrl,
  publicUrl,
  money,
}: {
  node: string
  audits: AuditIndex
  ledger: Ledger
  /** The node's accounts, whose names stand for their keys and addresses. */
  accounts: Accounts
  chain(): ChainInfo | undefined
  /** `[chain] explorer_url`: transactions and addresses link there. */
  explorerUrl?: string | undefined
  /** `[http] public_url`: the node's URL in the commands a page shows (else the request's origin). */
  publicUrl?: string | undefined
  money: AuditMoney
}): RouteGroup {
  const app = new Hono()
  const explorer = explorerAt(explorerUrl)
  const stateOf = (c: Context) => audits.state(audits.resolve(c.req.param('audit') ?? ''))
  app.get('/:audit', async (c) => {
    const state = await stateOf(c)
    const settledTx = await settledTransaction(ledger, state)
    const nameOf = accountNames(accounts.list())
    const [unit, funding] = await Promise.all([
      money.unitOf(state.params.token),
      money.funding(state).catch(() => undefined),
    ])
    return htmlPage(
      c,
      auditPage({ node, state, settledTx, chain: chain(), nameOf, explorer, unit, funding }),
    )
  })
  // Before the audit's own pages: an audit named "payouts" still has its page at /ui/audits/<id>.
  app.get('/payouts/:address', async (c) => {
    const address = parsePageAddress(c.req.param('address'))
    const info = chain()
    const found = await searchPayingAudits(audits, address)
    // Owed is read in the node's tokens and in each listed audit's, so that an audit paid in
    // another ERC-20 is withdrawn too (the listed are bounded, so the tokens are).
    const tokens = info
      ? distinctTokens([...payoutTokens(info), ...found.listed.map((a) => a.token)])
      : []
    const [owed, paying] = await Promise.all([
      info
        ? within<readonly Owed[] | undefined>(money.owed(address, tokens), VIEW_READ_MS, undefined)
        : undefined,
      fillPayingAudits(found, { unitOf: money.unitOf, ledger }),
    ])
    return htmlPage(
      c,
      payoutsPage({
        node,
        address,
        chain: info,
        owed,
        paying,
        nodeUrl: publicUrl ?? new URL(c.req.url).origin,
        nameOf: accountNames(accounts.list()),
        explorer,
      }),
    )
  })
  app.get('/:audit/me', async (c) => {
    const state = await stateOf(c)
    const unit = await money.unitOf(state.params.token)
    return htmlPage(c, auditorPage({ node, state, unit }))
  })
  return { prefix: '/ui/audits', app, docs: [] }
}
