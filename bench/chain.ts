import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
} from 'viem'
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { auditEscrowAbi, naivePayoutAbi, testTokenAbi } from '../src/chain/artifacts.ts'
import { startDevnet } from '../src/chain/devnet.ts'
import {
  chainFor,
  deployEscrow,
  deployNaivePayout,
  deployTestToken,
  settlementTypedData,
  sortSignatures,
  type Wallet,
} from '../src/chain/escrow.ts'
import { type Figure, progress, report, round } from './report.ts'

const MNEMONIC = 'test test test test test test test test test test test junk'
const SIZES = [1, 10, 100, 500]

/** Gas of `settle` for 1–500 payees, next to a naive contract paying each payee by transfer. */
async function settleGas(): Promise<Figure> {
  const devnet = await startDevnet()
  try {
    const chain = chainFor(devnet.chainId, devnet.rpcUrl)
    const client = createPublicClient({ chain, transport: http(devnet.rpcUrl) }) as PublicClient
    const wallet = (i: number) =>
      createWalletClient({
        account: mnemonicToAccount(MNEMONIC, { addressIndex: i }),
        chain,
        transport: http(devnet.rpcUrl),
      }) as Wallet
    const owner = wallet(0)
    const signers = [1, 2, 3].map((i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
    const escrow = await deployEscrow(owner, client, {
      signers: signers.map((s) => s.address),
      threshold: 2n,
    })
    const token = await deployTestToken(owner, client)
    const naive = await deployNaivePayout(owner, client)
    const mined = async (hash: Hex) => {
      const receipt = await client.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success')
        throw new Error(`chain.settle_gas: transaction ${hash} failed`)
      return receipt.gasUsed
    }
    const rows: {
      payees: number
      settle: number
      perPayee: number
      naive: number
      naivePerPayee: number
    }[] = []
    for (const [n, size] of SIZES.entries()) {
      progress(`settling ${size} payees, and paying them naively`)
      const auditId = `0x${(n + 1).toString(16).padStart(64, '0')}` as Hex
      const amounts = Array.from({ length: size }, (_, i) => BigInt(1000 + i))
      const total = amounts.reduce((a, b) => a + b, 0n)
      await mined(
        await owner.writeContract({
          address: token,
          abi: testTokenAbi,
          functionName: 'mint',
          args: [owner.account.address, total * 3n],
        }),
      )
      await mined(
        await owner.writeContract({
          address: token,
          abi: testTokenAbi,
          functionName: 'approve',
          args: [escrow, total * 2n],
        }),
      )
      await mined(
        await owner.writeContract({
          address: escrow,
          abi: auditEscrowAbi,
          functionName: 'fund',
          args: [auditId, token, total * 2n],
        }),
      )
      // Fresh payees for both contracts: every credit or transfer writes a zero slot, as in real use.
      const fresh = (): Address[] =>
        amounts.map(() => privateKeyToAccount(generatePrivateKey()).address)
      const payees = fresh()
      const typed = settlementTypedData({
        chainId: devnet.chainId,
        escrow,
        auditId,
        payees,
        amounts,
      })
      const signatures = sortSignatures(
        await Promise.all(
          signers
            .slice(0, 2)
            .map(async (s) => ({ signer: s.address, signature: await s.signTypedData(typed) })),
        ),
      )
      const settle = await mined(
        await owner.writeContract({
          address: escrow,
          abi: auditEscrowAbi,
          functionName: 'settle',
          args: [auditId, payees, amounts, signatures],
          gas: 30_000_000n,
        }),
      )
      await mined(
        await owner.writeContract({
          address: token,
          abi: testTokenAbi,
          functionName: 'transfer',
          args: [naive, total],
        }),
      )
      const loop = await mined(
        await owner.writeContract({
          address: naive,
          abi: naivePayoutAbi,
          functionName: 'payout',
          args: [token, fresh(), amounts],
          gas: 30_000_000n,
        }),
      )
      rows.push({
        payees: size,
        settle: Number(settle),
        perPayee: round(Number(settle) / size),
        naive: Number(loop),
        naivePerPayee: round(Number(loop) / size),
      })
    }
    const at100 = rows.find((r) => r.payees === 100)!
    return report({
      bench: 'chain.settle_gas',
      value: at100.perPayee,
      unit: 'gas per payee at 100 payees',
      limit: at100.naivePerPayee,
      limitIs: 'naive loop of token transfers, gas per payee at 100 payees, same chain',
      target: 25_000,
      pass: at100.perPayee <= 25_000 && at100.perPayee < at100.naivePerPayee,
      rows,
    })
  } finally {
    await devnet.stop()
  }
}

/** The chain benchmarks, by name. */
export function chainBenches(): Record<string, () => Promise<Figure>> {
  return { 'chain.settle_gas': settleGas }
}
