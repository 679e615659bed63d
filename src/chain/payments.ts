import {
  type Address,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  createPublicClient,
  createWalletClient,
  type Hex,
  HttpRequestError,
  http,
  InsufficientFundsError,
  type PrivateKeyAccount,
  type PublicClient,
  TimeoutError,
  BaseError as ViemError,
} from 'viem'
import { BaseError } from '../errors/base.ts'
import { auditEscrowAbi, testTokenAbi } from './artifacts.ts'
import type { ChainInfo } from './chain-service.ts'
import { ChainError, PaymentError } from './errors.ts'
import { chainFor, NATIVE, type Wallet } from './escrow.ts'

/** What the escrow's custom errors mean, for people. */
const ESCROW_REFUSALS: Record<string, string> = {
  AlreadySettled: 'the audit is already settled',
  TokenMismatch: 'the audit was first funded in another token; fund it in that one',
  NotSponsor: "only the audit's sponsor (its first funder) may add to it",
  NothingOwed: 'nothing is owed to this address in that token',
  TotalAboveFunding: 'the settlement pays more than the audit was funded with',
}

/**
 * Turns a chain client's error (viem's, pages long with the ABI and request) into one sentence
 * saying what `doing` needed: the contract's refusal, or ETH for gas.
 */
export function chainFailure(error: unknown, doing: string, address?: Address): BaseError {
  if (error instanceof BaseError) return error
  if (!(error instanceof ViemError)) throw error
  const revert = error.walk((e) => e instanceof ContractFunctionRevertedError) as
    | ContractFunctionRevertedError
    | undefined
  if (revert) {
    const name = revert.data?.errorName
    const why = (name && ESCROW_REFUSALS[name]) ?? name ?? revert.reason ?? 'it reverted'
    return new PaymentError(`The contract refused to ${doing}: ${why}.`, { cause: error })
  }
  // The chain did not answer: worth trying again later (503), unlike a refusal.
  if (error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError))
    return new ChainError(
      `Cannot ${doing}: the chain does not answer (${error.shortMessage.split('\n')[0]}); try again once it does.`,
      { cause: error },
    )
  if (error.walk((e) => e instanceof InsufficientFundsError))
    return new PaymentError(
      `Cannot ${doing}: ${address ?? 'the account'} has too little ETH for the transaction (its gas, and any ETH it sends); send it some first.`,
      { cause: error },
    )
  return new PaymentError(`Cannot ${doing}: ${error.shortMessage}`, { cause: error })
}

/** How `contractFailure` names one contract's refusals. */
export type ContractRefusals = {
  /** Words for each custom error, `{0}`, `{1}`… standing for its arguments. */
  readonly words: Readonly<Record<string, string>>
  /** The error for an address where no such contract answers. */
  notFound(message: string, cause: unknown): BaseError
  /** The error for a refusal, with the custom error's name as `reason`. */
  refused(message: string, reason: string, cause: unknown): BaseError
}

/**
 * A contract's custom-error refusal as one sentence (`The FeedAggregator refused to post (OldReport):
 * window 5 is not after…`), no contract at the address as `notFound`, and any other failure as
 * `chainFailure` says.
 */
export function contractFailure(
  error: unknown,
  doing: string,
  { words, notFound, refused }: ContractRefusals,
  what: string,
  address?: Address,
): BaseError {
  if (error instanceof ViemError && error.walk((e) => e instanceof ContractFunctionZeroDataError))
    return notFound(
      `Cannot ${doing}: no ${what} answers at that address; check the address and the chain (--rpc).`,
      error,
    )
  if (error instanceof ViemError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError) as
      | ContractFunctionRevertedError
      | undefined
    const reason = revert?.data?.errorName
    if (revert && reason) {
      const args = (revert.data?.args ?? []).map(String)
      const text = (words[reason] ?? reason).replace(
        /\{(\d)\}/g,
        (_, i: string) => args[Number(i)] ?? '?',
      )
      return refused(`The ${what} refused to ${doing} (${reason}): ${text}.`, reason, error)
    }
  }
  return chainFailure(error, doing, address)
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

/** What funding an audit takes: who pays, which audit, in which token, how much. */
export type FundRequest = {
  info: ChainInfo
  account: PrivateKeyAccount
  auditId: Hex
  token: Address
  amount: bigint
}

/**
 * Funds an audit's escrow from `account`: native ETH sent as value, or an ERC-20 approved then
 * pulled by the escrow. The first funder becomes the audit's sponsor (who gets the remainder).
 */
export async function fundAudit(request: FundRequest): Promise<Hex> {
  if (request.amount <= 0n)
    throw new PaymentError('The amount to fund must be a positive whole number of base units.')
  try {
    return await fund(request)
  } catch (error) {
    throw chainFailure(error, 'fund the audit', request.account.address)
  }
}

async function fund({ info, account, auditId, token, amount }: FundRequest): Promise<Hex> {
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
  try {
    if (info.devnet) await devnetGas(client, account.address)
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
  } catch (error) {
    throw chainFailure(error, 'withdraw', account.address)
  }
  if (paid.length === 0)
    throw new PaymentError(
      `Nothing is owed to ${account.address} by the escrow ${info.escrow} on chain ${info.chainId}.`,
    )
  return paid
}

/** Gas money for a payee on the devnet (play ETH): a new key could not withdraw otherwise. */
const DEVNET_GAS = 10n ** 17n

async function devnetGas(client: PublicClient, address: Address): Promise<void> {
  if ((await client.getBalance({ address })) >= DEVNET_GAS / 10n) return
  await client.request({
    method: 'anvil_setBalance' as never,
    params: [address, `0x${DEVNET_GAS.toString(16)}`] as never,
  })
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
