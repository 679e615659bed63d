import { z } from 'zod'
import type { ChainInfo } from '../chain/chain-service.ts'
import type { Ledger } from '../ledger/ledger.ts'
import { type Accounts, OPERATOR } from '../node/accounts.ts'
import type { DocIndex } from '../node/doc-index.ts'
import { validate } from './body.ts'
import { ForbiddenError, NotFoundError } from './errors.ts'
import { createDocList, DEFAULT_PAGE_SIZE, listPageQuery } from './page.ts'
import { createRouteGroup, type RouteGroup, type RouteGroupBuilder } from './route-group.ts'

const accountSchema = z.object({ name: z.string(), jid: z.string().optional() }).strict()

/** What the node's own routes tell. */
export type NodeRoutesContext = {
  readonly name: string
  readonly version: string
  readonly ledger: Ledger
  readonly accounts: Accounts
  readonly bodyLimit: number
  readonly indexes: readonly DocIndex[]
  /** Connected peers. */
  peers(): number
  /** This node's libp2p identity and addresses, if it replicates. */
  net?(): { peerId: string; listen: string[]; gossipDropped: number } | undefined
  /** Where this node settles, if it has a chain. */
  chain?(): ChainInfo | undefined
}

/** `GET /status`, `GET /chain` and the account routes: the node's own, whatever domains it hosts. */
export function nodeRoutes(ctx: NodeRoutesContext): RouteGroup {
  const group = createRouteGroup({ prefix: '/', accounts: ctx.accounts, bodyLimit: ctx.bodyLimit })
  const { ledger, indexes } = ctx
  const docList = createDocList(ledger)
  group.route(
    {
      method: 'get',
      path: '/status',
      summary:
        'Node name, version, peers, and a page of documents (by id) with their heads, pending, equivocations and stateHash: ?limit= (default 100, at most 1000) and ?after=<next>; next is null on the last page.',
      tag: 'node',
      query: listPageQuery,
    },
    async (c) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = validate(listPageQuery, c.req.query(), 'query')
      const heads: Record<string, string[]> = {}
      const documents: Record<
        string,
        { heads: string[]; pending: number; equivocations: number; stateHash: string | null }
      > = {}
      const stats = ledger.log.stats()
      const page = docList.page(after, limit)
      for (const doc of page.ids) {
        const index = indexes.find((i) => i.has(doc))
        heads[doc] = ledger.log.heads(doc)
        documents[doc] = {
          heads: heads[doc],
          pending: ledger.log.pending(doc).length,
          equivocations: ledger.log.equivocations(doc).length,
          stateHash: index ? await index.stateHash(doc) : null,
        }
      }
      return {
        name: ctx.name,
        version: ctx.version,
        docs: docList.size,
        peers: ctx.peers(),
        heads,
        documents,
        next: page.next,
        net: ctx.net?.() ?? null,
        chain: ctx.chain?.() ?? null,
        accepted: stats.accepted,
        pending: stats.pending,
      }
    },
  )
  group.route(
    {
      method: 'get',
      path: '/chain',
      summary: 'Where this node settles: chain id, RPC URL, escrow (and the devnet token).',
      tag: 'chain',
    },
    () => {
      const info = ctx.chain?.()
      if (!info)
        throw new NotFoundError(
          'This node runs without a chain (started with --no-chain or [chain] mode = "none").',
        )
      return info
    },
  )
  addAccountRoutes(group, ctx.accounts)
  return group
}

function addAccountRoutes(group: RouteGroupBuilder, accounts: Accounts): void {
  group.route(
    {
      method: 'get',
      path: '/accounts/me',
      summary: 'The account a token belongs to.',
      tag: 'accounts',
      auth: true,
    },
    (_c, account) => ({
      name: account.name,
      key: account.key,
      address: account.address,
      jid: account.jid ?? null,
    }),
  )
  group.route(
    {
      method: 'post',
      path: '/accounts',
      summary: 'Create a local account (operator only); answers its token once.',
      tag: 'accounts',
      auth: true,
      body: accountSchema,
    },
    async (c, account) => {
      if (account.name !== OPERATOR)
        throw new ForbiddenError('Only the operator account may create accounts.')
      const { name, jid } = await group.body(c, accountSchema)
      const created = accounts.create({ name, jid })
      return {
        name,
        key: created.account.key,
        address: created.account.address,
        token: created.token,
      }
    },
  )
}
