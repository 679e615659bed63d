import {
  type Address,
  encodeAbiParameters,
  type Hex,
  hashTypedData,
  hexToBytes,
  keccak256,
} from 'viem'
import { type OpId, parseOpIdBytes } from '../../ledger/op-id.ts'
import { recoverDigestSigner } from '../identity.ts'

/** Where a settlement is paid: the chain and the AuditEscrow contract (the EIP-712 domain). */
export type SettlementDomain = { readonly chainId: number; readonly escrow: Address }

/** The escrow's id of an audit: the sha2-256 digest inside the audit's id (its genesis CID). */
export function auditIdOf(audit: OpId): Hex {
  const bytes = parseOpIdBytes(audit)
  return `0x${Buffer.from(bytes.subarray(bytes.length - 32)).toString('hex')}`
}

/** keccak256(abi.encode(payees, amounts)): the hash of the bytes the data_dump route serves. */
export function payoutsHash(payees: readonly Address[], amounts: readonly bigint[]): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'address[]' }, { type: 'uint256[]' }], [payees, amounts]),
  )
}

/**
 * The EIP-712 settlement report nodes sign: Settlement(bytes32 auditId, bytes32 payoutsHash,
 * uint256 total) in the domain { name: "rwa AuditEscrow", version: "1", chainId, escrow }.
 */
export function settlementTypedData({
  chainId,
  escrow,
  auditId,
  payees,
  amounts,
}: SettlementDomain & { auditId: Hex; payees: readonly Address[]; amounts: readonly bigint[] }) {
  return {
    domain: { name: 'rwa AuditEscrow', version: '1', chainId, verifyingContract: escrow },
    types: {
      Settlement: [
        { name: 'auditId', type: 'bytes32' },
        { name: 'payoutsHash', type: 'bytes32' },
        { name: 'total', type: 'uint256' },
      ],
    },
    primaryType: 'Settlement',
    message: {
      auditId,
      payoutsHash: payoutsHash(payees, amounts),
      total: amounts.reduce((sum, a) => sum + a, 0n),
    },
  } as const
}

/** The address whose key made `signature` over a settlement report, or undefined (synchronous). */
export function recoverSettlementSigner(
  report: Parameters<typeof settlementTypedData>[0],
  signature: Hex,
): Address | undefined {
  return recoverDigestSigner(hexToBytes(hashTypedData(settlementTypedData(report))), signature, {
    // The escrow refuses high-s signatures (malleable twins): refuse them here too.
    lowS: true,
  })
}
