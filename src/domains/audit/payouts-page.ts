import { encodeFunctionData, getAddress, type Hex } from 'viem'
import { auditEscrowAbi } from '../../chain/artifacts.ts'
import type { ChainInfo } from '../../chain/chain-service.ts'
import { payoutTokens } from '../../chain/payments.ts'
import { formatAmount, type TokenUnit, unknownUnit } from '../../core/amount.ts'
import type { AuditState } from '../../core/audit/state.ts'
import type { AuditStateName } from '../../core/audit/states.ts'
import type { Address } from '../../core/identity.ts'
import { describeValue } from '../../core/text.ts'
import { ValidationError } from '../../http/errors.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { type Explorer, txHtml } from '../../web/explorer.ts'
import { esc, layout } from '../../web/layout.ts'
import { addressHtml, type NameOf } from '../../web/names.ts'
import type { AuditIndex } from './audit-index.ts'
import { escrowTokenOf, type Owed, VIEW_READ_MS } from './funding.ts'
import { settledTransaction } from './settled-tx.ts'

/** At most this many audits are listed on a payouts page; the page says how many more paid. */
export const MAX_LISTED_AUDITS = 100

/** At most this many audits with a settlement are searched (by name) for one page. */
export const MAX_SEARCHED_AUDITS = 2000

/** An audit whose settlement pays an address. */
export type PayingAudit = {
  readonly id: OpId
  readonly name: string
  readonly state: AuditStateName
  /** What the settlement pays the address, in the audit's token. */
  readonly amount: bigint
  /** The audit's token as the escrow names it (address(0) for native ETH). */
  readonly token: Address
  readonly unit: TokenUnit
  /** The transaction that paid the audit into the escrow, once COMPLETE. */
  readonly tx: Hex | undefined
}

/**
 * The audits of this node whose settlement pays an address, by name (the index's order: an op's
 * time is its author's claim, so no order by creation is to be had), bounded.
 */
export type PayingAudits<Row = PayingAudit> = {
  readonly listed: readonly Row[]
  /** How many more of the searched audits pay the address than are listed. */
  readonly more: number
  /** How many audits with a settlement were searched (the first by name, at most the bound). */
  readonly searched: number
  /** Whether audits with a settlement were left unsearched (those after the searched by name). */
  readonly truncated: boolean
}

/** An audit paying an address, as found in the index (no chain read yet), with its state. */
export type FoundAudit = Omit<PayingAudit, 'unit' | 'tx'> & { readonly audit: AuditState }

/**
 * Reads a payout address from a page's URL: lowercase (or uppercase) hex, or EIP-55 with a
 * valid checksum. A mixed-case address with a wrong checksum is refused, as it may hold a typo.
 */
export function parsePageAddress(text: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text))
    throw new ValidationError(
      `${describeValue(text)} is not an Ethereum address; open /ui/audits/payouts/ followed by 0x and 40 hex digits.`,
    )
  const digits = text.slice(2)
  const checksummed = getAddress(text.toLowerCase())
  if (digits !== digits.toLowerCase() && digits !== digits.toUpperCase() && text !== checksummed)
    throw new ValidationError(
      `"${text}" has a wrong EIP-55 checksum, so it may hold a typo; copy the address from your wallet again, or give it in lowercase.`,
    )
  return checksummed
}

/**
 * The audits whose settlement pays `address`, by name: at most `limit` listed, the rest counted.
 * Reads only this node's index, never the chain.
 */
export async function searchPayingAudits(
  audits: AuditIndex,
  address: Address,
  {
    limit = MAX_LISTED_AUDITS,
    search = MAX_SEARCHED_AUDITS,
  }: { limit?: number; search?: number } = {},
): Promise<PayingAudits<FoundAudit>> {
  // Only audits past their results carry a settlement; the summaries are cheap, states are not.
  const settled = audits
    .list()
    .filter((a) => a.state === 'WAITING_FOR_CONTRACT' || a.state === 'COMPLETE')
  const searched = settled.slice(0, search)
  const listed: FoundAudit[] = []
  let more = 0
  const wanted = address.toLowerCase()
  for (const summary of searched) {
    const state = await audits.state(summary.id)
    const s = state.settlement
    const at = s ? s.payees.findIndex((p) => p.toLowerCase() === wanted) : -1
    if (!s || at < 0) continue
    if (listed.length >= limit) {
      more++
      continue
    }
    listed.push({
      id: state.id,
      name: state.params.name,
      state: state.state,
      amount: s.amounts[at]!,
      token: escrowTokenOf(state.params.token),
      audit: state,
    })
  }
  return { listed, more, searched: searched.length, truncated: settled.length > search }
}

/**
 * Found audits with their units and settling transactions. Each distinct token's unit is asked
 * for once, all at once, and none is waited for past one deadline `ms` away (a token that has not
 * answered by then shows in base units): a silent chain costs the page `ms`, not `ms` per row.
 */
export async function fillPayingAudits(
  found: PayingAudits<FoundAudit>,
  {
    unitOf,
    ledger,
    ms = VIEW_READ_MS,
  }: {
    unitOf(token: string): Promise<TokenUnit>
    ledger: Parameters<typeof settledTransaction>[0]
    ms?: number
  },
): Promise<PayingAudits> {
  const units = await unitsBy(
    found.listed.map((a) => a.audit.params.token),
    unitOf,
    ms,
  )
  const listed = await Promise.all(
    found.listed.map(async ({ audit, ...row }) => ({
      ...row,
      unit: units.get(audit.params.token.toLowerCase()) ?? unknownUnit(audit.params.token),
      tx: (await settledTransaction(ledger, audit))?.hash,
    })),
  )
  return { ...found, listed }
}

/** The units of `tokens` (by lowercase token), each asked for once, all under one deadline. */
async function unitsBy(
  tokens: readonly string[],
  unitOf: (token: string) => Promise<TokenUnit>,
  ms: number,
): Promise<Map<string, TokenUnit>> {
  const distinct = new Map<string, string>()
  for (const token of tokens)
    if (!distinct.has(token.toLowerCase())) distinct.set(token.toLowerCase(), token)
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms)
  })
  try {
    const units = await Promise.all(
      [...distinct.values()].map((token) =>
        Promise.race([
          unitOf(token).catch(() => unknownUnit(token)),
          deadline.then(() => unknownUnit(token)),
        ]),
      ),
    )
    return new Map([...distinct.keys()].map((key, i) => [key, units[i]!]))
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The audits whose settlement pays `address`, by name: at most `limit` listed, the rest counted,
 * each in its token's unit (read within `ms`).
 */
export async function findPayingAudits(
  audits: AuditIndex,
  address: Address,
  {
    unitOf,
    ledger,
    limit = MAX_LISTED_AUDITS,
    search = MAX_SEARCHED_AUDITS,
    ms = VIEW_READ_MS,
  }: {
    unitOf(token: string): Promise<TokenUnit>
    ledger: Parameters<typeof settledTransaction>[0]
    limit?: number
    search?: number
    ms?: number
  },
): Promise<PayingAudits> {
  const found = await searchPayingAudits(audits, address, { limit, search })
  return fillPayingAudits(found, { unitOf, ledger, ms })
}

/** One withdrawal the page's wallet button sends: the escrow's `withdraw(token)`, encoded here. */
export type WithdrawCall = {
  /** The amount in words, with its unit ("0.0005 ETH"). */
  readonly label: string
  readonly data: Hex
}

/** The escrow calls that withdraw everything owed: one `withdraw(token)` per token with a balance. */
export function withdrawCalls(owed: readonly Owed[]): WithdrawCall[] {
  return owed
    .filter((o) => o.amount > 0n)
    .map((o) => ({
      label: formatAmount(o.amount, o.token),
      data: encodeFunctionData({
        abi: auditEscrowAbi,
        functionName: 'withdraw',
        args: [escrowTokenOf(o.token.address)],
      }),
    }))
}

/** What a payouts page shows. */
export type PayoutsPageInput = {
  node: string
  address: Address
  chain: ChainInfo | undefined
  /** What the escrow owes, per token; undefined when the chain did not answer soon enough. */
  owed: readonly Owed[] | undefined
  paying: PayingAudits
  /** The node's URL as the visitor reached it, for the command to copy. */
  nodeUrl: string
  nameOf: NameOf
  explorer: Explorer | undefined
}

/** A payout address's page: what the escrow owes it, which audits paid it, and how to withdraw. */
export function payoutsPage(input: PayoutsPageInput): string {
  const { node, address, nameOf, explorer } = input
  const name = nameOf(address)
  const body = `<section><h1>Payouts of ${name ? esc(name) : `<span class="addr">${esc(address)}</span>`}</h1>
<p class="muted">Payout address ${addressHtml(address, () => undefined, explorer)} · <a href="/payouts/${esc(address)}">JSON</a></p>
</section>
${owedSection(input)}
${withdrawSection(input)}
${auditsSection(input)}`
  return layout({ title: `Payouts of ${address}`, node, body, page: 'payouts', live: false })
}

function owedSection({ chain, owed }: PayoutsPageInput): string {
  if (!chain)
    return `<section id="owed"><h2>Owed</h2><p class="muted">This node runs without a chain, so it holds no escrow and owes nothing here; its audits are paid on the chain that settles them.</p></section>`
  if (!owed)
    return `<section id="owed"><h2>Owed</h2><p class="error">The escrow ${esc(chain.escrow)} on chain ${chain.chainId} does not answer; reload this page once it does.</p></section>`
  const rows = owed
    .map(
      (o) =>
        `<tr><td>${esc(o.token.symbol ?? o.token.address)}</td><td class="num">${esc(formatAmount(o.amount, o.token))}</td></tr>`,
    )
    .join('')
  const total = owed.some((o) => o.amount > 0n)
    ? 'The escrow holds this for the address until it withdraws it.'
    : 'Nothing is owed to this address: there is nothing to withdraw.'
  return `<section id="owed"><h2>Owed</h2>
<p class="muted">Escrow <span class="addr">${esc(chain.escrow)}</span> on chain ${chain.chainId}.</p>
<table><tr><th>token</th><th class="num">owed</th></tr>${rows}</table>
<p id="owed-status">${total}</p>
</section>`
}

function withdrawSection({ chain, owed, address, nodeUrl, explorer }: PayoutsPageInput): string {
  const calls = withdrawCalls(owed ?? [])
  if (!chain || calls.length === 0) return ''
  const commands = withdrawCommands(owed ?? [], { chain, address, nodeUrl })
  return `<section id="withdraw"><h2>Withdraw</h2>
<p>The escrow pays only when the payout address asks, and that address pays the gas. Either:</p>
<p>from a shell with the address's Ethereum key file${commands.length > 1 ? ', one command per line (one with --token withdraws that token only)' : ''}:</p>
<pre><code id="withdraw-command">${esc(commands.join('\n'))}</code></pre>
<p>or from a browser wallet holding the address's key:</p>
<div id="wallet" data-address="${esc(address)}" data-escrow="${esc(chain.escrow)}" data-chain-id="${chain.chainId}" data-calls="${esc(JSON.stringify(calls))}"${explorer ? ` data-explorer-tx="${esc(explorer.tx(''))}"` : ''}>
<button class="primary" id="withdraw-wallet">Withdraw with your wallet</button>
<p class="muted">Sends ${calls.length === 1 ? 'one transaction' : `${calls.length} transactions`} to the escrow (${calls.map((c) => esc(c.label)).join(', ')}), from ${esc(address)} on chain ${chain.chainId}.</p>
<div id="wallet-status" role="status"></div>
</div>
</section>`
}

/**
 * The `rwa payout withdraw` commands that withdraw everything owed: one for the tokens the
 * command withdraws by itself (ETH and the devnet token), and one with `--token` for each other.
 */
export function withdrawCommands(
  owed: readonly Owed[],
  { chain, address, nodeUrl }: { chain: ChainInfo; address: Address; nodeUrl: string },
): string[] {
  const tail = `--eth-key <key file of ${address}> --node ${nodeUrl}`
  const byDefault = new Set(payoutTokens(chain).map((t) => t.toLowerCase()))
  const owing = owed.filter((o) => o.amount > 0n).map((o) => escrowTokenOf(o.token.address))
  const others = owing.filter((t) => !byDefault.has(t.toLowerCase()))
  return [
    ...(owing.length > others.length ? [`rwa payout withdraw ${tail}`] : []),
    ...others.map((t) => `rwa payout withdraw --token ${t} ${tail}`),
  ]
}

function auditsSection({ paying, explorer }: PayoutsPageInput): string {
  const rows = paying.listed
    .map(
      (a) =>
        `<tr><td data-label="audit"><a href="/ui/audits/${encodeURIComponent(a.id)}">${esc(a.name)}</a></td><td class="num" data-label="amount">${esc(formatAmount(a.amount, a.unit))}</td><td data-label="status">${a.state === 'COMPLETE' ? `settled${a.tx ? ` in ${txHtml(a.tx, explorer)}` : ''}` : 'not settled yet: the escrow owes it once the audit is funded and settled'}</td></tr>`,
    )
    .join('')
  const count = (n: number) => `${n} ${n === 1 ? 'audit' : 'audits'}`
  const searched = paying.truncated
    ? `Searched: the first ${count(paying.searched)} by name of this node's audits with a settlement (more were left unsearched).`
    : `Searched: all ${count(paying.searched)} of this node with a settlement.`
  const more =
    paying.more > 0
      ? ` ${paying.more} more ${paying.more === 1 ? 'audit pays' : 'audits pay'} this address; the first ${paying.listed.length} by name are listed.`
      : ''
  return `<section id="paid-by"><h2>Audits paying this address</h2>
${rows ? `<table class="stack"><tr><th>audit</th><th class="num">amount</th><th>status</th></tr>${rows}</table>` : '<p class="muted">No audit of this node pays this address.</p>'}
<p class="muted" id="audits-searched">${rows ? 'Listed by name. ' : ''}${searched}${more}</p>
</section>`
}

/** The payouts page's script: the wallet button (EIP-1193), which needs no library. */
export const PAYOUTS_JS = `
(() => {
function setUpWallet() {
  const box = $('#wallet')
  const button = $('#withdraw-wallet')
  if (!box || !button) return
  button.onclick = (event) => { event.preventDefault(); withdrawWithWallet(box, button) }
}

function say(box, html, kind) {
  const status = box.querySelector('#wallet-status')
  status.className = kind || ''
  status.innerHTML = html
}

async function withdrawWithWallet(box, button) {
  const { address, escrow, chainId, explorerTx } = box.dataset
  const calls = JSON.parse(box.dataset.calls)
  const command = $('#withdraw-command')?.textContent || ''
  const wallet = window.ethereum
  if (!wallet || typeof wallet.request !== 'function') {
    say(box, '<p id="wallet-missing">This needs a browser wallet extension (one that gives pages window.ethereum, EIP-1193) holding the key of ' + esc(address) + '. Without one, withdraw from a shell:</p><pre><code>' + esc(command) + '</code></pre>', 'error')
    return
  }
  button.disabled = true
  // What was sent stays in every status shown after it: its hash is the only record the page has.
  const sent = []
  const sentList = () => sent.length === 0 ? '' : '<p>Sent so far:</p><ul id="wallet-sent-list">' + sent.join('') + '</ul>'
  let done = false
  let current
  try {
    const accounts = await wallet.request({ method: 'eth_requestAccounts' })
    const from = Array.isArray(accounts) ? accounts.find((a) => typeof a === 'string' && a.toLowerCase() === address.toLowerCase()) : undefined
    if (!from) {
      const shown = Array.isArray(accounts) && typeof accounts[0] === 'string' ? accounts[0].slice(0, 42) : 'none'
      say(box, '<p id="wallet-refused">Your wallet\\'s account (' + esc(shown) + ') is not ' + esc(address) + ', the address this page pays out; nothing was sent. Switch the wallet to that account, or open the page of your own address.</p>', 'error')
      return
    }
    for (const call of calls) {
      // The wallet may switch chains between two confirmations: each send is checked anew.
      const walletChain = await wallet.request({ method: 'eth_chainId' })
      if (Number(walletChain) !== Number(chainId)) {
        say(box, '<p id="wallet-refused">Your wallet is on chain ' + esc(String(Number(walletChain)).slice(0, 20)) + ', but this node\\'s escrow is on chain ' + esc(chainId) + '; switch the wallet to chain ' + esc(chainId) + ' and click again. ' + (sent.length === 0 ? 'Nothing was sent.' : 'The withdrawal of ' + esc(call.label) + ' and any after it were not sent.') + '</p>' + sentList(), 'error')
        return
      }
      say(box, '<p>Confirm the withdrawal of ' + esc(call.label) + ' in your wallet…</p>' + sentList())
      current = call.label
      const hash = await wallet.request({ method: 'eth_sendTransaction', params: [{ from, to: escrow, data: call.data, value: '0x0' }] })
      if (typeof hash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(hash)) throw new Error('it answered no transaction hash.')
      sent.push('<li>' + esc(call.label) + ': ' + (explorerTx ? '<a class="addr tx" href="' + esc(explorerTx + hash) + '" rel="noreferrer">' + esc(hash) + '</a>' : '<span class="addr tx">' + esc(hash) + '</span>') + '</li>')
      current = undefined
    }
    say(box, '<p id="wallet-sent">Sent. Once the chain includes ' + (sent.length === 1 ? 'the transaction' : 'them') + ', the money is in your wallet; reload this page to see what is still owed.</p><ul>' + sent.join('') + '</ul>', 'ok')
    done = true
  } catch (error) {
    const why = error && error.message ? String(error.message) : String(error)
    say(box, '<p id="wallet-error">The wallet did not send' + (current ? ' the withdrawal of ' + esc(current) : '') + ': ' + esc(why.slice(0, 300)) + '</p>' + sentList(), 'error')
  } finally {
    // Once everything is sent nothing is owed: a second click could only revert (NothingOwed).
    button.disabled = done
  }
}

onPage('payouts', setUpWallet)
})()
`
