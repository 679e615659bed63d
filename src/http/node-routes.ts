import { z } from 'zod'
import type { ChainInfo } from '../chain/chain-service.ts'
import type { Ledger } from '../ledger/ledger.ts'
import { type Accounts, OPERATOR } from '../node/accounts.ts'
import type { DocIndex } from '../node/doc-index.ts'
import { validate } from './body.ts'
import { ForbiddenError, NotFoundError } from './errors.ts'
import { createDocList, DEFAULT_PAGE_SIZE, listPageQuery } from './page.ts'
import { createRouteGroup, type RouteGroup, type RouteGroupBuilder } from './route-group.ts'
import { addressWire, keyWire, opIdWire } from './wire.ts'

const accountSchema = z.object({ name: z.string(), jid: z.string().optional() }).strict()

const count = z.number().int().nonnegative()

/** Where a node settles (`GET /chain`, and `chain` in `GET /status`), as `ChainInfo` travels. */
export const chainInfoWire = z.object({
  chainId: z.number().int().positive(),
  rpcUrl: z.string(),
  escrow: addressWire.describe('The audit escrow contract.'),
  token: addressWire.optional().describe("The devnet's test ERC-20 (devnet only)."),
  mpe: addressWire
    .optional()
    .describe(
      'The MultiPartyEscrow of payment channels: over the test token on the devnet, `[chain] mpe` elsewhere; absent when none.',
    ),
  devnet: z.boolean(),
  signer: addressWire.describe("The node's signing address (its operator's Ethereum key)."),
})

const statusWire = z.object({
  name: z.string(),
  version: z.string(),
  docs: count.describe('Documents this node holds.'),
  peers: count,
  heads: z.record(opIdWire, z.array(opIdWire)).describe("This page's documents' heads."),
  documents: z.record(
    opIdWire,
    z.object({
      heads: z.array(opIdWire),
      pending: count.describe('Ops waiting for missing deps.'),
      equivocations: count,
      stateHash: z.string().nullable().describe('Null for a document of no hosted domain.'),
    }),
  ),
  next: opIdWire.nullable().describe('The `after` of the next page; null on the last.'),
  net: z
    .object({
      peerId: z.string(),
      listen: z.array(z.string()),
      gossipDropped: count,
      denied: count.describe('Peers the operator denies (denied-peers.txt in the data dir).'),
    })
    .nullable()
    .describe('Null when the node does not replicate.'),
  chain: chainInfoWire.nullable().describe('Null when the node runs without a chain.'),
  domains: z
    .record(z.string(), z.unknown())
    .describe(
      "What hosted domains add, by domain name (SWAP accounting: the peers' balances and thresholds).",
    ),
  accepted: count.describe('Ops accepted in the log.'),
  pending: count,
})

const accountWire = z.object({
  name: z.string(),
  key: keyWire,
  address: addressWire,
  jid: z.string().nullable(),
})
const createdAccountWire = z.object({
  name: z.string(),
  key: keyWire,
  address: addressWire,
  token: z.string().describe('The bearer token of the new account; shown once.'),
})

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
  net?(): { peerId: string; listen: string[]; gossipDropped: number; denied: number } | undefined
  /** Where this node settles, if it has a chain. */
  chain?(): ChainInfo | undefined
  /** What the hosted domains add to `/status`, by domain name. */
  domainStatus?(): Promise<Record<string, unknown>>
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
      response: statusWire,
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
        domains: (await ctx.domainStatus?.()) ?? {},
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
      response: chainInfoWire,
      errors: [404],
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
      response: accountWire,
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
      response: createdAccountWire,
      errors: [409, 422],
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
