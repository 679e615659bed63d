import {
  type Address,
  ContractFunctionRevertedError,
  erc20Abi,
  getAddress,
  type Hex,
  isHex,
  type PublicClient,
  BaseError as ViemError,
} from 'viem'
import { auditEscrowAbi } from './artifacts.ts'
import { PaymentError } from './errors.ts'
import type { Wallet } from './escrow.ts'
import { NATIVE } from './native.ts'
import { chainFailure } from './payments.ts'

export {
  batchSettlementTypedData,
  impactPoolId,
  NO_MEMO,
  recoverBatchSigner,
  stakeMemo,
} from '../core/impact/pool-report.ts'

/** The most blocks `poolDeposits` reads in one call; callers page through longer ranges. */
export const MAX_POOL_LOG_BLOCKS = 10_000n

/** What the escrow's refusals of a deposit mean for a pool (payments.ts words them for audits). */
const POOL_REFUSALS: Record<string, string> = {
  TokenMismatch: 'the pool was first funded in another token ({0}); deposit in that one',
  ZeroAmount: 'the amount is zero',
  WrongValue: 'the ETH sent ({0}) is not the amount to deposit ({1})',
  TransferFailed: 'the token transfer failed; check the balance and allowance',
}

/** The escrow's refusal of a pool action as a PaymentError naming the contract error, if it is one. */
function poolRefusal(error: unknown, doing: string): PaymentError | undefined {
  if (!(error instanceof ViemError)) return undefined
  const revert = error.walk((e) => e instanceof ContractFunctionRevertedError) as
    | ContractFunctionRevertedError
    | undefined
  const name = revert?.data?.errorName
  const words = name && POOL_REFUSALS[name]
  if (!words) return undefined
  const args = (revert.data?.args ?? []).map(String)
  const why = words.replace(/\{(\d)\}/g, (_, i: string) => args[Number(i)] ?? '?')
  return new PaymentError(`The escrow refused to ${doing} (${name}): ${why}.`, { cause: error })
}

/** A deposit into a reward pool: which escrow and pool, what token and amount, and its memo. */
export type PoolDeposit = {
  readonly escrow: Address
  readonly poolId: Hex
  /** NATIVE (address(0)) for native ETH, sent as value; otherwise an ERC-20 the escrow pulls. */
  readonly token: Address
  /** Base units of `token`; positive. */
  readonly amount: bigint
  /** 32 bytes: NO_MEMO, or `stakeMemo(key)` for an auditor's stake. */
  readonly memo: Hex
}

/** A pool as the escrow holds it; `open` is false until the first deposit fixes `token`. */
export type PoolOnChain = {
  readonly token: Address
  /** Base units deposited, ever. */
  readonly funded: bigint
  /** Base units paid out in settled batches. */
  readonly paid: bigint
  /** How many batches settled: the number of the next batch. */
  readonly batches: bigint
  readonly open: boolean
}

/** One PoolDeposited event, decoded, with where it is on the chain. */
export type PoolDepositLog = {
  readonly from: Address
  readonly token: Address
  readonly amount: bigint
  readonly memo: Hex
  readonly txHash: Hex
  readonly blockNumber: bigint
  readonly logIndex: number
}

function assertDeposit({ amount, memo }: PoolDeposit): void {
  if (amount <= 0n)
    throw new PaymentError(
      `The deposit amount "${amount}" is not positive; deposit a whole number of base units above 0.`,
    )
  if (!isHex(memo, { strict: true }) || memo.length !== 66)
    throw new PaymentError(
      `The deposit memo "${String(memo).slice(0, 80)}" is not 32 bytes; pass NO_MEMO or stakeMemo(auditor key).`,
    )
}

async function mined(client: PublicClient, hash: Hex): Promise<Hex> {
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new PaymentError(`Transaction ${hash} reverted.`)
  return hash
}

/** Approves the escrow to pull `amount` of an ERC-20, unless its allowance already covers it. */
async function approveIfNeeded(wallet: Wallet, client: PublicClient, deposit: PoolDeposit) {
  const allowance = await client.readContract({
    address: deposit.token,
    abi: erc20Abi,
    functionName: 'allowance',
    args: [wallet.account.address, deposit.escrow],
  })
  if (allowance >= deposit.amount) return
  await mined(
    client,
    await wallet.writeContract({
      address: deposit.token,
      abi: erc20Abi,
      functionName: 'approve',
      args: [deposit.escrow, deposit.amount],
    }),
  )
}

/**
 * Deposits into a reward pool from the wallet's account (native ETH as value; an ERC-20 approved
 * first when its allowance is short), waits for the receipts and returns the deposit's tx hash.
 * @throws PaymentError when the input is bad or the escrow refuses (e.g. TokenMismatch); ChainError when the chain does not answer.
 * @example await depositToPool(wallet, client, { escrow, poolId, token: NATIVE, amount: 10n ** 18n, memo: NO_MEMO })
 */
export async function depositToPool(
  wallet: Wallet,
  client: PublicClient,
  deposit: PoolDeposit,
): Promise<Hex> {
  assertDeposit(deposit)
  const { escrow, poolId, token, amount, memo } = deposit
  try {
    if (token !== NATIVE) await approveIfNeeded(wallet, client, deposit)
    const { request } = await client.simulateContract({
      account: wallet.account,
      address: escrow,
      abi: auditEscrowAbi,
      functionName: 'deposit',
      args: [poolId, token, amount, memo],
      value: token === NATIVE ? amount : 0n,
    })
    return await mined(client, await wallet.writeContract(request))
  } catch (error) {
    const doing = `deposit into pool ${poolId}`
    throw poolRefusal(error, doing) ?? chainFailure(error, doing, wallet.account.address)
  }
}

/** Reads a pool from the escrow (all zero and `open: false` for a pool nobody deposited into). */
export async function readPool(
  client: PublicClient,
  escrow: Address,
  poolId: Hex,
): Promise<PoolOnChain> {
  const [token, funded, paid, batches, open] = await client.readContract({
    address: escrow,
    abi: auditEscrowAbi,
    functionName: 'pools',
    args: [poolId],
  })
  return { token: getAddress(token), funded, paid, batches, open }
}

/**
 * The PoolDeposited events of one pool in blocks `fromBlock`..`toBlock` (inclusive), in chain
 * order. At most `maxBlocks` blocks per call: the caller pages through longer ranges.
 * @throws PaymentError when the range is empty, reversed or longer than `maxBlocks`.
 */
export async function poolDeposits(
  client: PublicClient,
  escrow: Address,
  poolId: Hex,
  fromBlock: bigint,
  toBlock: bigint,
  { maxBlocks = MAX_POOL_LOG_BLOCKS }: { maxBlocks?: bigint } = {},
): Promise<PoolDepositLog[]> {
  if (fromBlock < 0n || toBlock < fromBlock || toBlock - fromBlock + 1n > maxBlocks)
    throw new PaymentError(
      `The block range "${fromBlock}..${toBlock}" is not a range of 1 to ${maxBlocks} blocks; read pool deposits page by page.`,
    )
  const logs = await client.getContractEvents({
    address: escrow,
    abi: auditEscrowAbi,
    eventName: 'PoolDeposited',
    args: { poolId },
    fromBlock,
    toBlock,
    strict: true,
  })
  return logs.map((log) => ({
    from: getAddress(log.args.from),
    token: getAddress(log.args.token),
    amount: log.args.amount,
    memo: log.args.memo,
    txHash: log.transactionHash,
    blockNumber: log.blockNumber,
    logIndex: log.logIndex,
  }))
}
