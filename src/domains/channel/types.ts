import type { Address, Hex } from 'viem'
import type { TokenUnit } from '../../core/amount.ts'
import type { Startable } from '../../node/startable.ts'

// The shapes the channel plug-in's parts share: the treasurer reads and claims, the watch and the
// dashboard show what it reads, the routes carry it (bigints travel as decimal strings).

/** One channel paid into this service, as the chain and the service's store together tell it. */
export type ChannelRow = {
  readonly channelId: bigint
  readonly sender: Address
  readonly signer: Address
  readonly recipient: Address
  readonly groupId: Hex
  /** The channel's nonce on chain. */
  readonly chainNonce: bigint
  /** Tokens in the channel on chain. */
  readonly value: bigint
  /** The block after which the sender may take the value back (`channelClaimTimeout`). */
  readonly expiration: bigint
  /** `expiration` minus the current block: negative once expired. */
  readonly blocksLeft: bigint
  /** The service's nonce: the chain's, or one past it while a claim is under way. */
  readonly nonce: bigint
  /** Signed and committed at `nonce`, not claimed yet. */
  readonly authorised: bigint
  /** A claim started (the store moved to the next nonce) and not yet seen final on chain. */
  readonly claiming?: { readonly nonce: bigint; readonly amount: bigint } | undefined
  /** Money signed to the service and not yet claimed: `authorised` plus `claiming.amount`. */
  readonly unclaimed: bigint
  /** Whether a paid call is in progress on the channel right now. */
  readonly busy: boolean
}

/** What the treasurer, the watch and the dashboard show: the service's channels and its escrow balance. */
export type ChannelsOverview = {
  readonly escrow: Address
  /** The service's recipient address (the node operator's Ethereum key). */
  readonly recipient: Address
  /** The token the escrow holds. */
  readonly token: TokenUnit
  readonly currentBlock: bigint
  /** The recipient's balance in the escrow: claimed money, to withdraw. */
  readonly balance: bigint
  /** Every channel the store knows, the nearest expiry first. */
  readonly channels: readonly ChannelRow[]
}

/** One channel's part of a claim. */
export type ClaimedChannel = {
  readonly channelId: bigint
  /** The nonce the claim was signed at. */
  readonly nonce: bigint
  readonly amount: bigint
}

/** What a claim did. */
export type ClaimResult = {
  /** Channels claimed on chain, in the order of the transaction(s). */
  readonly claimed: readonly ClaimedChannel[]
  /** The transactions sent (`multiChannelClaim`, at most `MAX_CLAIMS_PER_TRANSACTION` channels each). */
  readonly transactions: readonly { readonly tx: Hex; readonly gasUsed: bigint }[]
  /** Channels asked for and not claimed, with why (nothing to claim, a call in progress, expired…). */
  readonly skipped: readonly { readonly channelId: bigint; readonly reason: string }[]
}

/** What `reconcile` changed so that the store agrees with the chain. */
export type ReconcileReport = {
  /** Claims started before a stop and finished now on chain. */
  readonly finished: readonly ClaimedChannel[]
  /** Channels whose chain nonce had moved past the store's (claimed elsewhere, or timed out). */
  readonly advanced: readonly bigint[]
}

/** The service's treasurer: claims what clients signed, nearest expiry first, in batches. */
export interface Treasurer {
  /** Brings the store in line with the chain (run on start, before serving). */
  reconcile(): Promise<ReconcileReport>
  list(): Promise<ChannelsOverview>
  /** Claims these channels (one `multiChannelClaim` per batch). */
  claim(channelIds: readonly bigint[]): Promise<ClaimResult>
  /** Claims every channel with money unclaimed. */
  claimAll(): Promise<ClaimResult>
  /** Claims the channels with money unclaimed that expire within `blocks` blocks. */
  claimExpiring(blocks: bigint): Promise<ClaimResult>
}

/** The watch: warns before a channel with unclaimed money expires, and claims it. */
export interface ChannelWatch extends Startable {
  /** One look now (the service also runs it every interval): what it warned of and claimed. */
  check(): Promise<WatchReport>
}

/** What one look of the watch found. */
export type WatchReport = {
  /** Channels with unclaimed money within the warning distance of their expiry. */
  readonly warned: readonly ChannelRow[]
  /** What it claimed (channels within the claim distance). */
  readonly claimed: ClaimResult | undefined
}

/** Most channels one claim request names. */
export const MAX_CLAIM_CHANNELS = 10_000
/** Largest `expiringWithin` of a claim request, in blocks. */
export const MAX_EXPIRING_WITHIN = 1_000_000_000
