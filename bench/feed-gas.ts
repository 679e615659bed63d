import {
  type Address,
  createPublicClient,
  createWalletClient,
  encodeAbiParameters,
  type Hex,
  http,
  keccak256,
  numberToHex,
  type PublicClient,
  parseSignature,
  stringToHex,
} from 'viem'
import { mnemonicToAccount, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import { feedAggregatorAbi, ocrBaselineAbi, ocrBaselineBytecode } from '../src/chain/artifacts.ts'
import { startDevnet } from '../src/chain/devnet.ts'
import { chainFor, type Wallet } from '../src/chain/escrow.ts'
import {
  deployFeedAggregator,
  encodeReportSignatures,
  type FeedReport,
  feedReportDigest,
} from '../src/chain/feeds.ts'
import { type Figure, progress, report, round } from './report.ts'

// Gas of one report on chain: FeedAggregator.transmit next to an OCR (v1) style aggregator
// (contracts/bench/OcrBaseline.sol), the same signers on the same fresh anvil, in one run.

const MNEMONIC = 'test test test test test test test test test test test junk'
/** n signers, f faulty: both contracts need f + 1 signatures. */
const SIZES = [
  { n: 4, f: 1 },
  { n: 7, f: 2 },
  { n: 31, f: 10 },
]
/** Signatures sent at n = 31 to measure the cost of one more (both contracts take more than f + 1). */
const EXTRA_SIGNATURES = [11, 21, 31]
const ROUNDS = 5
const WINDOW_SECONDS = 60n
const PRICE = 250_012_000_000n

/** Signer i's key, fixed so every run signs the same way (bench only). */
const signerAccount = (i: number): PrivateKeyAccount =>
  privateKeyToAccount(keccak256(stringToHex(`rwa feed bench signer ${i}`)))

const median = (values: readonly bigint[]): number => {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return Number(sorted[Math.floor(sorted.length / 2)]!)
}

/** Least-squares slope of gas over signatures: the gas of one more signature. */
function slope(points: readonly { x: number; y: number }[]): number {
  const mx = points.reduce((a, p) => a + p.x, 0) / points.length
  const my = points.reduce((a, p) => a + p.y, 0) / points.length
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0)
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0)
  return round(num / den)
}

type Bench = {
  client: PublicClient
  wallet: Wallet
  chainId: number
  /** A recent window: windows after it are neither stale nor far ahead. */
  firstWindow: bigint
}

async function gasOf(bench: Bench, hash: Hex): Promise<bigint> {
  const receipt = await bench.client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`feed.report_gas: transaction ${hash} failed`)
  return receipt.gasUsed
}

/** Median gas of `transmit` on a FeedAggregator with n signers, sending `k` signatures. */
async function oursGas(bench: Bench, n: number, f: number, k: number): Promise<number> {
  const signers = Array.from({ length: n }, (_, i) => signerAccount(i))
  const aggregator = await deployFeedAggregator(bench.wallet, bench.client, {
    decimals: 8,
    description: 'ETH / USD',
    signers: signers.map((s) => s.address),
    threshold: f + 1,
    maxReportAge: 86_400,
  })
  const gas: bigint[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const window = bench.firstWindow + BigInt(r)
    const feedReport: FeedReport = {
      window,
      answer: PRICE + BigInt(r),
      observations: n,
      windowStart: window * WINDOW_SECONDS,
      windowEnd: (window + 1n) * WINDOW_SECONDS,
      idsHash: keccak256(stringToHex(`window ${window}`)),
    }
    const digest = feedReportDigest(feedReport, bench.chainId, aggregator)
    const signed = await Promise.all(
      signers
        .slice(0, k)
        .map(async (s, index) => ({ index, signature: await s.sign({ hash: digest }) })),
    )
    const hash = await bench.wallet.writeContract({
      address: aggregator,
      abi: feedAggregatorAbi,
      functionName: 'transmit',
      args: [feedReport, encodeReportSignatures(signed)],
    })
    gas.push(await gasOf(bench, hash))
  }
  return median(gas)
}

/** Median gas of OCR-style `transmit` with n signers and n sorted observations, sending `k` signatures. */
async function baselineGas(bench: Bench, n: number, f: number, k: number): Promise<number> {
  const signers = Array.from({ length: n }, (_, i) => signerAccount(i))
  const deployed = await bench.wallet.deployContract({
    abi: ocrBaselineAbi,
    bytecode: ocrBaselineBytecode,
  })
  const { contractAddress } = await bench.client.waitForTransactionReceipt({ hash: deployed })
  const baseline = contractAddress as Address
  await gasOf(
    bench,
    await bench.wallet.writeContract({
      address: baseline,
      abi: ocrBaselineAbi,
      functionName: 'setConfig',
      args: [signers.map((s) => s.address), f],
    }),
  )
  const configDigest = await bench.client.readContract({
    address: baseline,
    abi: ocrBaselineAbi,
    functionName: 'latestConfigDigest',
  })
  const observers = numberToHex(
    BigInt(`0x${Array.from({ length: n }, (_, i) => i.toString(16).padStart(2, '0')).join('')}`) <<
      BigInt(8 * (32 - n)),
    { size: 32 },
  )
  const gas: bigint[] = []
  for (let r = 0; r < ROUNDS; r++) {
    // 11 zero bytes, the 16-byte config digest, epoch (4 bytes) and round (1 byte).
    const context = numberToHex((BigInt(configDigest) << 40n) | (BigInt(r + 1) << 8n), { size: 32 })
    const observations = Array.from({ length: n }, (_, i) => PRICE - 1_000n + BigInt(i * 100 + r))
    const ocrReport = encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'int192[]' }],
      [context, observers, observations],
    )
    const hash = keccak256(ocrReport)
    const sigs = await Promise.all(signers.slice(0, k).map((s) => s.sign({ hash })))
    const parsed = sigs.map((s) => parseSignature(s))
    const rawVs = numberToHex(
      parsed.reduce((acc, p, i) => acc | (BigInt(p.yParity) << BigInt(8 * (31 - i))), 0n),
      { size: 32 },
    )
    const tx = await bench.wallet.writeContract({
      address: baseline,
      abi: ocrBaselineAbi,
      functionName: 'transmit',
      args: [ocrReport, parsed.map((p) => p.r), parsed.map((p) => p.s), rawVs],
    })
    gas.push(await gasOf(bench, tx))
    const answer = await bench.client.readContract({
      address: baseline,
      abi: ocrBaselineAbi,
      functionName: 'latestAnswer',
    })
    if (answer !== observations[Math.floor(n / 2)])
      throw new Error(`feed.report_gas: the baseline's answer ${answer} is not the median`)
  }
  return median(gas)
}

/** Gas per report at n/f = 4/1, 7/2 and 31/10, ours next to the OCR-style baseline. */
async function reportGas(): Promise<Figure> {
  const devnet = await startDevnet()
  try {
    const chain = chainFor(devnet.chainId, devnet.rpcUrl)
    const client = createPublicClient({ chain, transport: http(devnet.rpcUrl) }) as PublicClient
    const wallet = createWalletClient({
      account: mnemonicToAccount(MNEMONIC, { addressIndex: 0 }),
      chain,
      transport: http(devnet.rpcUrl),
    }) as Wallet
    const now = (await client.getBlock()).timestamp
    const bench: Bench = {
      client,
      wallet,
      chainId: devnet.chainId,
      firstWindow: now / WINDOW_SECONDS - 10n,
    }
    const rows: Figure[] = []
    for (const { n, f } of SIZES) {
      progress(`feed.report_gas: n/f = ${n}/${f}, ${ROUNDS} rounds each`)
      const ours = await oursGas(bench, n, f, f + 1)
      const baseline = await baselineGas(bench, n, f, f + 1)
      rows.push(
        report({
          bench: 'feed.report_gas.size',
          value: ours,
          unit: 'gas',
          limit: Math.floor(0.7 * baseline),
          n,
          f,
          signatures: f + 1,
          baseline,
          ratio: round(ours / baseline, 3),
        }),
      )
    }
    progress('feed.report_gas: gas of one more signature at n = 31')
    const extra = {
      ours: [] as { x: number; y: number }[],
      baseline: [] as { x: number; y: number }[],
    }
    for (const k of EXTRA_SIGNATURES) {
      extra.ours.push({ x: k, y: await oursGas(bench, 31, 10, k) })
      extra.baseline.push({ x: k, y: await baselineGas(bench, 31, 10, k) })
    }
    const top = rows.at(-1)!
    const ours = top.value
    const baseline = top.baseline as number
    return report({
      bench: 'feed.report_gas',
      value: ours,
      unit: 'gas',
      limit: Math.floor(0.7 * baseline),
      limitIs: '0.7 × the OCR (v1) style baseline at n/f = 31/10 (11 signatures), same chain',
      baseline,
      ratio: round(ours / baseline, 3),
      pass: ours <= 0.7 * baseline,
      perSignature: slope(extra.ours),
      baselinePerSignature: slope(extra.baseline),
      perSignatureRows: extra.ours.map((p, i) => ({
        signatures: p.x,
        ours: p.y,
        baseline: extra.baseline[i]!.y,
      })),
      sizes: rows.map(({ n, f, value, baseline, ratio }) => ({
        n,
        f,
        ours: value,
        baseline,
        ratio,
      })),
    })
  } finally {
    await devnet.stop()
  }
}

/** The feed's chain benchmarks, by name. */
export function feedGasBenches(): Record<string, () => Promise<Figure>> {
  return { 'feed.report_gas': reportGas }
}
