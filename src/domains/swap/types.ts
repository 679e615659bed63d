import type { Address, Hex } from 'viem'

// The SWAP domain's shared types (issue 22): what the node's accounting holds and what its routes
// answer. On the wire (JSON) every bigint travels as a decimal string, addresses as 0x-hex.

/** How a node takes part in SWAP (`[domains.swap] mode`). */
export type SwapMode = 'off' | 'soft' | 'mock' | 'hard'

/** What a node serves a peer, and what it is worth. */
export type Traffic = {
  /** Sync answers (reconciliation and pulls). */
  readonly answers: number
  /** Ops in pull answers. */
  readonly ops: number
  /** Bytes of the answers. */
  readonly bytes: number
  /** What they cost, in base units of the chequebook's token, at the server's prices. */
  readonly amount: bigint
}

/** Where a peer stands with this node. */
export type PeerStanding =
  /** Within bounds both ways. */
  | 'ok'
  /** It owes past our payment threshold (it should pay soon). */
  | 'owes'
  /** It owes past our disconnect threshold: not served until it pays or is forgiven. */
  | 'cut-off'
  /** We owe it past its payment threshold (we should pay). */
  | 'in-debt'
  /** A cheque of its bounced on chain: never served again. */
  | 'bounced'

/** A cheque as the node stores and shows it. */
export type ChequeView = {
  /** The peer it came from (received) or went to (sent). */
  readonly peer: string
  readonly chequebook: Address
  readonly beneficiary: Address
  readonly cumulativePayout: bigint
  /** What this cheque added over the one before it. */
  readonly increase: bigint
  readonly signature: Hex
  /** When it was received or sent (ms since the epoch). */
  readonly at: number
  /** Received cheques: what was cashed of the cumulative payout so far. */
  readonly cashed?: bigint
  /** Received cheques: the last cashing, if any. */
  readonly lastCash?: CashResult
}

/** What the node knows of a peer: its terms (from the handshake) and the balance between them. */
export type PeerView = {
  /** The peer's libp2p peer id: its identity for accounting. */
  readonly peer: string
  /** > 0: the peer owes this node; < 0: this node owes the peer (base units). */
  readonly balance: bigint
  readonly standing: PeerStanding
  readonly connected: boolean
  /** The peer's terms from the handshake; null until one was made. */
  readonly terms: PeerTerms | null
  /** Our thresholds for this peer (what it may owe us). */
  readonly paymentThreshold: bigint
  readonly disconnectThreshold: bigint
  /** What we served it, and what it served us. */
  readonly served: Traffic
  readonly received: Traffic
  /** Forgiven by the refresh rate so far, both ways. */
  readonly forgiven: bigint
  readonly lastSent: ChequeView | null
  readonly lastReceived: ChequeView | null
  /** Received and not yet cashed (cumulative − cashed). */
  readonly uncashed: bigint
  /** The peer's own view of the balance in its last acknowledgement of our cheque, if any. */
  readonly acknowledged: bigint | null
}

/** What a peer announced in the `/rwa/swap/1` handshake. */
export type PeerTerms = {
  readonly mode: SwapMode
  readonly chainId: number
  readonly chequebook: Address
  /** The address cheques to the peer are made out to. */
  readonly beneficiary: Address
  readonly pricePerOp: bigint
  readonly pricePerByte: bigint
  readonly paymentThreshold: bigint
  readonly refreshRate: bigint
}

/** The result of cashing a peer's cheque on chain. */
export type CashResult = {
  readonly peer: string
  readonly txHash: Hex
  /** Paid to us by this cashing. */
  readonly paid: bigint
  readonly cumulativePayout: bigint
  /** The chequebook could not cover it all: the issuer is no longer served. */
  readonly bounced: boolean
  readonly at: number
}

/** A token, as amounts are shown with. */
export type TokenInfo = {
  readonly address: Address
  readonly symbol: string | null
  readonly decimals: number | null
}

/** `GET /swap`: this node's SWAP terms and chequebook. */
export type SwapOverview = {
  readonly mode: SwapMode
  readonly peerId: string | null
  readonly chainId: number | null
  /** This node's chequebook (hard: on chain; mock: the address it signs for). */
  readonly chequebook: Address | null
  /** Where peers' cheques to this node are made out to. */
  readonly beneficiary: Address | null
  readonly token: TokenInfo | null
  /** The chequebook on chain (hard mode only). */
  readonly book: {
    readonly balance: bigint
    readonly liquidBalance: bigint
    readonly totalPaidOut: bigint
    readonly bounced: boolean
  } | null
  readonly pricePerOp: bigint
  readonly pricePerByte: bigint
  readonly paymentThreshold: bigint
  readonly disconnectThreshold: bigint
  /** A debt to a peer this large is paid (its payment threshold's early share). */
  readonly earlyPaymentPercent: number
  readonly refreshRate: bigint
  /** Received cheques with this much uncashed are cashed automatically; null: on demand only. */
  readonly autoCash: bigint | null
  /** Sums over the peers. */
  readonly owedToUs: bigint
  readonly weOwe: bigint
}

/** `POST /swap/deposit` and `POST /swap/withdraw`. */
export type BookMove = { readonly txHash: Hex; readonly balance: bigint }
