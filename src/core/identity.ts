import { secp256k1 } from '@noble/curves/secp256k1'
import { getAddress, hashMessage, hexToBytes, isAddress, keccak256, toHex } from 'viem'
import { InvalidPayoutAddressError } from './audit/errors.ts'

/** An EIP-55 checksummed Ethereum address. */
export type Address = `0x${string}`

/**
 * Parses an Ethereum address that must carry a valid EIP-55 checksum (as the RWA bot asks), and
 * explains the two usual mistakes: a wrong checksum, and an all-lowercase address.
 */
export function parseChecksumAddress(text: string, field = 'payout address'): Address {
  const value = text.trim()
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new InvalidPayoutAddressError(
      `"${value}" is not an Ethereum address; a ${field} is 0x followed by 40 hex digits.`,
    )
  }
  const checksummed = getAddress(value)
  if (value === checksummed) return checksummed
  if (value === value.toLowerCase() || value.slice(2) === value.slice(2).toUpperCase()) {
    throw new InvalidPayoutAddressError(
      `"${value}" has no EIP-55 checksum; send it with its mixed-case checksum, as your wallet shows it (${checksummed}).`,
    )
  }
  throw new InvalidPayoutAddressError(
    `"${value}" has a wrong EIP-55 checksum, so it may contain a typo; copy the address from your wallet again.`,
  )
}

/** Returns true when `value` is an EIP-55 checksummed address. */
export function isChecksumAddress(value: unknown): value is Address {
  return (
    typeof value === 'string' && isAddress(value, { strict: true }) && value === getAddress(value)
  )
}

/**
 * The message an Ethereum key signs (EIP-191 personal_sign) to bind itself to an Ed25519 key:
 * `rwa identity: ed25519 <64 lowercase hex digits>`.
 */
export function identityMessage(ed25519PublicKey: Uint8Array): string {
  return `rwa identity: ed25519 ${Buffer.from(ed25519PublicKey).toString('hex')}`
}

/**
 * Recovers the address that produced an EIP-191 signature (65 bytes r‖s‖v, v in {0,1,27,28}) of
 * `identityMessage(ed25519PublicKey)`; synchronous, so reducers can use it. Returns undefined for
 * a malformed signature.
 */
export function recoverIdentityAddress(
  ed25519PublicKey: Uint8Array,
  signature: `0x${string}`,
): Address | undefined {
  return recoverDigestSigner(hexToBytes(hashMessage(identityMessage(ed25519PublicKey))), signature)
}

/**
 * The address whose secp256k1 key signed a 32-byte digest (65-byte r ‖ s ‖ v signature), or
 * undefined; synchronous (noble), so pure reducers can check Ethereum signatures. With
 * `lowS`, malleable high-s twins are refused, as contracts refuse them.
 */
export function recoverDigestSigner(
  digest: Uint8Array,
  signature: `0x${string}`,
  { lowS = false }: { lowS?: boolean } = {},
): Address | undefined {
  try {
    const bytes = hexToBytes(signature)
    if (bytes.length !== 65) return undefined
    const v = bytes[64]!
    const recovery = v >= 27 ? v - 27 : v
    if (recovery !== 0 && recovery !== 1) return undefined
    const sig = secp256k1.Signature.fromCompact(bytes.subarray(0, 64))
    if (lowS && sig.hasHighS()) return undefined
    const point = sig.addRecoveryBit(recovery).recoverPublicKey(digest)
    const uncompressed = point.toRawBytes(false).subarray(1)
    return getAddress(`0x${keccak256(toHex(uncompressed)).slice(-40)}`)
  } catch {
    return undefined
  }
}

/** Throws unless `signature` proves that `address`'s key agreed to bind to `ed25519PublicKey`. */
export function assertIdentityProof(
  ed25519PublicKey: Uint8Array,
  address: Address,
  signature: `0x${string}`,
): void {
  if (recoverIdentityAddress(ed25519PublicKey, signature) !== address) {
    throw new InvalidPayoutAddressError(
      `The signature does not prove control of ${address}; sign the message "${identityMessage(ed25519PublicKey)}" with that address's key (personal_sign).`,
    )
  }
}
