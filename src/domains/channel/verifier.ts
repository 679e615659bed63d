import { invert, mod } from '@noble/curves/abstract/modular'
import { secp256k1 } from '@noble/curves/secp256k1'
import { type Address, getAddress, type Hex, hexToBytes, isAddressEqual } from 'viem'
import { claimDigest, recoverClaimSigner } from '../../core/channel/claim.ts'

// The gateway's signature check of a paid call, made cheaper: recovering the signer of a claim
// costs a square root and two scalar multiplications of points nobody prepared (about 2 ms with
// noble). A channel's parties sign every call, so once a key has been recovered for an address
// the gateway keeps its point with a precomputed table and verifies the next signatures against
// it (u1·G + u2·Q, both tables ready: about 0.6 ms). Same answer as recovery: the signature is
// by that address or it is not; anything unusual falls back to a full recovery.

type Point = InstanceType<typeof secp256k1.ProjectivePoint>

const N = secp256k1.CURVE.n
const G = secp256k1.ProjectivePoint.BASE
/** Bits per window of a cached key's table: 2^7 points per window, fast multiplications. */
const WINDOW = 8

/** Options of `createClaimVerifier`. */
export type ClaimVerifierOptions = {
  /** Most keys kept (the oldest is dropped first); each table is about 100 kB. */
  maxKeys?: number
}

/** Checks claim signatures against the addresses that may sign them. */
export interface ClaimVerifier {
  /**
   * Which of `parties` signed the claim of (escrow, channel, nonce, amount), or, when none did,
   * the address the signature recovers to (undefined when it recovers to no key).
   */
  signerOf(
    parties: readonly Address[],
    escrow: Address,
    channelId: bigint,
    nonce: bigint,
    amount: bigint,
    signature: Hex,
  ): Address | undefined
  /** Keys cached now. */
  readonly size: number
}

/** A verifier with a bounded cache of the keys it has recovered, by address. */
export function createClaimVerifier({ maxKeys = 256 }: ClaimVerifierOptions = {}): ClaimVerifier {
  const keys = new Map<string, Point>()
  const remember = (signature: Hex, digest: Hex, address: Address) => {
    const key = address.toLowerCase()
    if (keys.has(key)) return
    const point = recoverPoint(signature, digest)
    if (point === undefined) return
    if (keys.size >= maxKeys) keys.delete(keys.keys().next().value as string)
    ;(point as unknown as { _setWindowSize(w: number): void })._setWindowSize(WINDOW)
    keys.set(key, point)
  }
  return {
    signerOf(parties, escrow, channelId, nonce, amount, signature) {
      const parts = splitSignature(signature)
      if (parts !== undefined) {
        const digest = claimDigest(escrow, channelId, nonce, amount)
        const h = BigInt(digest)
        for (const party of parties) {
          const point = keys.get(party.toLowerCase())
          if (point !== undefined && verifyWith(point, h, parts)) return getAddress(party)
        }
        const signer = recoverClaimSigner(escrow, channelId, nonce, amount, signature)
        if (signer !== undefined && parties.some((p) => isAddressEqual(p, signer)))
          remember(signature, digest, signer)
        return signer
      }
      return recoverClaimSigner(escrow, channelId, nonce, amount, signature)
    },
    get size() {
      return keys.size
    },
  }
}

/** r and s of a 65-byte signature, or undefined when out of range. */
function splitSignature(signature: Hex): { r: bigint; s: bigint } | undefined {
  if (typeof signature !== 'string' || signature.length !== 132) return undefined
  const r = BigInt(`0x${signature.slice(2, 66)}`)
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  if (r <= 0n || r >= N || s <= 0n || s >= N) return undefined
  return { r, s }
}

/** ECDSA verification of (r, s) over `h` against the public point `q`. */
function verifyWith(q: Point, h: bigint, { r, s }: { r: bigint; s: bigint }): boolean {
  const w = invert(s, N)
  const u1 = mod(h * w, N)
  const u2 = mod(r * w, N)
  // A digest of 0 mod n (never met in practice) is left to the full recovery.
  if (u1 === 0n) return false
  const point = G.multiply(u1).add(q.multiply(u2))
  if (point.equals(secp256k1.ProjectivePoint.ZERO)) return false
  return mod(point.toAffine().x, N) === r
}

/** The public point a claim signature recovers to, or undefined. */
function recoverPoint(signature: Hex, digest: Hex): Point | undefined {
  try {
    const bytes = hexToBytes(signature)
    const v = bytes[64] ?? 0
    const recovery = v >= 27 ? v - 27 : v
    const sig = secp256k1.Signature.fromCompact(bytes.subarray(0, 64)).addRecoveryBit(recovery)
    return sig.recoverPublicKey(digest.slice(2))
  } catch {
    return undefined
  }
}
