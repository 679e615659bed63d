import { z } from 'zod'
import { MAX_UINT256 } from '../../core/channel/payment.ts'
import { ForbiddenError } from '../../http/errors.ts'
import type { RouteGroupBuilder } from '../../http/route-group.ts'
import { addressWire, amountWire, hexWire, txWire } from '../../http/wire.ts'
import { type LocalAccount, OPERATOR } from '../../node/accounts.ts'
import type { ClaimResult, Treasurer } from './types.ts'
import { MAX_CLAIM_CHANNELS, MAX_EXPIRING_WITHIN } from './types.ts'

// The treasurer's routes (issue 21), for the node's operator: the service's channels and escrow
// balance, and claims. The lead mounts them in the `/channel` group: `/channel/channels` and
// `/channel/claim`. Bigints travel as decimal strings.

const uintWire = z.string().regex(/^\d+$/).describe('A uint256 as a decimal string.')
const signedWire = z
  .string()
  .regex(/^-?\d+$/)
  .describe('A signed integer as a decimal string.')

/** One channel, as `GET /channel/channels` lists it. */
export const channelRowWire = z.object({
  channelId: uintWire,
  sender: addressWire,
  signer: addressWire,
  recipient: addressWire,
  groupId: hexWire.describe('The service group (32 bytes).'),
  chainNonce: uintWire.describe("The channel's nonce on chain."),
  value: amountWire.describe('Tokens in the channel on chain.'),
  expiration: uintWire.describe('The block from which the sender may take the value back.'),
  blocksLeft: signedWire.describe('Blocks until the expiration; negative once expired.'),
  nonce: uintWire.describe("The service's nonce: the chain's, or one past it while claiming."),
  authorised: amountWire.describe('Signed and committed at `nonce`, not claimed yet.'),
  claiming: z
    .object({ nonce: uintWire, amount: amountWire })
    .optional()
    .describe('A claim started and not yet seen on chain.'),
  unclaimed: amountWire.describe('Money signed to the service and not claimed yet.'),
  busy: z.boolean().describe('Whether a paid call is in progress on the channel.'),
})

/** The treasurer's overview: the service's escrow balance and channels. */
export const channelsOverviewWire = z
  .object({
    escrow: addressWire,
    recipient: addressWire.describe("The service's recipient (the operator's Ethereum key)."),
    token: z.object({
      address: z.string(),
      symbol: z.string().nullable(),
      decimals: z.number().int().nullable(),
    }),
    currentBlock: uintWire,
    balance: amountWire.describe("The recipient's balance in the escrow: claimed, to withdraw."),
    channels: z.array(channelRowWire).describe('Nearest expiry first.'),
  })
  .describe("The service's escrow balance and channels.")

/** What a claim did. */
export const claimResultWire = z
  .object({
    claimed: z.array(z.object({ channelId: uintWire, nonce: uintWire, amount: amountWire })),
    transactions: z.array(z.object({ tx: txWire, gasUsed: uintWire })),
    skipped: z.array(z.object({ channelId: uintWire, reason: z.string() })),
  })
  .describe('The channels claimed, the transactions sent, and the channels skipped with why.')

const channelIdInput = z
  .string()
  .refine(
    (id) => /^\d{1,78}$/.test(id) && BigInt(id) <= MAX_UINT256,
    'a channel id is a decimal number below 2^256',
  )

/** The body of `POST /channel/claim`: exactly one of `channels`, `all`, `expiringWithin`. */
export const claimBody = z
  .object({
    channels: z
      .array(channelIdInput)
      .min(1)
      .max(MAX_CLAIM_CHANNELS)
      .optional()
      .describe('Claim these channels.'),
    all: z.literal(true).optional().describe('Claim every channel with money unclaimed.'),
    expiringWithin: z
      .number()
      .int()
      .min(0)
      .max(MAX_EXPIRING_WITHIN)
      .optional()
      .describe('Claim the channels with money unclaimed that expire within this many blocks.'),
  })
  .strict()
  .refine(
    (b) => [b.channels, b.all, b.expiringWithin].filter((v) => v !== undefined).length === 1,
    'give exactly one of "channels", "all" and "expiringWithin"',
  )

const operatorOnly = (account: LocalAccount, what: string) => {
  if (account.name !== OPERATOR)
    throw new ForbiddenError(`Only the operator account may ${what}; use its token.`)
}

/** Adds `GET /channels` and `POST /claim` (operator only) to the channel plug-in's route group. */
export function addTreasurerRoutes(group: RouteGroupBuilder, treasurer: Treasurer): void {
  group.route(
    {
      method: 'get',
      path: '/channels',
      summary:
        "The service's channels (value, authorised and unclaimed amounts, blocks to expiry; nearest expiry first) and its escrow balance. Operator only.",
      tag: 'channel',
      auth: true,
      response: channelsOverviewWire,
      errors: [503],
    },
    async (_c, account) => {
      operatorOnly(account, 'list the channels')
      return treasurer.list()
    },
  )
  group.route(
    {
      method: 'post',
      path: '/claim',
      summary:
        'Claim channels on chain with multiChannelClaim, nearest expiry first: the ones named, all, or those expiring within a number of blocks. Operator only.',
      tag: 'channel',
      auth: true,
      body: claimBody,
      response: claimResultWire,
      errors: [503],
    },
    async (c, account) => {
      operatorOnly(account, 'claim channels')
      const body = await group.body(c, claimBody)
      return claimOf(treasurer, body)
    },
  )
}

function claimOf(treasurer: Treasurer, body: z.infer<typeof claimBody>): Promise<ClaimResult> {
  if (body.channels !== undefined) return treasurer.claim(body.channels.map((id) => BigInt(id)))
  if (body.expiringWithin !== undefined) return treasurer.claimExpiring(BigInt(body.expiringWithin))
  return treasurer.claimAll()
}

export { MAX_CLAIM_CHANNELS, MAX_EXPIRING_WITHIN }
