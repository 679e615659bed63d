import { z } from 'zod'
import {
  BEE_EARLY_PAYMENT_PERCENT,
  BEE_PAYMENT_THRESHOLD,
  BEE_PAYMENT_TOLERANCE_PERCENT,
  BEE_REFRESH_RATE,
} from '../../core/swap/accounting.ts'

/** An amount in base units: an integer, or a decimal string for amounts past 2^53. */
const amount = z
  .union([
    z.string().regex(/^[0-9]{1,78}$/, 'a whole number of base units, as digits'),
    z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  ])
  .transform((p) => BigInt(p))

const percent = z.number().int().min(0).max(100)

/** `[domains.swap]` in config.toml: SWAP accounting of what this node serves its peers over sync. */
export const swapSettings = z
  .object({
    /**
     * `off`: no accounting. `soft`: accounting only (logged and shown, never enforced). `mock`:
     * cheques signed and taken on the peer's word, debtors past the disconnect threshold cut off.
     * `hard`: cheques drawn on a chequebook on chain, checked against it and cashed.
     */
    mode: z.enum(['off', 'soft', 'mock', 'hard']).default('off'),
    /** The price of each op a sync answer carries, and of each byte of it (base units). */
    price_per_op: amount.default(1000n),
    price_per_byte: amount.default(1n),
    /**
     * The highest prices a peer's answers are accounted at, whatever it announces (a peer cannot
     * make this node owe what it likes).
     */
    max_peer_price_per_op: amount.default(10_000n),
    max_peer_price_per_byte: amount.default(10n),
    /** The debt a peer may run up before it should pay (Bee: 13,500,000). */
    payment_threshold: amount.default(BEE_PAYMENT_THRESHOLD),
    /** How far past the payment threshold a debtor is still served (Bee: 25%, so 125%). */
    payment_tolerance_percent: percent.default(BEE_PAYMENT_TOLERANCE_PERCENT),
    /** This node pays a peer once its debt passes (100 − this)% of the peer's threshold (Bee: 50). */
    early_payment_percent: percent.default(BEE_EARLY_PAYMENT_PERCENT),
    /** Debt forgiven per second, both ways (Bee's refresh rate: 4,500,000; 0: none). */
    refresh_rate: amount.default(BEE_REFRESH_RATE),
    /** Received cheques with at least this much uncashed are cashed automatically (0: on demand only). */
    auto_cash: amount.default(0n),
    /** How often debts are settled and cheques cashed, in milliseconds. */
    settle_interval_ms: z.number().int().min(50).max(600_000).default(1000),
    /** Hard mode: an existing chequebook of this node's operator key (else one is deployed). */
    chequebook: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, '0x and 40 hex digits')
      .optional(),
    /** Hard mode: the ERC-20 cheques pay in (default: the devnet's test token). */
    token: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, '0x and 40 hex digits')
      .optional(),
    /**
     * Hard mode: what a chequebook deployed by the node is funded with from the operator key, in
     * base units (on the devnet by default 1,000 tokens; elsewhere 0: deposit with `rwa swap deposit`).
     */
    initial_deposit: amount.optional(),
  })
  .strict()

export type SwapSettings = z.output<typeof swapSettings>

/** The initial deposit of a devnet chequebook when none is configured: 1,000 tokens of 18 decimals. */
export const DEVNET_DEPOSIT = 1000n * 10n ** 18n
