import { type Address, encodePacked, type Hex, keccak256 } from 'viem'
import { z } from 'zod'
import { type PricedRoute, parseRoute } from '../../core/channel/routes.ts'
import { type Upstream, upstreamPath } from './routes.ts'

/** A price in base units: an integer, or a decimal string for amounts past 2^53. */
const price = z
  .union([
    z.string().regex(/^[0-9]{1,78}$/, 'a whole number of base units, as digits'),
    z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  ])
  .transform((p) => BigInt(p))

/** `[domains.channel]` in config.toml: the paid-call gateway, its treasurer and its watch. */
export const channelSettings = z
  .object({
    /** Blocks before a channel's expiration within which payments are refused (snet's threshold). */
    expiration_threshold: z.number().int().min(0).max(10_000_000).default(20),
    /** The group id (bytes32) clients open channels with; derived from the recipient if left out. */
    group_id: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, '0x and 64 hex digits')
      .optional(),
    /** `full`: each payment is fsynced (survives a power cut); `normal`: survives a crash of the process. */
    durability: z.enum(['full', 'normal']).default('full'),
    /** The node's own routes that cost money: `{ route = "GET /feed/*", price = 1 }`. */
    prices: z
      .array(z.object({ route: z.string().min(1).max(220), price }).strict())
      .max(64)
      .default([]),
    /** Services behind the gateway, each served at /channel/call/<name>/… (price 0: free). */
    upstreams: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'a lowercase word (a-z, 0-9, _ -)'),
            url: z
              .string()
              .max(300)
              .regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL'),
            price,
            timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
          })
          .strict(),
      )
      .max(32)
      .default([]),
    /** Largest answer held back until its payment is committed, in bytes. */
    max_answer_bytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    /** Milliseconds the latest block number is reused by the gateway before it reads it again. */
    block_ttl_ms: z.number().int().min(0).max(60_000).default(1000),
    /** Milliseconds between the watch's looks at the channels. */
    watch_interval_ms: z.number().int().min(500).max(3_600_000).default(15_000),
    /** Warn this many blocks before a channel with unclaimed money expires. */
    warn_blocks: z.number().int().min(1).max(10_000_000).default(200),
    /** Claim automatically this many blocks before expiry. */
    claim_blocks: z.number().int().min(1).max(10_000_000).default(50),
    /** Whether the watch claims by itself (else it only warns). */
    auto_claim: z.boolean().default(true),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = new Set<string>()
    for (const [i, u] of s.upstreams.entries()) {
      if (names.has(u.name))
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'name'],
          message: `"${u.name}" is used twice`,
        })
      names.add(u.name)
    }
    for (const [i, p] of s.prices.entries()) {
      try {
        parseRoute(p.route)
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['prices', i, 'route'],
          message: error instanceof Error ? error.message : String(error),
        })
      }
      if (p.price === 0n)
        ctx.addIssue({
          code: 'custom',
          path: ['prices', i, 'price'],
          message: 'a priced route costs at least 1 base unit (leave a free route out)',
        })
    }
  })

export type ChannelSettings = z.infer<typeof channelSettings>

/** The priced routes of the settings: the node's own, then each upstream's. */
export function pricedRoutes(s: ChannelSettings): PricedRoute[] {
  return [
    ...s.prices.map((p) => ({ ...parseRoute(p.route), price: p.price })),
    // An upstream of price 0 is served free, through the same proxy.
    ...s.upstreams
      .filter((u) => u.price > 0n)
      .map((u) => ({ method: '*', path: `${upstreamPath(u.name)}/*`, price: u.price })),
  ]
}

/** The upstreams of the settings. */
export function upstreamsOf(s: ChannelSettings): Upstream[] {
  return s.upstreams.map((u) => ({
    name: u.name,
    url: u.url,
    price: u.price,
    timeoutMs: u.timeout_ms,
  }))
}

/** The group id a service without `group_id` announces: derived from its recipient. */
export function defaultGroupId(recipient: Address): Hex {
  return keccak256(encodePacked(['string', 'address'], ['rwa.channel.group', recipient]))
}
