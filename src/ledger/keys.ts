import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { InvalidOpFieldError } from './errors.ts'

/** An Ed25519 signing identity: the 32-byte public key and the private `KeyObject`. */
export type Signer = { readonly publicKey: Uint8Array; readonly privateKey: KeyObject }

// DER prefixes of Ed25519 keys (RFC 8410): PKCS#8 for the 32-byte seed, SPKI for the public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** Builds a signer from a 32-byte Ed25519 seed (the private key as RFC 8032 defines it). */
export function signerFromSeed(seed: Uint8Array): Signer {
  if (seed.length !== 32) throw new InvalidOpFieldError('seed', '32 bytes')
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
  return signerFromPrivateKey(privateKey)
}

/** Builds a signer from an Ed25519 private `KeyObject`. */
export function signerFromPrivateKey(privateKey: KeyObject): Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new InvalidOpFieldError('privateKey', 'an Ed25519 key')
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return { publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)), privateKey }
}

/** A cheap string key for raw bytes (one char per byte), for Maps keyed by keys or ids. */
export function latin1Key(bytes: Uint8Array): string {
  return Buffer.prototype.latin1Slice.call(bytes, 0, bytes.length) as string
}

/** A bounded cache of public `KeyObject`s, so each author's key is parsed once. */
export type PublicKeyCache = { get(publicKey: Uint8Array): KeyObject }

/**
 * Creates a bounded cache of Ed25519 public `KeyObject`s keyed by the raw 32-byte key. Past `max`
 * entries the oldest is dropped, so a flood of fresh authors cannot grow memory without bound.
 */
export function createPublicKeyCache({ max = 10_000 }: { max?: number } = {}): PublicKeyCache {
  const cache = new Map<string, KeyObject>()
  return {
    get(publicKey) {
      const key = latin1Key(publicKey)
      let object = cache.get(key)
      if (object) return object
      object = createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, publicKey]),
        format: 'der',
        type: 'spki',
      })
      if (cache.size >= max) cache.delete(cache.keys().next().value!)
      cache.set(key, object)
      return object
    },
  }
}
