import type { OpId } from '../../ledger/op-id.ts'
import type { OpNote } from '../causal/notes.ts'
import type { Address } from '../identity.ts'
import type { GeoPoint } from './assign.ts'
import type { ImpactActionConfig, OracleConfig } from './formats.ts'

// What every replica computes for an impact community: plain data, amounts as bigint base units
// of the rewards token (0 the native coin, n the ERC-20 the registry maps n to).

/** Where an approval request stands. */
export type RequestStatus =
  /** Not (fully) assigned yet: waiting for the proxy, or for eligible auditors (see `note`). */
  | 'WAITING_FOR_AUDITORS'
  /** Its seats are filled; votes are coming in. */
  | 'VOTING'
  | 'APPROVED'
  | 'REFUSED'
  /** Closed without a decision: its action's window ended or the action was destroyed. */
  | 'EXPIRED'

/** One seat of a request: who holds it, since when, and until when. */
export type Assignment = {
  readonly auditor: string
  /** The block the proxy claimed when it assigned, and the block by which the vote is due. */
  readonly block: number
  readonly deadline: number
  /** The draw's entropy: the proxy's claim of block `block`'s hash (check it on chain). */
  readonly entropy: `0x${string}`
  /** Where its rewards go (the auditor's payout address when it was assigned). */
  readonly payout: Address
  /** Set when the proxy unassigned it: the block, and why. */
  readonly unassigned?: { readonly block: number; readonly reason: UnassignReason } | undefined
}

/** Why an auditor lost its seat: a missed deadline lowers its ranking, the others do not. */
export type UnassignReason = 'deadline' | 'destroyed' | 'suspended'

/** A counted vote. */
export type VoteRecord = {
  readonly id: OpId
  readonly auditor: string
  readonly vote: 'Y' | 'N'
  readonly otherinfo?: string | undefined
}

/** What a decision moved, in base units of the action's rewards token. */
export type DecisionRecord = {
  readonly status: 'APPROVED' | 'REFUSED'
  readonly block: number
  readonly approvals: number
  readonly refusals: number
  readonly matched: readonly string[]
  readonly contradicted: readonly string[]
  /** Payments queued for settlement (to the requester, the oracle, the matching auditors). */
  readonly payments: readonly PaymentRecord[]
  /** What the equal split left: it stays in the pool. */
  readonly remainder: bigint
  readonly slashes: readonly { auditor: string; due: bigint; taken: bigint }[]
  /** The oracle paid for its attestation, if one attested. */
  readonly oracle?: number | undefined
}

/** One payment out of a pool. */
export type PaymentRecord = {
  readonly to: Address
  readonly amount: bigint
  readonly role: 'requester' | 'oracle' | 'auditor' | 'stake'
  /** The account (key) paid: the requester's, the auditor's, or the oracle's uid as text. */
  readonly account: string
  /** The request it is for (none for a returned stake). */
  readonly request?: OpId | undefined
  /** The batch it was settled in, once batched. */
  batch?: number | undefined
}

/** An approval request and everything that happened to it. */
export type RequestState = {
  readonly id: OpId
  readonly requester: string
  readonly payout: Address
  readonly impactactionid: number
  /** The action as it was when the request was made (the registry may change later). */
  readonly action: ImpactActionConfig
  readonly description: string
  readonly coordinates?: GeoPoint | undefined
  readonly evidence: readonly string[]
  /** The action's custom fields and free ones, as text. */
  readonly fields: Readonly<Record<string, string>>
  readonly status: RequestStatus
  /** Approvals required (the action's `auditors`) and seats (2·required − 1: a majority decides). */
  readonly required: number
  readonly seats: number
  readonly assignments: readonly Assignment[]
  readonly votes: readonly VoteRecord[]
  /** Oracles (uid) that attested it. */
  readonly attestations: readonly { readonly oracle: number; readonly id: OpId }[]
  /** What the request waits for, or how it ended, in one sentence. */
  readonly note: string
  readonly decision?: DecisionRecord | undefined
  /** The block the proxy claimed when it expired the request. */
  readonly expired?: number | undefined
}

/** An auditor: its registry record and its history. */
export type AuditorState = {
  readonly account: string
  readonly description: string
  readonly categories: readonly number[]
  readonly area: string
  readonly stakesmin: bigint
  readonly payout: Address
  readonly destroyed: boolean
  readonly suspended: boolean
  readonly matched: number
  readonly errors: number
  readonly missed: number
  readonly ranking: number
  /** Stake held per token id, earned per token id (decimal base units as bigint). */
  readonly stakes: Readonly<Record<string, bigint>>
  readonly earned: Readonly<Record<string, bigint>>
  /** Requests it holds a seat on and has not voted on. */
  readonly queue: readonly OpId[]
}

/** A settlement batch of one token's pool. */
export type BatchState = {
  readonly token: number
  readonly batch: number
  readonly block: number
  readonly chainId: number
  readonly escrow: Address
  /** Aggregated per address, sorted (the escrow's payees and amounts). */
  readonly payees: readonly Address[]
  readonly amounts: readonly bigint[]
  readonly total: bigint
  /** What of `total` is stake returned to auditors who left (the rest pays decisions). */
  readonly returned: bigint
  /** The requests whose payments it carries. */
  readonly requests: readonly OpId[]
  readonly signatures: readonly { readonly signer: Address; readonly signature: `0x${string}` }[]
  readonly settled?: { readonly tx: `0x${string}`; readonly block: number } | undefined
}

/** A token's pool: what came in, what is owed to stakers, and what went out. */
export type PoolState = {
  readonly token: number
  /** Everything deposited (sponsors' funding and auditors' stakes). */
  readonly deposited: bigint
  /** Stakes the pool holds for auditors (returned to them, or slashed into the pool). */
  readonly stakes: bigint
  /** Committed to batches (settled or not). */
  readonly batched: bigint
  /** Settled on chain. */
  readonly paid: bigint
  /** Decided but not batched yet. */
  readonly queued: bigint
  /** Stakes sent for keys that were no auditor, held to go back to their senders. */
  readonly refunding: bigint
  /** What rewards may still use: deposited − stakes − batched. */
  readonly free: bigint
  readonly batches: readonly BatchState[]
}

/** A pending registry change, waiting for more governors. */
export type ProposalState = {
  readonly id: OpId
  readonly type: string
  readonly body: unknown
  readonly approvals: readonly string[]
}

/** An impact community: registry, requests, auditors and pools, as every replica computes it. */
export type ImpactState = {
  readonly id: OpId
  readonly name: string
  readonly governors: readonly string[]
  readonly threshold: number
  readonly blocksPerDay: number
  /** The latest block the proxy claimed. */
  readonly block: number
  readonly categories: readonly { readonly uid: number; readonly description: string }[]
  readonly actions: readonly {
    readonly uid: number
    readonly configuration: string
    readonly config: ImpactActionConfig
  }[]
  readonly oracles: readonly {
    readonly uid: number
    readonly config: OracleConfig
    readonly payout?: Address | undefined
  }[]
  readonly auditors: readonly AuditorState[]
  readonly proxies: readonly { readonly uid: number; readonly account: string }[]
  readonly tokens: readonly { readonly id: number; readonly address: Address }[]
  readonly proposals: readonly ProposalState[]
  readonly requests: readonly RequestState[]
  readonly pools: readonly PoolState[]
  readonly rejected: readonly OpNote[]
  readonly excluded: readonly OpNote[]
}
