import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  stringToHex,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import { startDevnet } from '../src/chain/devnet.ts'
import { chainFor, deployTestToken, type Wallet } from '../src/chain/escrow.ts'
import {
  type ChannelClaimRequest,
  channelClaim,
  deployMultiPartyEscrow,
  mpeDeposit,
  multiChannelClaim,
  openChannel,
  signClaim,
} from '../src/chain/mpe.ts'
import { type Figure, progress, report, round } from './report.ts'

// Gas a service pays to claim its channels: multiChannelClaim at 1, 10 and 100 channels per
// transaction, per channel, next to one channelClaim per channel, on one fresh anvil in one run.

const MNEMONIC = 'test test test test test test test test test test test junk'
const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i })
const BATCHES = [1, 10, 100]
/** Single claims measured (the median is reported). */
const SINGLES = 10
const GROUP: Hex = keccak256(stringToHex('rwa channel gas bench'))
const VALUE = 1_000_000n
const CLAIMED = 12_345n

type Bench = {
  client: PublicClient
  payer: Wallet
  service: Wallet
  escrow: Address
}

const median = (values: readonly bigint[]): number => {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return Number(sorted[Math.floor(sorted.length / 2)]!)
}

/** Opens `count` channels from the payer to the service and signs a claim of each. */
async function signedClaims(bench: Bench, count: number): Promise<ChannelClaimRequest[]> {
  const expiration = (await bench.client.getBlockNumber({ cacheTime: 0 })) + 100_000n
  const claims: ChannelClaimRequest[] = []
  for (let i = 0; i < count; i++) {
    const { channelId } = await openChannel(bench.payer, bench.client, bench.escrow, {
      signer: bench.payer.account.address,
      recipient: bench.service.account.address,
      groupId: GROUP,
      value: VALUE,
      expiration,
    })
    const signature = await signClaim(account(4), bench.escrow, channelId, 0n, CLAIMED)
    claims.push({ channelId, plannedAmount: CLAIMED, signature })
  }
  return claims
}

async function setUp(rpcUrl: string, chainId: number): Promise<Bench> {
  const chain = chainFor(chainId, rpcUrl)
  const client = createPublicClient({ chain, transport: http(rpcUrl) }) as PublicClient
  const walletOf = (i: number) =>
    createWalletClient({ account: account(i), chain, transport: http(rpcUrl) }) as Wallet
  const [owner, payer, service] = [walletOf(0), walletOf(4), walletOf(6)]
  const token = await deployTestToken(owner, client)
  const escrow = await deployMultiPartyEscrow(owner, client, token)
  const total = VALUE * BigInt(SINGLES + 1 + BATCHES.reduce((a, b) => a + b, 0))
  const minted = await owner.writeContract({
    address: token,
    abi: testTokenAbi,
    functionName: 'mint',
    args: [payer.account.address, total],
  })
  await client.waitForTransactionReceipt({ hash: minted })
  await mpeDeposit(payer, client, escrow, total)
  const bench = { client, payer, service, escrow }
  // The service's escrow balance is non-zero before any measured claim, as in steady operation.
  const [first] = await signedClaims(bench, 1)
  await channelClaim(service, client, escrow, first!)
  return bench
}

/** Gas per channel: multiChannelClaim at 1, 10 and 100 channels, next to single channelClaims. */
async function claimGas(): Promise<Figure> {
  const devnet = await startDevnet()
  try {
    const bench = await setUp(devnet.rpcUrl, devnet.chainId)
    progress(`channel.claim_gas: ${SINGLES} single channelClaims`)
    const singles: bigint[] = []
    for (const claim of await signedClaims(bench, SINGLES))
      singles.push((await channelClaim(bench.service, bench.client, bench.escrow, claim)).gasUsed)
    const single = median(singles)
    const rows: { channels: number; gas: number; perChannel: number; ratio: number }[] = []
    for (const size of BATCHES) {
      progress(`channel.claim_gas: multiChannelClaim of ${size} channels`)
      const claims = await signedClaims(bench, size)
      const { gasUsed } = await multiChannelClaim(bench.service, bench.client, bench.escrow, claims)
      const perChannel = round(Number(gasUsed) / size)
      rows.push({
        channels: size,
        gas: Number(gasUsed),
        perChannel,
        ratio: round(perChannel / single, 3),
      })
      report({
        bench: 'channel.claim_gas.size',
        value: perChannel,
        unit: 'gas/channel',
        limit: single,
        channels: size,
        gas: Number(gasUsed),
        single,
        ratio: round(perChannel / single, 3),
      })
    }
    const top = rows.at(-1)!
    const [a, b] = [rows.at(-2)!, top]
    return report({
      bench: 'channel.claim_gas',
      value: top.perChannel,
      unit: 'gas/channel',
      limit: single,
      limitIs: 'one channelClaim per channel (median of 10), same chain and run',
      channels: top.channels,
      single,
      ratio: top.ratio,
      pass: top.perChannel <= single,
      // The gas of one more channel in a batch, from the two largest batches.
      marginal: round((b.gas - a.gas) / (b.channels - a.channels)),
      sizes: rows,
    })
  } finally {
    await devnet.stop()
  }
}

/** The channel contract's benchmarks, by name. */
export function channelGasBenches(): Record<string, () => Promise<Figure>> {
  return { 'channel.claim_gas': claimGas }
}
