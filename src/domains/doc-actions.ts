import type { DocSummary, DomainReducer } from '../core/domain.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { LocalAccount } from '../node/accounts.ts'
import type { DocIndex } from '../node/doc-index.ts'

/** What an action did: the op it signed, in which document. */
export type DocActed = { readonly op: OpId; readonly doc: OpId; readonly type: string }

/** Ops a node signs for its local accounts in one domain's documents (HTTP, chat, dashboard, services). */
export interface DocActions {
  /** Starts a document whose genesis `account` signs. */
  create(account: LocalAccount, body: Record<string, unknown>): Promise<EncodedOp>
  /**
   * Checks an op on the document's current state (the refusal it would get, as a named error
   * naming the rule), then signs and appends it.
   */
  act(account: LocalAccount, doc: string, type: string, body: unknown): Promise<DocActed>
}

/** The actions of a node's ledger on one domain's documents (`genesisType` starts one). */
export function createDocActions<State, Reducer extends DomainReducer<State>, S extends DocSummary>(
  ledger: Ledger,
  index: DocIndex<State, Reducer, S>,
  genesisType: string,
): DocActions {
  return {
    async create(account, body) {
      const time = Date.now()
      return ledger.append(account.signer, { doc: null, type: genesisType, body, time })
    },
    async act(account, ref, type, body) {
      const doc = index.resolve(ref)
      const reducer = await index.reducer(doc)
      const time = Date.now()
      reducer.check({ author: account.signer.publicKey, type, body, time })
      const op = await ledger.append(account.signer, { doc, type, body, time })
      return { op: op.id, doc, type }
    },
  }
}
