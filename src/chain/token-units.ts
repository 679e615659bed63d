import { type Address, erc20Abi, isAddress, type PublicClient, BaseError as ViemError } from 'viem'
import { ETH_UNIT, type TokenUnit, toTokenUnit, unknownUnit } from '../core/amount.ts'
import { NATIVE } from './escrow.ts'

/** Tokens whose units are kept at most (anyone may name any address as an audit's token). */
const MAX_CACHED_TOKENS = 1000

/** The units of tokens on one chain, read from each ERC-20 once. */
export interface TokenUnits {
  /** The unit of `token` (`native`, address(0) or an ERC-20 address); never throws. */
  unitOf(token: string): Promise<TokenUnit>
}

/**
 * Reads an ERC-20's `symbol()` and `decimals()`. A contract that reverts, is not there, or
 * answers junk (a bytes32 symbol, 200 decimals) gets `unknownUnit`: its address, base units.
 * @throws the client's error when the chain itself does not answer (worth asking again later).
 */
export async function readTokenUnit(client: PublicClient, token: Address): Promise<TokenUnit> {
  const read = (functionName: 'symbol' | 'decimals') =>
    client.readContract({ address: token, abi: erc20Abi, functionName }).then(
      (value) => ({ value }),
      (error: unknown) => {
        if (isTokenRefusal(error)) return { value: undefined }
        throw error
      },
    )
  const [symbol, decimals] = await Promise.all([read('symbol'), read('decimals')])
  return toTokenUnit(token, symbol.value, decimals.value)
}

/**
 * Whether a read failed because of the contract (a revert, no code, an answer that does not
 * decode), not because the chain did not answer: viem wraps both in a ContractFunctionExecutionError,
 * so the cause is what tells them apart.
 */
function isTokenRefusal(error: unknown): boolean {
  if (!(error instanceof ViemError)) return false
  return !!error.walk(
    (e) =>
      e instanceof ViemError &&
      /^(ContractFunction(ZeroData|Reverted)Error|AbiDecoding\w*Error|\w*Decod\w*Error|PositionOutOfBoundsError|InvalidBytesBooleanError|SizeOverflowError|IntegerOutOfRangeError|SliceOffsetOutOfBoundsError)$/.test(
        e.name,
      ),
  )
}

/**
 * The units of tokens on the chain `client` reads (none: every ERC-20 is of unknown unit),
 * cached per token: an ERC-20's symbol and decimals do not change. A chain that does not answer
 * is not cached, so the next look asks again.
 */
export function createTokenUnits(client: PublicClient | undefined): TokenUnits {
  const cache = new Map<string, Promise<TokenUnit>>()
  return {
    unitOf(token) {
      if (token === 'native' || token.toLowerCase() === NATIVE) return Promise.resolve(ETH_UNIT)
      if (!isAddress(token, { strict: false }) || !client)
        return Promise.resolve(unknownUnit(token))
      const key = token.toLowerCase()
      let unit = cache.get(key)
      if (!unit) {
        if (cache.size >= MAX_CACHED_TOKENS) cache.clear()
        unit = readTokenUnit(client, token as Address).catch(() => {
          cache.delete(key)
          return unknownUnit(token)
        })
        cache.set(key, unit)
      }
      return unit
    },
  }
}
