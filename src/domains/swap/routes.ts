import { ForbiddenError } from '../../http/errors.ts'
import { createRouteGroup, type RouteGroup } from '../../http/route-group.ts'
import { type Accounts, type LocalAccount, OPERATOR } from '../../node/accounts.ts'
import type { BookMove, CashResult, ChequeView, PeerView, SwapOverview } from './types.ts'
import {
  amountBody,
  bookMoveWire,
  cashBody,
  cashResultWire,
  chequesWire,
  peersWire,
  swapOverviewWire,
} from './wire.ts'

// The `/swap` routes (issue 22): this node's SWAP terms and chequebook, its peers' balances, the
// cheques both ways, and the operator's actions (cash a peer's cheque, deposit, withdraw).

/** What the routes answer from. */
export type SwapService = {
  overview(): Promise<SwapOverview>
  peers(): readonly PeerView[]
  cheques(): { received: readonly ChequeView[]; sent: readonly ChequeView[] }
  cash(peer: string): Promise<CashResult>
  deposit(amount: bigint): Promise<BookMove>
  withdraw(amount: bigint): Promise<BookMove>
}

const operatorOnly = (account: LocalAccount, what: string) => {
  if (account.name !== OPERATOR)
    throw new ForbiddenError(`Only the operator account may ${what}; use its token.`)
}

/** `GET /swap`, `/swap/peers`, `/swap/cheques`; `POST /swap/cash|deposit|withdraw` (operator). */
export function swapRoutes(o: {
  readonly accounts: Accounts
  readonly bodyLimit: number
  readonly service: SwapService
}): RouteGroup {
  const { service } = o
  const group = createRouteGroup({ prefix: '/swap', accounts: o.accounts, bodyLimit: o.bodyLimit })
  group.route(
    {
      method: 'get',
      path: '/',
      summary:
        "This node's SWAP terms: mode, prices, payment and disconnect thresholds, refresh rate, its chequebook (on chain in hard mode) and the sums owed both ways.",
      tag: 'swap',
      response: swapOverviewWire,
      errors: [503],
    },
    () => service.overview(),
  )
  group.route(
    {
      method: 'get',
      path: '/peers',
      summary:
        "Each peer's balance with this node (> 0: it owes us), its standing against the thresholds, traffic both ways, its terms and the last cheques.",
      tag: 'swap',
      response: peersWire,
    },
    () => ({ peers: service.peers() }),
  )
  group.route(
    {
      method: 'get',
      path: '/cheques',
      summary:
        'The last cheque received from and sent to each peer (cumulative payouts), newest first.',
      tag: 'swap',
      response: chequesWire,
    },
    () => service.cheques(),
  )
  group.route(
    {
      method: 'post',
      path: '/cash',
      summary:
        "Cash a peer's last cheque on chain (hard mode): pays what it adds to what was cashed, as far as its chequebook can; a shortfall bounces and the peer is no longer served. Operator only.",
      tag: 'swap',
      auth: true,
      body: cashBody,
      response: cashResultWire,
      errors: [404, 409, 503],
    },
    async (c, account) => {
      operatorOnly(account, 'cash cheques')
      const { peer } = await group.body(c, cashBody)
      return service.cash(peer)
    },
  )
  group.route(
    {
      method: 'post',
      path: '/deposit',
      summary:
        "Fund this node's chequebook from the operator key (an ERC-20 transfer; hard mode). Operator only.",
      tag: 'swap',
      auth: true,
      body: amountBody,
      response: bookMoveWire,
      errors: [409, 503],
    },
    async (c, account) => {
      operatorOnly(account, 'deposit into the chequebook')
      const { amount } = await group.body(c, amountBody)
      return service.deposit(BigInt(amount))
    },
  )
  group.route(
    {
      method: 'post',
      path: '/withdraw',
      summary:
        "Take tokens out of this node's chequebook to the operator key, up to its liquid balance (hard mode). Operator only.",
      tag: 'swap',
      auth: true,
      body: amountBody,
      response: bookMoveWire,
      errors: [409, 503],
    },
    async (c, account) => {
      operatorOnly(account, 'withdraw from the chequebook')
      const { amount } = await group.body(c, amountBody)
      return service.withdraw(BigInt(amount))
    },
  )
  return group
}
