import { hash } from 'node:crypto'
import { type OpId, parseOpIdBytes } from '../../ledger/op-id.ts'

const COMMIT_TAG = Buffer.from('rwa/audit/commit/v1', 'utf8')

/** An answer committed to: what the commitment binds, and the salt that hides it. */
export type CommittedAnswer = {
  readonly audit: OpId
  readonly item: OpId
  /** The auditor's Ed25519 key. */
  readonly auditor: Uint8Array
  readonly answer: boolean
  readonly salt: Uint8Array
}

/**
 * The commitment to an answer, bound to the audit, the item and the auditor, so a copied
 * commitment cannot be revealed by anyone else:
 * SHA-256("rwa/audit/commit/v1" ‖ audit id bytes ‖ item id bytes ‖ auditor key ‖ answer byte ‖ salt).
 */
export function commitAnswer({ audit, item, auditor, answer, salt }: CommittedAnswer): Uint8Array {
  const input = Buffer.concat([
    COMMIT_TAG,
    parseOpIdBytes(audit),
    parseOpIdBytes(item),
    auditor,
    Uint8Array.of(answer ? 1 : 0),
    salt,
  ])
  return new Uint8Array(hash('sha256', input, 'buffer') as unknown as Buffer)
}
