import { z } from 'zod'

// The JSON that rwa answers (src/core/json.ts): bigints are decimal strings, bytes are hex. These
// schemas describe answers as they travel, so `/openapi.json` tells clients the real types, and
// `Encodes` lets a route's handler be checked against its response schema at compile time.

/** An op or document id: CIDv1 in multibase base32 (`b` and 58 lowercase base32 digits). */
export const opIdWire = z
  .string()
  .regex(/^b[a-z2-7]{58}$/)
  .describe('An op or document id.')

/** An Ed25519 public key: 64 lowercase hex digits. */
export const keyWire = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('An Ed25519 public key (hex).')

/** An Ethereum address (`0x` and 40 hex digits, any case). */
export const addressWire = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/)
  .describe('An Ethereum address.')

/** A token amount in base units: a bigint, sent as a decimal string so it never loses precision. */
export const amountWire = z
  .string()
  .regex(/^\d+$/)
  .describe('An amount in base units of its token (a decimal string).')

/** A transaction hash (`0x` and 64 hex digits). */
export const txWire = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/)
  .describe('A transaction hash.')

/** `0x`-prefixed hex bytes (an ABI encoding, a signature). */
export const hexWire = z.string().regex(/^0x([0-9a-f]{2})*$/)

/** An exact ratio: an integer or `num/den`. */
export const ratioWire = z
  .string()
  .regex(/^\d+(\/\d+)?$/)
  .describe('An exact ratio: "n" or "num/den".')

/**
 * The values a handler may return for an answer of wire type `W`: what rwa's JSON encoding turns
 * into `W`. A plain string on the wire may come from a bigint (decimal) or bytes (hex); a string
 * literal (a state name) only from itself.
 * @example
 * const handler = (): Encodes<{ bond: string }> => ({ bond: 1000n }) // sent as {"bond":"1000"}
 */
export type Encodes<W> = W extends string
  ? string extends W
    ? W | bigint | Uint8Array
    : W
  : W extends number | boolean | null | undefined
    ? W
    : W extends readonly (infer E)[]
      ? readonly Encodes<E>[]
      : W extends object
        ? { readonly [K in keyof W]: Encodes<W[K]> }
        : W
