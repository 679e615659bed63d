import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PrivateKeyAccount,
  type PublicClient,
} from 'viem'
import { BaseError } from '../errors/base.ts'
import { auditEscrowAbi, testTokenAbi } from './artifacts.ts'
import type { ChainInfo } from './chain-service.ts'
import { chainFor, NATIVE, type Wallet } from './escrow.ts'

/** Thrown when there is nothing to withdraw, or a payment cannot be made. */
export class PaymentError extends BaseError {
  override name = 'PaymentError' as const
}

/** Clients for acting on the node's chain as `account`. */
export function chainClients(
  info: Pick<ChainInfo, 'chainId' | 'rpcUrl'>,
  account: PrivateKeyAccount,
) {
  const chain = chainFor(info.chainId, info.rpcUrl)
  return {
    client: createPublicClient({ chain, transport: http(info.rpcUrl) }) as PublicClient,
    wallet: createWalletClient({ account, chain, transport: http(info.rpcUrl) }) as Wallet,
  }
}

async function mined(client: PublicClient, hash: Hex): Promise<Hex> {
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new PaymentError(`Transaction ${hash} reverted.`)
  return hash
}

/**
 * Funds an audit's escrow from `account`: native ETH sent as value, or an ERC-20 approved then
 * pulled by the escrow. The first funder becomes the audit's sponsor (who gets the remainder).
 */
export async function fundAudit({
  info,
  account,
  auditId,
  token,
  amount,
}: {
  info: ChainInfo
  account: PrivateKeyAccount
  auditId: Hex
  token: Address
  amount: bigint
}): Promise<Hex> {
  if (amount <= 0n)
    throw new PaymentError('The amount to fund must be a positive whole number of base units.')
  const { client, wallet } = chainClients(info, account)
  if (token !== NATIVE) {
    await mined(
      client,
      await wallet.writeContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [info.escrow, amount],
      }),
    )
  }
  const { request } = await client.simulateContract({
    account,
    address: info.escrow,
    abi: auditEscrowAbi,
    functionName: 'fund',
    args: [auditId, token, amount],
    value: token === NATIVE ? amount : 0n,
  })
  return mined(client, await wallet.writeContract(request))
}

/** What `account` may withdraw in `token`. */
export async function owedTo(info: ChainInfo, address: Address, token: Address): Promise<bigint> {
  const client = createPublicClient({
    chain: chainFor(info.chainId, info.rpcUrl),
    transport: http(info.rpcUrl),
  })
  return (await client.readContract({
    address: info.escrow,
    abi: auditEscrowAbi,
    functionName: 'owed',
    args: [token, address],
  })) as bigint
}

/** Withdraws everything owed to `account` in each of `tokens`; returns what was paid, per token. */
export async function withdrawAll({
  info,
  account,
  tokens,
}: {
  info: ChainInfo
  account: PrivateKeyAccount
  tokens: readonly Address[]
}): Promise<{ token: Address; amount: bigint; tx: Hex }[]> {
  const { client, wallet } = chainClients(info, account)
  const paid: { token: Address; amount: bigint; tx: Hex }[] = []
  for (const token of tokens) {
    const amount = await owedTo(info, account.address, token)
    if (amount === 0n) continue
    const tx = await mined(
      client,
      await wallet.writeContract({
        address: info.escrow,
        abi: auditEscrowAbi,
        functionName: 'withdraw',
        args: [token],
      }),
    )
    paid.push({ token, amount, tx })
  }
  if (paid.length === 0)
    throw new PaymentError(
      `Nothing is owed to ${account.address} by the escrow ${info.escrow} on chain ${info.chainId}.`,
    )
  return paid
}

/** The tokens a payee may be owed on this chain: native ETH, and the devnet's test token. */
export function payoutTokens(info: ChainInfo): Address[] {
  return info.token ? [NATIVE, info.token] : [NATIVE]
}

/** A token balance (native ETH for address(0)). */
export async function balanceOf(
  info: ChainInfo,
  address: Address,
  token: Address,
): Promise<bigint> {
  const client = createPublicClient({
    chain: chainFor(info.chainId, info.rpcUrl),
    transport: http(info.rpcUrl),
  })
  if (token === NATIVE) return client.getBalance({ address })
  return (await client.readContract({
    address: token,
    abi: testTokenAbi,
    functionName: 'balanceOf',
    args: [address],
  })) as bigint
}
