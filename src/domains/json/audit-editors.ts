import { InvalidJsonInputError, JsonConflictError } from '../../core/json/ops.ts'
import { describeValue } from '../../core/text.ts'
import { BaseError } from '../../errors/base.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import { decodeOp } from '../../ledger/op-decode.ts'
import { isOpId, type OpId } from '../../ledger/op-id.ts'

// `POST /json` with `audit`: the audit's registered auditors become the document's editors. The
// json domain's part is given its own index only, so the audit is read from the ledger and its
// state recomputed from its ops with the audit rules (as the audit index would), on whichever
// node holds its ops.

const AUDIT_CREATE = 'audit.create'
/** Geneses read per store read while looking an audit up by name. */
const SCAN_BATCH = 500

/** An audit named by id or name, and the Ed25519 keys (hex) of its registered auditors. */
export type AuditEditors = { readonly audit: OpId; readonly editors: readonly string[] }

/**
 * The auditors of the audit `ref` (its id, or its name when exactly one audit has it).
 * @throws InvalidJsonInputError when no audit is named so, JsonConflictError when several are.
 */
export async function auditEditors(ledger: Ledger, ref: string): Promise<AuditEditors> {
  const audit = await findAudit(ledger, ref.trim())
  const ops = (await ledger.getOps(audit, ledger.log.order(audit))).filter((op) => op !== undefined)
  const { reduceAudit } = await import('../../core/audit/reduce.ts')
  const state = reduceAudit(ops)
  return { audit, editors: state.auditors.map((a) => a.key) }
}

async function findAudit(ledger: Ledger, ref: string): Promise<OpId> {
  if (isOpId(ref)) {
    if (ledger.log.size(ref) > 0 && (await genesisOf(ledger, ref))?.type === AUDIT_CREATE)
      return ref
    throw notFound(ref)
  }
  const found: OpId[] = []
  const docs = ledger.log.docs()
  for (let i = 0; i < docs.length; i += SCAN_BATCH) {
    const batch = docs.slice(i, i + SCAN_BATCH)
    const bytes = await ledger.getBytesOfDocs(batch.map((doc) => ({ doc, ids: [doc] })))
    batch.forEach((doc, k) => {
      const genesis = bytes[k]?.[0] && decodeQuietly(bytes[k][0])
      if (genesis?.type === AUDIT_CREATE && genesis.name === ref) found.push(doc)
    })
  }
  if (found.length === 0) throw notFound(ref)
  if (found.length > 1)
    throw new JsonConflictError(
      `${found.length} audits are named ${describeValue(ref)}; give the id of the one whose auditors edit (${found.sort().join(', ')}).`,
    )
  return found[0]!
}

async function genesisOf(ledger: Ledger, doc: OpId) {
  const [bytes] = await ledger.getBytes(doc, [doc])
  return bytes ? decodeQuietly(bytes) : undefined
}

/** A genesis' type and name, or undefined for bytes this build cannot decode. */
function decodeQuietly(bytes: Uint8Array): { type: string; name: unknown } | undefined {
  try {
    const op = decodeOp(bytes, { maxBytes: Number.MAX_SAFE_INTEGER })
    return { type: op.op.type, name: (op.op.body as { name?: unknown } | null)?.name }
  } catch (error) {
    if (error instanceof BaseError) return undefined
    throw error
  }
}

const notFound = (ref: string) =>
  new InvalidJsonInputError(
    `No audit is named ${describeValue(ref)} on this node; give an audit's name or id (rwa audit list), or name the editors.`,
  )
