import type { Logger } from 'pino'
import type { Domain } from '../core/domain.ts'
import { BaseError } from '../errors/base.ts'
import { OpRefusedError } from '../ledger/errors.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { DocIndex } from './doc-index.ts'

/**
 * The node's admission rule (Kleppmann & Howard's BEC: an update invalid against its causal past
 * is never delivered), asked by the ledger for each op once its deps are in: a genesis must
 * create a document of a hosted domain with a body that domain accepts; any other op must be
 * accepted by its document's rules on its own causal past. What depends on concurrent ops (a
 * lost tie-break) is admitted and judged in the state as before. Pure given the causal past, so
 * every honest node admits the same ops.
 */
export function createAdmission(
  domains: readonly Domain[],
  indexes: readonly DocIndex[],
  logger: Logger,
): (doc: OpId, op: EncodedOp) => BaseError | undefined {
  const byGenesis = new Map(domains.map((domain) => [domain.genesisType, domain]))
  const known = domains.map((d) => `"${d.genesisType}"`).join(', ')
  return (doc, op) => {
    try {
      if (op.op.doc === null) {
        const domain = byGenesis.get(op.op.type)
        if (!domain)
          return new OpRefusedError(
            op.id,
            'UnknownDocumentType',
            `no domain of this node creates documents of type "${op.op.type}" (it hosts ${known || 'none'})`,
          )
        domain.createReducer(op)
        return undefined
      }
      for (const index of indexes) if (index.has(doc)) return index.admit(doc, op)
      return new OpRefusedError(
        op.id,
        'UnknownDocumentType',
        `its document "${doc}" is of no domain this node hosts`,
      )
    } catch (error) {
      if (error instanceof BaseError)
        return new OpRefusedError(op.id, error.name, error.shortMessage)
      // A fault of ours must not split this node from its peers: the op is admitted and the
      // reducer judges it in the state, as before admission existed.
      logger.error({ err: error, op: op.id }, 'admission failed; the op is admitted')
      return undefined
    }
  }
}
