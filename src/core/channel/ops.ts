import { isAddress } from 'viem'
import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'
import { MAX_ROUTE, parseRoute, routeText } from './routes.ts'

// The channel domain's op types and bodies: a service offer, as SingularityNET's service
// metadata publishes one. The genesis (by the service's operator) names the service, the
// MultiPartyEscrow it is paid through, the recipient and payment group of its channels, and its
// price per route; the operator's later changes (`channel.update`, `channel.retire`) form the
// control chain, so every op is judged on the offer of its own causal past.

/** Thrown for a channel op its author may not sign (anyone but the offer's operator). */
export class ChannelForbiddenError extends BaseError {
  override name = 'ChannelForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for a channel op refused in the offer's state (retired, a concurrent change). */
export class ChannelRefusedError extends BaseError {
  override name = 'ChannelRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown for a channel op whose body breaks a rule no state can fix (a bad address or price). */
export class InvalidChannelInputError extends BaseError {
  override name = 'InvalidChannelInputError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown for a reference that names no service offer. */
export class ChannelNotFoundError extends BaseError {
  override name = 'ChannelNotFoundError' as const
  override readonly kind = 'not-found' as const
}

export const CHANNEL_OP = {
  create: 'channel.create',
  update: 'channel.update',
  retire: 'channel.retire',
} as const

/** The operator's changes: they form the control chain. */
export const OWNER_OPS: ReadonlySet<string> = new Set([CHANNEL_OP.update, CHANNEL_OP.retire])

/** Longest service name. */
export const MAX_NAME = 80
/** The most priced routes an offer lists. */
export const MAX_PRICES = 64
/** Longest endpoint URL. */
export const MAX_ENDPOINT = 300
/** The largest price: a uint256, as the escrow's channel values. */
export const MAX_PRICE = 2n ** 256n - 1n

/** Control characters: names and routes are printed to terminals and chats as they are. */
const CONTROL = /\p{Cc}/u
/** A route in its one canonical spelling (`routes.ts`): "GET /feed/*", "* /call/echo/*". */
const isCanonicalRoute = (v: string) => {
  try {
    return routeText(parseRoute(v)) === v
  } catch {
    return false
  }
}

const isEvmAddress = (v: string) => isAddress(v, { strict: true }) && BigInt(v) !== 0n

const address = z.string().refine(isEvmAddress, {
  message:
    'must be a non-zero EVM address: 0x and 40 hex digits, mixed case only with a valid EIP-55 checksum',
})

const name = z
  .string()
  .min(1, { message: `must have 1 to ${MAX_NAME} characters` })
  .max(MAX_NAME, { message: `must have 1 to ${MAX_NAME} characters` })
  .refine((v) => v.trim() === v && !CONTROL.test(v), {
    message: 'must not start or end with spaces, nor contain control characters',
  })
  .describe('the service name, 1–80 characters')

const groupId = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, { message: 'must be 0x and 64 hex digits (32 bytes)' })
  .describe("the payment group's id, 32 bytes as 0x and 64 hex digits")

const chainId = z
  .number()
  .int({ message: 'must be an integer' })
  .min(1, { message: 'must be at least 1' })
  .max(Number.MAX_SAFE_INTEGER)
  .describe('the EIP-155 id of the escrow’s chain')

const expirationThreshold = z
  .number()
  .int({ message: 'must be an integer number of blocks' })
  .min(0, { message: 'must not be negative' })
  .max(Number.MAX_SAFE_INTEGER)
  .describe('blocks a channel must outlive the current block by for a call to be accepted')

const route = z
  .string()
  .min(1, { message: `must have 1 to ${MAX_ROUTE} characters` })
  .max(MAX_ROUTE, { message: `must have 1 to ${MAX_ROUTE} characters` })
  .refine(isCanonicalRoute, {
    message:
      'must be an upper-case HTTP method (or "*"), one space and a path from "/", exact or ending in "/*", such as "GET /feed/*"',
  })
  .describe('a method and path pattern: "GET /feed/*", "* /call/echo/*"')

const price = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/, {
    message: 'must be a decimal integer of base units without sign, spaces or leading zeros',
    abort: true,
  })
  .refine((v) => /^[0-9]{1,78}$/.test(v) && BigInt(v) <= MAX_PRICE, {
    message: 'must fit a uint256',
  })
  .describe('the price of one call, in base units of the escrow’s token (a decimal uint256)')

const prices = z
  .array(z.object({ route, price }).strict())
  .max(MAX_PRICES, { message: `may list at most ${MAX_PRICES} routes` })
  // Total on any input: zod may run a refinement after an element's own issues.
  .refine((list) => new Set(list.map((p) => p?.route)).size === list.length, {
    message: 'must list each route once',
  })
  .describe('the price per route, each route once')

/** Whether `v` is an absolute http(s) URL without credentials, spaces or control characters. */
function isEndpoint(v: string): boolean {
  if (!/^https?:\/\/[^\s\p{Cc}]+$/iu.test(v)) return false
  let url: URL
  try {
    url = new URL(v)
  } catch {
    return false
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === ''
  )
}

const endpoint = z
  .string()
  .max(MAX_ENDPOINT, { message: `must have at most ${MAX_ENDPOINT} characters` })
  .refine(isEndpoint, {
    message: 'must be an http(s) URL with a host, without credentials or spaces',
  })
  .describe('where the service answers: an http(s) URL')

export const createBody = z
  .object({
    name,
    recipient: address.describe('who claims the channels: their EVM address'),
    groupId,
    escrow: address.describe('the MultiPartyEscrow contract’s address'),
    chainId,
    expirationThreshold,
    prices,
    endpoint: endpoint.optional(),
  })
  .strict()

export const updateBody = z
  .object({
    prices: prices.optional(),
    endpoint: endpoint.nullable().optional().describe('the new endpoint, or null to remove it'),
    expirationThreshold: expirationThreshold.optional(),
    groupId: groupId.optional(),
    recipient: address.optional(),
  })
  .strict()
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message:
      'must change at least one of prices, endpoint, expirationThreshold, groupId, recipient',
  })

export const retireBody = z.object({}).strict()

export const BODIES = {
  [CHANNEL_OP.create]: createBody,
  [CHANNEL_OP.update]: updateBody,
  [CHANNEL_OP.retire]: retireBody,
} as const

export type CreateBody = z.infer<typeof createBody>
export type UpdateBody = z.infer<typeof updateBody>

/** The summary of each op type, for `/openapi.json` and `rwa ops`. */
export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [CHANNEL_OP.create]:
    "Publishes a service offer: its name, escrow, recipient, payment group and price per route (by the service's operator).",
  [CHANNEL_OP.update]:
    'The operator changes the prices, endpoint, expiration threshold, payment group or recipient.',
  [CHANNEL_OP.retire]: 'The operator withdraws the offer: no later op of it counts.',
}

export { MAX_ROUTE }
