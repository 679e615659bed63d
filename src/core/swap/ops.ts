import { isAddress } from 'viem'
import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'

// The swap domain's op types and bodies: one node's public chequebook binding. The genesis (by
// the node's operator) binds its libp2p peer id to the chain, chequebook and beneficiary its
// cheques come from and go to, so anyone can look a peer up before trusting its handshake. The
// operator's later changes (`swap.update`, `swap.retire`) form the control chain, so every op is
// judged on the binding of its own causal past.

/** Thrown for a swap op its author may not sign (anyone but the binding's owner). */
export class SwapForbiddenError extends BaseError {
  override name = 'SwapForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for a swap op refused in the binding's state (retired, a concurrent change). */
export class SwapRefusedError extends BaseError {
  override name = 'SwapRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown for a swap op whose body breaks a rule no state can fix (a bad peer id or address). */
export class InvalidSwapInputError extends BaseError {
  override name = 'InvalidSwapInputError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown for a reference that names no chequebook binding. */
export class SwapNotFoundError extends BaseError {
  override name = 'SwapNotFoundError' as const
  override readonly kind = 'not-found' as const
}

export const SWAP_OP = {
  book: 'swap.book',
  update: 'swap.update',
  retire: 'swap.retire',
} as const

/** The owner's changes: they form the control chain. */
export const OWNER_OPS: ReadonlySet<string> = new Set([SWAP_OP.update, SWAP_OP.retire])

/** Longest name. */
export const MAX_NAME = 80
/** Longest peer id (an Ed25519 peer id has 52 characters in base58btc, 65 as a base32 CID). */
export const MAX_PEER_ID = 128
/** How a binding's cheques are taken: on the issuer's word, or cashable on chain. */
export const BOOK_MODES = ['mock', 'hard'] as const

/** Control characters: names are printed to terminals and chats as they are. */
const CONTROL = /\p{Cc}/u
/**
 * A peer id's text: base58btc (`12D3KooW…`, `Qm…`, as libp2p prints one) or a CIDv1 in
 * multibase base32 (`b…`, lowercase).
 */
const PEER_ID = /^(?:[1-9A-HJ-NP-Za-km-z]+|b[a-z2-7]+)$/

const isEvmAddress = (v: string) => isAddress(v, { strict: true }) && BigInt(v) !== 0n

const address = z.string().refine(isEvmAddress, {
  message:
    'must be a non-zero EVM address: 0x and 40 hex digits, mixed case only with a valid EIP-55 checksum',
})

const peerId = z
  .string()
  .min(1, { message: `must have 1 to ${MAX_PEER_ID} characters`, abort: true })
  .max(MAX_PEER_ID, { message: `must have 1 to ${MAX_PEER_ID} characters`, abort: true })
  .regex(PEER_ID, {
    message:
      'must be a libp2p peer id such as "12D3KooW…": base58btc characters, or a base32 CID ("b" and a-z, 2-7)',
  })
  .describe('the node’s libp2p peer id, as libp2p prints it ("12D3KooW…")')

const name = z
  .string()
  .min(1, { message: `must have 1 to ${MAX_NAME} characters` })
  .max(MAX_NAME, { message: `must have 1 to ${MAX_NAME} characters` })
  .refine((v) => v.trim() === v && !CONTROL.test(v), {
    message: 'must not start or end with spaces, nor contain control characters',
  })
  .describe('a name for the binding, 1–80 characters (default: a short form of the peer id)')

const chainId = z
  .number()
  .int({ message: 'must be an integer' })
  .min(1, { message: 'must be at least 1' })
  .max(Number.MAX_SAFE_INTEGER)
  .describe('the EIP-155 id of the chequebook’s chain')

const chequebook = address.describe('the chequebook contract the node’s cheques are drawn on')
const beneficiary = address.describe('the address cheques to the node are made out to')

const mode = z
  .enum(BOOK_MODES, { message: `must be one of ${BOOK_MODES.map((m) => `"${m}"`).join(', ')}` })
  .describe('"mock": cheques taken on the issuer’s word; "hard": cheques cashable on chain')

export const bookBody = z
  .object({ peerId, chainId, chequebook, beneficiary, mode, name: name.optional() })
  .strict()

export const updateBody = z
  .object({
    beneficiary: beneficiary.optional(),
    chequebook: chequebook.optional(),
    mode: mode.optional(),
  })
  .strict()
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'must change at least one of beneficiary, chequebook, mode',
  })

export const retireBody = z.object({}).strict()

export const BODIES = {
  [SWAP_OP.book]: bookBody,
  [SWAP_OP.update]: updateBody,
  [SWAP_OP.retire]: retireBody,
} as const

export type BookBody = z.infer<typeof bookBody>
export type UpdateBody = z.infer<typeof updateBody>
export type BookMode = (typeof BOOK_MODES)[number]

/** The summary of each op type, for `/openapi.json` and `rwa ops`. */
export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [SWAP_OP.book]:
    "Publishes a node's chequebook binding: its libp2p peer id, chain, chequebook, beneficiary and mode (by the node's operator).",
  [SWAP_OP.update]: 'The owner changes the beneficiary, chequebook or mode.',
  [SWAP_OP.retire]: 'The owner withdraws the binding: no later op of it counts.',
}
