import type { FeedReducer, FeedState, FeedSummary } from '../../core/feed/domain.ts'
import { FEED_OP } from '../../core/feed/ops.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { DocIndex } from '../../node/doc-index.ts'
import { createDocActions, type DocActions } from '../doc-actions.ts'

/** The feeds of a node. */
export type FeedIndex = DocIndex<FeedState, FeedReducer, FeedSummary>

/** Feed ops the node signs for its local accounts (HTTP, the report signer, the transmitter). */
export type FeedActions = DocActions

/** The actions of a node's ledger on its feeds. */
export const createFeedActions = (ledger: Ledger, index: FeedIndex): FeedActions =>
  createDocActions(ledger, index, FEED_OP.create)
