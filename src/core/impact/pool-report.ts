import {
  type Address,
  encodeAbiParameters,
  type Hex,
  hashTypedData,
  hexToBytes,
  keccak256,
  zeroHash,
} from 'viem'
import type { OpId } from '../../ledger/op-id.ts'
import { auditIdOf, payoutsHash, type SettlementDomain } from '../audit/settlement-report.ts'
import { recoverDigestSigner } from '../identity.ts'
import { InvalidImpactDecisionError, MAX_IMPACT_AMOUNT } from './decide.ts'
import { MAX_IMPACT_ID } from './formats.ts'

// The reward pools of impact actions in AuditEscrow (contracts/AuditEscrow.sol): `deposit`,
// `batchDigest` and `settleBatch` check exactly what these helpers build.

/** The memo of a deposit that is not an auditor's stake (bytes32 zero). */
export const NO_MEMO: Hex = zeroHash

/**
 * The escrow's id of a community's reward pool in one token:
 * keccak256(abi.encode("rwa impact pool", auditIdOf(community), uint256 token)).
 * @param token 0 for the chain's native coin, n for token id n of the registry (`rewardstoken`).
 * @example impactPoolId(community.id, 0) // the community's native-coin pool
 */
export function impactPoolId(community: OpId, token: number): Hex {
  if (!Number.isSafeInteger(token) || token < 0 || token > MAX_IMPACT_ID)
    throw new InvalidImpactDecisionError(
      `The pool token "${token}" is not a token id; use 0 (native coin) or a token id from 1 to ${MAX_IMPACT_ID}.`,
    )
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'bytes32' }, { type: 'uint256' }],
      ['rwa impact pool', auditIdOf(community), BigInt(token)],
    ),
  )
}

/**
 * The memo of an auditor's stake deposit: its 32-byte Ed25519 public key as bytes32.
 * @param auditorKeyHex 64 hex digits, with or without 0x.
 */
export function stakeMemo(auditorKeyHex: string): Hex {
  const digits = auditorKeyHex.startsWith('0x') ? auditorKeyHex.slice(2) : auditorKeyHex
  if (!/^[0-9a-fA-F]{64}$/.test(digits))
    throw new InvalidImpactDecisionError(
      `The auditor key "${auditorKeyHex.slice(0, 80)}" is not an Ed25519 public key; a stake memo needs its 32 bytes as 64 hex digits.`,
    )
  return `0x${digits.toLowerCase()}`
}

/** One batch of a pool's payouts, as nodes sign it and `settleBatch` pays it. */
export type BatchReport = SettlementDomain & {
  readonly poolId: Hex
  /** The batch's number: the pool's count of settled batches when it is paid (0, 1, 2, …). */
  readonly batch: bigint
  readonly payees: readonly Address[]
  /** Base units of the pool's token, one per payee. */
  readonly amounts: readonly bigint[]
}

function batchTotal({ batch, payees, amounts }: BatchReport): bigint {
  if (batch < 0n || batch > MAX_IMPACT_AMOUNT)
    throw new InvalidImpactDecisionError(
      `The batch number "${batch}" is out of range; batches count up from 0 (a uint256).`,
    )
  if (payees.length !== amounts.length)
    throw new InvalidImpactDecisionError(
      `The batch lists ${payees.length} payees but ${amounts.length} amounts; give one amount per payee.`,
    )
  let total = 0n
  for (const amount of amounts) {
    if (amount < 0n)
      throw new InvalidImpactDecisionError(
        `The batch amount "${amount}" is negative; amounts are base units from 0.`,
      )
    total += amount
  }
  if (total > MAX_IMPACT_AMOUNT)
    throw new InvalidImpactDecisionError(
      `The batch total "${total}" exceeds a uint256; split the batch.`,
    )
  return total
}

/**
 * The EIP-712 report nodes sign to pay a pool's batch: BatchSettlement(bytes32 poolId,
 * uint256 batch, bytes32 payoutsHash, uint256 total), in the same domain as `settlementTypedData`
 * ({ name: "rwa AuditEscrow", version: "1", chainId, escrow }).
 * @throws InvalidImpactDecisionError when payees and amounts differ in length, or a value is out of range.
 */
export function batchSettlementTypedData(report: BatchReport) {
  const { chainId, escrow, poolId, batch, payees, amounts } = report
  const total = batchTotal(report)
  return {
    domain: { name: 'rwa AuditEscrow', version: '1', chainId, verifyingContract: escrow },
    types: {
      BatchSettlement: [
        { name: 'poolId', type: 'bytes32' },
        { name: 'batch', type: 'uint256' },
        { name: 'payoutsHash', type: 'bytes32' },
        { name: 'total', type: 'uint256' },
      ],
    },
    primaryType: 'BatchSettlement',
    message: { poolId, batch, payoutsHash: payoutsHash(payees, amounts), total },
  } as const
}

/** The address whose key made `signature` over a batch report, or undefined (synchronous). */
export function recoverBatchSigner(report: BatchReport, signature: Hex): Address | undefined {
  return recoverDigestSigner(
    hexToBytes(hashTypedData(batchSettlementTypedData(report))),
    signature,
    {
      // settleBatch refuses high-s signatures (malleable twins): refuse them here too.
      lowS: true,
    },
  )
}
