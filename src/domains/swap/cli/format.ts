import {
  formatAmount,
  isKnownUnit,
  type TokenUnit,
  toTokenUnit,
  unknownUnit,
} from '../../../core/amount.ts'
import type {
  BookMove,
  CashResult,
  ChequeView,
  PeerStanding,
  PeerView,
  SwapOverview,
  TokenInfo,
} from '../types.ts'

// SWAP accounting as a person reads it: what `rwa swap …` prints (and the dashboard's words for
// a balance and a standing). Amounts are shown in the chequebook's token when it told its
// symbol and decimals, else in base units. Pure: no I/O, no clock.

/** The unit a node's SWAP amounts are shown by: its token's, or base units when unknown. */
export function swapUnit(token: TokenInfo | null): TokenUnit {
  // Read again as a token's answer: the symbol must be short and printable (no terminal escapes).
  if (token) return toTokenUnit(token.address, token.symbol, token.decimals)
  return unknownUnit("the chequebook's token")
}

/** An amount in a table: `1.5 TT`, or `1500000 base units` when the token is unknown. */
export function formatSwapAmount(amount: bigint, unit: TokenUnit): string {
  return isKnownUnit(unit) ? formatAmount(amount, unit) : `${amount} base units`
}

/** A peer id shortened for a table: `12D3KooW…QAJU5SA` (its start and end, as logs show it). */
export function shortPeer(peer: string): string {
  return peer.length > 18 ? `${peer.slice(0, 8)}…${peer.slice(-7)}` : peer
}

/** A balance in words, from this node's side: `owes us 1.2 TT`, `we owe 0.3 TT`, `even`. */
export function balanceWords(balance: bigint, unit: TokenUnit): string {
  if (balance > 0n) return `owes us ${formatSwapAmount(balance, unit)}`
  if (balance < 0n) return `we owe ${formatSwapAmount(-balance, unit)}`
  return 'even'
}

/** What a standing means, in a few words. */
export const STANDING_WORDS: Readonly<Record<PeerStanding, string>> = {
  ok: 'ok',
  owes: 'owes: past our payment threshold',
  'cut-off': 'cut off: past our disconnect threshold, not served',
  'in-debt': 'in debt: we owe past its payment threshold',
  bounced: 'bounced: a cheque of its bounced, never served again',
}

/** A time (ms since the epoch) as UTC to the second: `2025-01-31 12:00:05`. */
export function formatTime(at: number): string {
  return new Date(at).toISOString().slice(0, 19).replace('T', ' ')
}

/** This node's SWAP terms and chequebook, a few lines. */
export function formatOverview(o: SwapOverview): string[] {
  const unit = swapUnit(o.token)
  const money = (n: bigint) => formatSwapAmount(n, unit)
  const lines = [
    `SWAP mode ${o.mode}${o.peerId ? `, peer ${o.peerId}` : ''}${o.chainId === null ? '' : `, chain ${o.chainId}`}.`,
  ]
  if (o.chequebook)
    lines.push(
      `Chequebook ${o.chequebook}${o.token ? `, token ${o.token.address}` : ''}${o.beneficiary ? `; cheques to us are made out to ${o.beneficiary}` : ''}.`,
    )
  if (o.book)
    lines.push(
      `Chequebook balance ${money(o.book.balance)} (liquid ${money(o.book.liquidBalance)}), paid out ${money(o.book.totalPaidOut)}${o.book.bounced ? '; BOUNCED: a cheque of ours could not be covered' : ''}.`,
    )
  lines.push(
    `Payment threshold ${money(o.paymentThreshold)}, disconnect threshold ${money(o.disconnectThreshold)}, refresh rate ${money(o.refreshRate)}/s; we pay at ${o.earlyPaymentPercent}% of a peer's payment threshold; ${o.autoCash === null ? 'cheques are cashed on demand' : `cheques are cashed once ${money(o.autoCash)} is uncashed`}.`,
    `Owed to us: ${money(o.owedToUs)}; we owe: ${money(o.weOwe)}.`,
  )
  return lines
}

/** `rwa swap peers`: the overview, then one row per peer. */
export function formatPeers(o: SwapOverview, peers: readonly PeerView[]): string {
  const unit = swapUnit(o.token)
  const money = (n: bigint) => formatSwapAmount(n, unit)
  const head = formatOverview(o)
  if (peers.length === 0)
    return [...head, '', 'No peer has an account with this node yet.'].join('\n')
  const rows = peers.map((p) => [
    shortPeer(p.peer),
    p.connected ? 'yes' : 'no',
    balanceWords(p.balance, unit),
    STANDING_WORDS[p.standing] ?? p.standing,
    `${money(p.paymentThreshold)} / ${money(p.disconnectThreshold)}`,
    `${p.served.ops} ops, ${money(p.served.amount)}`,
    `${p.received.ops} ops, ${money(p.received.amount)}`,
    p.uncashed > 0n ? money(p.uncashed) : '—',
  ])
  const header = [
    'peer',
    'connected',
    'balance',
    'standing',
    'pay at / cut off at',
    'served',
    'received',
    'uncashed',
  ]
  return [...head, '', table(header, rows)].join('\n')
}

/** `rwa swap cheques`: the last cheque each way with each peer. */
export function formatCheques(
  token: TokenInfo | null,
  cheques: { readonly received: readonly ChequeView[]; readonly sent: readonly ChequeView[] },
): string {
  const unit = swapUnit(token)
  const money = (n: bigint) => formatSwapAmount(n, unit)
  const received = cheques.received.map((c) => [
    shortPeer(c.peer),
    money(c.cumulativePayout),
    money(c.increase),
    money(c.cashed ?? 0n),
    money(c.cumulativePayout - (c.cashed ?? 0n)),
    formatTime(c.at),
    c.lastCash ? cashWords(c.lastCash, unit) : '—',
  ])
  const sent = cheques.sent.map((c) => [
    shortPeer(c.peer),
    money(c.cumulativePayout),
    money(c.increase),
    formatTime(c.at),
    c.chequebook,
  ])
  return [
    `Received (${received.length}):`,
    received.length === 0
      ? '  none'
      : table(
          [
            'peer',
            'cumulative payout',
            'last increase',
            'cashed',
            'uncashed',
            'received',
            'last cash',
          ],
          received,
        ),
    '',
    `Sent (${sent.length}):`,
    sent.length === 0
      ? '  none'
      : table(['peer', 'cumulative payout', 'last increase', 'sent', 'chequebook'], sent),
  ].join('\n')
}

function cashWords(r: CashResult, unit: TokenUnit): string {
  return `${formatSwapAmount(r.paid, unit)} at ${formatTime(r.at)}${r.bounced ? ', BOUNCED' : ''}`
}

/** `rwa swap cash`: what the cashing paid, and whether the cheque bounced. */
export function formatCash(r: CashResult, unit: TokenUnit): string {
  const lines = [
    `Cashed ${formatSwapAmount(r.paid, unit)} from the cheque of peer ${r.peer} (cumulative payout ${formatSwapAmount(r.cumulativePayout, unit)}); tx ${r.txHash}.`,
  ]
  if (r.bounced)
    lines.push(
      "The cheque bounced: the peer's chequebook could not cover it all. The peer is not served again.",
    )
  return lines.join('\n')
}

/** `rwa swap deposit` and `withdraw`: the amount moved and the chequebook's balance after. */
export function formatMove(
  verb: 'deposit' | 'withdraw',
  amount: bigint,
  move: BookMove,
  unit: TokenUnit,
): string {
  const moved = formatSwapAmount(amount, unit)
  const done = verb === 'deposit' ? `Deposited ${moved} into` : `Withdrew ${moved} from`
  return `${done} the chequebook; its balance is now ${formatSwapAmount(move.balance, unit)}; tx ${move.txHash}.`
}

/** Rows as aligned columns under a header. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
