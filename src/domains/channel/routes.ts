import type { Context } from 'hono'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import type { Address, Hex } from 'viem'
import { z } from 'zod'
import type { TokenUnit } from '../../core/amount.ts'
import {
  channelStateReply,
  checkChannelStateRequest,
  serviceStateMessage,
} from '../../core/channel/payment.ts'
import { type PricedRoute, routeText } from '../../core/channel/routes.ts'
import { BaseError } from '../../errors/base.ts'
import { readBodyBytes } from '../../http/body.ts'
import {
  createRouteGroup,
  type RouteGroup,
  type RouteGroupBuilder,
} from '../../http/route-group.ts'
import { addressWire } from '../../http/wire.ts'
import type { Accounts } from '../../node/accounts.ts'
import type { Gateway } from './gateway.ts'
import { PAYMENT_HEADER_NAMES } from './gateway.ts'

// The channel plug-in's routes: the service's terms (what a client needs to open a channel and
// pay), snet's GetChannelState (a stateless client recovers what it signed), and the reverse
// proxy to upstream services the gateway charges for (as snet-daemon fronts a service).

/** An upstream service behind the gateway: `/channel/call/<name>/…` is forwarded to `url/…`. */
export type Upstream = {
  readonly name: string
  readonly url: string
  readonly price: bigint
  /** Milliseconds an upstream call may take. */
  readonly timeoutMs: number
}

/** Where the upstream `name` is served. */
export const upstreamPath = (name: string) => `/channel/call/${name}`

/** What the routes need. */
export type ChannelRoutesOptions = {
  readonly accounts: Accounts
  readonly bodyLimit: number
  readonly logger: Logger
  /** Undefined when the node has no chain or no escrow: the routes answer 404 saying so. */
  readonly service:
    | {
        readonly gateway: Gateway
        readonly escrow: Address
        readonly recipient: Address
        readonly groupId: Hex
        readonly chainId: number
        readonly rpcUrl: string
        readonly token: () => Promise<TokenUnit>
        readonly expirationThreshold: bigint
        readonly routes: readonly PricedRoute[]
        readonly upstreams: readonly Upstream[]
        /** Signs the 32-byte hash of the service's view (EIP-191), with the recipient's key. */
        readonly signHash: (hash: Hex) => Promise<Hex>
      }
    | undefined
  /** More routes in the same group (the treasurer's). */
  readonly extra?: (group: RouteGroupBuilder) => void
}

/** Thrown when the node serves no payment channels (no chain, or no MultiPartyEscrow on it). */
export class NoChannelServiceError extends BaseError {
  override name = 'NoChannelServiceError' as const
  override readonly kind = 'not-found' as const
}

const uint = z
  .string()
  .regex(/^[0-9]{1,78}$/, 'a decimal number (base units)')
  .describe('A uint256 as a decimal string.')
const signatureWire = z
  .string()
  .regex(/^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature in hex (0x and 130 hex digits)')

const termsWire = z.object({
  escrow: addressWire.describe('The MultiPartyEscrow contract to open a channel in.'),
  recipient: addressWire.describe("The service's recipient: open channels to it."),
  groupId: z.string().describe('The group id (bytes32) to open channels with.'),
  chainId: z.number().int(),
  rpcUrl: z.string().describe('An RPC URL of the chain, as the node knows it.'),
  token: z.object({
    address: z.string(),
    symbol: z.string().nullable(),
    decimals: z.number().int().nullable(),
  }),
  expirationThreshold: uint.describe(
    'Blocks before expiration within which payments are refused: open channels well past it.',
  ),
  currentBlock: uint,
  prices: z
    .array(z.object({ route: z.string(), price: uint }))
    .describe('Priced routes of the node itself ("GET /feed/*"), in base units per call.'),
  upstreams: z
    .array(z.object({ name: z.string(), path: z.string(), price: uint }))
    .describe('Services behind the gateway: call `path/…`, in base units per call.'),
})

const stateBody = z
  .object({
    channelId: uint,
    currentBlock: uint.describe('The latest block the client knows (within 5 of the service).'),
    signature: signatureWire.describe(
      'EIP-191 signature by the channel signer or sender of keccak256("__get_channel_state", escrow, channelId, currentBlock).',
    ),
  })
  .strict()

const stateWire = z.object({
  channelId: uint,
  currentNonce: uint,
  currentSignedAmount: uint.optional(),
  currentSignature: z.string().optional(),
  oldNonceSignedAmount: uint.optional(),
  oldNonceSignature: z.string().optional(),
  serviceSignature: z
    .string()
    .describe(
      'The recipient\'s EIP-191 signature of keccak256("__rwa_channel_state", escrow, channelId, currentNonce, currentSignedAmount or 0).',
    ),
})

/** The `/channel` routes and, with upstreams, their reverse proxy. */
export function channelRoutes(o: ChannelRoutesOptions): RouteGroup {
  const group = createRouteGroup({
    prefix: '/channel',
    accounts: o.accounts,
    bodyLimit: o.bodyLimit,
  })
  const service = () => {
    if (o.service !== undefined) return o.service
    throw new NoChannelServiceError(
      'This node serves no payment channels: it runs without a chain, or its chain has no MultiPartyEscrow ([chain] mpe).',
    )
  }
  group.route(
    {
      method: 'get',
      path: '/',
      summary:
        "The service's payment terms: the escrow, the recipient and group to open a channel to, the prices per call.",
      tag: 'channel',
      response: termsWire,
      errors: [503],
    },
    async () => {
      const s = service()
      return {
        escrow: s.escrow,
        recipient: s.recipient,
        groupId: s.groupId,
        chainId: s.chainId,
        rpcUrl: s.rpcUrl,
        token: await s.token(),
        expirationThreshold: s.expirationThreshold.toString(),
        currentBlock: (await s.gateway.currentBlock()).toString(),
        prices: s.routes.map((r) => ({
          route: routeText(r),
          price: r.price.toString(),
        })),
        upstreams: s.upstreams.map((u) => ({
          name: u.name,
          path: upstreamPath(u.name),
          price: u.price.toString(),
        })),
      }
    },
  )
  group.route(
    {
      method: 'post',
      path: '/state',
      summary:
        "snet's GetChannelState: the channel's nonce and the last amount its client signed, for a client that lost its state (signed by the channel's signer or sender).",
      tag: 'channel',
      body: stateBody,
      response: stateWire,
      errors: [401, 404, 503],
    },
    async (c) => {
      const s = service()
      const body = await group.body(c, stateBody)
      const channelId = BigInt(body.channelId)
      const view = await s.gateway.view(channelId, { fresh: true })
      await checkChannelStateRequest(
        {
          channelId,
          currentBlock: BigInt(body.currentBlock),
          signature: body.signature as Hex,
        },
        view,
        { escrow: s.escrow, currentBlock: await s.gateway.currentBlock({ fresh: true }) },
      )
      // checkChannelStateRequest refused an unknown channel.
      const known = view!
      const stored = await s.gateway.stored(channelId)
      const previous =
        stored?.previous !== undefined && stored.previous.nonce === known.nonce - 1n
          ? stored.previous
          : undefined
      const reply = channelStateReply(known, previous)
      const serviceSignature = await s.signHash(
        serviceStateMessage(
          s.escrow,
          channelId,
          reply.currentNonce,
          reply.currentSignedAmount ?? 0n,
        ),
      )
      return { channelId: channelId.toString(), ...reply, serviceSignature }
    },
  )
  o.extra?.(group)
  const upstreams = o.service?.upstreams ?? []
  if (upstreams.length > 0) mountProxy(group.app, upstreams, o)
  return group
}

/** Thrown when an upstream service does not answer, or answers too late. */
export class UpstreamError extends BaseError {
  override name = 'UpstreamError' as const
  override readonly kind = 'unavailable' as const
}

/** Request headers not forwarded upstream: hop-by-hop, the node's own credentials, the payment. */
const DROPPED_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'authorization',
  'cookie',
  ...PAYMENT_HEADER_NAMES,
])
/** Answer headers not passed back: hop-by-hop, and what fetch already undid (compression). */
const DROPPED_ANSWER = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'set-cookie',
])

/** The headers a `Connection` header names: hop-by-hop too, a proxy drops them (RFC 9110 7.6.1). */
function connectionTokens(connection: string | undefined): Set<string> {
  const tokens = new Set<string>()
  for (const token of (connection ?? '').slice(0, 1000).split(','))
    if (token.trim() !== '') tokens.add(token.trim().toLowerCase())
  return tokens
}

function mountProxy(app: Hono, upstreams: readonly Upstream[], o: ChannelRoutesOptions): void {
  const byName = new Map(upstreams.map((u) => [u.name, u]))
  const proxy = new Hono()
  const forward = async (c: Context) => {
    const name = c.req.param('name') ?? ''
    const upstream = byName.get(name)
    if (upstream === undefined)
      return c.json(
        {
          error: 'NotFoundError',
          message: `There is no upstream "${name.slice(0, 40)}" behind this gateway; see GET /channel for the services.`,
        },
        404,
      )
    const url = new URL(c.req.url)
    const rest = url.pathname.slice(upstreamPath(name).length) || '/'
    const target = `${upstream.url.replace(/\/$/, '')}${rest}${url.search}`
    const headers = new Headers()
    const hop = connectionTokens(c.req.header('connection'))
    for (const [key, value] of Object.entries(c.req.header()))
      if (!DROPPED_REQUEST.has(key.toLowerCase()) && !hop.has(key.toLowerCase()))
        headers.set(key, value)
    const method = c.req.method
    const body =
      method === 'GET' || method === 'HEAD' ? undefined : await readBodyBytes(c, o.bodyLimit)
    let answer: Response
    try {
      answer = await fetch(target, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(upstream.timeoutMs),
      })
    } catch (error) {
      o.logger.warn({ err: error, upstream: name }, 'upstream call failed')
      throw new UpstreamError(
        `The upstream service "${name}" did not answer${error instanceof Error && error.name === 'TimeoutError' ? ` within ${upstream.timeoutMs} ms` : ''}; nothing was charged. Retry later.`,
      )
    }
    const out = new Headers()
    const answerHop = connectionTokens(answer.headers.get('connection') ?? undefined)
    for (const [key, value] of answer.headers)
      if (!DROPPED_ANSWER.has(key.toLowerCase()) && !answerHop.has(key.toLowerCase()))
        out.set(key, value)
    return new Response(answer.body, { status: answer.status, headers: out })
  }
  proxy.all('/:name', forward)
  proxy.all('/:name/*', forward)
  app.route('/call', proxy)
}
