import {
  type Address,
  encodeAbiParameters,
  getAddress,
  type Hex,
  hexToBytes,
  isAddress,
  isHex,
  keccak256,
  stringToBytes,
} from 'viem'
import { BaseError } from '../../errors/base.ts'
import { recoverDigestSigner } from '../identity.ts'

// A feed report as FeedAggregator (contracts/FeedAggregator.sol) checks it: `reportDigest` and
// `transmit` there compute exactly what `feedReportDigest` computes here.

/** One aggregation window's report, as a threshold of signer nodes signs it. */
export type FeedReport = {
  /** The window's number: floor(timestampMs / (windowSeconds × 1000)); a uint64. */
  window: bigint
  /** The window's weighted median, scaled by the feed's decimals; an int192. */
  answer: bigint
  /** How many attestations the window counted; a uint32. */
  observations: number
  /** The window's start, seconds since the epoch (window × windowSeconds). */
  windowStart: bigint
  /** The window's end, seconds since the epoch ((window + 1) × windowSeconds). */
  windowEnd: bigint
  /** `attestationIdsHash` of the contributing attestations. */
  idsHash: Hex
}

/** Thrown when a feed report, a signature or a signer set breaks a rule of the report format. */
export class FeedReportError extends BaseError {
  override name = 'FeedReportError' as const
  override readonly kind = 'invalid' as const
}

const UINT64_MAX = 2n ** 64n - 1n
const INT192_MAX = 2n ** 191n - 1n
const INT192_MIN = -(2n ** 191n)
const UINT32_MAX = 2 ** 32 - 1

/** keccak256("rwa.feed.report.v1"): the digest's first word, so no other message collides. */
export const FEED_REPORT_TYPEHASH: Hex = keccak256(stringToBytes('rwa.feed.report.v1'))

/**
 * Checks that a report's fields fit their on-chain types and that its window is not empty.
 * @throws FeedReportError naming the field.
 */
export function assertFeedReport(report: FeedReport): void {
  const { window, answer, observations, windowStart, windowEnd, idsHash } = report
  const uint64 = (name: string, value: bigint) => {
    if (typeof value !== 'bigint' || value < 0n || value > UINT64_MAX)
      throw new FeedReportError(
        `The report's ${name} "${String(value)}" is not a uint64; give a bigint from 0 to 2^64 - 1.`,
      )
  }
  uint64('window', window)
  uint64('windowStart', windowStart)
  uint64('windowEnd', windowEnd)
  if (typeof answer !== 'bigint' || answer < INT192_MIN || answer > INT192_MAX)
    throw new FeedReportError(
      `The report's answer "${String(answer)}" does not fit an int192; give a bigint within ±2^191.`,
    )
  if (!Number.isInteger(observations) || observations < 0 || observations > UINT32_MAX)
    throw new FeedReportError(
      `The report's observations "${String(observations)}" is not a uint32 count; give an integer from 0.`,
    )
  if (windowStart >= windowEnd)
    throw new FeedReportError(
      `The report's window [${windowStart}, ${windowEnd}) is empty; windowEnd must be after windowStart.`,
    )
  if (!isHex(idsHash, { strict: true }) || idsHash.length !== 66)
    throw new FeedReportError(
      `The report's idsHash "${String(idsHash).slice(0, 80)}" is not 32 bytes; use attestationIdsHash(ids).`,
    )
}

/**
 * The digest a signer node signs (raw ECDSA, no EIP-191 prefix) for a report on one chain and
 * one aggregator:
 * keccak256(abi.encode(FEED_REPORT_TYPEHASH, uint256 chainId, address aggregator, uint64 window,
 * int192 answer, uint32 observations, uint64 windowStart, uint64 windowEnd, bytes32 idsHash)).
 * @throws FeedReportError when a field does not fit, or the chain id or aggregator is malformed.
 * @example const digest = feedReportDigest(report, 31337, aggregator)
 */
export function feedReportDigest(report: FeedReport, chainId: number, aggregator: Address): Hex {
  assertFeedReport(report)
  if (!Number.isSafeInteger(chainId) || chainId <= 0)
    throw new FeedReportError(
      `The chain id "${String(chainId)}" is not a positive integer; give the chain's EIP-155 id.`,
    )
  if (!isAddress(aggregator, { strict: false }))
    throw new FeedReportError(
      `The aggregator "${String(aggregator).slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'uint64' },
        { type: 'int192' },
        { type: 'uint32' },
        { type: 'uint64' },
        { type: 'uint64' },
        { type: 'bytes32' },
      ],
      [
        FEED_REPORT_TYPEHASH,
        BigInt(chainId),
        aggregator,
        report.window,
        report.answer,
        report.observations,
        report.windowStart,
        report.windowEnd,
        report.idsHash,
      ],
    ),
  )
}

/**
 * The address that signed a report digest (a 65-byte r ‖ s ‖ v signature; high s accepted, as
 * the aggregator's compact signatures make either form the same signature).
 * @throws FeedReportError when the signature is malformed or recovers no key.
 */
export function recoverReportSigner(digest: Hex, signature: Hex): Address {
  if (!isHex(digest, { strict: true }) || digest.length !== 66)
    throw new FeedReportError(
      `The digest "${String(digest).slice(0, 80)}" is not 32 bytes; use feedReportDigest(report, chainId, aggregator).`,
    )
  const signer = isHex(signature, { strict: true })
    ? recoverDigestSigner(hexToBytes(digest), signature)
    : undefined
  if (!signer)
    throw new FeedReportError(
      `The report signature "${String(signature).slice(0, 140)}" is not a valid 65-byte secp256k1 signature (r ‖ s ‖ v) of the digest.`,
    )
  return signer
}

/**
 * The hash of a window's contributing attestations: keccak256 of their op ids, sorted, joined by
 * "\n" (UTF-8). Ids are hashed as given; a window counts each attestation once.
 */
export function attestationIdsHash(ids: readonly string[]): Hex {
  return keccak256(stringToBytes([...ids].sort().join('\n')))
}

/**
 * Whether `threshold` signatures of `n` signers are allowed: 1 ≤ threshold ≤ n and
 * threshold ≥ f + 1 where f = floor((n − 1) / 3), the most faulty signers n tolerates (n > 3f).
 * OCR's f + 1 is the least; a stricter threshold is allowed (2 of 3).
 * @example thresholdAllowed(4, 2) // true; thresholdAllowed(4, 1) // false
 */
export function thresholdAllowed(n: number, threshold: number): boolean {
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(threshold) || n < 1) return false
  return threshold >= 1 && threshold <= n && threshold >= Math.floor((n - 1) / 3) + 1
}

/**
 * Checks a signer set for the aggregator: addresses, no duplicates, and the threshold rule.
 * @throws FeedReportError naming what is wrong.
 */
export function assertSignerSet(signers: readonly string[], threshold: number): Address[] {
  if (signers.length === 0)
    throw new FeedReportError('The signer set is empty; give at least one signer address.')
  const seen = new Set<string>()
  const addresses = signers.map((signer, i) => {
    if (!isAddress(signer, { strict: false }) || BigInt(signer) === 0n)
      throw new FeedReportError(
        `Signer ${i} "${String(signer).slice(0, 80)}" is not a non-zero address; give 0x and 40 hex digits.`,
      )
    const address = getAddress(signer)
    if (seen.has(address))
      throw new FeedReportError(
        `Signer "${address}" is listed twice; list each signer address once.`,
      )
    seen.add(address)
    return address
  })
  if (!thresholdAllowed(addresses.length, threshold)) {
    const n = addresses.length
    const least = Math.floor((n - 1) / 3) + 1
    throw new FeedReportError(
      `Threshold "${threshold}" is not allowed for ${n} signers; give an integer from ${least} (f + 1, f = floor((n - 1) / 3)) to ${n}.`,
    )
  }
  return addresses
}
