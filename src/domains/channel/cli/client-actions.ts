import { type Address, getAddress, type Hex, isAddress, isAddressEqual } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  type Channel,
  channelAddFunds,
  channelClaimTimeout,
  channelExtend,
  channelExtendAndAddFunds,
  depositAndOpenChannel,
  mpeDeposit,
  mpeWithdraw,
  readChannel,
  readMpeBalance,
} from '../../../chain/mpe.ts'
import { formatAmount, toTokenUnit } from '../../../core/amount.ts'
import { DEFAULT_CHANNEL_BLOCKS, type ExpiryOptions, expirationOf } from './client-args.ts'
import { ChannelClientError } from './client-errors.ts'
import type { ClientChannelState, ClientStateStore } from './client-state.ts'
import { accessFor, channelReader, type EscrowAccess, walletOf } from './escrow-access.ts'
import { type PaidCallResult, paidCall } from './paid-call.ts'
import { recoverChannelState } from './recover-state.ts'
import { fetchServiceTerms, serviceUrl } from './service-terms.ts'

// What each client command does on the chain and at the service, apart from how it prints: the
// commands (client-commands.ts) parse and print, these act (and tests call them directly).

type Expiry = ExpiryOptions

/** Reads a channel, or says clearly that there is none. */
async function channelOrFail(access: EscrowAccess, channelId: bigint): Promise<Channel> {
  const channel = await readChannel(access.client, access.escrow, channelId)
  if (channel) return channel
  throw new ChannelClientError(
    `Channel "${channelId}" does not exist in escrow ${access.escrow}; list yours with "rwa channel state <id>", or open one with "rwa channel open".`,
  )
}

function assertSender(channel: Channel, key: Hex, doing: string): void {
  const me = privateKeyToAccount(key).address
  if (isAddressEqual(channel.sender, me)) return
  throw new ChannelClientError(
    `Only channel ${channel.channelId}'s sender ${channel.sender} may ${doing}, not ${me}; use its --eth-key.`,
  )
}

/** Opens a channel to a service by its terms, from `key`, and remembers it at nonce 0. */
export async function openChannelFor(
  access: EscrowAccess,
  key: Hex,
  {
    amount,
    expiry,
    signer,
    state,
  }: { amount: bigint; expiry: Expiry; signer?: string | undefined; state: ClientStateStore },
) {
  const { terms, service } = access
  if (!terms || !service) throw new ChannelClientError('Opening a channel needs the service URL.')
  if (amount <= 0n) throw new ChannelClientError('A channel needs a value above 0; give an amount.')
  if (signer !== undefined && !isAddress(signer, { strict: false }))
    throw new ChannelClientError(
      `--signer "${signer.slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  const currentBlock = await access.client.getBlockNumber({ cacheTime: 0 })
  const expiration = expirationOf(expiry, currentBlock, DEFAULT_CHANNEL_BLOCKS)
  // The service refuses payments once the channel is within its threshold of expiring.
  const usableUntil = currentBlock + terms.expirationThreshold
  if (expiration <= usableUntil + 1n)
    throw new ChannelClientError(
      `A channel expiring at block ${expiration} is useless: the service refuses payments within ${terms.expirationThreshold} blocks of expiry, and the chain is at block ${currentBlock}; give --blocks above ${terms.expirationThreshold + 1n}.`,
    )
  const wallet = walletOf(access, key)
  const params = {
    signer: getAddress(signer ?? wallet.account.address),
    recipient: terms.recipient,
    groupId: terms.groupId,
    value: amount,
    expiration,
  }
  const { channelId, tx } = await depositAndOpenChannel(
    wallet,
    access.client,
    access.escrow,
    params,
  )
  state.put(
    { origin: service.origin, escrow: access.escrow, channelId },
    { nonce: 0n, authorised: 0n },
  )
  return { channelId, tx, ...params, escrow: access.escrow, token: access.unit }
}

/** Adds `amount` to a channel, depositing first what the escrow balance lacks. */
export async function addFunds(access: EscrowAccess, key: Hex, channelId: bigint, amount: bigint) {
  if (amount <= 0n) throw new ChannelClientError('Give an amount above 0 to add.')
  const channel = await channelOrFail(access, channelId)
  const wallet = walletOf(access, key)
  const deposited = await depositShortfall(access, wallet, amount)
  const { tx } = await channelAddFunds(wallet, access.client, access.escrow, channelId, amount)
  return { channelId, tx, deposited, value: channel.value + amount }
}

async function depositShortfall(
  access: EscrowAccess,
  wallet: ReturnType<typeof walletOf>,
  amount: bigint,
): Promise<bigint> {
  const balance = await readMpeBalance(access.client, access.escrow, wallet.account.address)
  if (balance >= amount) return 0n
  await mpeDeposit(wallet, access.client, access.escrow, amount - balance)
  return amount - balance
}

/** Moves a channel's expiration later (sender only), adding `amount` in the same transaction when above 0. */
export async function extendChannel(
  access: EscrowAccess,
  key: Hex,
  channelId: bigint,
  expiry: Expiry,
  amount = 0n,
) {
  const channel = await channelOrFail(access, channelId)
  assertSender(channel, key, 'extend it')
  const currentBlock = await access.client.getBlockNumber({ cacheTime: 0 })
  const expiration = expirationOf(expiry, currentBlock)
  if (expiration < channel.expiration)
    throw new ChannelClientError(
      `Channel ${channelId} already expires at block ${channel.expiration}, after ${expiration}; an expiration only moves later.`,
    )
  const wallet = walletOf(access, key)
  if (amount === 0n) {
    const { tx } = await channelExtend(wallet, access.client, access.escrow, channelId, expiration)
    return { channelId, tx, expiration, value: channel.value, deposited: 0n }
  }
  const deposited = await depositShortfall(access, wallet, amount)
  const { tx } = await channelExtendAndAddFunds(
    wallet,
    access.client,
    access.escrow,
    channelId,
    expiration,
    amount,
  )
  return { channelId, tx, expiration, value: channel.value + amount, deposited }
}

/** A channel on chain and, when reached through a service with `key`, the service's signed view. */
export async function channelState(
  access: EscrowAccess,
  channelId: bigint,
  { key, state }: { key?: Hex | undefined; state: ClientStateStore },
): Promise<{
  escrow: Address
  currentBlock: bigint
  chain: Channel
  service?: ClientChannelState
}> {
  const [chain, currentBlock] = await Promise.all([
    channelOrFail(access, channelId),
    access.client.getBlockNumber({ cacheTime: 0 }),
  ])
  const base = { escrow: access.escrow, currentBlock, chain }
  if (!access.terms || !access.service || key === undefined) return base
  const service = await recoverChannelState({
    service: access.service,
    channelId,
    account: privateKeyToAccount(key),
    terms: access.terms,
    readChannel: channelReader(access.client, access.escrow),
  })
  state.put({ origin: access.service.origin, escrow: access.escrow, channelId }, service)
  return { ...base, service }
}

/** Takes an expired channel's value back (sender only); refuses clearly before expiry. */
export async function claimTimeout(
  access: EscrowAccess,
  key: Hex,
  channelId: bigint,
  state: ClientStateStore,
) {
  const channel = await channelOrFail(access, channelId)
  assertSender(channel, key, 'take its value back')
  const currentBlock = await access.client.getBlockNumber({ cacheTime: 0 })
  // The transaction is mined in the next block; the contract refuses before the expiration block.
  if (currentBlock + 1n < channel.expiration)
    throw new ChannelClientError(
      `Channel ${channelId} expires at block ${channel.expiration}, ${channel.expiration - currentBlock} blocks from now (block ${currentBlock}); its value can be taken back from then on.`,
    )
  if (channel.value === 0n)
    throw new ChannelClientError(
      `Channel ${channelId} holds nothing; there is nothing to take back.`,
    )
  const { tx } = await channelClaimTimeout(
    walletOf(access, key),
    access.client,
    access.escrow,
    channelId,
  )
  // The nonce moved on: what the client remembered of the channel is spent.
  state.forget(access.escrow, channelId)
  return { channelId, tx, refunded: channel.value }
}

/** Deposits into or withdraws from the key's escrow balance; answers the new balance. */
export async function moveEscrowBalance(
  access: EscrowAccess,
  key: Hex,
  verb: 'deposit' | 'withdraw',
  amount: bigint,
) {
  if (amount <= 0n) throw new ChannelClientError(`Give an amount above 0 to ${verb}.`)
  const wallet = walletOf(access, key)
  const move = verb === 'deposit' ? mpeDeposit : mpeWithdraw
  if (verb === 'withdraw') {
    const balance = await readMpeBalance(access.client, access.escrow, wallet.account.address)
    if (balance < amount)
      throw new ChannelClientError(
        `Your escrow balance is ${formatAmount(balance, access.unit)}, less than ${formatAmount(amount, access.unit)}; withdraw at most that.`,
      )
  }
  const { tx } = await move(wallet, access.client, access.escrow, amount)
  const balance = await readMpeBalance(access.client, access.escrow, wallet.account.address)
  return { tx, amount, balance }
}

/** The escrow balance of an address, or of a key's address. */
export async function escrowBalance(access: EscrowAccess, who: string) {
  const address = /^0x[0-9a-fA-F]{64}$/.test(who) ? privateKeyToAccount(who as Hex).address : who
  if (!isAddress(address, { strict: false }))
    throw new ChannelClientError(
      `"${address.slice(0, 60)}" is not an address; give 0x and 40 hex digits.`,
    )
  return {
    address: getAddress(address),
    balance: await readMpeBalance(access.client, access.escrow, address),
  }
}

/** What `rwa call` does: pays one call and says what it cost. */
export async function runCall({
  url,
  method,
  body,
  headers,
  channel,
  key,
  rpc,
  state,
}: {
  url: string
  method?: string | undefined
  body?: string | undefined
  headers: Record<string, string>
  channel?: bigint | undefined
  key: Hex
  rpc?: string | undefined
  state: ClientStateStore
}): Promise<PaidCallResult & { note: string | undefined }> {
  const target = serviceUrl(url)
  const terms = await fetchServiceTerms(target)
  const channelId = channel ?? lastChannel(state, target.origin, terms.escrow)
  let access: Promise<EscrowAccess> | undefined
  // The chain is read only when a state is recovered: most calls need no RPC.
  const readChannelOnChain = async (id: bigint) => {
    access ??= accessFor({ escrow: terms.escrow, rpc, terms, service: target })
    const a = await access
    return channelReader(a.client, a.escrow)(id)
  }
  const result = await paidCall({
    url,
    method,
    body,
    headers,
    channelId,
    account: privateKeyToAccount(key),
    state,
    terms,
    readChannel: readChannelOnChain,
  })
  const unit = toTokenUnit(terms.token.address, terms.token.symbol, terms.token.decimals)
  const paid = result.paid
  const cost = paid
    ? `Paid ${formatAmount(paid.price, unit)} from channel ${paid.channelId} (authorised ${formatAmount(paid.amount, unit)} at nonce ${paid.nonce}).`
    : undefined
  const note = [cost, result.warning].filter(Boolean).join(' ') || undefined
  return { ...result, note }
}

/** The channel last used with a service, or a clear error when none is known. */
function lastChannel(state: ClientStateStore, origin: string, escrow: string): bigint {
  const known = state.list().find((c) => c.origin === origin && c.escrow === escrow.toLowerCase())
  if (known) return known.channelId
  throw new ChannelClientError(
    `No channel to ${origin} is known here; open one with "rwa channel open ${origin} <amount>", or give --channel <id>.`,
  )
}
