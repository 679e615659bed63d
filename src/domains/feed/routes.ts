import type { Context } from 'hono'
import { z } from 'zod'
import type { ChainService } from '../../chain/chain-service.ts'
import { BODIES, createBody, FEED_OP, FeedNotFoundError } from '../../core/feed/ops.ts'
import { validate } from '../../http/body.ts'
import { createRouteGroup, type RouteGroup } from '../../http/route-group.ts'
import { addressWire, keyWire, opIdWire } from '../../http/wire.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { type Accounts, OPERATOR } from '../../node/accounts.ts'
import type { FeedActions, FeedIndex } from './actions.ts'
import {
  aggregateOut,
  aggregateWire,
  attestationWire,
  feedListWire,
  feedWire,
  latestWire,
  oracleOut,
  oracleWire,
  postedOut,
  priceOf,
  reportOut,
  reportWire,
  seriesOf,
  seriesWire,
} from './wire.ts'

/** The most windows one answer lists. */
export const MAX_WINDOWS_PAGE = 1000

/** What the feed routes need from the node. */
export type FeedRoutesContext = {
  readonly index: FeedIndex
  readonly actions: FeedActions
  readonly accounts: Accounts
  readonly bodyLimit: number
  readonly chain: ChainService | undefined
}

const windowParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const limitParam = (max: number) =>
  z.coerce.number().int().min(1).max(max, `at most ${max}`).optional()
const aggregatesQuery = z.object({
  from: windowParam.optional(),
  limit: limitParam(MAX_WINDOWS_PAGE),
})
const seriesQuery = z.object({ last: limitParam(MAX_WINDOWS_PAGE) })
const attestationsQuery = z.object({ window: windowParam.optional() })
const reportsQuery = z.object({ limit: limitParam(500) })
const oracleBody = z
  .object({
    oracle: keyWire.describe("The oracle's Ed25519 public key."),
    remove: z.boolean().optional().describe('Remove it instead of adding it.'),
  })
  .strict()
const ACT_ERRORS = [403, 409, 422] as const

/** The feed routes under `/feed`; changes are signed by the node for the bearer token's account. */
export function feedRoutes(ctx: FeedRoutesContext): RouteGroup {
  const { index, actions } = ctx
  const group = createRouteGroup({
    prefix: '/feed',
    accounts: ctx.accounts,
    bodyLimit: ctx.bodyLimit,
  })
  const { route } = group
  const feedOf = (c: Context) => index.resolve(c.req.param('feed') ?? '')
  const reducerOf = (c: Context) => index.reducer(feedOf(c))

  route(
    {
      method: 'get',
      path: '/signer',
      summary:
        "This node's report-signing identity: its operator account's Ed25519 key and its chain operator address (null without them), for a feed owner to register it as a signer.",
      tag: 'feed',
      response: z.object({ key: keyWire.nullable(), address: addressWire.nullable() }),
    },
    () => {
      const operator = ctx.accounts.get(OPERATOR)
      return {
        key: operator ? Buffer.from(operator.signer.publicKey).toString('hex') : null,
        address: ctx.chain?.info.signer ?? null,
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds',
      summary: 'The feeds this node holds, with their last answer.',
      tag: 'feed',
      response: z.object({ feeds: z.array(feedListWire) }),
    },
    async () => {
      const feeds = []
      for (const listed of index.list()) {
        const reducer = await index.reducer(listed.id)
        const latest = reducer.latest()
        const r = reducer.machine.registry
        feeds.push({
          id: listed.id,
          pair: reducer.machine.pair,
          state: listed.state,
          decimals: reducer.machine.decimals,
          window: reducer.machine.window,
          oracles: r.oracles.size,
          signers: r.signers.length,
          threshold: r.threshold,
          lastWindow: latest?.window ?? null,
          lastAnswer: latest?.answer.toString() ?? null,
          lastAnswerText: latest ? priceOf(reducer)(latest.answer) : null,
        })
      }
      return { feeds }
    },
  )
  route(
    {
      method: 'post',
      path: '/feeds',
      summary:
        'Start a feed; the account signs its genesis and owns it (registers oracles and signers).',
      tag: 'feed',
      auth: true,
      body: createBody,
      response: z.object({ feed: opIdWire }),
      errors: [409, 422],
    },
    async (c, account) => {
      const op = await actions.create(account, await group.body(c, createBody))
      return { feed: op.id }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed',
      summary: 'A feed: pair, parameters, oracles, signers, threshold and chain.',
      tag: 'feed',
      response: feedWire,
    },
    async (c) => {
      const reducer = await reducerOf(c)
      const { machine } = reducer
      const r = machine.registry
      return {
        id: machine.id,
        pair: machine.pair,
        description: machine.description,
        owner: machine.owner,
        decimals: machine.decimals,
        heartbeat: r.heartbeat,
        deviation: r.deviation,
        minSources: r.minSources,
        minObservations: r.minObservations,
        maxAge: r.maxAge,
        window: machine.window,
        oracles: [...r.oracles].sort(),
        signers: r.signers.map((s) => ({ key: s.key, address: s.address })),
        threshold: r.threshold,
        chain: r.chain ?? null,
        attestations: machine.series.size,
        windows: machine.series.windows().length,
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/latest',
      summary:
        "The last window's aggregate (weighted median, confidence, outliers) and the last report posted on chain.",
      tag: 'feed',
      response: latestWire,
    },
    async (c) => {
      const reducer = await reducerOf(c)
      const latest = reducer.latest()
      if (!latest)
        throw new FeedNotFoundError(
          `Feed ${reducer.name} has no attestation yet; start oracles with "rwa oracle run".`,
        )
      const out = aggregateOut(reducer, latest)
      return {
        ...out,
        outliers: out.outliers.length,
        id: reducer.machine.id,
        pair: reducer.machine.pair,
        decimals: reducer.machine.decimals,
        onChain: postedOut(reducer, reducer.lastPosted()),
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/aggregates',
      summary: `Aggregates of windows from ?from= (a window index; default the first), at most ?limit= (default 100, at most ${MAX_WINDOWS_PAGE}); next is the window to continue from.`,
      tag: 'feed',
      query: aggregatesQuery,
      response: z.object({ aggregates: z.array(aggregateWire), next: z.number().int().nullable() }),
    },
    async (c) => {
      const query = validate(aggregatesQuery, c.req.query(), 'query')
      const reducer = await reducerOf(c)
      const limit = query.limit ?? 100
      const page = reducer.aggregates(query.from ?? 0, limit + 1)
      const next = page.length > limit ? page[limit]!.window : null
      return { aggregates: page.slice(0, limit).map((a) => aggregateOut(reducer, a)), next }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/oracles',
      summary:
        'Every oracle: attestations, last price, average deviation from the aggregate, quality (ppm) and anomalies.',
      tag: 'feed',
      response: z.object({ oracles: z.array(oracleWire) }),
    },
    async (c) => {
      const reducer = await reducerOf(c)
      return { oracles: reducer.oracles().map((o) => oracleOut(reducer, o)) }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/attestations',
      summary:
        'The counted attestations of one window (?window=, default the last), with their deviation from its answer.',
      tag: 'feed',
      query: attestationsQuery,
      response: z.object({
        window: z.number().int().nullable(),
        attestations: z.array(attestationWire),
      }),
    },
    async (c) => {
      const query = validate(attestationsQuery, c.req.query(), 'query')
      const reducer = await reducerOf(c)
      const window = query.window ?? reducer.latest()?.window
      if (window === undefined) return { window: null, attestations: [] }
      const aggregate = reducer.aggregate(window)
      const outliers = new Set(aggregate?.outliers ?? [])
      const price = priceOf(reducer)
      const { series } = reducer.machine
      return {
        window,
        attestations: series.attestations(window).map((a) => ({
          id: a.id as OpId,
          oracle: a.oracle,
          price: a.price.toString(),
          priceText: price(a.price),
          confidence: a.confidence,
          timestamp: a.timestamp,
          outlier: outliers.has(a.id),
          deviationPpm: series.deviationIn(window, a.id) ?? null,
        })),
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/series',
      summary: `The last ?last= windows (default 120, at most ${MAX_WINDOWS_PAGE}) for a chart: every counted attestation's price and each window's answer.`,
      tag: 'feed',
      query: seriesQuery,
      response: seriesWire,
    },
    async (c) => {
      const query = validate(seriesQuery, c.req.query(), 'query')
      const reducer = await reducerOf(c)
      return seriesOf(reducer, query.last ?? 120)
    },
  )
  route(
    {
      method: 'get',
      path: '/feeds/:feed/reports',
      summary:
        'Signed reports, newest window first (?limit=, default 50): signatures by current signers against the threshold, and the transaction that posted it.',
      tag: 'feed',
      query: reportsQuery,
      response: z.object({ reports: z.array(reportWire) }),
    },
    async (c) => {
      const query = validate(reportsQuery, c.req.query(), 'query')
      const reducer = await reducerOf(c)
      return { reports: reducer.reports(query.limit ?? 50).map((r) => reportOut(reducer, r)) }
    },
  )
  const change = (
    path: string,
    summary: string,
    body: z.ZodType,
    op: (parsed: never) => { type: string; body: unknown },
  ) =>
    route(
      {
        method: 'post',
        path: `/feeds/:feed/${path}`,
        summary,
        tag: 'feed',
        auth: true,
        body,
        response: z.object({ op: opIdWire, feed: opIdWire, type: z.string() }),
        errors: ACT_ERRORS,
      },
      async (c, account) => {
        const parsed = await group.body(c, body)
        const { type, body: opBody } = op(parsed as never)
        const acted = await actions.act(account, feedOf(c), type, opBody)
        return { op: acted.op, feed: acted.doc, type }
      },
    )
  change(
    'oracles',
    'The owner registers an oracle key (or removes it with remove: true); its attestations count from ops that see the change.',
    oracleBody,
    (b: z.infer<typeof oracleBody>) => ({
      type: b.remove ? FEED_OP.removeOracle : FEED_OP.addOracle,
      body: { oracle: b.oracle },
    }),
  )
  change(
    'signers',
    'The owner replaces the report signers and the threshold (at least f+1 with n > 3f, at most n).',
    BODIES[FEED_OP.setSigners],
    (b) => ({ type: FEED_OP.setSigners, body: b }),
  )
  change(
    'chain',
    'The owner names the chain and FeedAggregator contract that reports are signed for.',
    BODIES[FEED_OP.setChain],
    (b) => ({ type: FEED_OP.setChain, body: b }),
  )
  change(
    'params',
    'The owner changes the heartbeat, deviation threshold, minimum sources or maximum age.',
    BODIES[FEED_OP.setParams],
    (b) => ({ type: FEED_OP.setParams, body: b }),
  )
  return group
}
