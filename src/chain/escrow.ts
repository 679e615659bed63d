import {
  type Account,
  type Address,
  type Chain,
  defineChain,
  getAddress,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import {
  auditEscrowAbi,
  auditEscrowBytecode,
  naivePayoutAbi,
  naivePayoutBytecode,
  testTokenAbi,
  testTokenBytecode,
} from './artifacts.ts'
import { ChainError } from './errors.ts'

export {
  auditIdOf,
  payoutsHash,
  settlementTypedData,
} from '../core/audit/settlement-report.ts'

export { NATIVE } from './native.ts'

/** A wallet client with an account and chain set, as deployments and transactions need. */
export type Wallet = WalletClient<Transport, Chain, Account>

/** A viem chain for a local devnet or any RPC URL. */
export function chainFor(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? 'rwa devnet (anvil)' : `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

/** Orders signatures by signer address, ascending, as `settle` requires. */
export function sortSignatures(signatures: readonly { signer: Address; signature: Hex }[]): Hex[] {
  return [...signatures]
    .sort((a, b) =>
      BigInt(a.signer) < BigInt(b.signer) ? -1 : BigInt(a.signer) > BigInt(b.signer) ? 1 : 0,
    )
    .map((s) => s.signature)
}

async function deploy(
  wallet: Wallet,
  client: PublicClient,
  deployment: Parameters<Wallet['deployContract']>[0],
): Promise<Address> {
  const hash = await wallet.deployContract(deployment)
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (!receipt.contractAddress)
    throw new ChainError(`Deployment ${hash} created no contract; check the chain at the RPC URL.`)
  return getAddress(receipt.contractAddress)
}

/** Deploys AuditEscrow with its signer set and threshold; the wallet's account becomes owner. */
export function deployEscrow(
  wallet: Wallet,
  client: PublicClient,
  { signers, threshold }: { signers: readonly Address[]; threshold: bigint },
): Promise<Address> {
  return deploy(wallet, client, {
    abi: auditEscrowAbi,
    bytecode: auditEscrowBytecode,
    args: [signers, threshold],
  } as Parameters<Wallet['deployContract']>[0])
}

/** Deploys the devnet ERC-20; the wallet's account may mint. */
export function deployTestToken(wallet: Wallet, client: PublicClient): Promise<Address> {
  return deploy(wallet, client, {
    abi: testTokenAbi,
    bytecode: testTokenBytecode,
    args: ['rwa Test Token', 'RWAT'],
  } as Parameters<Wallet['deployContract']>[0])
}

/** Deploys the naive loop-payout contract (benchmark only). */
export function deployNaivePayout(wallet: Wallet, client: PublicClient): Promise<Address> {
  return deploy(wallet, client, {
    abi: naivePayoutAbi,
    bytecode: naivePayoutBytecode,
  } as Parameters<Wallet['deployContract']>[0])
}
