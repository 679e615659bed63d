import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'

// The feed domain's op types and bodies (specs/feeds.md). A feed is one document: its genesis
// (by the feed's owner) names the pair, its parameters, the oracles that may attest and the nodes
// whose signatures make a report. Oracles attest prices independently: attestations are a
// grow-only set, one per oracle per window, aggregated by anyone from the log. Signer nodes sign
// each closed window's report for the chain; the owner's changes form the control chain, so
// every op is judged on the registry of its own causal past.

/** Thrown for a feed op its author may not sign (an unregistered oracle, a stranger's change). */
export class FeedForbiddenError extends BaseError {
  override name = 'FeedForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for a feed op refused in the feed's state (stale, from the future, a duplicate). */
export class FeedRefusedError extends BaseError {
  override name = 'FeedRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown for a feed op whose body breaks a rule no state can fix (too few sources, a bad price). */
export class InvalidFeedInputError extends BaseError {
  override name = 'InvalidFeedInputError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown for a reference that names no feed. */
export class FeedNotFoundError extends BaseError {
  override name = 'FeedNotFoundError' as const
  override readonly kind = 'not-found' as const
}

export const FEED_OP = {
  create: 'feed.create',
  addOracle: 'feed.oracle.add',
  removeOracle: 'feed.oracle.remove',
  setSigners: 'feed.signers.set',
  setChain: 'feed.chain.set',
  setParams: 'feed.params.set',
  attest: 'feed.attest',
  signReport: 'feed.report.sign',
  posted: 'feed.report.posted',
  clock: 'feed.clock',
} as const

/** The owner's changes: they form the control chain. */
export const OWNER_OPS: ReadonlySet<string> = new Set([
  FEED_OP.addOracle,
  FEED_OP.removeOracle,
  FEED_OP.setSigners,
  FEED_OP.setChain,
  FEED_OP.setParams,
])

/** How far ahead of its causal clock an attestation's timestamp may be. */
export const MAX_AHEAD_MS = 60_000
/** The most oracles and signers a feed names. */
export const MAX_ORACLES = 256
export const MAX_SIGNERS = 64
/** The most sources an attestation lists. */
export const MAX_SOURCES = 16
/** The most decimals a feed's prices have (as Chainlink's ETH-quoted feeds). */
export const MAX_DECIMALS = 18
/** The largest absolute price: an int192 on chain. */
export const MAX_PRICE = (1n << 191n) - 1n

const key = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('Ed25519 public key, 64 lowercase hex digits')
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/)
  .describe('an Ethereum address')
const hash32 = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/)
  .describe('32 bytes, 0x-prefixed lowercase hex')
const price = z
  .string()
  .regex(/^-?(0|[1-9][0-9]{0,57})$/)
  .describe("an integer: the price scaled by the feed's decimals")
const volume = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .describe('a non-negative integer, in the source’s own units')
const time = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe('ms since the epoch')
const windowIndex = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe('a window: floor(timestamp / window length)')
const chainId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)
const signer = z
  .object({
    key: key.describe("the node's Ed25519 op key (it signs feed.report.sign)"),
    address: address.describe('its report-signing Ethereum address'),
  })
  .strict()
const signers = z.array(signer).min(1).max(MAX_SIGNERS)
const threshold = z.number().int().min(1).max(MAX_SIGNERS)
const chain = z.object({ chainId, aggregator: address }).strict()

const params = {
  heartbeat: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .describe('seconds: a report is posted at least this often'),
  deviation: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .describe('ppm: a report is posted when the answer moves this much'),
  minSources: z.number().int().min(1).max(MAX_SOURCES).describe('sources an attestation needs'),
  minObservations: z
    .number()
    .int()
    .min(1)
    .max(MAX_ORACLES)
    .describe('counted attestations a window needs before its report may be signed (default 1)'),
  maxAge: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .describe('seconds: how old an attestation may be, against its causal clock'),
}

export const createBody = z
  .object({
    pair: z
      .string()
      .regex(/^[A-Za-z0-9.\-_]{1,20}\/[A-Za-z0-9.\-_]{1,20}$/)
      .describe('the asset pair, BASE/QUOTE (ETH/USD)'),
    description: z.string().max(200).optional(),
    decimals: z.number().int().min(0).max(MAX_DECIMALS),
    window: z.number().int().min(1).max(3600).describe('seconds per aggregation window'),
    ...params,
    minObservations: params.minObservations.optional(),
    oracles: z.array(key).max(MAX_ORACLES),
    signers,
    threshold,
    chain: chain.optional(),
  })
  .strict()

const source = z
  .object({
    name: z.string().min(1).max(64),
    price,
    volume,
    timestamp: time,
  })
  .strict()

export const attestBody = z
  .object({
    price,
    confidence: z.number().int().min(0).max(100),
    timestamp: time,
    sources: z.array(source).max(MAX_SOURCES),
    proof: z
      .object({
        kind: z.enum(['tls', 'signed', 'onchain', 'simulated']),
        ref: z.string().max(256),
      })
      .strict(),
  })
  .strict()

export const signReportBody = z
  .object({
    window: windowIndex,
    answer: price,
    observations: z.number().int().min(1).max(0xffff_ffff),
    idsHash: hash32,
    chainId,
    aggregator: address,
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  })
  .strict()

export const BODIES = {
  [FEED_OP.create]: createBody,
  [FEED_OP.addOracle]: z.object({ oracle: key }).strict(),
  [FEED_OP.removeOracle]: z.object({ oracle: key }).strict(),
  [FEED_OP.setSigners]: z.object({ signers, threshold }).strict(),
  [FEED_OP.setChain]: chain,
  [FEED_OP.setParams]: z
    .object({
      heartbeat: params.heartbeat.optional(),
      deviation: params.deviation.optional(),
      minSources: params.minSources.optional(),
      minObservations: params.minObservations.optional(),
      maxAge: params.maxAge.optional(),
    })
    .strict(),
  [FEED_OP.attest]: attestBody,
  [FEED_OP.signReport]: signReportBody,
  [FEED_OP.clock]: z.object({}).strict(),
  [FEED_OP.posted]: z
    .object({
      window: windowIndex,
      round: z.string().regex(/^[1-9][0-9]{0,24}$/),
      tx: hash32,
      chainId,
      aggregator: address,
    })
    .strict(),
} as const

export type CreateBody = z.infer<typeof createBody>
export type AttestBody = z.infer<typeof attestBody>
export type SignReportBody = z.infer<typeof signReportBody>
export type SignerEntry = z.infer<typeof signer>

/** The summary of each op type, for `/openapi.json` and `rwa ops`. */
export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [FEED_OP.create]:
    'Starts a feed: its pair, decimals, window, oracles, and the signer nodes of its reports.',
  [FEED_OP.addOracle]: 'The owner registers an oracle key.',
  [FEED_OP.removeOracle]: 'The owner removes an oracle: its later attestations are refused.',
  [FEED_OP.setSigners]: 'The owner replaces the report signers and the threshold (≥ f+1, n > 3f).',
  [FEED_OP.setChain]: 'The owner names the chain and aggregator contract reports are signed for.',
  [FEED_OP.setParams]:
    'The owner changes the heartbeat, deviation, minimum sources or maximum age.',
  [FEED_OP.attest]: 'A registered oracle attests a price with its sources, once per window.',
  [FEED_OP.signReport]: "A signer node signs a closed window's report for the aggregator contract.",
  [FEED_OP.posted]: 'A signer node records the transaction that posted a report on chain.',
  [FEED_OP.clock]:
    "A signer node's clock tick: the feed's clock reads the threshold-th latest signer time an op has seen.",
}
