import type { Context } from 'hono'
import { z } from 'zod'
import type { ChainService } from '../../chain/chain-service.ts'
import type { ImpactReducer } from '../../core/impact/domain.ts'
import { encodeVote, IMPACT_LIMITS, utf8Bytes } from '../../core/impact/formats.ts'
import { BODIES, createBody, IMPACT_OP, ImpactNotFoundError } from '../../core/impact/ops.ts'
import type { ImpactState } from '../../core/impact/state.ts'
import { validate } from '../../http/body.ts'
import { createRouteGroup, type RouteGroup } from '../../http/route-group.ts'
import { opIdWire } from '../../http/wire.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts, LocalAccount } from '../../node/accounts.ts'
import type { ImpactActions, ImpactIndex } from './actions.ts'
import { assignBody, DEFAULT_MAXDAYS, latestBlock } from './claims.ts'
import {
  actedWire,
  auditorWire,
  communityWire,
  poolWire,
  registryWire,
  requestStatusWire,
  requestWire,
} from './wire.ts'

/** The most requests one answer lists. */
export const MAX_REQUESTS_PAGE = 500
/** The most refused ops the registry answer lists (the newest). */
const MAX_NOTES = 100

/** What the impact routes need from the node. */
export type ImpactRoutesContext = {
  readonly index: ImpactIndex
  readonly actions: ImpactActions
  readonly accounts: Accounts
  readonly bodyLimit: number
  /** The node's chain: the proxy's routes claim its latest block. */
  readonly chain: ChainService | undefined
  /** Days an assigned auditor has to vote when the assign route is not told (`[domains.impact] max_days`). */
  readonly maxdays?: number | undefined
}

const key = z.string().regex(/^[0-9a-f]{64}$/, 'an Ed25519 public key (64 lowercase hex digits)')
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an EIP-55 Ethereum address (0x and 40 hex digits)')
const otherinfo = z
  .string()
  .max(IMPACT_LIMITS.infoBytes, `at most ${IMPACT_LIMITS.infoBytes} bytes`)
  .refine((s) => utf8Bytes(s) <= IMPACT_LIMITS.infoBytes, {
    error: `at most ${IMPACT_LIMITS.infoBytes} bytes`,
  })

const requestBody = z
  .object({
    info: z
      .string({ error: 'the approval request, JSON text' })
      .min(2)
      .max(IMPACT_LIMITS.requestBytes, `at most ${IMPACT_LIMITS.requestBytes} bytes`)
      .refine((s) => utf8Bytes(s) <= IMPACT_LIMITS.requestBytes, {
        error: `at most ${IMPACT_LIMITS.requestBytes} bytes of JSON text`,
      })
      .describe(
        'The approval request, JSON text as the original (impactactionid, description, …).',
      ),
    payout: address
      .optional()
      .describe("Where the reward is paid; default: the account's address."),
  })
  .strict()
const voteBody = z
  .object({
    vote: z.enum(['Y', 'N'], { error: 'exactly "Y" (approve) or "N" (refuse)' }),
    otherinfo: otherinfo.optional(),
  })
  .strict()
const attestBody = z.object({ otherinfo: otherinfo.optional() }).strict()
const assignRouteBody = z
  .object({
    maxdays: z
      .number({ error: 'a whole number of days from 1 to 365' })
      .int()
      .min(1)
      .max(365)
      .optional()
      .describe(
        `Days each auditor has to vote; default [domains.impact] max_days (${DEFAULT_MAXDAYS}).`,
      ),
  })
  .strict()
const unassignBody = z.object({ auditor: key }).strict()
const empty = z.object({}).strict()
const requestsQuery = z.object({
  status: requestStatusWire.optional(),
  requester: key.optional(),
  auditor: key.optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_REQUESTS_PAGE, `at most ${MAX_REQUESTS_PAGE}`)
    .optional(),
})
const uidParam = z.coerce.number().int().min(1).max(0xffff_ffff)
const tokenParam = z.coerce.number().int().min(0).max(0xffff_ffff)

/** What a proxy op may be refused with (not the proxy, the state, a bad value, no chain). */
const PROXY_ERRORS = [403, 409, 422, 503] as const
const ACT_ERRORS = [403, 409, 422] as const

/** The registry's records as the contract shows them (no requests: they have their own route). */
function registryOf(state: ImpactState, reducer: ImpactReducer) {
  const { requests: _r, auditors, rejected, excluded: _e, ...registry } = state
  return {
    ...registry,
    counts: { ...reducer.counts, auditors: auditors.length },
    rejected: rejected.slice(-MAX_NOTES),
  }
}

/** The impact routes under `/impact`, signed by the node for the account of the bearer token. */
export function impactRoutes(ctx: ImpactRoutesContext): RouteGroup {
  const { index, actions } = ctx
  const group = createRouteGroup({
    prefix: '/impact',
    accounts: ctx.accounts,
    bodyLimit: ctx.bodyLimit,
  })
  const { route } = group
  const communityOf = (c: Context) => index.resolve(c.req.param('community') ?? '')
  const reducerOf = (c: Context) => index.reducer(communityOf(c))
  const act = (c: Context, account: LocalAccount, type: string, body: unknown) =>
    actions.act(account, communityOf(c), type, body)

  route(
    {
      method: 'get',
      path: '/',
      summary: 'The impact communities this node holds.',
      tag: 'impact',
      response: z.object({ communities: z.array(communityWire) }),
    },
    () => ({ communities: index.list() }),
  )
  route(
    {
      method: 'post',
      path: '/',
      summary:
        'Start a community; the account signs its genesis and is its governor unless "governors" names others.',
      tag: 'impact',
      auth: true,
      body: createBody,
      response: z.object({ community: opIdWire }),
      errors: [409, 422],
    },
    async (c, account) => {
      const op = await actions.create(account, await group.body(c, createBody))
      return { community: op.id }
    },
  )
  route(
    {
      method: 'get',
      path: '/:community',
      summary:
        'The registry: governors, categories, actions, oracles, proxies, tokens, pending changes, counts and pools.',
      tag: 'impact',
      response: registryWire,
    },
    async (c) => {
      const reducer = await reducerOf(c)
      return registryOf(reducer.state(), reducer)
    },
  )
  route(
    {
      method: 'get',
      path: '/:community/auditors',
      summary: 'The auditors: ranking, errors, stakes, earnings and queue.',
      tag: 'impact',
      response: z.object({ auditors: z.array(auditorWire) }),
    },
    async (c) => ({ auditors: (await reducerOf(c)).state().auditors }),
  )
  route(
    {
      method: 'get',
      path: '/:community/auditors/:account',
      summary: 'One auditor (destroyed ones too).',
      tag: 'impact',
      response: auditorWire,
    },
    async (c) => {
      const account = c.req.param('account') ?? ''
      const auditor = (await reducerOf(c)).auditor(account)
      if (!auditor)
        throw new ImpactNotFoundError(
          `No auditor "${account.slice(0, 80)}" in this community; list them at GET /impact/<community>/auditors.`,
        )
      return auditor
    },
  )
  route(
    {
      method: 'get',
      path: '/:community/requests',
      summary: `Approval requests, newest first, filtered by status, requester or assigned auditor; at most ?limit= (default 100, at most ${MAX_REQUESTS_PAGE}).`,
      tag: 'impact',
      query: requestsQuery,
      response: z.object({ requests: z.array(requestWire) }),
    },
    async (c) => {
      const query = validate(requestsQuery, c.req.query(), 'query')
      const reducer = await reducerOf(c)
      return { requests: reducer.requests({ ...query, limit: query.limit ?? 100 }) }
    },
  )
  route(
    {
      method: 'get',
      path: '/:community/requests/:request',
      summary: 'One approval request: seats, votes, attestations, decision and payments.',
      tag: 'impact',
      response: requestWire,
    },
    async (c) => {
      const id = c.req.param('request') ?? ''
      const request = (await reducerOf(c)).request(id as OpId)
      if (!request)
        throw new ImpactNotFoundError(
          `No approval request "${id.slice(0, 80)}" in this community; list them at GET /impact/<community>/requests.`,
        )
      return request
    },
  )
  route(
    {
      method: 'get',
      path: '/:community/pools/:token',
      summary:
        "A token's reward pool (0 the native coin, n the registry's token n): deposits, stakes, queued payments and batches.",
      tag: 'impact',
      response: poolWire,
    },
    async (c) => {
      const token = validate(z.object({ token: tokenParam }), c.req.param(), 'path').token
      return (await reducerOf(c)).pool(token)
    },
  )

  // Registry changes: a governor proposes (applied at once when one approval is enough).
  const registry = (
    path: string,
    type: keyof typeof BODIES,
    summary: string,
    body: z.ZodObject = BODIES[type] as z.ZodObject,
  ) =>
    route(
      {
        method: 'post',
        path,
        summary,
        tag: 'impact registry',
        auth: true,
        body,
        response: actedWire,
        errors: ACT_ERRORS,
      },
      async (c, account) => act(c, account, type, await group.body(c, body)),
    )
  const destroy = (path: string, type: keyof typeof BODIES, param: string, summary: string) =>
    route(
      {
        method: 'delete',
        path,
        summary,
        tag: 'impact registry',
        auth: true,
        response: actedWire,
        errors: ACT_ERRORS,
      },
      async (c, account) => {
        const raw = c.req.param(param) ?? ''
        const value =
          param === 'account'
            ? validate(z.object({ account: key }), { account: raw }, 'path').account
            : validate(z.object({ [param]: uidParam }), { [param]: raw }, 'path')[param]
        return act(c, account, type, { [param]: value })
      },
    )
  registry('/:community/categories', IMPACT_OP.createCategory, 'createCategory (a governor).')
  destroy(
    '/:community/categories/:uid',
    IMPACT_OP.destroyCategory,
    'uid',
    'destroyCategory (refused while an action or auditor uses it).',
  )
  registry('/:community/actions', IMPACT_OP.createImpactAction, 'createImpactAction (a governor).')
  destroy(
    '/:community/actions/:uid',
    IMPACT_OP.destroyImpactAction,
    'uid',
    'destroyImpactAction: no new requests; the proxy expires open ones.',
  )
  registry('/:community/oracles', IMPACT_OP.createOracle, 'createOracle (a governor).')
  destroy('/:community/oracles/:uid', IMPACT_OP.destroyOracle, 'uid', 'destroyOracle.')
  registry(
    '/:community/auditors',
    IMPACT_OP.createAuditor,
    'createAuditor: categories, area, stake and payout address (a governor).',
  )
  destroy(
    '/:community/auditors/:account',
    IMPACT_OP.destroyAuditor,
    'account',
    'destroyAuditor: it votes no more; its stake is returned in the next batch.',
  )
  registry('/:community/proxies', IMPACT_OP.createProxy, 'createProxy (a governor).')
  destroy('/:community/proxies/:uid', IMPACT_OP.destroyProxy, 'uid', 'destroyProxy.')
  registry('/:community/tokens', IMPACT_OP.setToken, 'Map a rewards token id to an ERC-20.')
  registry(
    '/:community/governors',
    IMPACT_OP.setGovernors,
    'Replace the governors and the approvals a change needs.',
  )
  route(
    {
      method: 'post',
      path: '/:community/proposals/:proposal/approve',
      summary: "Approve another governor's pending registry change.",
      tag: 'impact registry',
      auth: true,
      response: actedWire,
      errors: ACT_ERRORS,
    },
    async (c, account) => {
      await group.body(c, empty)
      return act(c, account, IMPACT_OP.approve, { proposal: c.req.param('proposal') ?? '' })
    },
  )

  // Requests, votes and attestations.
  route(
    {
      method: 'post',
      path: '/:community/requests',
      summary:
        "requestApproval: ask for approval of an impact action (info: the request's JSON text); the reward goes to payout, default the account's address.",
      tag: 'impact',
      auth: true,
      body: requestBody,
      response: actedWire,
      errors: ACT_ERRORS,
    },
    async (c, account) => {
      const { info, payout } = await group.body(c, requestBody)
      return act(c, account, IMPACT_OP.requestApproval, { info, payout: payout ?? account.address })
    },
  )
  const requestOf = (c: Context) => c.req.param('request') ?? ''
  route(
    {
      method: 'post',
      path: '/:community/requests/:request/vote',
      summary: 'voteApprovalRequest: an assigned auditor votes Y or N, once.',
      tag: 'impact',
      auth: true,
      body: voteBody,
      response: actedWire,
      errors: ACT_ERRORS,
    },
    async (c, account) => {
      const { vote, otherinfo: info } = await group.body(c, voteBody)
      const text = encodeVote(info === undefined ? { vote } : { vote, otherinfo: info })
      return act(c, account, IMPACT_OP.vote, { request: requestOf(c), vote: text })
    },
  )
  route(
    {
      method: 'post',
      path: '/:community/requests/:request/attest',
      summary: 'An oracle attests the request (paid rewardsoracle on approval).',
      tag: 'impact',
      auth: true,
      body: attestBody,
      response: actedWire,
      errors: ACT_ERRORS,
    },
    async (c, account) => {
      const { otherinfo: info } = await group.body(c, attestBody)
      const body =
        info === undefined ? { request: requestOf(c) } : { request: requestOf(c), otherinfo: info }
      return act(c, account, IMPACT_OP.attest, body)
    },
  )

  // The proxy's ops, with the chain's latest block as their claim (the proxy service does the same on its own).
  const proxy = (
    path: string,
    summary: string,
    body: z.ZodObject,
    build: (c: Context, parsed: never, reducer: ImpactReducer) => Promise<[string, unknown]>,
  ) =>
    route(
      {
        method: 'post',
        path: `/:community/requests/:request/${path}`,
        summary,
        tag: 'impact proxy',
        auth: true,
        body,
        response: actedWire,
        errors: PROXY_ERRORS,
      },
      async (c, account) => {
        const parsed = await group.body(c, body)
        const [type, opBody] = await build(c, parsed as never, await reducerOf(c))
        return act(c, account, type, opBody)
      },
    )
  proxy(
    'assign',
    "assignAuditor (the proxy): the seeded draw with the chain's latest block hash fills the open seats.",
    assignRouteBody,
    async (c, { maxdays }: z.infer<typeof assignRouteBody>, reducer) => {
      const claim = await latestBlock(ctx.chain)
      return [
        IMPACT_OP.assignAuditor,
        assignBody(reducer, requestOf(c) as OpId, claim, maxdays ?? ctx.maxdays),
      ]
    },
  )
  proxy(
    'unassign',
    'destroyAssignedAuditor (the proxy): past its deadline, destroyed or suspended.',
    unassignBody,
    async (c, { auditor }: z.infer<typeof unassignBody>) => {
      const { block } = await latestBlock(ctx.chain)
      return [IMPACT_OP.destroyAssignedAuditor, { request: requestOf(c), auditor, block }]
    },
  )
  proxy(
    'decide',
    'The proxy records the decision the votes reached; money is queued for settlement.',
    empty,
    async (c) => {
      const { block } = await latestBlock(ctx.chain)
      return [IMPACT_OP.decide, { request: requestOf(c), block }]
    },
  )
  proxy(
    'expire',
    "The proxy closes a request past its action's blockend, or whose action was destroyed.",
    empty,
    async (c) => {
      const { block } = await latestBlock(ctx.chain)
      return [IMPACT_OP.expire, { request: requestOf(c), block }]
    },
  )
  return group
}
