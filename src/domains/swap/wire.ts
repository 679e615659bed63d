import type { Address, Hex } from 'viem'
import { z } from 'zod'
import { MAX_AMOUNT } from '../../core/amount.ts'
import { BaseError } from '../../errors/base.ts'
import { addressWire, amountWire, hexWire, txWire } from '../../http/wire.ts'
import type {
  BookMove,
  CashResult,
  ChequeView,
  PeerTerms,
  PeerView,
  SwapOverview,
  TokenInfo,
  Traffic,
} from './types.ts'

// The SWAP routes' JSON (issue 22): what `GET /swap`, `/swap/peers`, `/swap/cheques` and the
// operator's `POST /swap/cash | deposit | withdraw` answer and take, as zod schemas (they go into
// /openapi.json), and the converters between them and the domain's types: the routes send
// `*ToWire`, the command line reads back with `*FromWire`. Bigints travel as decimal strings.

/** Longest peer id taken (a base58btc libp2p peer id has 46 to 53 characters). */
export const MAX_PEER_ID = 128
/** Digits of the largest uint256 (2^256 − 1 has 78). */
const MAX_DIGITS = 78
/** Characters of a hostile value quoted back in a message. */
const QUOTED = 40

/** A libp2p peer id as the node prints it: base58btc (`12D3KooW…`, `Qm…`, `16Uiu2…`). */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,100}$/

/** Whether `text` looks like a libp2p peer id as the node prints them (base58btc, bounded). */
export function isPeerId(text: string): boolean {
  return text.length <= MAX_PEER_ID && PEER_ID.test(text)
}

/** Thrown when a node's SWAP answer does not fit its schema (another version, or not rwa). */
export class SwapWireError extends BaseError {
  override name = 'SwapWireError' as const
  override readonly kind = 'malformed' as const
}

/** A value quoted in a message: cut short, control characters made visible. */
function quoted(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  return JSON.stringify(text.length > QUOTED ? `${text.slice(0, QUOTED)}…` : text)
}

// ---------------------------------------------------------------------------------------------
// Pieces.

/** An amount in base units of the chequebook's token (≥ 0). */
const base = (what: string) => amountWire.max(MAX_DIGITS).describe(what)

/** A signed amount in base units (a balance: either side may owe). */
const signed = (what: string) =>
  z
    .string()
    .max(MAX_DIGITS + 1)
    .regex(/^-?\d+$/)
    .describe(what)

const count = (what: string) => z.number().int().min(0).describe(what)

const time = (what: string) => z.number().int().min(0).describe(`${what} (ms since the epoch).`)

/** A libp2p peer id, as answers carry it and `POST /swap/cash` takes it. */
export const peerIdWire = z
  .string({ error: 'give the peer id as a JSON string, such as "12D3KooW…"' })
  .max(MAX_PEER_ID, {
    error: (issue) =>
      `${quoted(issue.input)} is too long for a libp2p peer id (at most ${MAX_PEER_ID} characters)`,
    abort: true,
  })
  .regex(PEER_ID, {
    error: (issue) =>
      `${quoted(issue.input)} is not a libp2p peer id; give one in full as "rwa swap peers --json" lists it, such as "12D3KooW…"`,
  })
  .describe('A libp2p peer id (base58btc, such as 12D3KooW…).')

const swapModeWire = z
  .enum(['off', 'soft', 'mock', 'hard'])
  .describe(
    'How the node takes part in SWAP: off; soft (accounts, never cut off); mock (signed cheques, no chain); hard (cheques cashed on chain).',
  )

const standingWire = z
  .enum(['ok', 'owes', 'cut-off', 'in-debt', 'bounced'])
  .describe(
    'Where the peer stands: ok; owes (past our payment threshold); cut-off (past our disconnect threshold: not served); in-debt (we owe it past its payment threshold); bounced (a cheque of its bounced: never served again).',
  )

const tokenWire = z
  .object({
    address: addressWire.describe("The ERC-20 token's contract."),
    symbol: z.string().max(16).nullable().describe('Its symbol; null when it told none usable.'),
    decimals: z
      .number()
      .int()
      .min(0)
      .max(77)
      .nullable()
      .describe('Its decimals; null when it told none usable (amounts are then base units).'),
  })
  .describe("The chequebook's token, as amounts are shown with.")

const trafficWire = z
  .object({
    answers: count('Sync answers (reconciliation and pulls).'),
    ops: count('Ops in pull answers.'),
    bytes: count('Bytes of the answers.'),
    amount: base("What they cost at the server's prices, in base units."),
  })
  .describe('Traffic one way between the node and the peer, and what it is worth.')

const termsWire = z
  .object({
    mode: swapModeWire,
    chainId: z.number().int().min(0).describe('The chain its chequebook is on.'),
    chequebook: addressWire.describe('Its chequebook: where its cheques to us draw from.'),
    beneficiary: addressWire.describe('The address our cheques to it are made out to.'),
    pricePerOp: base('What it charges per op it serves, in base units.'),
    pricePerByte: base('What it charges per byte it serves, in base units.'),
    paymentThreshold: base('A debt to it this large is paid with a cheque.'),
    refreshRate: base('What it forgives of a debt each second.'),
  })
  .describe('What the peer announced in the /rwa/swap/1 handshake.')

/** `POST /swap/cash`'s answer; also a received cheque's last cashing. */
export const cashResultWire = z
  .object({
    peer: peerIdWire.describe('The peer whose cheque was cashed.'),
    txHash: txWire.describe('The cashing transaction.'),
    paid: base('Paid to us by this cashing, in base units.'),
    cumulativePayout: base("The cheque's cumulative payout: all its chequebook promised us."),
    bounced: z
      .boolean()
      .describe('The chequebook could not cover it all: the issuer is no longer served.'),
    at: time('When it was cashed'),
  })
  .describe("The result of cashing a peer's cheque on chain.")

/** A cheque, received or sent. */
export const chequeViewWire = z
  .object({
    peer: peerIdWire.describe('The peer it came from (received) or went to (sent).'),
    chequebook: addressWire.describe('The chequebook it draws on.'),
    beneficiary: addressWire.describe('Whom it pays.'),
    cumulativePayout: base('All the chequebook promised the beneficiary so far, in base units.'),
    increase: base('What this cheque added over the one before it.'),
    signature: hexWire.max(2 + 2 * 65).describe("The issuer's EIP-712 signature (65 bytes)."),
    at: time('When it was received or sent'),
    cashed: base('Received cheques: what was cashed of the cumulative payout so far.').optional(),
    lastCash: cashResultWire.optional().describe('Received cheques: the last cashing, if any.'),
  })
  .describe('A cheque as the node stores it.')

/** One peer's accounting, as `GET /swap/peers` lists it. */
export const peerViewWire = z
  .object({
    peer: peerIdWire.describe("The peer's libp2p peer id: its identity for accounting."),
    balance: signed('> 0: the peer owes this node; < 0: this node owes the peer (base units).'),
    standing: standingWire,
    connected: z.boolean().describe('Whether the peer is connected now.'),
    terms: termsWire.nullable().describe("The peer's terms; null until a handshake was made."),
    paymentThreshold: base('Our payment threshold for it: a debt this large it should pay.'),
    disconnectThreshold: base('Our disconnect threshold: owing this much, it is not served.'),
    served: trafficWire.describe('What we served it.'),
    received: trafficWire.describe('What it served us.'),
    forgiven: base('Forgiven by the refresh rate so far, both ways.'),
    lastSent: chequeViewWire.nullable().describe('Our last cheque to it.'),
    lastReceived: chequeViewWire.nullable().describe('Its last cheque to us.'),
    uncashed: base('Received from it and not cashed yet (cumulative payout − cashed).'),
    acknowledged: signed("The peer's own view of the balance in its last acknowledgement.")
      .nullable()
      .describe("The peer's own view of the balance when it last acknowledged our cheque."),
  })
  .describe('What the node knows of a peer: its terms and the balance between them.')

/** `GET /swap/peers`. */
export const peersWire = z
  .object({ peers: z.array(peerViewWire).describe('Every peer with an account.') })
  .describe("The node's SWAP peers.")

/** `GET /swap/cheques`. */
export const chequesWire = z
  .object({
    received: z.array(chequeViewWire).describe("Peers' last cheques to this node."),
    sent: z.array(chequeViewWire).describe("This node's last cheques to peers."),
  })
  .describe('The last cheque each way with each peer.')

const bookWire = z
  .object({
    balance: base('Tokens in the chequebook.'),
    liquidBalance: base('What is not reserved by hard deposits: what cheques can draw on.'),
    totalPaidOut: base('Paid out to all beneficiaries so far.'),
    bounced: z.boolean().describe('A cheque of this chequebook bounced.'),
  })
  .describe('The chequebook on chain (hard mode only).')

/** `GET /swap`: this node's SWAP terms and chequebook. */
export const swapOverviewWire = z
  .object({
    mode: swapModeWire,
    peerId: peerIdWire.nullable().describe("This node's peer id; null without a network."),
    chainId: z.number().int().min(0).nullable().describe('The chain of the chequebook.'),
    chequebook: addressWire
      .nullable()
      .describe("This node's chequebook (hard: on chain; mock: the address it signs for)."),
    beneficiary: addressWire
      .nullable()
      .describe("Where peers' cheques to this node are made out to."),
    token: tokenWire
      .nullable()
      .describe("The chequebook's token, as amounts are shown with; null without a chequebook."),
    book: bookWire.nullable().describe('The chequebook on chain (hard mode only; else null).'),
    pricePerOp: base('What this node charges per op it serves.'),
    pricePerByte: base('What this node charges per byte it serves.'),
    paymentThreshold: base('A peer owing this much should pay with a cheque.'),
    disconnectThreshold: base('A peer owing this much is not served until it pays.'),
    earlyPaymentPercent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .describe(
        "This node pays a debt once it reaches this share of the peer's payment threshold.",
      ),
    refreshRate: base('What this node forgives of a debt each second.'),
    autoCash: base('Received cheques with this much uncashed are cashed automatically.')
      .nullable()
      .describe(
        'Received cheques with this much uncashed are cashed automatically; null: on demand only.',
      ),
    owedToUs: base('What peers owe this node, summed.'),
    weOwe: base('What this node owes peers, summed.'),
  })
  .describe("This node's SWAP terms, chequebook, and totals over its peers.")

/** `POST /swap/deposit` and `POST /swap/withdraw`'s answer. */
export const bookMoveWire = z
  .object({
    txHash: txWire.describe('The transaction.'),
    balance: base("The chequebook's balance after it."),
  })
  .describe('A deposit into or withdrawal from the chequebook.')

// ---------------------------------------------------------------------------------------------
// Request bodies.

/** The body of `POST /swap/cash`: the peer whose last cheque to cash. */
export const cashBody = z
  .object({ peer: peerIdWire.describe('The peer whose last cheque to cash.') })
  .strict()

/** Why a base-unit amount text is refused, or undefined when it is a fine amount (> 0). */
export function amountProblem(text: string): string | undefined {
  const shown = quoted(text)
  if (text.length === 0)
    return `${shown} is not an amount; give base units as digits, such as "1500000"`
  if (text.length > MAX_DIGITS + 1)
    return `${shown} is too long for an amount (at most ${MAX_DIGITS} digits: 2^256 − 1 base units)`
  if (/^-\d+$/.test(text)) return `${shown} is negative; give an amount greater than 0`
  if (!/^\d+$/.test(text))
    return `${shown} is not a whole number of base units; give digits only, such as "1500000" (the command line reads "12.5 TT" for you)`
  const amount = BigInt(text)
  if (amount === 0n) return `${shown} is zero; give an amount greater than 0`
  if (amount > MAX_AMOUNT)
    return `${shown} is more than a chequebook can hold (2^256 − 1 base units); give a smaller amount`
  return undefined
}

/** A positive amount of base units in a request: a decimal string, 1 to 2^256 − 1. */
const positiveAmountInput = z
  .string({
    error:
      'give the amount as a JSON string of base units, such as "1500000" (a number loses digits)',
  })
  .max(MAX_DIGITS + 1, { error: (issue) => amountProblem(String(issue.input)), abort: true })
  .regex(/^\d+$/, { error: (issue) => amountProblem(String(issue.input)), abort: true })
  .refine((text) => amountProblem(text) === undefined, {
    error: (issue) => amountProblem(String(issue.input)),
  })
  .describe("An amount in base units of the chequebook's token: a decimal string, 1 to 2^256 − 1.")

/** The body of `POST /swap/deposit` and `POST /swap/withdraw`. */
export const amountBody = z.object({ amount: positiveAmountInput }).strict()

// ---------------------------------------------------------------------------------------------
// Converters.

export type SwapOverviewWire = z.infer<typeof swapOverviewWire>
export type PeerViewWire = z.infer<typeof peerViewWire>
export type ChequeViewWire = z.infer<typeof chequeViewWire>
export type CashResultWire = z.infer<typeof cashResultWire>
export type BookMoveWire = z.infer<typeof bookMoveWire>
type TrafficWire = z.infer<typeof trafficWire>
type TermsWire = z.infer<typeof termsWire>

/** Reads `json` by `schema`, or throws a `SwapWireError` naming the first field that does not fit. */
function parseWire<T extends z.ZodType>(schema: T, json: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(json)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const where = issue && issue.path.length > 0 ? ` at "${issue.path.join('.')}"` : ''
  throw new SwapWireError(
    `The node's answer for ${what} does not read (${issue?.message ?? 'bad shape'}${where}); is it an rwa node of this version?`,
  )
}

const tokenToWire = (t: TokenInfo): NonNullable<SwapOverviewWire['token']> => ({
  address: t.address,
  symbol: t.symbol,
  decimals: t.decimals,
})

const tokenOf = (t: NonNullable<SwapOverviewWire['token']>): TokenInfo => ({
  address: t.address as Address,
  symbol: t.symbol,
  decimals: t.decimals,
})

/** `GET /swap`'s answer. */
export function overviewToWire(o: SwapOverview): SwapOverviewWire {
  return {
    mode: o.mode,
    peerId: o.peerId,
    chainId: o.chainId,
    chequebook: o.chequebook,
    beneficiary: o.beneficiary,
    token: o.token && tokenToWire(o.token),
    book: o.book && {
      balance: String(o.book.balance),
      liquidBalance: String(o.book.liquidBalance),
      totalPaidOut: String(o.book.totalPaidOut),
      bounced: o.book.bounced,
    },
    pricePerOp: String(o.pricePerOp),
    pricePerByte: String(o.pricePerByte),
    paymentThreshold: String(o.paymentThreshold),
    disconnectThreshold: String(o.disconnectThreshold),
    earlyPaymentPercent: o.earlyPaymentPercent,
    refreshRate: String(o.refreshRate),
    autoCash: o.autoCash === null ? null : String(o.autoCash),
    owedToUs: String(o.owedToUs),
    weOwe: String(o.weOwe),
  }
}

/** Reads `GET /swap`'s answer back into bigints. */
export function overviewFromWire(json: unknown): SwapOverview {
  const w = parseWire(swapOverviewWire, json, 'the SWAP overview')
  return {
    mode: w.mode,
    peerId: w.peerId,
    chainId: w.chainId,
    chequebook: w.chequebook as Address | null,
    beneficiary: w.beneficiary as Address | null,
    token: w.token && tokenOf(w.token),
    book: w.book && {
      balance: BigInt(w.book.balance),
      liquidBalance: BigInt(w.book.liquidBalance),
      totalPaidOut: BigInt(w.book.totalPaidOut),
      bounced: w.book.bounced,
    },
    pricePerOp: BigInt(w.pricePerOp),
    pricePerByte: BigInt(w.pricePerByte),
    paymentThreshold: BigInt(w.paymentThreshold),
    disconnectThreshold: BigInt(w.disconnectThreshold),
    earlyPaymentPercent: w.earlyPaymentPercent,
    refreshRate: BigInt(w.refreshRate),
    autoCash: w.autoCash === null ? null : BigInt(w.autoCash),
    owedToUs: BigInt(w.owedToUs),
    weOwe: BigInt(w.weOwe),
  }
}

/** A cashing on the wire. */
export function cashToWire(r: CashResult): CashResultWire {
  return {
    peer: r.peer,
    txHash: r.txHash,
    paid: String(r.paid),
    cumulativePayout: String(r.cumulativePayout),
    bounced: r.bounced,
    at: r.at,
  }
}

const cashOf = (w: CashResultWire): CashResult => ({
  peer: w.peer,
  txHash: w.txHash as Hex,
  paid: BigInt(w.paid),
  cumulativePayout: BigInt(w.cumulativePayout),
  bounced: w.bounced,
  at: w.at,
})

/** Reads `POST /swap/cash`'s answer back into bigints. */
export function cashFromWire(json: unknown): CashResult {
  return cashOf(parseWire(cashResultWire, json, 'the cashing'))
}

/** A cheque on the wire (`cashed` and `lastCash` only when the cheque has them). */
export function chequeToWire(c: ChequeView): ChequeViewWire {
  return {
    peer: c.peer,
    chequebook: c.chequebook,
    beneficiary: c.beneficiary,
    cumulativePayout: String(c.cumulativePayout),
    increase: String(c.increase),
    signature: c.signature,
    at: c.at,
    ...(c.cashed === undefined ? {} : { cashed: String(c.cashed) }),
    ...(c.lastCash === undefined ? {} : { lastCash: cashToWire(c.lastCash) }),
  }
}

const chequeOf = (w: ChequeViewWire): ChequeView => ({
  peer: w.peer,
  chequebook: w.chequebook as Address,
  beneficiary: w.beneficiary as Address,
  cumulativePayout: BigInt(w.cumulativePayout),
  increase: BigInt(w.increase),
  signature: w.signature as Hex,
  at: w.at,
  ...(w.cashed === undefined ? {} : { cashed: BigInt(w.cashed) }),
  ...(w.lastCash === undefined ? {} : { lastCash: cashOf(w.lastCash) }),
})

/** Reads one cheque back into bigints. */
export function chequeFromWire(json: unknown): ChequeView {
  return chequeOf(parseWire(chequeViewWire, json, 'the cheque'))
}

/** `GET /swap/cheques`' answer. */
export function chequesToWire(cheques: {
  readonly received: readonly ChequeView[]
  readonly sent: readonly ChequeView[]
}): z.infer<typeof chequesWire> {
  return { received: cheques.received.map(chequeToWire), sent: cheques.sent.map(chequeToWire) }
}

/** Reads `GET /swap/cheques`' answer back into bigints. */
export function chequesFromWire(json: unknown): { received: ChequeView[]; sent: ChequeView[] } {
  const w = parseWire(chequesWire, json, 'the cheques')
  return { received: w.received.map(chequeOf), sent: w.sent.map(chequeOf) }
}

const trafficToWire = (t: Traffic): TrafficWire => ({
  answers: t.answers,
  ops: t.ops,
  bytes: t.bytes,
  amount: String(t.amount),
})

const trafficOf = (w: TrafficWire): Traffic => ({
  answers: w.answers,
  ops: w.ops,
  bytes: w.bytes,
  amount: BigInt(w.amount),
})

const termsToWire = (t: PeerTerms): TermsWire => ({
  mode: t.mode,
  chainId: t.chainId,
  chequebook: t.chequebook,
  beneficiary: t.beneficiary,
  pricePerOp: String(t.pricePerOp),
  pricePerByte: String(t.pricePerByte),
  paymentThreshold: String(t.paymentThreshold),
  refreshRate: String(t.refreshRate),
})

const termsOf = (w: TermsWire): PeerTerms => ({
  mode: w.mode,
  chainId: w.chainId,
  chequebook: w.chequebook as Address,
  beneficiary: w.beneficiary as Address,
  pricePerOp: BigInt(w.pricePerOp),
  pricePerByte: BigInt(w.pricePerByte),
  paymentThreshold: BigInt(w.paymentThreshold),
  refreshRate: BigInt(w.refreshRate),
})

/** One peer on the wire. */
export function peerToWire(p: PeerView): PeerViewWire {
  return {
    peer: p.peer,
    balance: String(p.balance),
    standing: p.standing,
    connected: p.connected,
    terms: p.terms && termsToWire(p.terms),
    paymentThreshold: String(p.paymentThreshold),
    disconnectThreshold: String(p.disconnectThreshold),
    served: trafficToWire(p.served),
    received: trafficToWire(p.received),
    forgiven: String(p.forgiven),
    lastSent: p.lastSent && chequeToWire(p.lastSent),
    lastReceived: p.lastReceived && chequeToWire(p.lastReceived),
    uncashed: String(p.uncashed),
    acknowledged: p.acknowledged === null ? null : String(p.acknowledged),
  }
}

const peerOf = (w: PeerViewWire): PeerView => ({
  peer: w.peer,
  balance: BigInt(w.balance),
  standing: w.standing,
  connected: w.connected,
  terms: w.terms && termsOf(w.terms),
  paymentThreshold: BigInt(w.paymentThreshold),
  disconnectThreshold: BigInt(w.disconnectThreshold),
  served: trafficOf(w.served),
  received: trafficOf(w.received),
  forgiven: BigInt(w.forgiven),
  lastSent: w.lastSent && chequeOf(w.lastSent),
  lastReceived: w.lastReceived && chequeOf(w.lastReceived),
  uncashed: BigInt(w.uncashed),
  acknowledged: w.acknowledged === null ? null : BigInt(w.acknowledged),
})

/** Reads one peer back into bigints. */
export function peerFromWire(json: unknown): PeerView {
  return peerOf(parseWire(peerViewWire, json, 'the peer'))
}

/** `GET /swap/peers`' answer. */
export function peersToWire(peers: readonly PeerView[]): z.infer<typeof peersWire> {
  return { peers: peers.map(peerToWire) }
}

/** Reads `GET /swap/peers`' answer back into bigints. */
export function peersFromWire(json: unknown): PeerView[] {
  return parseWire(peersWire, json, 'the peers').peers.map(peerOf)
}

/** A deposit's or withdrawal's answer on the wire. */
export function moveToWire(m: BookMove): BookMoveWire {
  return { txHash: m.txHash, balance: String(m.balance) }
}

/** Reads `POST /swap/deposit`'s or `/swap/withdraw`'s answer back into bigints. */
export function moveFromWire(json: unknown): BookMove {
  const w = parseWire(bookMoveWire, json, 'the chequebook move')
  return { txHash: w.txHash as Hex, balance: BigInt(w.balance) }
}
