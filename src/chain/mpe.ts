import {
  type Abi,
  type Address,
  encodePacked,
  getAddress,
  type Hex,
  hashMessage,
  isAddress,
  isHex,
  keccak256,
  type Log,
  type PublicClient,
  parseEventLogs,
} from 'viem'
import { type DigestSigner, splitClaimSignature } from '../core/channel/claim.ts'
import { BaseError } from '../errors/base.ts'
import { multiPartyEscrowAbi, multiPartyEscrowBytecode, testTokenAbi } from './artifacts.ts'
import { ChainError } from './errors.ts'
import type { Wallet } from './escrow.ts'
import { contractFailure } from './payments.ts'

// Typed wrappers for MultiPartyEscrow (contracts/MultiPartyEscrow.sol), SingularityNET's payment
// channels: each sends one transaction, waits for it, and turns a refusal into an MpeError that
// names the contract's reason.

export {
  ChannelClaimError,
  claimDigest,
  claimHash,
  claimMessage,
  recoverClaimSigner,
  signClaim,
  splitClaimSignature,
} from '../core/channel/claim.ts'

/** The most claims `multiChannelClaim` sends in one transaction (about 30 000 gas each). */
export const MAX_CLAIMS_PER_TRANSACTION = 200
const UINT256_MAX = 2n ** 256n - 1n
/** The latest expiration block the contract stores (96 bits). */
export const MAX_EXPIRATION = 2n ** 96n - 1n

/** A payment channel as the contract holds it. */
export type Channel = {
  channelId: bigint
  /** Moves on at each claim and timeout; signatures of older nonces are spent. */
  nonce: bigint
  sender: Address
  /** Signs payments on the sender's behalf (the sender's own signatures count too). */
  signer: Address
  recipient: Address
  groupId: Hex
  /** Tokens still locked in the channel. */
  value: bigint
  /** From this block on the sender may take the value back. */
  expiration: bigint
}

/** What a mined escrow transaction did. */
export type MpeReceipt = { tx: Hex; gasUsed: bigint }

/** Thrown when MultiPartyEscrow (or its token) refuses a call; `reason` is the contract's error name. */
export class MpeError extends BaseError {
  override name = 'MpeError' as const
  override readonly kind = 'conflict' as const
  /** The contract's custom error (e.g. "InvalidSignature", "ClaimTooEarly"), or "Reverted". */
  readonly reason: string
  constructor(shortMessage: string, { reason, cause }: { reason: string; cause?: unknown }) {
    super(shortMessage, { cause })
    this.reason = reason
  }
}

/** Thrown when no MultiPartyEscrow answers at an address. */
export class MpeNotFoundError extends BaseError {
  override name = 'MpeNotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown before sending when an argument cannot be what the contract takes. */
export class MpeArgumentError extends BaseError {
  override name = 'MpeArgumentError' as const
  override readonly kind = 'invalid' as const
}

/** The escrow's ABI with the test token's errors, so a deposit's token refusal decodes too. */
const abi = [
  ...multiPartyEscrowAbi,
  ...testTokenAbi.filter((item) => item.type === 'error'),
] as const satisfies Abi

/** What the contract's (and the token's) errors mean, with their arguments as {0}, {1}, {2}. */
const REFUSALS: Record<string, string> = {
  InsufficientEscrowBalance: '{0} has {1} in the escrow and needs {2}; deposit more first',
  TokenTransferFailed: 'the token refused the transfer',
  InsufficientAllowance: 'the escrow may take {0} of the token and needs {1}; approve it first',
  InsufficientBalance: 'the token balance {0} is below {1}',
  ZeroSigner: 'the signer is the zero address',
  ExpirationTooFar: 'expiration block {0} does not fit in 96 bits',
  UnknownChannel: 'channel {0} does not exist',
  NotRecipient: '{0} is not the channel recipient {1}',
  NotSender: '{0} is not the channel sender {1}',
  InsufficientChannelValue: 'channel {0} holds {1}, less than {2}',
  ActualAbovePlanned: 'the actual amount {0} is above the signed amount {1}',
  InvalidSignature:
    'the signature for channel {0} recovers to {1}, neither its signer nor its sender (another nonce, amount or escrow?)',
  InvalidThirdPartySignature: 'the open request is signed by {1}, not by the sender {0}',
  MessageUsed: 'the open request {0} was used already',
  ExpirationDecreased: 'the new expiration {1} is before the current {0}',
  ClaimTooEarly: 'block {0} is before the expiration {1}',
  LengthMismatch: 'the claim arrays have different lengths',
}

/** An escrow refusal as an MpeError; other chain failures as chainFailure says. */
const mpeFailure = (error: unknown, doing: string, address?: Address): BaseError =>
  contractFailure(
    error,
    doing,
    {
      words: REFUSALS,
      notFound: (message, cause) => new MpeNotFoundError(message, { cause }),
      refused: (message, reason, cause) => new MpeError(message, { reason, cause }),
    },
    'MultiPartyEscrow',
    address,
  )

async function attempt<T>(doing: string, run: () => Promise<T>, address?: Address): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw mpeFailure(error, doing, address)
  }
}

function assertUint256(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > UINT256_MAX)
    throw new MpeArgumentError(
      `The ${name} "${String(value)}" is not a uint256; give a bigint from 0 to 2^256 - 1.`,
    )
}

function assertAddress(name: string, value: Address): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false }))
    throw new MpeArgumentError(
      `The ${name} "${String(value).slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  return getAddress(value)
}

function assertExpiration(expiration: bigint): void {
  if (typeof expiration !== 'bigint' || expiration < 0n || expiration > MAX_EXPIRATION)
    throw new MpeArgumentError(
      `The expiration "${String(expiration)}" is not a block number below 2^96; give the block from which the sender may take the funds back.`,
    )
}

function assertGroupId(groupId: Hex): void {
  if (typeof groupId !== 'string' || !isHex(groupId, { strict: true }) || groupId.length !== 66)
    throw new MpeArgumentError(
      `The group id "${String(groupId).slice(0, 80)}" is not 32 bytes; give 0x and 64 hex digits.`,
    )
}

type FunctionName = Extract<
  (typeof multiPartyEscrowAbi)[number],
  { type: 'function'; stateMutability: 'nonpayable' }
>['name']

/** Simulates (for the reason of a refusal), sends and waits; a mined revert is simulated again for its reason. */
async function send(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  functionName: FunctionName,
  args: readonly unknown[],
  doing: string,
): Promise<MpeReceipt & { logs: Log[] }> {
  const call = {
    account: wallet.account,
    address: escrow,
    abi,
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
        throw new MpeError(`The transaction to ${doing} (${hash}) reverted.`, {
          reason: 'Reverted',
        })
      }
      return { tx: hash, gasUsed: receipt.gasUsed, logs: receipt.logs }
    },
    wallet.account.address,
  )
}

/**
 * Deploys a MultiPartyEscrow over the ERC-20 at `token`.
 * @throws ChainError when the deployment creates no contract; PaymentError when it fails.
 */
export async function deployMultiPartyEscrow(
  wallet: Wallet,
  client: PublicClient,
  token: Address,
): Promise<Address> {
  const tokenAddress = assertAddress('token', token)
  return attempt(
    'deploy the escrow',
    async () => {
      const hash = await wallet.deployContract({
        abi: multiPartyEscrowAbi,
        bytecode: multiPartyEscrowBytecode,
        args: [tokenAddress],
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

/** Lets the escrow take `value` of the wallet's tokens when it may take less. */
async function approveShortfall(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  value: bigint,
): Promise<void> {
  const token = await readMpeToken(client, escrow)
  const allowance = await attempt('read the token allowance', () =>
    client.readContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'allowance',
      args: [wallet.account.address, escrow],
    }),
  )
  if (allowance >= value) return
  await attempt(
    `approve ${value} for the escrow`,
    async () => {
      const hash = await wallet.writeContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [escrow, value],
      })
      const receipt = await client.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success')
        throw new MpeError(`The approval ${hash} reverted.`, { reason: 'Reverted' })
    },
    wallet.account.address,
  )
}

/**
 * Deposits `value` tokens into the wallet's escrow balance, approving them first when needed.
 * @throws MpeError (e.g. InsufficientBalance of the token) when refused.
 */
export async function mpeDeposit(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  value: bigint,
): Promise<MpeReceipt> {
  assertUint256('deposit', value)
  await approveShortfall(wallet, client, escrow, value)
  return receiptOf(await send(wallet, client, escrow, 'deposit', [value], `deposit ${value}`))
}

/** Withdraws `value` of the wallet's escrow balance to the wallet. */
export async function mpeWithdraw(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  value: bigint,
): Promise<MpeReceipt> {
  assertUint256('withdrawal', value)
  return receiptOf(await send(wallet, client, escrow, 'withdraw', [value], `withdraw ${value}`))
}

/** Moves `value` of the wallet's escrow balance to `receiver`'s. */
export async function mpeTransfer(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  receiver: Address,
  value: bigint,
): Promise<MpeReceipt> {
  const to = assertAddress('receiver', receiver)
  assertUint256('transfer', value)
  return receiptOf(
    await send(wallet, client, escrow, 'transfer', [to, value], `transfer ${value} to ${to}`),
  )
}

/** The terms of a new channel. */
export type OpenChannelParams = {
  signer: Address
  recipient: Address
  /** The service's replica group (32 bytes). */
  groupId: Hex
  value: bigint
  /** From this block on the sender may take the value back. */
  expiration: bigint
}

function openArgs({ signer, recipient, groupId, value, expiration }: OpenChannelParams) {
  const s = assertAddress('signer', signer)
  const r = assertAddress('recipient', recipient)
  assertGroupId(groupId)
  assertUint256('channel value', value)
  assertExpiration(expiration)
  return [s, r, groupId, value, expiration] as const
}

/** The channel id a ChannelOpen event in the logs names. */
function openedChannel(receipt: MpeReceipt & { logs: Log[] }): MpeReceipt & { channelId: bigint } {
  const [event] = parseEventLogs({
    abi: multiPartyEscrowAbi,
    eventName: 'ChannelOpen',
    logs: receipt.logs,
  })
  if (!event)
    throw new ChainError(`Transaction ${receipt.tx} opened no channel; check the escrow address.`)
  return { tx: receipt.tx, gasUsed: receipt.gasUsed, channelId: event.args.channelId }
}

function receiptOf({ tx, gasUsed }: MpeReceipt): MpeReceipt {
  return { tx, gasUsed }
}

/**
 * Opens a channel from the wallet to `recipient`, locking `value` of its escrow balance.
 * @example const { channelId } = await openChannel(wallet, client, escrow, { signer, recipient, groupId, value: 1000n, expiration: block + 10_000n })
 */
export async function openChannel(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  params: OpenChannelParams,
): Promise<MpeReceipt & { channelId: bigint }> {
  const args = openArgs(params)
  return openedChannel(await send(wallet, client, escrow, 'openChannel', args, 'open a channel'))
}

/** Deposits `value` (approving it when needed) and opens a channel with it, in one transaction. */
export async function depositAndOpenChannel(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  params: OpenChannelParams,
): Promise<MpeReceipt & { channelId: bigint }> {
  const args = openArgs(params)
  await approveShortfall(wallet, client, escrow, params.value)
  return openedChannel(
    await send(wallet, client, escrow, 'depositAndOpenChannel', args, 'deposit and open a channel'),
  )
}

/** A sender's permission for `thirdParty` to open a channel for it, paid from the third party's balance. */
export type ThirdPartyOpen = OpenChannelParams & {
  sender: Address
  thirdParty: Address
  /** Makes each permission unique (the original's clients use a block number). */
  messageNonce: bigint
}

/**
 * The digest a sender signs to let a third party open a channel for it (SingularityNET's
 * `__openChannelByThirdParty` message, EIP-191 over the packed hash, no chain id).
 */
export function thirdPartyOpenDigest(escrow: Address, open: ThirdPartyOpen): Hex {
  const [signer, recipient, groupId, value, expiration] = openArgs(open)
  assertUint256('message nonce', open.messageNonce)
  const inner = keccak256(
    encodePacked(
      [
        'string',
        'address',
        'address',
        'address',
        'address',
        'bytes32',
        'uint256',
        'uint256',
        'uint256',
      ],
      [
        '__openChannelByThirdParty',
        assertAddress('escrow', escrow),
        assertAddress('third party', open.thirdParty),
        signer,
        recipient,
        groupId,
        value,
        expiration,
        open.messageNonce,
      ],
    ),
  )
  return hashMessage({ raw: inner })
}

/** Signs a third-party open request as its sender. */
export function signThirdPartyOpen(
  sender: DigestSigner,
  escrow: Address,
  open: ThirdPartyOpen,
): Promise<Hex> {
  return sender.sign({ hash: thirdPartyOpenDigest(escrow, open) })
}

/**
 * Opens a channel for `open.sender` on its signed permission, paid from the wallet's balance
 * (the wallet must be `open.thirdParty`).
 */
export async function openChannelByThirdParty(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  open: ThirdPartyOpen,
  signature: Hex,
): Promise<MpeReceipt & { channelId: bigint }> {
  const [signer, recipient, groupId, value, expiration] = openArgs(open)
  const sender = assertAddress('sender', open.sender)
  assertUint256('message nonce', open.messageNonce)
  const { v, r, s } = splitClaimSignature(signature)
  const args = [sender, signer, recipient, groupId, value, expiration, open.messageNonce, v, r, s]
  return openedChannel(
    await send(
      wallet,
      client,
      escrow,
      'openChannelByThirdParty',
      args,
      `open a channel for ${sender}`,
    ),
  )
}

/** One claim: the latest signed amount of a channel's current nonce, and what to take of it. */
export type ChannelClaimRequest = {
  channelId: bigint
  /** The signed cumulative amount. */
  plannedAmount: bigint
  /** What to take now, at most `plannedAmount` (defaults to it). */
  actualAmount?: bigint
  /** The sender's (or signer's) signature of `plannedAmount` for the channel's nonce. */
  signature: Hex
  /** Send the rest of the channel back to the sender (default false). */
  isSendback?: boolean
}

function claimArgs(claim: ChannelClaimRequest) {
  assertUint256('channel id', claim.channelId)
  assertUint256('planned amount', claim.plannedAmount)
  const actual = claim.actualAmount ?? claim.plannedAmount
  assertUint256('actual amount', actual)
  const { v, r, s } = splitClaimSignature(claim.signature)
  return { channelId: claim.channelId, actual, v, r, s, isSendback: claim.isSendback ?? false }
}

/**
 * Claims a channel the wallet receives: its escrow balance gains the actual amount, and the
 * channel moves to the next nonce.
 * @throws MpeError (InvalidSignature, NotRecipient, InsufficientChannelValue, …) when refused.
 */
export async function channelClaim(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  claim: ChannelClaimRequest,
): Promise<MpeReceipt> {
  const { channelId, actual, v, r, s, isSendback } = claimArgs(claim)
  const args = [channelId, actual, claim.plannedAmount, v, r, s, isSendback]
  return receiptOf(
    await send(wallet, client, escrow, 'channelClaim', args, `claim channel ${channelId}`),
  )
}

/**
 * Claims several channels in one transaction; one refusal refuses them all.
 * @throws MpeArgumentError when empty or above MAX_CLAIMS_PER_TRANSACTION; MpeError when refused.
 */
export async function multiChannelClaim(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  claims: readonly ChannelClaimRequest[],
): Promise<MpeReceipt> {
  if (!Array.isArray(claims) || claims.length === 0 || claims.length > MAX_CLAIMS_PER_TRANSACTION)
    throw new MpeArgumentError(
      `A multi-channel claim takes 1 to ${MAX_CLAIMS_PER_TRANSACTION} claims, not ${String(claims?.length)}; split them.`,
    )
  const parts = claims.map(claimArgs)
  const args = [
    parts.map((p) => p.channelId),
    parts.map((p) => p.actual),
    claims.map((c) => c.plannedAmount),
    parts.map((p) => p.isSendback),
    parts.map((p) => p.v),
    parts.map((p) => p.r),
    parts.map((p) => p.s),
  ]
  return receiptOf(
    await send(
      wallet,
      client,
      escrow,
      'multiChannelClaim',
      args,
      `claim ${claims.length} channels`,
    ),
  )
}

/** Moves a channel's expiration to `newExpiration`, not earlier than now (sender only). */
export async function channelExtend(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  channelId: bigint,
  newExpiration: bigint,
): Promise<MpeReceipt> {
  assertUint256('channel id', channelId)
  assertExpiration(newExpiration)
  return receiptOf(
    await send(
      wallet,
      client,
      escrow,
      'channelExtend',
      [channelId, newExpiration],
      `extend channel ${channelId}`,
    ),
  )
}

/** Adds `amount` of the wallet's escrow balance to a channel (anyone may). */
export async function channelAddFunds(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  channelId: bigint,
  amount: bigint,
): Promise<MpeReceipt> {
  assertUint256('channel id', channelId)
  assertUint256('amount', amount)
  return receiptOf(
    await send(
      wallet,
      client,
      escrow,
      'channelAddFunds',
      [channelId, amount],
      `add ${amount} to channel ${channelId}`,
    ),
  )
}

/** Extends a channel and adds funds to it in one transaction (sender only). */
export async function channelExtendAndAddFunds(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  channelId: bigint,
  newExpiration: bigint,
  amount: bigint,
): Promise<MpeReceipt> {
  assertUint256('channel id', channelId)
  assertExpiration(newExpiration)
  assertUint256('amount', amount)
  return receiptOf(
    await send(
      wallet,
      client,
      escrow,
      'channelExtendAndAddFunds',
      [channelId, newExpiration, amount],
      `extend and fund channel ${channelId}`,
    ),
  )
}

/** Takes an expired channel's value back to the sender's escrow balance (sender only). */
export async function channelClaimTimeout(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  channelId: bigint,
): Promise<MpeReceipt> {
  assertUint256('channel id', channelId)
  return receiptOf(
    await send(
      wallet,
      client,
      escrow,
      'channelClaimTimeout',
      [channelId],
      `take back channel ${channelId}`,
    ),
  )
}

/**
 * Reads a channel, or undefined when no channel has that id.
 * @throws MpeNotFoundError when no escrow is at the address; ChainError when the chain does not answer.
 */
export async function readChannel(
  client: PublicClient,
  escrow: Address,
  channelId: bigint,
): Promise<Channel | undefined> {
  assertUint256('channel id', channelId)
  return attempt(`read channel ${channelId}`, async () => {
    const blockNumber = await client.getBlockNumber({ cacheTime: 0 })
    const at = { address: escrow, abi: multiPartyEscrowAbi, blockNumber } as const
    const [next, fields] = await Promise.all([
      client.readContract({ ...at, functionName: 'nextChannelId' }),
      client.readContract({ ...at, functionName: 'channels', args: [channelId] }),
    ])
    if (channelId >= next) return undefined
    const [nonce, sender, signer, recipient, groupId, value, expiration] = fields
    return { channelId, nonce, sender, signer, recipient, groupId, value, expiration }
  })
}

/** The tokens `owner` has in the escrow outside channels. */
export function readMpeBalance(
  client: PublicClient,
  escrow: Address,
  owner: Address,
): Promise<bigint> {
  const account = assertAddress('owner', owner)
  return attempt(`read the escrow balance of ${account}`, () =>
    client.readContract({
      address: escrow,
      abi: multiPartyEscrowAbi,
      functionName: 'balances',
      args: [account],
    }),
  )
}

/** The ERC-20 the escrow holds. */
export function readMpeToken(client: PublicClient, escrow: Address): Promise<Address> {
  return attempt('read the escrow token', () =>
    client.readContract({ address: escrow, abi: multiPartyEscrowAbi, functionName: 'token' }),
  )
}

/** The id the next channel gets (the number of channels). */
export function readNextChannelId(client: PublicClient, escrow: Address): Promise<bigint> {
  return attempt('read the next channel id', () =>
    client.readContract({
      address: escrow,
      abi: multiPartyEscrowAbi,
      functionName: 'nextChannelId',
    }),
  )
}
