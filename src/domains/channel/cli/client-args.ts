import { BaseError } from '../../../errors/base.ts'

// What the client's channel commands read from their arguments: ids, blocks and expirations.

/** `--blocks N` (from now) or `--expiration B` (a block number). */
export type ExpiryOptions = { blocks?: string | undefined; expiration?: string | undefined }

/** A decimal channel id, block count or block number typed by the user. */
export function parseWhole(what: string, text: string): bigint {
  if (!/^[0-9]{1,30}$/.test(text.trim()))
    throw new BaseError(
      `${what} "${text.slice(0, 40)}" is not a whole number; give one in base 10.`,
    )
  return BigInt(text.trim())
}

/** The expiration block of `--blocks N` (N blocks from `currentBlock`) or `--expiration B`. */
export function expirationOf(
  o: ExpiryOptions,
  currentBlock: bigint,
  fallbackBlocks?: bigint,
): bigint {
  if (o.blocks !== undefined && o.expiration !== undefined)
    throw new BaseError('Give --blocks or --expiration, not both.')
  if (o.expiration !== undefined) return parseWhole('--expiration', o.expiration)
  if (o.blocks !== undefined) return currentBlock + parseWhole('--blocks', o.blocks)
  if (fallbackBlocks !== undefined) return currentBlock + fallbackBlocks
  throw new BaseError('Give --blocks <n> (from now) or --expiration <block>.')
}

/** Blocks a new channel lasts unless told (about 1.4 days of 12-second blocks). */
export const DEFAULT_CHANNEL_BLOCKS = 10_000n
