import { keccak256, parseSignature, serializeSignature, size } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import {
  ChannelClaimError,
  claimDigest,
  claimHash,
  claimMessage,
  recoverClaimSigner,
  signClaim,
  splitClaimSignature,
} from '../src/core/channel/claim.ts'

// The spec's vector (specs/payments.md): SingularityNET's claim message, with anvil's public
// development key #0 (devnet only).

const DEV0_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const dev0 = privateKeyToAccount(DEV0_KEY)
const ESCROW = '0x5e592F9b1d303183d963635f895f0f0C48284f4e'
const INNER = '0x7be34a0f9c2390ddcac9e2f02874e983b390b2871b5527b011ba9453bef38023'
const DIGEST = '0x1e21ccce3c674207932248dce500a0c07aeddf83d45516911a416e0f4b5b12cb'
/** secp256k1's group order. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

describe('claimMessage', () => {
  test('packs the vector into 135 bytes: prefix, escrow, channel id, nonce and amount', () => {
    const packed = claimMessage(ESCROW, 42n, 0n, 100n)
    expect(size(packed)).toBe(135)
    expect(packed.slice(0, 2 + 38)).toBe(`0x${Buffer.from('__MPE_claim_message').toString('hex')}`)
    expect(packed.slice(40, 80)).toBe(ESCROW.slice(2).toLowerCase())
    expect(BigInt(`0x${packed.slice(80, 144)}`)).toBe(42n)
    expect(BigInt(`0x${packed.slice(144, 208)}`)).toBe(0n)
    expect(BigInt(`0x${packed.slice(208)}`)).toBe(100n)
  })

  test('the vector gives the spec inner hash and EIP-191 digest', () => {
    expect(claimHash(ESCROW, 42n, 0n, 100n)).toBe(INNER)
    expect(keccak256(claimMessage(ESCROW, 42n, 0n, 100n))).toBe(INNER)
    expect(claimDigest(ESCROW, 42n, 0n, 100n)).toBe(DIGEST)
  })

  test('an address in lower case gives the same bytes', () => {
    expect(claimDigest(ESCROW.toLowerCase() as `0x${string}`, 42n, 0n, 100n)).toBe(DIGEST)
  })

  test('each field changes the digest', () => {
    const digests = new Set([
      claimDigest(ESCROW, 42n, 0n, 100n),
      claimDigest('0x5e592F9b1d303183d963635f895f0f0C48284f4f', 42n, 0n, 100n),
      claimDigest(ESCROW, 43n, 0n, 100n),
      claimDigest(ESCROW, 42n, 1n, 100n),
      claimDigest(ESCROW, 42n, 0n, 101n),
    ])
    expect(digests.size).toBe(5)
  })

  test('refuses a bad escrow, a negative or oversized number', () => {
    expect(() => claimMessage('0x1234' as `0x${string}`, 1n, 0n, 1n)).toThrow(ChannelClaimError)
    expect(() => claimMessage(ESCROW, -1n, 0n, 1n)).toThrow(/channel id "-1"/)
    expect(() => claimMessage(ESCROW, 1n, 2n ** 256n, 1n)).toThrow(/nonce/)
    expect(() => claimMessage(ESCROW, 1n, 0n, 5 as unknown as bigint)).toThrow(/amount "5"/)
  })
})

describe('signClaim and recoverClaimSigner', () => {
  test('a signature by dev key #0 over the vector recovers to its address, with v 27 or 28', async () => {
    const signature = await signClaim(dev0, ESCROW, 42n, 0n, 100n)
    expect(size(signature)).toBe(65)
    expect([27, 28]).toContain(Number.parseInt(signature.slice(-2), 16))
    expect(recoverClaimSigner(ESCROW, 42n, 0n, 100n, signature)).toBe(
      '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
    )
    // Same as an eth_sign (personal_sign) of the 32-byte inner hash, as snet-cli signs.
    expect(await dev0.signMessage({ message: { raw: INNER } })).toBe(signature)
  })

  test('a signature of another amount or nonce recovers to someone else', async () => {
    const signature = await signClaim(dev0, ESCROW, 42n, 0n, 100n)
    expect(recoverClaimSigner(ESCROW, 42n, 0n, 101n, signature)).not.toBe(dev0.address)
    expect(recoverClaimSigner(ESCROW, 42n, 1n, 100n, signature)).not.toBe(dev0.address)
  })

  test('a malformed signature recovers nobody', () => {
    expect(recoverClaimSigner(ESCROW, 42n, 0n, 100n, '0x1234')).toBeUndefined()
    expect(recoverClaimSigner(ESCROW, 42n, 0n, 100n, 'zz' as `0x${string}`)).toBeUndefined()
    expect(recoverClaimSigner(ESCROW, 42n, 0n, 100n, `0x${'00'.repeat(64)}1f`)).toBeUndefined()
  })
})

describe('splitClaimSignature', () => {
  test('gives v 27 or 28 and the r and s of the signature, also from v 0 or 1', async () => {
    const signature = await signClaim(dev0, ESCROW, 42n, 0n, 100n)
    const parsed = parseSignature(signature)
    const parts = splitClaimSignature(signature)
    expect(parts).toEqual({ v: Number(parsed.v), r: parsed.r, s: parsed.s })
    const yParity = serializeSignature({ r: parsed.r, s: parsed.s, yParity: parsed.yParity })
    const zeroOne = `${yParity.slice(0, -2)}0${parsed.yParity}` as `0x${string}`
    expect(splitClaimSignature(zeroOne)).toEqual(parts)
  })

  test('refuses a wrong length, a bad v and an s of n', () => {
    expect(() => splitClaimSignature('0x12')).toThrow(ChannelClaimError)
    expect(() => splitClaimSignature(`0x${'11'.repeat(64)}1d`)).toThrow(/65 bytes/)
    expect(() => splitClaimSignature(`0x${'11'.repeat(32)}${N.toString(16)}1b`)).toThrow(
      /s is outside/,
    )
  })
})
