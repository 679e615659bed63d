import {
  type Address,
  encodeAbiParameters,
  getAddress,
  type Hex,
  hashTypedData,
  hexToBytes,
  isAddress,
  isHex,
  keccak256,
  type LocalAccount,
  stringToHex,
} from 'viem'
import { BaseError } from '../../errors/base.ts'
import { recoverDigestSigner } from '../identity.ts'

// The cheques of SWAP accounting, byte-compatible with Swarm's chequebook (ERC20SimpleSwap in
// swap-swear-and-swindle; contracts/Chequebook.sol checks the same bytes): EIP-712 typed data
// under the domain EIP712Domain(string name,string version,uint256 chainId) = ("Chequebook",
// "1.0", chainId), with no verifyingContract (the chequebook is a field of each message).

const DOMAIN_NAME = 'Chequebook'
const DOMAIN_VERSION = '1.0'
const UINT256_MAX = 2n ** 256n - 1n

/** keccak256 of the EIP-712 domain type the chequebook signs under. */
export const CHEQUEBOOK_DOMAIN_TYPEHASH: Hex = keccak256(
  stringToHex('EIP712Domain(string name,string version,uint256 chainId)'),
)

/** keccak256 of the cheque type: `0x48ebe6de…` in Swarm's contract. */
export const CHEQUE_TYPEHASH: Hex = keccak256(
  stringToHex('Cheque(address chequebook,address beneficiary,uint256 cumulativePayout)'),
)

const CHEQUE_TYPES = {
  Cheque: [
    { name: 'chequebook', type: 'address' },
    { name: 'beneficiary', type: 'address' },
    { name: 'cumulativePayout', type: 'uint256' },
  ],
} as const

const CASHOUT_TYPES = {
  Cashout: [
    { name: 'chequebook', type: 'address' },
    { name: 'sender', type: 'address' },
    { name: 'requestPayout', type: 'uint256' },
    { name: 'recipient', type: 'address' },
    { name: 'callerPayout', type: 'uint256' },
  ],
} as const

const CUSTOM_DECREASE_TIMEOUT_TYPES = {
  CustomDecreaseTimeout: [
    { name: 'chequebook', type: 'address' },
    { name: 'beneficiary', type: 'address' },
    { name: 'decreaseTimeout', type: 'uint256' },
  ],
} as const

/** Thrown when a cheque's fields or signature break the cheque format. */
export class ChequeError extends BaseError {
  override name = 'ChequeError' as const
  override readonly kind = 'invalid' as const
}

/** A promise of `cumulativePayout` in total, over its lifetime, from a chequebook to a beneficiary. */
export type Cheque = {
  readonly chequebook: Address
  readonly beneficiary: Address
  /** Base units of the chequebook's token, all cheques so far included. */
  readonly cumulativePayout: bigint
}

/** A cheque with its issuer's 65-byte signature (r ‖ s ‖ v, v 27 or 28). */
export type SignedCheque = Cheque & { readonly signature: Hex }

/**
 * A beneficiary's consent that `sender` cash its cheque for it (Swarm's `cashCheque`), paying
 * `recipient` and keeping `callerPayout` for itself.
 */
export type Cashout = {
  chequebook: Address
  /** The account that sends the cashing transaction. */
  sender: Address
  /** The cheque's cumulative payout (the contract signs it under this name). */
  requestPayout: bigint
  recipient: Address
  callerPayout: bigint
}

/** A beneficiary's consent to a custom hard-deposit decrease timeout (seconds). */
export type CustomDecreaseTimeout = {
  chequebook: Address
  beneficiary: Address
  decreaseTimeout: bigint
}

function assertAddress(name: string, value: Address): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false }))
    throw new ChequeError(
      `The ${name} "${String(value).slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
    )
  return getAddress(value)
}

function assertUint256(name: string, value: bigint): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > UINT256_MAX)
    throw new ChequeError(
      `The ${name} "${String(value).slice(0, 80)}" is not a uint256; give a bigint from 0 to 2^256 - 1.`,
    )
  return value
}

function assertChainId(chainId: number): number {
  if (!Number.isSafeInteger(chainId) || chainId <= 0)
    throw new ChequeError(
      `The chain id "${String(chainId).slice(0, 40)}" is not a positive integer; give the id of the chequebook's chain.`,
    )
  return chainId
}

const domainOf = (chainId: number) =>
  ({ name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: assertChainId(chainId) }) as const

function chequeMessage(cheque: Cheque) {
  return {
    chequebook: assertAddress('chequebook', cheque.chequebook),
    beneficiary: assertAddress('beneficiary', cheque.beneficiary),
    cumulativePayout: assertUint256('cumulative payout', cheque.cumulativePayout),
  }
}

/**
 * The EIP-712 domain separator of cheques on `chainId`.
 * @example chequeDomainSeparator(100) // 0x96c88d90…
 */
export function chequeDomainSeparator(chainId: number): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }],
      [
        CHEQUEBOOK_DOMAIN_TYPEHASH,
        keccak256(stringToHex(DOMAIN_NAME)),
        keccak256(stringToHex(DOMAIN_VERSION)),
        BigInt(assertChainId(chainId)),
      ],
    ),
  )
}

/**
 * The 32 bytes the issuer signs for a cheque (`keccak256(0x1901 ‖ domain separator ‖ struct hash)`).
 * @throws ChequeError when a field is not an address or a uint256, or the chain id is not positive.
 */
export function chequeDigest(cheque: Cheque, chainId: number): Hex {
  return hashTypedData({
    domain: domainOf(chainId),
    types: CHEQUE_TYPES,
    primaryType: 'Cheque',
    message: chequeMessage(cheque),
  })
}

/**
 * Signs a cheque as the chequebook's issuer.
 * @example const signature = await signCheque(account, { chequebook, beneficiary, cumulativePayout: 1_000n }, 100)
 */
export function signCheque(account: LocalAccount, cheque: Cheque, chainId: number): Promise<Hex> {
  return account.signTypedData({
    domain: domainOf(chainId),
    types: CHEQUE_TYPES,
    primaryType: 'Cheque',
    message: chequeMessage(cheque),
  })
}

/**
 * The address that signed a cheque, under the contract's rules: 65 bytes r ‖ s ‖ v, v 27 or 28,
 * s in the lower half of the curve order (OpenZeppelin's ECDSA, as Swarm's contract uses).
 * @throws ChequeError when a field or the signature breaks those rules.
 */
export async function recoverChequeSigner(cheque: SignedCheque, chainId: number): Promise<Address> {
  const digest = chequeDigest(cheque, chainId)
  const signature = cheque.signature
  const bytes =
    typeof signature === 'string' && isHex(signature, { strict: true })
      ? hexToBytes(signature)
      : new Uint8Array()
  const v = bytes[64]
  // The contract takes v as 27 or 28 only, and refuses the malleable high-s twin.
  const signer =
    bytes.length === 65 && (v === 27 || v === 28)
      ? recoverDigestSigner(hexToBytes(digest), signature, { lowS: true })
      : undefined
  if (!signer)
    throw new ChequeError(
      `The cheque signature "${String(signature).slice(0, 140)}" is not 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s; sign the cheque with signCheque.`,
    )
  return signer
}

/**
 * Signs a beneficiary's consent that `cashout.sender` cash its cheque (Swarm's `cashCheque`).
 * @example await signCashout(beneficiary, { chequebook, sender: relayer, requestPayout: cheque.cumulativePayout, recipient, callerPayout: 10n }, chainId)
 */
export function signCashout(
  account: LocalAccount,
  cashout: Cashout,
  chainId: number,
): Promise<Hex> {
  return account.signTypedData({
    domain: domainOf(chainId),
    types: CASHOUT_TYPES,
    primaryType: 'Cashout',
    message: {
      chequebook: assertAddress('chequebook', cashout.chequebook),
      sender: assertAddress('sender', cashout.sender),
      requestPayout: assertUint256('request payout', cashout.requestPayout),
      recipient: assertAddress('recipient', cashout.recipient),
      callerPayout: assertUint256('caller payout', cashout.callerPayout),
    },
  })
}

/** Signs a beneficiary's consent to a custom decrease timeout of its hard deposit. */
export function signCustomDecreaseTimeout(
  account: LocalAccount,
  consent: CustomDecreaseTimeout,
  chainId: number,
): Promise<Hex> {
  return account.signTypedData({
    domain: domainOf(chainId),
    types: CUSTOM_DECREASE_TIMEOUT_TYPES,
    primaryType: 'CustomDecreaseTimeout',
    message: {
      chequebook: assertAddress('chequebook', consent.chequebook),
      beneficiary: assertAddress('beneficiary', consent.beneficiary),
      decreaseTimeout: assertUint256('decrease timeout', consent.decreaseTimeout),
    },
  })
}
