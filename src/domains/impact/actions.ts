import type { ImpactReducer, ImpactSummary } from '../../core/impact/domain.ts'
import { IMPACT_OP } from '../../core/impact/ops.ts'
import type { ImpactState } from '../../core/impact/state.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { LocalAccount } from '../../node/accounts.ts'
import type { DocIndex } from '../../node/doc-index.ts'
import { createDocActions } from '../doc-actions.ts'

/** The impact communities of a node. */
export type ImpactIndex = DocIndex<ImpactState, ImpactReducer, ImpactSummary>

/** What an action did: the op it signed, in which community. */
export type ImpactActed = { readonly op: OpId; readonly community: OpId; readonly type: string }

/** Impact ops signed by the node for its local accounts (HTTP, chat, dashboard, the proxy service). */
export interface ImpactActions {
  /** Starts a community whose genesis `account` signs (a governor unless `governors` says otherwise). */
  create(account: LocalAccount, body: Record<string, unknown>): Promise<EncodedOp>
  /**
   * Checks an op on the community's current state (the refusal it would get, as a named error
   * naming the rule), then signs and appends it.
   */
  act(account: LocalAccount, community: string, type: string, body: unknown): Promise<ImpactActed>
}

/** The actions of a node's ledger and impact index. */
export function createImpactActions(ledger: Ledger, index: ImpactIndex): ImpactActions {
  const docs = createDocActions(ledger, index, IMPACT_OP.create)
  return {
    create: docs.create,
    async act(account, ref, type, body) {
      const { op, doc } = await docs.act(account, ref, type, body)
      return { op, community: doc, type }
    },
  }
}
