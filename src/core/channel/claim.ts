import {
  type Address,
  encodePacked,
  getAddress,
  type Hex,
  hashMessage,
  hexToBytes,
  isAddress,
  isHex,
  keccak256,
  toHex,
} from 'viem'
import { BaseError } from '../../errors/base.ts'
import { recoverDigestSigner } from '../identity.ts'

// The payment a channel's sender (or signer) signs for each call, byte-compatible with
// SingularityNET's MultiPartyEscrow (contracts/MultiPartyEscrow.sol checks the same bytes):
//   inner  = keccak256(abi.encodePacked("__MPE_claim_message", address escrow, uint256 channelId,
//                                       uint256 nonce, uint256 amount))
//   digest = keccak256("\x19Ethereum Signed Message:\n32" ‖ inner)
// No chain id; v is 27 or 28.

/** The prefix of every claim message (19 ASCII bytes). */
export const CLAIM_MESSAGE_PREFIX = '__MPE_claim_message'

const UINT256_MAX = 2n ** 256n - 1n
/** secp256k1's group order. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** Thrown when a claim's fields or signature break the claim format. */
export class ChannelClaimError extends BaseError {
  override name = 'ChannelClaimError' as const
  override readonly kind = 'invalid' as const
}

/** A claim signature as the contract takes it: v (27 or 28), r and s. */
export type ClaimSignatureParts = { v: number; r: Hex; s: Hex }

/** Something that signs a 32-byte digest with a secp256k1 key (a viem local account does). */
export type DigestSigner = { sign(args: { hash: Hex }): Promise<Hex> }

function assertUint256(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > UINT256_MAX)
    throw new ChannelClaimError(
      `The claim's ${name} "${String(value)}" is not a uint256; give a bigint from 0 to 2^256 - 1.`,
    )
}

/**
 * The packed claim message (135 bytes): prefix, escrow address, channel id, nonce and amount.
 * @throws ChannelClaimError when the escrow is not an address or a number is not a uint256.
 * @example claimMessage('0x5e59…4f4e', 42n, 0n, 100n)
 */
export function claimMessage(
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
): Hex {
  if (typeof escrow !== 'string' || !isAddress(escrow, { strict: false }))
    throw new ChannelClaimError(
      `The escrow "${String(escrow).slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  assertUint256('channel id', channelId)
  assertUint256('nonce', nonce)
  assertUint256('amount', amount)
  return encodePacked(
    ['string', 'address', 'uint256', 'uint256', 'uint256'],
    [CLAIM_MESSAGE_PREFIX, getAddress(escrow), channelId, nonce, amount],
  )
}

/** keccak256 of the packed claim message: the 32 bytes the sender personally signs. */
export function claimHash(escrow: Address, channelId: bigint, nonce: bigint, amount: bigint): Hex {
  return keccak256(claimMessage(escrow, channelId, nonce, amount))
}

/** The digest ecrecover checks: the EIP-191 personal-message hash of `claimHash`. */
export function claimDigest(
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
): Hex {
  return hashMessage({ raw: claimHash(escrow, channelId, nonce, amount) })
}

/**
 * The address that signed a claim (a 65-byte r ‖ s ‖ v signature, v in {0, 1, 27, 28}), or
 * undefined when the signature is malformed or recovers no key. High-s signatures recover, as
 * the contract's ecrecover takes them.
 */
export function recoverClaimSigner(
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
  signature: Hex,
): Address | undefined {
  const digest = claimDigest(escrow, channelId, nonce, amount)
  if (typeof signature !== 'string' || !isHex(signature, { strict: true })) return undefined
  return recoverDigestSigner(hexToBytes(digest), signature)
}

/**
 * Signs a claim with `account` (the channel's sender or signer); the signature is 65 bytes with
 * v = 27 or 28, as snet-cli sends it in `snet-payment-signature-bin`.
 * @example const signature = await signClaim(account, escrow, channelId, nonce, 300n)
 */
export async function signClaim(
  account: DigestSigner,
  escrow: Address,
  channelId: bigint,
  nonce: bigint,
  amount: bigint,
): Promise<Hex> {
  return account.sign({ hash: claimDigest(escrow, channelId, nonce, amount) })
}

/**
 * A 65-byte claim signature as channelClaim's v, r and s, with v made 27 or 28.
 * @throws ChannelClaimError when it is not 65 bytes, v is not 0, 1, 27 or 28, or r or s is out of range.
 */
export function splitClaimSignature(signature: Hex): ClaimSignatureParts {
  const bytes =
    typeof signature === 'string' && isHex(signature, { strict: true })
      ? hexToBytes(signature)
      : new Uint8Array()
  const v = bytes[64]
  if (bytes.length !== 65 || v === undefined || ![0, 1, 27, 28].includes(v))
    throw new ChannelClaimError(
      `The signature "${String(signature).slice(0, 140)}" is not 65 bytes r ‖ s ‖ v; sign the claim digest with secp256k1.`,
    )
  const r = toHex(bytes.subarray(0, 32))
  const s = toHex(bytes.subarray(32, 64))
  for (const [name, word] of [
    ['r', r],
    ['s', s],
  ] as const)
    if (BigInt(word) === 0n || BigInt(word) >= SECP256K1_N)
      throw new ChannelClaimError(
        `The signature's ${name} is outside 1 … n − 1; it cannot be a secp256k1 signature.`,
      )
  return { v: v < 27 ? v + 27 : v, r, s }
}
