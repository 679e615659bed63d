import type { Logger } from 'pino'
import { type Address, getAddress, isAddressEqual, type PublicClient } from 'viem'
import { multiPartyEscrowAbi } from '../../chain/artifacts.ts'
import type { Wallet } from '../../chain/escrow.ts'
import {
  type Channel,
  type ChannelClaimRequest,
  MAX_CLAIMS_PER_TRANSACTION,
  MpeError,
  multiChannelClaim,
  readChannel,
  readMpeBalance,
  splitClaimSignature,
} from '../../chain/mpe.ts'
import { contractFailure } from '../../chain/payments.ts'
import type { TokenUnit } from '../../core/amount.ts'
import { BaseError } from '../../errors/base.ts'
import type { ClaimedPayment, PaymentStore, StoredChannel } from './payment-store.ts'
import type {
  ChannelRow,
  ChannelsOverview,
  ClaimedChannel,
  ClaimResult,
  ReconcileReport,
  Treasurer,
} from './types.ts'

// The service's treasurer (issue 21): it claims on chain what clients signed to the service. It
// handles nonces as SingularityNET's daemon does: a claim starts by moving the store to the
// channel's next nonce (`store.claimed`, which keeps the old payment as `previous`), so new calls
// are paid at the new nonce at once; then it is finished on chain. A stop between the two leaves
// the store one nonce ahead of the chain with the payment to claim, which `reconcile` finishes.

/** Options of `createTreasurer`. */
export type TreasurerOptions = {
  readonly store: PaymentStore
  readonly client: PublicClient
  /** The service's recipient key: it signs the claims and receives the money. */
  readonly wallet: Wallet
  readonly escrow: Address
  readonly token: TokenUnit
  readonly logger: Logger
  /** Called with the channels whose store or chain state a claim moved (to drop cached views). */
  readonly onChange?: ((channelIds: readonly bigint[]) => void) | undefined
  /** Most claims in one `multiChannelClaim` (`MAX_CLAIMS_PER_TRANSACTION`). */
  readonly batchSize?: number
  /** Channels read from the chain at once (16). */
  readonly readConcurrency?: number
}

/** Thrown when a treasurer's option cannot be used. */
export class TreasurerOptionError extends BaseError {
  override name = 'TreasurerOptionError' as const
  override readonly kind = 'invalid' as const
}

/** A payment ready to claim on chain, with the channel's expiration (nearest first). */
type Claim = {
  readonly channelId: bigint
  readonly expiration: bigint
  readonly payment: ClaimedPayment
}

type Skip = { readonly channelId: bigint; readonly reason: string }

/** What to do with one channel asked for: finish a started claim, start one, or skip it. */
type Plan =
  | { readonly kind: 'finish'; readonly claim: Claim }
  | { readonly kind: 'start'; readonly channel: Channel; readonly authorised: bigint }
  | { readonly kind: 'skip'; readonly reason: string }

/**
 * Creates the treasurer of a paid-call gateway: lists the service's channels, claims them
 * (nearest expiry first, batched with `multiChannelClaim`) and reconciles the store with the
 * chain. Claims and reconciles run one at a time.
 * @example
 * const treasurer = createTreasurer({ store, client, wallet, escrow, token, logger })
 * await treasurer.reconcile()
 * await treasurer.claimExpiring(50n)
 */
export function createTreasurer({
  store,
  client,
  wallet,
  escrow,
  token,
  logger,
  onChange,
  batchSize = MAX_CLAIMS_PER_TRANSACTION,
  readConcurrency = 16,
}: TreasurerOptions): Treasurer {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_CLAIMS_PER_TRANSACTION)
    throw new TreasurerOptionError(
      `batchSize ${String(batchSize)} is not from 1 to ${MAX_CLAIMS_PER_TRANSACTION}; give the most claims per transaction.`,
    )
  const recipient = getAddress(wallet.account.address)
  const chain = new ChainReader(client, escrow, Math.max(1, readConcurrency))
  const sender = new ClaimSender({ client, wallet, escrow, logger, batchSize })
  const changed = (ids: readonly bigint[]) => {
    if (ids.length > 0) onChange?.(ids)
  }
  let tail: Promise<unknown> = Promise.resolve()
  // One claim or reconcile at a time: two would both move a channel's store to a next nonce.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn)
    tail = result.catch(() => undefined)
    return result
  }

  async function list(): Promise<ChannelsOverview> {
    const [currentBlock, balance, stored] = await Promise.all([
      chain.block(),
      readMpeBalance(client, escrow, recipient),
      store.list(),
    ])
    const chains = await chain.channels(stored.map((s) => s.channelId))
    const channels: ChannelRow[] = []
    for (const s of stored) {
      const c = chains.get(s.channelId)
      if (c === undefined)
        logger.debug({ channel: `${s.channelId}` }, 'stored channel not on chain')
      else channels.push(rowOf(s, c, currentBlock, recipient))
    }
    channels.sort(byExpiry)
    return { escrow, recipient, token, currentBlock, balance, channels }
  }

  async function claim(channelIds: readonly bigint[]): Promise<ClaimResult> {
    const ids = [...new Set(channelIds)]
    const chains = await chain.channels(ids)
    const claims: Claim[] = []
    const skipped: Skip[] = []
    const moved: bigint[] = []
    for (const channelId of ids) {
      const plan = planOf(await store.get(channelId), chains.get(channelId), recipient)
      if (plan.kind === 'skip') skipped.push({ channelId, reason: plan.reason })
      else if (plan.kind === 'finish') claims.push(plan.claim)
      else {
        const started = await start(plan.channel, plan.authorised)
        if ('reason' in started) skipped.push(started)
        else {
          claims.push(started)
          moved.push(channelId)
        }
      }
    }
    changed(moved)
    const sent = await sender.send(claims)
    changed(sent.claimed.map((c) => c.channelId))
    return { ...sent, skipped: [...skipped, ...sent.skipped] }
  }

  /** The first step of a claim: the store moves to the next nonce and hands the payment back. */
  async function start(channel: Channel, authorised: bigint): Promise<Claim | Skip> {
    const { channelId, nonce, value, expiration } = channel
    try {
      const payment = await store.claimed(channelId, nonce + 1n, value - authorised)
      if (payment === undefined || payment.nonce !== nonce)
        return { channelId, reason: `the store holds no payment at nonce ${nonce} to claim` }
      return { channelId, expiration, payment }
    } catch (error) {
      // PaymentPendingError: a call began since the channel was read; claim it once answered.
      return { channelId, reason: reasonOf(error) }
    }
  }

  async function reconcile(): Promise<ReconcileReport> {
    const stored = await store.list()
    const chains = await chain.channels(stored.map((s) => s.channelId))
    const finish: Claim[] = []
    const advanced: bigint[] = []
    for (const s of stored) {
      const c = chains.get(s.channelId)
      const id = `${s.channelId}`
      const claiming = c && claimingOf(s, c)
      if (c === undefined) logger.warn({ channel: id }, 'stored channel not on chain; left as is')
      else if (claiming)
        finish.push({ channelId: c.channelId, expiration: c.expiration, payment: claiming })
      else if (c.nonce > s.nonce) {
        if (await advance(s, c)) advanced.push(s.channelId)
      } else if (s.nonce > c.nonce)
        logger.warn(
          { channel: id, store: `${s.nonce}`, chain: `${c.nonce}` },
          'stored channel is ahead of the chain with no claim to finish; left for an operator',
        )
    }
    changed(advanced)
    const sent = await sender.send(finish)
    for (const { channelId, reason } of sent.skipped)
      logger.warn({ channel: `${channelId}`, reason }, 'could not finish a started claim')
    changed(sent.claimed.map((c) => c.channelId))
    return { finished: sent.claimed, advanced }
  }

  /** The chain moved past the store (a timeout refund, another claimer): the store follows. */
  async function advance(s: StoredChannel, c: Channel): Promise<boolean> {
    try {
      await store.claimed(s.channelId, c.nonce, c.value)
      logger.info(
        { channel: `${s.channelId}`, from: `${s.nonce}`, to: `${c.nonce}` },
        'channel moved on chain; store advanced',
      )
      return true
    } catch (error) {
      logger.warn({ channel: `${s.channelId}`, err: error }, 'could not advance a stored channel')
      return false
    }
  }

  async function claimWhere(keep: (row: ChannelRow) => boolean): Promise<ClaimResult> {
    const { channels } = await list()
    return claim(channels.filter((row) => row.unclaimed > 0n && keep(row)).map((r) => r.channelId))
  }

  return {
    reconcile: () => serial(reconcile),
    list,
    claim: (channelIds) => serial(() => claim(channelIds)),
    claimAll: () => serial(() => claimWhere(() => true)),
    claimExpiring: (blocks) => serial(() => claimWhere((row) => row.blocksLeft <= blocks)),
  }
}

/** The payment of a claim started in the store and not yet seen on chain, if any. */
function claimingOf(stored: StoredChannel, chain: Channel): ClaimedPayment | undefined {
  const { previous } = stored
  if (previous === undefined || stored.nonce !== chain.nonce + 1n) return undefined
  return previous.nonce === chain.nonce ? previous : undefined
}

/** One channel as the chain and the store together tell it. */
export function rowOf(
  stored: StoredChannel,
  chain: Channel,
  currentBlock: bigint,
  recipient: Address,
): ChannelRow {
  const claiming = claimingOf(stored, chain)
  // A payment at a nonce the chain has moved past (or of another recipient) can no longer be claimed.
  const live = stored.nonce >= chain.nonce && isAddressEqual(chain.recipient, recipient)
  return {
    channelId: chain.channelId,
    sender: chain.sender,
    signer: chain.signer,
    recipient: chain.recipient,
    groupId: chain.groupId,
    chainNonce: chain.nonce,
    value: chain.value,
    expiration: chain.expiration,
    blocksLeft: chain.expiration - currentBlock,
    nonce: stored.nonce,
    authorised: stored.authorised,
    claiming: claiming && { nonce: claiming.nonce, amount: claiming.amount },
    unclaimed: live ? stored.authorised + (claiming?.amount ?? 0n) : 0n,
    busy: stored.pending !== undefined,
  }
}

function planOf(
  stored: StoredChannel | undefined,
  chain: Channel | undefined,
  recipient: Address,
): Plan {
  if (chain === undefined) return { kind: 'skip', reason: 'no such channel on chain' }
  if (!isAddressEqual(chain.recipient, recipient))
    return { kind: 'skip', reason: `the channel pays ${chain.recipient}, not this service` }
  if (stored === undefined) return { kind: 'skip', reason: 'nothing unclaimed' }
  const claiming = claimingOf(stored, chain)
  if (claiming)
    return {
      kind: 'finish',
      claim: { channelId: chain.channelId, expiration: chain.expiration, payment: claiming },
    }
  if (stored.nonce !== chain.nonce)
    return {
      kind: 'skip',
      reason: `the store is at nonce ${stored.nonce} and the chain at ${chain.nonce}; reconcile first`,
    }
  if (stored.pending !== undefined)
    return { kind: 'skip', reason: 'a call is in progress; claim it once answered' }
  if (stored.authorised === 0n) return { kind: 'skip', reason: 'nothing unclaimed' }
  if (stored.authorised > chain.value)
    return {
      kind: 'skip',
      reason: `the authorised ${stored.authorised} is above the channel's value ${chain.value}`,
    }
  return { kind: 'start', channel: chain, authorised: stored.authorised }
}

const byExpiry = (
  a: { expiration: bigint; channelId: bigint },
  b: { expiration: bigint; channelId: bigint },
): number =>
  a.expiration === b.expiration
    ? Number(a.channelId > b.channelId) - Number(a.channelId < b.channelId)
    : Number(a.expiration > b.expiration) - Number(a.expiration < b.expiration)

const reasonOf = (error: unknown): string =>
  error instanceof BaseError ? error.shortMessage : String((error as Error)?.message ?? error)

/** Reads channels and the block from the chain, a few at a time. */
class ChainReader {
  constructor(
    private readonly client: PublicClient,
    private readonly escrow: Address,
    private readonly concurrency: number,
  ) {}

  block(): Promise<bigint> {
    return this.client.getBlockNumber({ cacheTime: 0 })
  }

  async channels(ids: readonly bigint[]): Promise<Map<bigint, Channel | undefined>> {
    const found = new Map<bigint, Channel | undefined>()
    for (let i = 0; i < ids.length; i += this.concurrency) {
      const part = ids.slice(i, i + this.concurrency)
      const read = await Promise.all(part.map((id) => readChannel(this.client, this.escrow, id)))
      for (const [j, id] of part.entries()) found.set(id, read[j])
    }
    return found
  }
}

type SenderOptions = {
  readonly client: PublicClient
  readonly wallet: Wallet
  readonly escrow: Address
  readonly logger: Logger
  readonly batchSize: number
}

type Sent = Omit<ClaimResult, 'skipped'> & { readonly skipped: Skip[] }

/**
 * Sends claims nearest expiry first in `multiChannelClaim` batches. One refusal refuses a whole
 * batch, so a refused batch is simulated claim by claim: the refused ones are skipped with the
 * contract's reason and the rest sent again.
 */
class ClaimSender {
  constructor(private readonly o: SenderOptions) {}

  async send(claims: readonly Claim[]): Promise<Sent> {
    const sorted = [...claims].sort(byExpiry)
    const claimed: ClaimedChannel[] = []
    const transactions: { tx: `0x${string}`; gasUsed: bigint }[] = []
    const skipped: Skip[] = []
    for (let i = 0; i < sorted.length; i += this.o.batchSize) {
      const batch = sorted.slice(i, i + this.o.batchSize)
      const sent = await this.sendBatch(batch)
      claimed.push(...sent.claimed)
      transactions.push(...sent.transactions)
      skipped.push(...sent.skipped)
    }
    return { claimed, transactions, skipped }
  }

  private async sendBatch(batch: readonly Claim[]): Promise<Sent> {
    const first = await this.tryBatch(batch)
    if (!(first instanceof Error)) return first
    if (batch.length === 1) return failed(batch, first)
    const refused: Skip[] = []
    const good: Claim[] = []
    for (const claim of batch) {
      const reason = await this.refusal(claim)
      if (reason === undefined) good.push(claim)
      else refused.push({ channelId: claim.channelId, reason })
    }
    if (good.length === 0) return { claimed: [], transactions: [], skipped: refused }
    // Each alone would pass: the failure is not a channel's (the chain, gas); try again later.
    if (refused.length === 0) return failed(batch, first)
    const second = await this.tryBatch(good)
    if (second instanceof Error) return failed(good, second, refused)
    return { ...second, skipped: refused }
  }

  private async tryBatch(batch: readonly Claim[]): Promise<Sent | Error> {
    const { wallet, client, escrow, logger } = this.o
    try {
      const receipt = await multiChannelClaim(wallet, client, escrow, batch.map(requestOf))
      logger.info(
        { channels: batch.length, tx: receipt.tx, gasUsed: `${receipt.gasUsed}` },
        'claimed channels',
      )
      return {
        claimed: batch.map((c) => ({
          channelId: c.channelId,
          nonce: c.payment.nonce,
          amount: c.payment.amount,
        })),
        transactions: [receipt],
        skipped: [],
      }
    } catch (error) {
      logger.warn({ channels: batch.length, err: error }, 'claim transaction refused')
      return error instanceof Error ? error : new Error(String(error))
    }
  }

  /** Why the escrow would refuse this claim alone, or undefined when it would take it. */
  private async refusal(claim: Claim): Promise<string | undefined> {
    const { wallet, client, escrow } = this.o
    const { v, r, s } = splitClaimSignature(claim.payment.signature)
    const { amount } = claim.payment
    try {
      await client.simulateContract({
        account: wallet.account,
        address: escrow,
        abi: multiPartyEscrowAbi,
        functionName: 'channelClaim',
        args: [claim.channelId, amount, amount, v, r, s, false],
      })
      return undefined
    } catch (error) {
      const refused = contractFailure(
        error,
        `claim channel ${claim.channelId}`,
        {
          words: CLAIM_REFUSALS,
          notFound: (message, cause) => new MpeError(message, { reason: 'NotFound', cause }),
          refused: (message, reason, cause) => new MpeError(message, { reason, cause }),
        },
        'MultiPartyEscrow',
        escrow,
      )
      return refused.shortMessage
    }
  }
}

/** What the escrow's refusals of a claim mean, with their arguments as {0}, {1}. */
const CLAIM_REFUSALS: Readonly<Record<string, string>> = {
  UnknownChannel: 'channel {0} does not exist',
  NotRecipient: '{0} is not the channel recipient {1}',
  InsufficientChannelValue: 'channel {0} holds {1}, less than {2}',
  InvalidSignature:
    'the signature for channel {0} recovers to {1}, neither its signer nor its sender',
}

function requestOf(claim: Claim): ChannelClaimRequest {
  return {
    channelId: claim.channelId,
    plannedAmount: claim.payment.amount,
    signature: claim.payment.signature,
  }
}

/** A batch not sent: each of its claims skipped with the batch's error (their store waits). */
function failed(batch: readonly Claim[], error: Error, refused: Skip[] = []): Sent {
  const reason = `not claimed: ${reasonOf(error)}`
  return {
    claimed: [],
    transactions: [],
    skipped: [...refused, ...batch.map((c) => ({ channelId: c.channelId, reason }))],
  }
}
