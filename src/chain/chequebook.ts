import {
  type Abi,
  type Address,
  erc20Abi,
  getAddress,
  type Hex,
  isAddress,
  isHex,
  keccak256,
  type Log,
  type PublicClient,
  parseEventLogs,
} from 'viem'
import type { SignedCheque } from '../core/swap/cheque.ts'
import { BaseError } from '../errors/base.ts'
import { chequebookAbi, chequebookBytecode, testTokenAbi } from './artifacts.ts'
import { ChainError } from './errors.ts'
import type { Wallet } from './escrow.ts'
import { contractFailure } from './payments.ts'

// Typed wrappers for Chequebook (contracts/Chequebook.sol), Swarm's ERC20SimpleSwap interface:
// each sends one transaction, waits for it, and turns a refusal into a ChequebookError that
// names the contract's reason.

const UINT256_MAX = 2n ** 256n - 1n

/** Thrown when a chequebook (or its token) refuses a call; `reason` is the contract's error name. */
export class ChequebookError extends BaseError {
  override name = 'ChequebookError' as const
  override readonly kind = 'conflict' as const
  /** The contract's custom error (e.g. "NotIssuerSignature", "AboveLiquidBalance"), or "Reverted". */
  readonly reason: string
  constructor(shortMessage: string, { reason, cause }: { reason: string; cause?: unknown }) {
    super(shortMessage, { cause })
    this.reason = reason
  }
}

/** Thrown when no chequebook answers at an address. */
export class ChequebookNotFoundError extends BaseError {
  override name = 'ChequebookNotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown before sending when an argument cannot be what the contract takes. */
export class ChequebookArgumentError extends BaseError {
  override name = 'ChequebookArgumentError' as const
  override readonly kind = 'invalid' as const
}

/** A chequebook's state, read at one block. */
export type ChequebookView = {
  issuer: Address
  token: Address
  /** Tokens the chequebook holds. */
  balance: bigint
  /** The part of `balance` no hard deposit reserves. */
  liquidBalance: bigint
  totalPaidOut: bigint
  totalHardDeposit: bigint
  /** Set for ever once a cheque could not be paid in full. */
  bounced: boolean
}

/** A beneficiary's hard deposit: reserved tokens, and a prepared decrease. */
export type HardDeposit = {
  amount: bigint
  decreaseAmount: bigint
  /** Seconds a decrease waits; 0 means the chequebook's default. */
  timeout: bigint
  /** Unix time from which the prepared decrease applies; 0 when none is prepared. */
  canBeDecreasedAt: bigint
}

/** What cashing a cheque did. */
export type Cashed = {
  txHash: Hex
  /** What the chequebook paid (recipient and caller together), from ChequeCashed. */
  paid: bigint
  cumulativePayout: bigint
  /** The chequebook could not pay the whole increase (ChequeBounced in the same receipt). */
  bounced: boolean
}

/** The runtime code every chequebook has: no immutables, so the constructor's arguments leave no trace. */
function runtimeCode(creation: Hex): Hex {
  const code = creation.slice(2)
  // solc's constructor ends: PUSH2 length, DUP1, PUSH2 offset, PUSH0, CODECOPY, PUSH0, RETURN, INVALID;
  // the runtime is the rest of the creation code.
  for (const m of code.matchAll(/61([0-9a-f]{4})8061([0-9a-f]{4})5f395ff3fe/g)) {
    const length = Number.parseInt(m[1]!, 16)
    const offset = Number.parseInt(m[2]!, 16)
    if (m.index % 2 === 0 && offset + length === code.length / 2)
      return `0x${code.slice(offset * 2)}`
  }
  throw new ChainError(
    'The Chequebook artifact has no runtime code where solc puts it; run "npm run contracts" and check src/chain/chequebook.ts.',
  )
}

/** keccak256 of a chequebook's runtime code: how `isChequebook` knows one. */
export const CHEQUEBOOK_CODE_HASH: Hex = keccak256(runtimeCode(chequebookBytecode))

/** The chequebook's ABI with the test token's errors, so a token refusal decodes too. */
const abi = [
  ...chequebookAbi,
  ...testTokenAbi.filter((item) => item.type === 'error'),
] as const satisfies Abi

/** What the contract's (and the token's) errors mean, with their arguments as {0}, {1}, {2}. */
const REFUSALS: Record<string, string> = {
  ZeroIssuer: 'the issuer is the zero address',
  NotAToken: 'no contract is at the token address {0}',
  NotIssuer: "{0} is not the issuer {1}; send it from the issuer's account",
  MalformedSignature:
    'a signature ({0} bytes) is not 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s, or recovers no key; sign it again',
  NotIssuerSignature:
    'the cheque is signed by {0}, not by the issuer {1} (another chequebook, beneficiary, amount or chain?)',
  NotBeneficiarySignature:
    'the consent is signed by {0}, not by the beneficiary {1} (another caller, recipient, amount or chain?)',
  CumulativeBelowPaidOut:
    'the cumulative payout {0} is below the {1} already paid; cash the latest cheque',
  CallerPayoutAbovePayout: 'the caller payout {0} is above the {1} the cheque pays',
  AboveLiquidBalance: '{0} is above the liquid balance {1} (hard deposits are reserved)',
  HardDepositAboveBalance:
    'the hard deposits would total {0}, above the balance {1}; deposit more first',
  DecreaseAboveHardDeposit: 'the decrease {1} for {0} is above its hard deposit {2}',
  NoDecreasePrepared: 'no decrease of the hard deposit for {0} is prepared; prepare one first',
  DecreaseNotDue:
    'the hard deposit for {0} may be decreased from unix time {1} on, not at {2}; wait until then',
  TokenTransferFailed: 'the token refused the transfer',
  InsufficientBalance: 'the token balance {0} is below {1}',
}

async function attempt<T>(
  doing: string,
  run: () => Promise<T>,
  address?: Address,
  what = 'chequebook',
): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw contractFailure(
      error,
      doing,
      {
        words: REFUSALS,
        notFound: (message, cause) => new ChequebookNotFoundError(message, { cause }),
        refused: (message, reason, cause) => new ChequebookError(message, { reason, cause }),
      },
      what,
      address,
    )
  }
}

function assertUint256(name: string, value: bigint): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > UINT256_MAX)
    throw new ChequebookArgumentError(
      `The ${name} "${String(value).slice(0, 80)}" is not a uint256; give a bigint from 0 to 2^256 - 1.`,
    )
  return value
}

function assertAddress(name: string, value: Address): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false }))
    throw new ChequebookArgumentError(
      `The ${name} "${String(value).slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  return getAddress(value)
}

function assertSignature(name: string, value: Hex): Hex {
  if (typeof value !== 'string' || !isHex(value, { strict: true }) || value.length !== 132)
    throw new ChequebookArgumentError(
      `The ${name} "${String(value).slice(0, 140)}" is not 65 bytes of hex; give the r ‖ s ‖ v signature as signed.`,
    )
  return value
}

type FunctionName = Extract<
  (typeof chequebookAbi)[number],
  { type: 'function'; stateMutability: 'nonpayable' }
>['name']

type Mined = { hash: Hex; logs: Log[] }

/** Simulates (for the reason of a refusal), sends and waits; a mined revert is simulated again for its reason. */
function send(
  wallet: Wallet,
  client: PublicClient,
  address: Address,
  functionName: FunctionName | 'transfer',
  args: readonly unknown[],
  doing: string,
): Promise<Mined> {
  const call = {
    account: wallet.account,
    address,
    abi: functionName === 'transfer' ? [...erc20Abi, ...abi] : abi,
    functionName,
    args,
  } as unknown as Parameters<PublicClient['simulateContract']>[0]
  return attempt(
    doing,
    async () => {
      const { request } = await client.simulateContract(call)
      const hash = await wallet.writeContract(request as Parameters<Wallet['writeContract']>[0])
      const receipt = await client.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success') {
        await client.simulateContract(call)
        throw new ChequebookError(`The transaction to ${doing} (${hash}) reverted.`, {
          reason: 'Reverted',
        })
      }
      return { hash, logs: receipt.logs }
    },
    wallet.account.address,
    functionName === 'transfer' ? "chequebook's token" : 'chequebook',
  )
}

/**
 * Deploys a chequebook over the ERC-20 at `token`; the wallet's account is its issuer.
 * @throws ChequebookArgumentError when no contract is at `token`; ChainError when the deployment creates none.
 */
export async function deployChequebook(
  wallet: Wallet,
  client: PublicClient,
  { token, hardDepositTimeout = 86_400n }: { token: Address; hardDepositTimeout?: bigint },
): Promise<Address> {
  const tokenAddress = assertAddress('token', token)
  assertUint256('hard deposit timeout', hardDepositTimeout)
  return attempt(
    'deploy a chequebook',
    async () => {
      const code = await client.getCode({ address: tokenAddress })
      if (!code || code === '0x')
        throw new ChequebookArgumentError(
          `No contract is at the token address "${tokenAddress}"; give the ERC-20 the cheques pay in.`,
        )
      const hash = await wallet.deployContract({
        abi: chequebookAbi,
        bytecode: chequebookBytecode,
        args: [wallet.account.address, tokenAddress, hardDepositTimeout],
      })
      const receipt = await client.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success' || !receipt.contractAddress)
        throw new ChainError(
          `Deployment ${hash} created no contract; check the chain at the RPC URL.`,
        )
      return getAddress(receipt.contractAddress)
    },
    wallet.account.address,
  )
}

/**
 * Whether `address` holds a chequebook: its runtime code hash is ours (so its rules are ours).
 * @throws ChainError when the chain does not answer.
 */
export async function isChequebook(client: PublicClient, address: Address): Promise<boolean> {
  const at = assertAddress('chequebook', address)
  const code = await attempt(`read the code at ${at}`, () => client.getCode({ address: at }))
  return !!code && code !== '0x' && keccak256(code) === CHEQUEBOOK_CODE_HASH
}

/**
 * Reads a chequebook's issuer, token, balances and bounced flag at one block.
 * @throws ChequebookNotFoundError when no chequebook answers at the address.
 */
export async function readChequebook(
  client: PublicClient,
  chequebook: Address,
): Promise<ChequebookView> {
  const address = assertAddress('chequebook', chequebook)
  return attempt('read the chequebook', async () => {
    const blockNumber = await client.getBlockNumber({ cacheTime: 0 })
    const at = { address, abi: chequebookAbi, blockNumber } as const
    const [issuer, token, balance, liquidBalance, totalPaidOut, totalHardDeposit, bounced] =
      await Promise.all([
        client.readContract({ ...at, functionName: 'issuer' }),
        client.readContract({ ...at, functionName: 'token' }),
        client.readContract({ ...at, functionName: 'balance' }),
        client.readContract({ ...at, functionName: 'liquidBalance' }),
        client.readContract({ ...at, functionName: 'totalPaidOut' }),
        client.readContract({ ...at, functionName: 'totalHardDeposit' }),
        client.readContract({ ...at, functionName: 'bounced' }),
      ])
    return { issuer, token, balance, liquidBalance, totalPaidOut, totalHardDeposit, bounced }
  })
}

/** What the chequebook has paid `beneficiary` so far. */
export function readPaidOut(
  client: PublicClient,
  chequebook: Address,
  beneficiary: Address,
): Promise<bigint> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  return attempt(`read what ${account} was paid`, () =>
    client.readContract({ address, abi: chequebookAbi, functionName: 'paidOut', args: [account] }),
  )
}

/** What a cheque to `beneficiary` can draw on now: the liquid balance and its hard deposit. */
export function readLiquidBalanceFor(
  client: PublicClient,
  chequebook: Address,
  beneficiary: Address,
): Promise<bigint> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  return attempt(`read the liquid balance for ${account}`, () =>
    client.readContract({
      address,
      abi: chequebookAbi,
      functionName: 'liquidBalanceFor',
      args: [account],
    }),
  )
}

/** `beneficiary`'s hard deposit and its prepared decrease. */
export async function readHardDeposit(
  client: PublicClient,
  chequebook: Address,
  beneficiary: Address,
): Promise<HardDeposit> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  const [amount, decreaseAmount, timeout, canBeDecreasedAt] = await attempt(
    `read the hard deposit for ${account}`,
    () =>
      client.readContract({
        address,
        abi: chequebookAbi,
        functionName: 'hardDeposits',
        args: [account],
      }),
  )
  return { amount, decreaseAmount, timeout, canBeDecreasedAt }
}

/** The payout a mined cash transaction reports. */
function cashedFrom(chequebook: Address, { hash, logs }: Mined): Cashed {
  const events = parseEventLogs({ abi: chequebookAbi, logs }).filter(
    (log) => getAddress(log.address) === chequebook,
  )
  const cashed = events.find((log) => log.eventName === 'ChequeCashed')
  if (cashed?.eventName !== 'ChequeCashed')
    throw new ChainError(`Transaction ${hash} cashed no cheque; check the chequebook address.`)
  return {
    txHash: hash,
    paid: cashed.args.totalPayout,
    cumulativePayout: cashed.args.cumulativePayout,
    bounced: events.some((log) => log.eventName === 'ChequeBounced'),
  }
}

function chequeArgs(cheque: SignedCheque) {
  return {
    chequebook: assertAddress('chequebook', cheque.chequebook),
    beneficiary: assertAddress('beneficiary', cheque.beneficiary),
    cumulativePayout: assertUint256('cumulative payout', cheque.cumulativePayout),
    signature: assertSignature('issuer signature', cheque.signature),
  }
}

/**
 * Cashes a cheque as its beneficiary (the wallet's account), paying `recipient` (default: the
 * beneficiary) what the cheque adds to what was paid, as far as the chequebook can.
 * @throws ChequebookArgumentError when the wallet is not the beneficiary; ChequebookError when refused.
 * @example const { paid, bounced } = await cashChequeBeneficiary(wallet, client, { cheque })
 */
export async function cashChequeBeneficiary(
  wallet: Wallet,
  client: PublicClient,
  { cheque, recipient }: { cheque: SignedCheque; recipient?: Address },
): Promise<Cashed> {
  const { chequebook, beneficiary, cumulativePayout, signature } = chequeArgs(cheque)
  if (getAddress(wallet.account.address) !== beneficiary)
    throw new ChequebookArgumentError(
      `The wallet ${wallet.account.address} is not the cheque's beneficiary ${beneficiary}; cash it with the beneficiary's account, or with cashChequeFor and its consent.`,
    )
  const to = recipient === undefined ? beneficiary : assertAddress('recipient', recipient)
  const args = [to, cumulativePayout, signature]
  const doing = `cash a cheque of ${cumulativePayout} for ${beneficiary}`
  return cashedFrom(
    chequebook,
    await send(wallet, client, chequebook, 'cashChequeBeneficiary', args, doing),
  )
}

/**
 * Cashes a cheque for its beneficiary, who signed a Cashout (signCashout) naming the wallet's
 * account as sender, `recipient` and `callerPayout`; the wallet's account gets `callerPayout`.
 * @throws ChequebookError when refused (NotBeneficiarySignature, CallerPayoutAbovePayout, …).
 */
export async function cashChequeFor(
  wallet: Wallet,
  client: PublicClient,
  {
    cheque,
    recipient,
    callerPayout,
    beneficiarySignature,
  }: { cheque: SignedCheque; recipient: Address; callerPayout: bigint; beneficiarySignature: Hex },
): Promise<Cashed> {
  const { chequebook, beneficiary, cumulativePayout, signature } = chequeArgs(cheque)
  const args = [
    beneficiary,
    assertAddress('recipient', recipient),
    cumulativePayout,
    assertSignature('beneficiary signature', beneficiarySignature),
    assertUint256('caller payout', callerPayout),
    signature,
  ]
  const doing = `cash a cheque of ${cumulativePayout} for ${beneficiary}`
  return cashedFrom(chequebook, await send(wallet, client, chequebook, 'cashCheque', args, doing))
}

/** The token a chequebook pays in. */
export function readChequebookToken(client: PublicClient, chequebook: Address): Promise<Address> {
  const address = assertAddress('chequebook', chequebook)
  return attempt('read the chequebook token', () =>
    client.readContract({ address, abi: chequebookAbi, functionName: 'token' }),
  )
}

/**
 * Funds a chequebook: an ERC-20 transfer of `amount` of its token from the wallet.
 * @throws ChequebookError when the token refuses (e.g. InsufficientBalance).
 */
export async function depositToChequebook(
  wallet: Wallet,
  client: PublicClient,
  { chequebook, amount }: { chequebook: Address; amount: bigint },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const value = assertUint256('deposit', amount)
  const token = await readChequebookToken(client, address)
  const doing = `deposit ${value} into the chequebook`
  return (await send(wallet, client, token, 'transfer', [address, value], doing)).hash
}

/**
 * Sends `amount` of the chequebook's liquid balance to its issuer (the wallet's account).
 * @throws ChequebookError (NotIssuer, AboveLiquidBalance) when refused.
 */
export async function withdrawFromChequebook(
  wallet: Wallet,
  client: PublicClient,
  { chequebook, amount }: { chequebook: Address; amount: bigint },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const value = assertUint256('withdrawal', amount)
  const doing = `withdraw ${value} from the chequebook`
  return (await send(wallet, client, address, 'withdraw', [value], doing)).hash
}

/** Reserves `amount` more of the balance for `beneficiary` (issuer only). */
export async function increaseHardDeposit(
  wallet: Wallet,
  client: PublicClient,
  {
    chequebook,
    beneficiary,
    amount,
  }: { chequebook: Address; beneficiary: Address; amount: bigint },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  const value = assertUint256('hard deposit increase', amount)
  const doing = `increase the hard deposit for ${account} by ${value}`
  return (await send(wallet, client, address, 'increaseHardDeposit', [account, value], doing)).hash
}

/** Announces a decrease of `beneficiary`'s hard deposit by `amount`, due after its timeout (issuer only). */
export async function prepareDecreaseHardDeposit(
  wallet: Wallet,
  client: PublicClient,
  {
    chequebook,
    beneficiary,
    amount,
  }: { chequebook: Address; beneficiary: Address; amount: bigint },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  const value = assertUint256('hard deposit decrease', amount)
  const doing = `prepare a decrease of the hard deposit for ${account} by ${value}`
  const args = [account, value]
  return (await send(wallet, client, address, 'prepareDecreaseHardDeposit', args, doing)).hash
}

/** Applies the prepared decrease of `beneficiary`'s hard deposit once it is due (anyone may). */
export async function decreaseHardDeposit(
  wallet: Wallet,
  client: PublicClient,
  { chequebook, beneficiary }: { chequebook: Address; beneficiary: Address },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const account = assertAddress('beneficiary', beneficiary)
  const doing = `decrease the hard deposit for ${account}`
  return (await send(wallet, client, address, 'decreaseHardDeposit', [account], doing)).hash
}

/**
 * Sets how many seconds decreases of `beneficiary`'s hard deposit wait, with the beneficiary's
 * consent (signCustomDecreaseTimeout); issuer only.
 */
export async function setCustomHardDepositTimeout(
  wallet: Wallet,
  client: PublicClient,
  {
    chequebook,
    beneficiary,
    timeout,
    beneficiarySignature,
  }: { chequebook: Address; beneficiary: Address; timeout: bigint; beneficiarySignature: Hex },
): Promise<Hex> {
  const address = assertAddress('chequebook', chequebook)
  const args = [
    assertAddress('beneficiary', beneficiary),
    assertUint256('timeout', timeout),
    assertSignature('beneficiary signature', beneficiarySignature),
  ]
  const doing = `set the hard deposit timeout for ${args[0]} to ${timeout}`
  return (await send(wallet, client, address, 'setCustomHardDepositTimeout', args, doing)).hash
}
