import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import {
  type Abi,
  type Address,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  stringToBytes,
  BaseError as ViemError,
} from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { feedAggregatorAbi } from '../src/chain/artifacts.ts'
import { type Devnet, startDevnet } from '../src/chain/devnet.ts'
import { chainFor, type Wallet } from '../src/chain/escrow.ts'
import {
  attestationIdsHash,
  compactSignature,
  deployFeedAggregator,
  encodeReportSignatures,
  FeedAggregatorError,
  FeedAggregatorNotFoundError,
  type FeedReport,
  FeedReportError,
  FeedSignaturesError,
  feedReportDigest,
  type IndexedSignature,
  readFeedConfig,
  readLatestRound,
  recoverReportSigner,
  setFeedMaxReportAge,
  setFeedSigners,
  thresholdAllowed,
  transmitReport,
} from '../src/chain/feeds.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'

// FeedAggregator on a fresh anvil: a consumer written against AggregatorV3Interface reads our
// answers, and every report the contract must refuse is refused, with the contract's reason.

type Account = ReturnType<typeof dev>

const WINDOW = 60n
const signers = [dev(1), dev(2), dev(3), dev(4)]
const outsider = dev(9)

/** A report of window `window` (60-second windows) with `answer`. */
function reportOf(window: bigint, answer = 250_012_000_000n): FeedReport {
  return {
    window,
    answer,
    observations: 5,
    windowStart: window * WINDOW,
    windowEnd: (window + 1n) * WINDOW,
    idsHash: attestationIdsHash([`op-${window}-a`, `op-${window}-b`]),
  }
}

/** Plain 65-byte signatures of a report's digest by `by`, for `chainId` and `aggregator`. */
function sign(by: readonly Account[], report: FeedReport, chainId: number, aggregator: Address) {
  const hash = feedReportDigest(report, chainId, aggregator)
  return Promise.all(by.map((account) => account.sign({ hash })))
}

/** The contract's refusal of a call: its custom error's name and arguments. */
async function refusal(call: Promise<unknown>): Promise<{ name: string; args: unknown[] }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, 'the call was not refused').toBeInstanceOf(ViemError)
  const revert = (error as ViemError).walk((e) => e instanceof ContractFunctionRevertedError) as
    | ContractFunctionRevertedError
    | undefined
  return { name: revert?.data?.errorName ?? 'none', args: [...(revert?.data?.args ?? [])] }
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, 'the call succeeded').toBeDefined()
  return error
}

const CONSUMER = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;
import "./AggregatorV3Interface.sol";

contract PriceConsumer {
    AggregatorV3Interface internal immutable feed;

    constructor(address aggregator) {
        feed = AggregatorV3Interface(aggregator);
    }

    function latest() external view returns (uint80 roundId, int256 answer, uint256 updatedAt) {
        (roundId, answer,, updatedAt,) = feed.latestRoundData();
    }

    function at(uint80 id) external view returns (int256 answer, uint256 startedAt, uint80 answeredInRound) {
        (, answer, startedAt,, answeredInRound) = feed.getRoundData(id);
    }

    function unit() external view returns (uint8, string memory, uint256) {
        return (feed.decimals(), feed.description(), feed.version());
    }
}
`

/** Compiles the consumer with solc, importing only our AggregatorV3Interface. */
function compileConsumer(): { abi: Abi; bytecode: Hex } {
  const require = createRequire(import.meta.url)
  const solc = require('solc') as { compile(input: string): string }
  const iface = readFileSync(
    join(import.meta.dirname, '..', 'contracts', 'AggregatorV3Interface.sol'),
    'utf8',
  )
  const output = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: 'Solidity',
        sources: {
          'PriceConsumer.sol': { content: CONSUMER },
          'AggregatorV3Interface.sol': { content: iface },
        },
        settings: { outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
      }),
    ),
  ) as {
    errors?: { severity: string; formattedMessage: string }[]
    contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>
  }
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'))
  const compiled = output.contracts['PriceConsumer.sol']!.PriceConsumer!
  return { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` }
}

describe('feed report format', () => {
  test('thresholdAllowed needs f + 1 ≤ threshold ≤ n with f = floor((n − 1) / 3)', () => {
    const allowed = (n: number, t: number) => thresholdAllowed(n, t)
    expect([allowed(4, 2), allowed(4, 1), allowed(4, 4), allowed(4, 5)]).toEqual([
      true,
      false,
      true,
      false,
    ])
    expect([allowed(3, 2), allowed(3, 1), allowed(1, 1), allowed(7, 2), allowed(7, 3)]).toEqual([
      true,
      true,
      true,
      false,
      true,
    ])
    expect([allowed(31, 10), allowed(31, 11), allowed(0, 0), allowed(4, 2.5)]).toEqual([
      false,
      true,
      false,
      false,
    ])
  })

  test('attestationIdsHash hashes the ids sorted and joined by newlines, whatever their order', () => {
    const expected = keccak256(stringToBytes('a1\nb2\nc3'))
    expect(attestationIdsHash(['c3', 'a1', 'b2'])).toBe(expected)
    expect(attestationIdsHash(['a1', 'b2', 'c3'])).toBe(expected)
    expect(attestationIdsHash(['a1', 'b2'])).not.toBe(expected)
  })

  test('recoverReportSigner finds the signing address and refuses a malformed signature', async () => {
    const report = reportOf(100n)
    const aggregator = '0x0000000000000000000000000000000000000001'
    const [signature] = await sign([signers[0]!], report, 31337, aggregator)
    const digest = feedReportDigest(report, 31337, aggregator)
    expect(recoverReportSigner(digest, signature!)).toBe(signers[0]!.address)
    expect(recoverReportSigner(feedReportDigest(report, 1, aggregator), signature!)).not.toBe(
      signers[0]!.address,
    )
    expect(() => recoverReportSigner(digest, '0x1234')).toThrow(FeedReportError)
  })

  test('a report whose fields do not fit their types is refused before hashing', () => {
    const aggregator = '0x0000000000000000000000000000000000000001'
    const bad: Partial<FeedReport>[] = [
      { window: -1n },
      { answer: 2n ** 191n },
      { observations: 1.5 },
      { windowStart: 120n, windowEnd: 120n },
      { idsHash: '0x12' },
    ]
    for (const fields of bad)
      expect(() => feedReportDigest({ ...reportOf(1n), ...fields }, 31337, aggregator)).toThrow(
        FeedReportError,
      )
    expect(() => feedReportDigest(reportOf(1n), 0, aggregator)).toThrow(FeedReportError)
  })

  test('compactSignature keeps the signer when it makes a high s low', async () => {
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const report = reportOf(7n)
    const digest = feedReportDigest(report, 31337, '0x0000000000000000000000000000000000000002')
    const signature = await signers[1]!.sign({ hash: digest })
    const s = BigInt(`0x${signature.slice(66, 130)}`)
    const v = Number.parseInt(signature.slice(130), 16)
    // The malleable twin: n − s with the other parity, the same signer.
    const twin =
      `${signature.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
    expect(recoverReportSigner(digest, twin)).toBe(signers[1]!.address)
    expect(compactSignature(twin)).toBe(compactSignature(signature))
  })
})

const run = hasAnvil()

describe.skipIf(!run)('FeedAggregator on anvil', () => {
  let devnet: Devnet
  let client: PublicClient
  let owner: Wallet
  let stranger: Wallet
  let chainId: number
  let aggregator: Address
  let consumer: { address: Address; abi: Abi }
  /** The first window the tests use: recent, so reports are not stale. */
  let base: bigint

  const walletOf = (account: Account): Wallet =>
    createWalletClient({ account, chain: client.chain!, transport: http(devnet.rpcUrl) }) as Wallet

  const deploy = (over: Partial<Parameters<typeof deployFeedAggregator>[2]> = {}) =>
    deployFeedAggregator(owner, client, {
      decimals: 8,
      description: 'ETH / USD',
      signers: signers.map((s) => s.address),
      threshold: 2,
      maxReportAge: 3600,
      ...over,
    })

  /** Simulates transmit with hand-made signature entries, as a hostile transmitter could send. */
  const transmitRaw = (to: Address, report: FeedReport, entries: readonly IndexedSignature[]) =>
    client.simulateContract({
      account: stranger.account,
      address: to,
      abi: feedAggregatorAbi,
      functionName: 'transmit',
      args: [report, encodeReportSignatures(entries)],
    })

  // The aggregator's errors bubble up through the consumer: its ABI gets them to name them.
  const aggregatorErrors = feedAggregatorAbi.filter((item) => item.type === 'error')
  const consumerRead = (functionName: string, args: unknown[] = []) =>
    client.readContract({
      address: consumer.address,
      abi: [...consumer.abi, ...aggregatorErrors],
      functionName,
      args,
    })

  beforeAll(async () => {
    devnet = await startDevnet()
    chainId = devnet.chainId
    const chain = chainFor(chainId, devnet.rpcUrl)
    client = createPublicClient({ chain, transport: http(devnet.rpcUrl) }) as PublicClient
    owner = walletOf(dev(0))
    stranger = walletOf(dev(5))
    aggregator = await deploy()
    const { abi, bytecode } = compileConsumer()
    const hash = await owner.deployContract({ abi, bytecode, args: [aggregator] })
    const receipt = await client.waitForTransactionReceipt({ hash })
    consumer = { address: receipt.contractAddress!, abi }
    base = (await client.getBlock()).timestamp / WINDOW - 30n
  }, 60_000)

  afterAll(async () => {
    await devnet?.stop()
  })

  test('a consumer of AggregatorV3Interface reads our rounds with latestRoundData and getRoundData', async () => {
    expect(await readLatestRound(client, aggregator)).toBeUndefined()
    expect((await refusal(consumerRead('latest'))).name).toBe('NoDataPresent')

    const first = reportOf(base, 250_012_000_000n)
    const one = await transmitReport(
      stranger,
      client,
      aggregator,
      first,
      await sign([signers[2]!, signers[0]!], first, chainId, aggregator),
    )
    const second = reportOf(base + 1n, -42n)
    const two = await transmitReport(
      stranger,
      client,
      aggregator,
      second,
      // More than the threshold, in any order: transmitReport sends what is needed.
      await sign([signers[3]!, signers[1]!, signers[0]!], second, chainId, aggregator),
    )
    expect([one.roundId, two.roundId]).toEqual([1n, 2n])

    const mined = await client.getTransactionReceipt({ hash: two.tx })
    const block = await client.getBlock({ blockNumber: mined.blockNumber })
    expect(await consumerRead('latest')).toEqual([2n, -42n, block.timestamp])
    expect(await consumerRead('at', [1n])).toEqual([250_012_000_000n, first.windowStart, 1n])
    expect(await consumerRead('at', [2n])).toEqual([-42n, second.windowStart, 2n])
    expect((await refusal(consumerRead('at', [3n]))).name).toBe('NoDataPresent')
    expect(await readLatestRound(client, aggregator)).toEqual({
      roundId: 2n,
      answer: -42n,
      startedAt: second.windowStart,
      updatedAt: block.timestamp,
      window: base + 1n,
    })
    expect(two.gasUsed).toBe(mined.gasUsed)
  })

  test('the consumer reads version, decimals and description; readFeedConfig the rest', async () => {
    expect(await consumerRead('unit')).toEqual([8, 'ETH / USD', 1n])
    const config = await readFeedConfig(client, aggregator)
    expect(config).toMatchObject({
      decimals: 8,
      description: 'ETH / USD',
      version: 1n,
      signers: signers.map((s) => s.address),
      threshold: 2,
      maxReportAge: 3600,
      owner: dev(0).address,
    })
    expect(config.latestWindow).toBeGreaterThanOrEqual(base + 1n)
    const empty = '0x00000000000000000000000000000000000000aa'
    expect(await rejection(readFeedConfig(client, empty))).toBeInstanceOf(
      FeedAggregatorNotFoundError,
    )
  })

  describe('refuses', () => {
    let window: bigint
    beforeAll(async () => {
      window = (await readFeedConfig(client, aggregator)).latestWindow + 1n
    })

    test('a report under the threshold', async () => {
      const report = reportOf(window)
      const [signature] = await sign([signers[0]!], report, chainId, aggregator)
      const refused = await refusal(
        transmitRaw(aggregator, report, [{ index: 0, signature: signature! }]),
      )
      expect(refused).toEqual({ name: 'TooFewSignatures', args: [1n, 2n] })
      expect(
        await rejection(transmitReport(stranger, client, aggregator, report, [signature!])),
      ).toBeInstanceOf(FeedSignaturesError)
    })

    test('a report signed by an unknown signer', async () => {
      const report = reportOf(window)
      const [own, foreign] = await sign([signers[0]!, outsider], report, chainId, aggregator)
      const refused = await refusal(
        transmitRaw(aggregator, report, [
          { index: 0, signature: own! },
          { index: 1, signature: foreign! },
        ]),
      )
      expect(refused).toEqual({ name: 'SignatureMismatch', args: [1n, outsider.address] })
      const error = await rejection(
        transmitReport(stranger, client, aggregator, report, [own!, foreign!]),
      )
      expect(error).toBeInstanceOf(FeedSignaturesError)
      expect((error as FeedSignaturesError).message).toContain(outsider.address)
    })

    test('a report signed twice by the same signer', async () => {
      const report = reportOf(window)
      const [once] = await sign([signers[0]!], report, chainId, aggregator)
      expect(
        await refusal(
          transmitRaw(aggregator, report, [
            { index: 0, signature: once! },
            { index: 0, signature: once! },
          ]),
        ),
      ).toEqual({ name: 'DuplicateSigner', args: [1n, 0n] })
      // The same signature claimed for another signer's index.
      expect(
        await refusal(
          transmitRaw(aggregator, report, [
            { index: 0, signature: once! },
            { index: 1, signature: once! },
          ]),
        ),
      ).toEqual({ name: 'SignatureMismatch', args: [1n, signers[0]!.address] })
      expect(
        await rejection(transmitReport(stranger, client, aggregator, report, [once!, once!])),
      ).toBeInstanceOf(FeedSignaturesError)
    })

    test('a signer index beyond the set, and signatures that are not 65-byte entries', async () => {
      const report = reportOf(window)
      const [a, b] = await sign([signers[0]!, signers[1]!], report, chainId, aggregator)
      expect(
        await refusal(
          transmitRaw(aggregator, report, [
            { index: 0, signature: a! },
            { index: 4, signature: b! },
          ]),
        ),
      ).toEqual({ name: 'SignerIndexOutOfRange', args: [1n, 4n] })
      const truncated = encodeReportSignatures([
        { index: 0, signature: a! },
        { index: 1, signature: b! },
      ]).slice(0, -2) as Hex
      const refused = await refusal(
        client.simulateContract({
          account: stranger.account,
          address: aggregator,
          abi: feedAggregatorAbi,
          functionName: 'transmit',
          args: [report, truncated],
        }),
      )
      expect(refused).toEqual({ name: 'MalformedSignatures', args: [129n] })
    })

    test('a replay of an accepted report, and a report for an older window', async () => {
      const report = reportOf(window)
      const signatures = await sign(signers.slice(0, 2), report, chainId, aggregator)
      const sent = await transmitReport(stranger, client, aggregator, report, signatures)
      const again = await rejection(
        transmitReport(stranger, client, aggregator, report, signatures),
      )
      expect(again).toBeInstanceOf(FeedAggregatorError)
      expect((again as FeedAggregatorError).reason).toBe('OldReport')
      const older = reportOf(window - 1n)
      const old = await rejection(
        transmitReport(
          stranger,
          client,
          aggregator,
          older,
          await sign(signers.slice(0, 2), older, chainId, aggregator),
        ),
      )
      expect((old as FeedAggregatorError).reason).toBe('OldReport')
      expect((await readLatestRound(client, aggregator))?.roundId).toBe(sent.roundId)
      window += 1n
    })

    test('a stale report: its window ended more than maxReportAge before the block', async () => {
      const fresh = await deploy({ maxReportAge: 600 })
      const now = (await client.getBlock()).timestamp
      // Ended 11 minutes ago: older than the 10 minutes allowed.
      const stale = reportOf(now / WINDOW - 12n)
      const error = await rejection(
        transmitReport(
          stranger,
          client,
          fresh,
          stale,
          await sign(signers.slice(0, 2), stale, chainId, fresh),
        ),
      )
      expect((error as FeedAggregatorError).reason).toBe('StaleReport')
      // Within the age, the same signers' report of a later window goes through.
      const recent = reportOf(now / WINDOW - 2n)
      const sent = await transmitReport(
        stranger,
        client,
        fresh,
        recent,
        await sign(signers.slice(0, 2), recent, chainId, fresh),
      )
      expect(sent.roundId).toBe(1n)
    })

    test('a report signed for another chain', async () => {
      const report = reportOf(window)
      const signatures = await sign(signers.slice(0, 2), report, 1, aggregator)
      const refused = await refusal(
        transmitRaw(
          aggregator,
          report,
          signatures.map((signature, index) => ({ index, signature })),
        ),
      )
      expect(refused.name).toBe('SignatureMismatch')
      expect(
        await rejection(transmitReport(stranger, client, aggregator, report, signatures)),
      ).toBeInstanceOf(FeedSignaturesError)
    })

    test('a report signed for another aggregator with the same signers', async () => {
      const other = await deploy()
      const report = reportOf(window)
      const forOther = await sign(signers.slice(0, 2), report, chainId, other)
      const refused = await refusal(
        transmitRaw(
          aggregator,
          report,
          forOther.map((signature, index) => ({ index, signature })),
        ),
      )
      expect(refused.name).toBe('SignatureMismatch')
      const sent = await transmitReport(stranger, client, other, report, forOther)
      expect(sent.roundId).toBe(1n)
    })
  })

  describe('setSigners', () => {
    test('the owner sets signers under the threshold rule; others are refused', async () => {
      const feed = await deploy()
      const four = [dev(5), dev(6), dev(7), dev(8)].map((a) => a.address)
      await setFeedSigners(owner, client, feed, four, 2)
      expect(await readFeedConfig(client, feed)).toMatchObject({ signers: four, threshold: 2 })

      // 1 of 4 breaks the rule: refused here before sending, and by the contract itself.
      expect(await rejection(setFeedSigners(owner, client, feed, four, 1))).toBeInstanceOf(
        FeedReportError,
      )
      const direct = await refusal(
        client.simulateContract({
          account: owner.account,
          address: feed,
          abi: feedAggregatorAbi,
          functionName: 'setSigners',
          args: [four, 1],
        }),
      )
      expect(direct).toEqual({ name: 'InvalidThreshold', args: [1n, 4n] })
      const twice = await refusal(
        client.simulateContract({
          account: owner.account,
          address: feed,
          abi: feedAggregatorAbi,
          functionName: 'setSigners',
          args: [[four[0]!, four[1]!, four[0]!], 2],
        }),
      )
      expect(twice).toEqual({ name: 'DuplicateSignerAddress', args: [four[0]] })

      const three = four.slice(0, 3)
      await setFeedSigners(owner, client, feed, three, 2)
      expect(await readFeedConfig(client, feed)).toMatchObject({ signers: three, threshold: 2 })

      const error = await rejection(setFeedSigners(stranger, client, feed, four, 2))
      expect(error).toBeInstanceOf(FeedAggregatorError)
      expect((error as FeedAggregatorError).reason).toBe('NotOwner')
      expect((await readFeedConfig(client, feed)).signers).toEqual(three)
    })

    test('after a change, the old signers are refused and the new ones accepted', async () => {
      const feed = await deploy()
      const now = (await client.getBlock()).timestamp
      const first = reportOf(now / WINDOW - 5n)
      await transmitReport(
        stranger,
        client,
        feed,
        first,
        await sign(signers.slice(0, 2), first, chainId, feed),
      )
      const next = [dev(6), dev(7), dev(8)]
      await setFeedSigners(
        owner,
        client,
        feed,
        next.map((a) => a.address),
        2,
      )
      const later = reportOf(now / WINDOW - 4n)
      const byOld = await sign(signers.slice(0, 2), later, chainId, feed)
      expect(
        (
          await refusal(
            transmitRaw(
              feed,
              later,
              byOld.map((signature, index) => ({ index, signature })),
            ),
          )
        ).name,
      ).toBe('SignatureMismatch')
      const sent = await transmitReport(
        stranger,
        client,
        feed,
        later,
        await sign(next.slice(1), later, chainId, feed),
      )
      expect(sent.roundId).toBe(2n)
    })

    test('the owner sets the maximum report age; a stranger cannot', async () => {
      const feed = await deploy()
      await setFeedMaxReportAge(owner, client, feed, 120)
      expect(await readFeedConfig(client, feed)).toMatchObject({
        maxReportAge: 120,
        signers: signers.map((s) => s.address),
        threshold: 2,
      })
      const error = await rejection(setFeedMaxReportAge(stranger, client, feed, 7200))
      expect((error as FeedAggregatorError).reason).toBe('NotOwner')
      expect(await rejection(setFeedMaxReportAge(owner, client, feed, 0))).toBeInstanceOf(
        FeedReportError,
      )
    })
  })

  test('feedReportDigest is the digest the contract computes', async () => {
    const report = reportOf(123_456n, -(2n ** 150n))
    const onChain = await client.readContract({
      address: aggregator,
      abi: feedAggregatorAbi,
      functionName: 'reportDigest',
      args: [report],
    })
    expect(onChain).toBe(feedReportDigest(report, chainId, aggregator))
  })
})
