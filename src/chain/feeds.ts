import {
  type Address,
  concatHex,
  getAddress,
  type Hex,
  hexToBytes,
  isHex,
  numberToHex,
  type PublicClient,
  parseEventLogs,
  toHex,
} from 'viem'
import {
  assertFeedReport,
  assertSignerSet,
  type FeedReport,
  FeedReportError,
  feedReportDigest,
  recoverReportSigner,
} from '../core/feed/report.ts'
import { BaseError } from '../errors/base.ts'
import { feedAggregatorAbi, feedAggregatorBytecode } from './artifacts.ts'
import { ChainError } from './errors.ts'
import type { Wallet } from './escrow.ts'
import { contractFailure } from './payments.ts'

export {
  assertFeedReport,
  attestationIdsHash,
  type FeedReport,
  FeedReportError,
  feedReportDigest,
  recoverReportSigner,
  thresholdAllowed,
} from '../core/feed/report.ts'

/** The most signers an aggregator takes (FeedAggregator.MAX_SIGNERS). */
export const MAX_FEED_SIGNERS = 64
/** The longest description `deployFeedAggregator` sends, in characters. */
export const MAX_FEED_DESCRIPTION = 256
const UINT32_MAX = 2 ** 32 - 1
/** secp256k1's group order: s and n − s sign the same digest with opposite y parity. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** Thrown when a FeedAggregator refuses a call; `reason` is the contract's error name. */
export class FeedAggregatorError extends BaseError {
  override name = 'FeedAggregatorError' as const
  override readonly kind = 'conflict' as const
  /** The contract's custom error (e.g. "OldReport", "StaleReport"), or "Reverted". */
  readonly reason: string
  constructor(shortMessage: string, { reason, cause }: { reason: string; cause?: unknown }) {
    super(shortMessage, { cause })
    this.reason = reason
  }
}

/** Thrown when no aggregator is at an address (no contract, or one without its functions). */
export class FeedAggregatorNotFoundError extends BaseError {
  override name = 'FeedAggregatorNotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** What FeedAggregator's custom errors mean, with their arguments as {0}, {1}, {2}. */
const REFUSALS: Record<string, string> = {
  NotOwner: '{0} is not its owner',
  ZeroAddress: 'the new owner is the zero address',
  InvalidDecimals: 'decimals {0} is above 18',
  InvalidMaxReportAge: 'a maximum report age of {0} s is not positive',
  TooManySigners: '{0} signers are more than its {1}',
  InvalidThreshold:
    'threshold {0} is not allowed for {1} signers (f + 1 ≤ threshold ≤ n, f = floor((n − 1) / 3))',
  InvalidSignerAddress: 'signer {0} is the zero address',
  DuplicateSignerAddress: 'signer {0} is listed twice',
  MalformedSignatures: 'the signatures ({0} bytes) are not 65-byte entries',
  TooFewSignatures: 'it has {0} signatures and needs {1}',
  SignerIndexOutOfRange: 'signature {0} names signer index {1}, beyond the signer set',
  DuplicateSigner: 'signature {0} repeats signer index {1}',
  SignatureMismatch:
    'signature {0} recovers to {1}, not to the signer it names (another chain, aggregator or report?)',
  OldReport: 'window {0} is not after the latest accepted window {1}',
  StaleReport: 'the window ended at {0}, more than {1} s before the block time {2}',
  InvalidWindowBounds: 'the window bounds [{0}, {1}) are empty or beyond 2106',
  NoObservations: 'the report counts no observations',
  NoDataPresent: 'round {0} has no data',
  ConfigDeployFailed: 'its signer-set contract could not be created',
}

/** A FeedAggregator refusal as a FeedAggregatorError; other chain failures as chainFailure says. */
const feedFailure = (error: unknown, doing: string, address?: Address): BaseError =>
  contractFailure(
    error,
    doing,
    {
      words: REFUSALS,
      notFound: (message, cause) => new FeedAggregatorNotFoundError(message, { cause }),
      refused: (message, reason, cause) => new FeedAggregatorError(message, { reason, cause }),
    },
    'FeedAggregator',
    address,
  )

/** Runs a chain action, turning its failure into a named error. */
async function attempt<T>(doing: string, run: () => Promise<T>, address?: Address): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw feedFailure(error, doing, address)
  }
}

/** What `deployFeedAggregator` needs: the feed's unit and name, and its signers. */
export type FeedAggregatorParams = {
  /** Decimals of the answers, 0–18. */
  decimals: number
  /** What the feed measures, e.g. "ETH / USD"; at most MAX_FEED_DESCRIPTION characters. */
  description: string
  /** The signers' EVM addresses; signer i signs with index i. */
  signers: readonly Address[]
  /** Signatures a report needs: f + 1 ≤ threshold ≤ n. */
  threshold: number
  /** Seconds after its window ends that a report may still be accepted (1 to 2^32 − 1). */
  maxReportAge: number
}

function assertMaxReportAge(maxReportAge: number): void {
  if (!Number.isInteger(maxReportAge) || maxReportAge < 1 || maxReportAge > UINT32_MAX)
    throw new FeedReportError(
      `The maximum report age "${String(maxReportAge)}" is not a whole number of seconds from 1 to 2^32 - 1.`,
    )
}

function assertSigners(signers: readonly Address[], threshold: number): Address[] {
  const addresses = assertSignerSet(signers, threshold)
  if (addresses.length > MAX_FEED_SIGNERS)
    throw new FeedReportError(
      `${addresses.length} signers are more than an aggregator takes (${MAX_FEED_SIGNERS}); register fewer.`,
    )
  return addresses
}

async function mined(client: PublicClient, hash: Hex, doing: string) {
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success')
    throw new FeedAggregatorError(`The transaction to ${doing} (${hash}) reverted.`, {
      reason: 'Reverted',
    })
  return receipt
}

/**
 * Deploys a FeedAggregator; the wallet's account becomes its owner.
 * @throws FeedReportError on bad parameters (checked first); FeedAggregatorError or ChainError from the chain.
 * @example const aggregator = await deployFeedAggregator(wallet, client, { decimals: 8, description: 'ETH / USD', signers, threshold: 2, maxReportAge: 3600 })
 */
export async function deployFeedAggregator(
  wallet: Wallet,
  client: PublicClient,
  { decimals, description, signers, threshold, maxReportAge }: FeedAggregatorParams,
): Promise<Address> {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18)
    throw new FeedReportError(
      `Decimals "${String(decimals)}" is not allowed; give an integer from 0 to 18.`,
    )
  if (typeof description !== 'string' || description.length > MAX_FEED_DESCRIPTION)
    throw new FeedReportError(
      `The description is not a string of at most ${MAX_FEED_DESCRIPTION} characters; shorten it.`,
    )
  assertMaxReportAge(maxReportAge)
  const addresses = assertSigners(signers, threshold)
  return attempt(
    'be deployed',
    async () => {
      const hash = await wallet.deployContract({
        abi: feedAggregatorAbi,
        bytecode: feedAggregatorBytecode,
        args: [decimals, description, addresses, threshold, maxReportAge],
      })
      const receipt = await mined(client, hash, 'deploy the aggregator')
      if (!receipt.contractAddress)
        throw new ChainError(
          `Deployment ${hash} created no contract; check the chain at the RPC URL.`,
        )
      return getAddress(receipt.contractAddress)
    },
    wallet.account.address,
  )
}

/**
 * Replaces an aggregator's signer set and threshold (owner only); returns the transaction hash.
 * @throws FeedReportError on a bad set (checked first); FeedAggregatorError (e.g. NotOwner) from the contract.
 */
export async function setFeedSigners(
  wallet: Wallet,
  client: PublicClient,
  aggregator: Address,
  signers: readonly Address[],
  threshold: number,
): Promise<Hex> {
  const addresses = assertSigners(signers, threshold)
  return write(wallet, client, aggregator, 'setSigners', [addresses, threshold], 'set its signers')
}

/** Sets how long after its window ends a report is accepted, in seconds (owner only). */
export async function setFeedMaxReportAge(
  wallet: Wallet,
  client: PublicClient,
  aggregator: Address,
  maxReportAge: number,
): Promise<Hex> {
  assertMaxReportAge(maxReportAge)
  return write(
    wallet,
    client,
    aggregator,
    'setMaxReportAge',
    [maxReportAge],
    'set its maximum report age',
  )
}

async function write(
  wallet: Wallet,
  client: PublicClient,
  aggregator: Address,
  functionName: 'setSigners' | 'setMaxReportAge',
  args: readonly unknown[],
  doing: string,
): Promise<Hex> {
  return attempt(
    doing,
    async () => {
      const { request } = await client.simulateContract({
        account: wallet.account,
        address: aggregator,
        abi: feedAggregatorAbi,
        functionName,
        args,
      } as Parameters<PublicClient['simulateContract']>[0])
      const hash = await wallet.writeContract(request as Parameters<Wallet['writeContract']>[0])
      await mined(client, hash, doing)
      return hash
    },
    wallet.account.address,
  )
}

/** One signature as `transmit` takes it: the signer's index in the aggregator's set and its 65 bytes. */
export type IndexedSignature = { index: number; signature: Hex }

/**
 * A 65-byte r ‖ s ‖ v signature as EIP-2098's 64 bytes r ‖ yParityAndS, with s made low (s and
 * n − s are the same signature with the other parity).
 * @throws FeedReportError when it is not 65 bytes with v in {0, 1, 27, 28}.
 */
export function compactSignature(signature: Hex): Hex {
  const bytes = isHex(signature, { strict: true }) ? hexToBytes(signature) : new Uint8Array()
  const v = bytes[64]
  if (bytes.length !== 65 || v === undefined || ![0, 1, 27, 28].includes(v))
    throw new FeedReportError(
      `The signature "${String(signature).slice(0, 140)}" is not 65 bytes r ‖ s ‖ v; give a secp256k1 signature of the report digest.`,
    )
  let parity = BigInt(v >= 27 ? v - 27 : v)
  let s = BigInt(toHex(bytes.subarray(32, 64)))
  if (s > SECP256K1_N / 2n) {
    s = SECP256K1_N - s
    parity ^= 1n
  }
  return concatHex([toHex(bytes.subarray(0, 32)), numberToHex((parity << 255n) | s, { size: 32 })])
}

/**
 * The `signatures` argument of FeedAggregator.transmit: per signature, r ‖ yParityAndS ‖ index
 * (65 bytes), in the order given.
 * @throws FeedReportError on a bad index or signature.
 */
export function encodeReportSignatures(signatures: readonly IndexedSignature[]): Hex {
  return concatHex(
    signatures.map(({ index, signature }) => {
      if (!Number.isInteger(index) || index < 0 || index > 255)
        throw new FeedReportError(
          `The signer index "${String(index)}" is not a byte; give the signer's position in the aggregator's set.`,
        )
      return concatHex([compactSignature(signature), numberToHex(index, { size: 1 })])
    }),
  )
}

/** The contract's form of a report (its tuple argument). */
function reportArgument(report: FeedReport) {
  return {
    window: report.window,
    answer: report.answer,
    observations: report.observations,
    windowStart: report.windowStart,
    windowEnd: report.windowEnd,
    idsHash: report.idsHash,
  }
}

/** Thrown when too few of a report's signatures are by distinct signers of the aggregator. */
export class FeedSignaturesError extends BaseError {
  override name = 'FeedSignaturesError' as const
  override readonly kind = 'invalid' as const
}

/**
 * Picks `threshold` signatures by distinct signers of the aggregator, in index order: a
 * signature by an unknown address, or a second one by the same signer, is left out.
 * @throws FeedSignaturesError when fewer than `threshold` remain, saying which were left out.
 */
export function pickReportSignatures(
  digest: Hex,
  signatures: readonly Hex[],
  signers: readonly Address[],
  threshold: number,
): IndexedSignature[] {
  const indexOf = new Map(signers.map((s, i) => [getAddress(s), i]))
  const picked = new Map<number, Hex>()
  const leftOut: string[] = []
  for (const [i, signature] of signatures.entries()) {
    const signer = recoverReportSigner(digest, signature)
    const index = indexOf.get(signer)
    if (index === undefined) leftOut.push(`signature ${i} is by ${signer}, no signer of it`)
    else if (picked.has(index)) leftOut.push(`signature ${i} repeats signer ${signer}`)
    else picked.set(index, signature)
  }
  if (picked.size < threshold)
    throw new FeedSignaturesError(
      `Only ${picked.size} of the ${signatures.length} signatures are by distinct signers of the aggregator, which needs ${threshold}; collect more signatures of this report for this chain and aggregator.`,
      { metaMessages: leftOut },
    )
  return [...picked.entries()]
    .sort(([a], [b]) => a - b)
    .slice(0, threshold)
    .map(([index, signature]) => ({ index, signature }))
}

/** What `transmitReport` did: its transaction, the round it made, and the gas it used. */
export type Transmission = { tx: Hex; roundId: bigint; gasUsed: bigint }

/**
 * Sends a report with its signatures (plain 65-byte ones, in any order; extra, unknown or
 * repeated ones are left out) and waits for it to be mined. Anyone may transmit.
 * @throws FeedSignaturesError when fewer than the threshold are usable; FeedAggregatorError with
 * the contract's reason (OldReport, StaleReport, …) when it refuses; ChainError when the chain does not answer.
 * @example const { roundId } = await transmitReport(wallet, client, aggregator, report, signatures)
 */
export async function transmitReport(
  wallet: Wallet,
  client: PublicClient,
  aggregator: Address,
  report: FeedReport,
  signatures: readonly Hex[],
): Promise<Transmission> {
  assertFeedReport(report)
  const doing = `accept the report of window ${report.window}`
  const [chainId, signers, threshold] = await attempt(doing, () =>
    Promise.all([
      client.getChainId(),
      client.readContract({ address: aggregator, abi: feedAggregatorAbi, functionName: 'signers' }),
      client.readContract({
        address: aggregator,
        abi: feedAggregatorAbi,
        functionName: 'threshold',
      }),
    ]),
  )
  const digest = feedReportDigest(report, chainId, aggregator)
  const picked = pickReportSignatures(digest, signatures, signers, threshold)
  const args = [reportArgument(report), encodeReportSignatures(picked)] as const
  const simulate = () =>
    client.simulateContract({
      account: wallet.account,
      address: aggregator,
      abi: feedAggregatorAbi,
      functionName: 'transmit',
      args,
    })
  return attempt(
    doing,
    async () => {
      const { request } = await simulate()
      const hash = await wallet.writeContract(request)
      const receipt = await client.waitForTransactionReceipt({ hash })
      // Mined after another transmitter's report, say: the simulation now gives the reason.
      if (receipt.status !== 'success') {
        await simulate()
        throw new FeedAggregatorError(`The transmission ${hash} reverted.`, { reason: 'Reverted' })
      }
      const [event] = parseEventLogs({
        abi: feedAggregatorAbi,
        eventName: 'NewTransmission',
        logs: receipt.logs,
      })
      if (!event)
        throw new ChainError(`Transmission ${hash} logged no round; check the aggregator address.`)
      return { tx: hash, roundId: event.args.roundId, gasUsed: receipt.gasUsed }
    },
    wallet.account.address,
  )
}

/** The latest round of an aggregator, with the window it reports. */
export type LatestRound = {
  roundId: bigint
  answer: bigint
  /** The window's start (seconds). */
  startedAt: bigint
  /** The block time of the transmission (seconds). */
  updatedAt: bigint
  window: bigint
}

/**
 * Reads the latest round (all from one block), or undefined when no report was accepted yet.
 * @throws ChainError when the chain does not answer.
 */
export async function readLatestRound(
  client: PublicClient,
  aggregator: Address,
): Promise<LatestRound | undefined> {
  return attempt('read its latest round', async () => {
    const blockNumber = await client.getBlockNumber({ cacheTime: 0 })
    const at = { address: aggregator, abi: feedAggregatorAbi, blockNumber } as const
    const [round, window] = await Promise.all([
      client.readContract({ ...at, functionName: 'latestRound' }),
      client.readContract({ ...at, functionName: 'latestWindow' }),
    ])
    if (round === 0n) return undefined
    const [roundId, answer, startedAt, updatedAt] = await client.readContract({
      ...at,
      functionName: 'getRoundData',
      args: [round],
    })
    return { roundId, answer, startedAt, updatedAt, window }
  })
}

/** An aggregator's configuration and progress. */
export type FeedConfig = {
  decimals: number
  description: string
  version: bigint
  signers: Address[]
  threshold: number
  maxReportAge: number
  owner: Address
  latestRound: bigint
  latestWindow: bigint
}

/**
 * Reads an aggregator's configuration (all from one block).
 * @throws ChainError when the chain does not answer or no aggregator is at the address.
 */
export async function readFeedConfig(
  client: PublicClient,
  aggregator: Address,
): Promise<FeedConfig> {
  return attempt(`read the aggregator at ${aggregator}`, async () => {
    const blockNumber = await client.getBlockNumber({ cacheTime: 0 })
    const at = { address: aggregator, abi: feedAggregatorAbi, blockNumber } as const
    const [
      decimals,
      description,
      version,
      signers,
      threshold,
      maxReportAge,
      owner,
      latestRound,
      latestWindow,
    ] = await Promise.all([
      client.readContract({ ...at, functionName: 'decimals' }),
      client.readContract({ ...at, functionName: 'description' }),
      client.readContract({ ...at, functionName: 'version' }),
      client.readContract({ ...at, functionName: 'signers' }),
      client.readContract({ ...at, functionName: 'threshold' }),
      client.readContract({ ...at, functionName: 'maxReportAge' }),
      client.readContract({ ...at, functionName: 'owner' }),
      client.readContract({ ...at, functionName: 'latestRound' }),
      client.readContract({ ...at, functionName: 'latestWindow' }),
    ])
    return {
      decimals,
      description,
      version,
      signers: [...signers],
      threshold,
      maxReportAge,
      owner,
      latestRound,
      latestWindow,
    }
  })
}
