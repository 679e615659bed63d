import { type Edit, JsonCrdt, type LocalChange, ROOT } from '../../core/json/crdt.ts'
import type { JsonReducer } from '../../core/json/domain.ts'
import {
  changeBody,
  InvalidJsonInputError,
  JSON_OP,
  JsonConflictError,
  type JsonCreateBody,
  JsonForbiddenError,
  parseCreateBody,
  parseEditorsBody,
} from '../../core/json/ops.ts'
import { describeValue } from '../../core/text.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { LocalAccount } from '../../node/accounts.ts'
import type { DocIndex } from '../../node/doc-index.ts'
import { createDocActions } from '../doc-actions.ts'
import { auditEditors } from './audit-editors.ts'
import type { JsonIndex } from './live.ts'

/** A change signed (op null when there was nothing to change) and the version after it. */
export type Changed = { readonly op: OpId | null; readonly version: number }

/** What `editors` takes: keys to add and remove, and an audit whose auditors are added. */
export type EditorsRequest = {
  readonly add?: readonly string[] | undefined
  readonly remove?: readonly string[] | undefined
  readonly audit?: string | undefined
}

/** An editors change signed (op null when nothing changed), who may edit now, and the version. */
export type EditorsChanged = {
  readonly op: OpId | null
  readonly editors: string[]
  readonly version: number
}

/** What `create` takes: the genesis body, `audit` naming an audit by name or id. */
export type CreateRequest = {
  readonly name: string
  readonly editors?: readonly string[] | undefined
  readonly audit?: string | undefined
  readonly content?: Record<string, unknown> | undefined
}

/** JSON document ops the node signs for its local accounts (HTTP, and services). */
export interface JsonActions {
  /** Starts a document; an `audit` makes its registered auditors editors. */
  create(account: LocalAccount, request: CreateRequest): Promise<{ doc: OpId; editors: string[] }>
  /**
   * Makes a change by position on the document's current state (`edit` runs synchronously on a
   * local change that is rolled back) and signs its edits at once, with nothing applied between.
   */
  change(
    account: LocalAccount,
    doc: string,
    edit: (change: LocalChange, crdt: JsonCrdt) => void,
  ): Promise<Changed>
  /** Signs raw CRDT edits (made on a replica of the client's) in a change. */
  edits(account: LocalAccount, doc: string, edits: readonly unknown[]): Promise<Changed>
  /** Adds and removes editors (the owner's account only); an `audit` adds its registered auditors. */
  editors(account: LocalAccount, doc: string, request: EditorsRequest): Promise<EditorsChanged>
}

/** The actions of a node's ledger on its JSON documents. */
export function createJsonActions(
  ledger: Ledger,
  index: JsonIndex,
  indexes: ReadonlyMap<string, DocIndex>,
): JsonActions {
  const doc = createDocActions(ledger, index, JSON_OP.create)

  /** Checks and appends a change; synchronous up to the append, so it is judged on `reducer`. */
  function sign(
    account: LocalAccount,
    id: OpId,
    reducer: JsonReducer,
    edits: readonly (Edit | unknown)[],
  ): Promise<Changed> {
    if (edits.length === 0) return Promise.resolve({ op: null, version: reducer.size })
    const body = changeBody(edits)
    const time = Date.now()
    reducer.check({ author: account.signer.publicKey, type: JSON_OP.change, body, time })
    const appended = ledger.append(account.signer, { doc: id, type: JSON_OP.change, body, time })
    // The ledger applied it to the reducer before its first await.
    const version = reducer.size
    return appended.then((op) => ({ op: op.id, version }))
  }

  async function editable(account: LocalAccount, ref: string): Promise<[OpId, JsonReducer]> {
    const id = index.resolve(ref)
    const reducer = await index.reducer(id)
    if (!reducer.editors.has(account.key))
      throw new JsonForbiddenError(
        `Account "${account.name}" may not edit document "${reducer.name}"; its owner names the editors (rwa doc editors).`,
      )
    return [id, reducer]
  }

  return {
    async create(account, { name, editors = [], audit, content }) {
      if (index.isNameTaken(name))
        throw new JsonConflictError(
          `A document named ${describeValue(name)} exists on this node already; choose another name.`,
        )
      const auditors = audit === undefined ? undefined : await auditEditors(indexes, audit)
      const all = [...new Set([...editors, ...(auditors?.editors ?? [])])].sort()
      const body: JsonCreateBody = parseCreateBody({
        name,
        ...(all.length > 0 ? { editors: all } : {}),
        ...(auditors ? { audit: auditors.audit } : {}),
        ...(content === undefined ? {} : { content }),
      })
      assertContent(body.content)
      const op = await doc.create(account, body)
      return { doc: op.id, editors: [...new Set([account.key, ...all])].sort() }
    },
    async change(account, ref, edit) {
      const [id, reducer] = await editable(account, ref)
      // Nothing is awaited between the draft and the append: the edits are the current state's.
      return sign(account, id, reducer, reducer.draft(edit))
    },
    async edits(account, ref, edits) {
      const [id, reducer] = await editable(account, ref)
      return sign(account, id, reducer, edits)
    },
    async editors(account, ref, { add = [], remove = [], audit }) {
      const id = index.resolve(ref)
      let reducer = await index.reducer(id)
      if (reducer.state().owner !== account.key)
        throw new JsonForbiddenError(
          `Account "${account.name}" is not the owner of document "${reducer.name}"; only the account that created it changes its editors.`,
        )
      const auditors = audit === undefined ? undefined : await auditEditors(indexes, audit)
      // The audit was read across an await: judge on the reducer as it is now.
      reducer = await index.reducer(id)
      const now = reducer.editors
      const adding = [...new Set([...add, ...(auditors?.editors ?? [])])].filter(
        (key) => !now.has(key),
      )
      const added = new Set(add)
      const both = remove.find((key) => added.has(key) || auditors?.editors.includes(key))
      if (both)
        throw new InvalidJsonInputError(
          `Key ${both.slice(0, 16)}… is both added${added.has(both) ? '' : ' (an auditor of the audit)'} and removed; give it once.`,
        )
      const removing = [...new Set(remove)].filter((key) => now.has(key))
      const current = () => [...reducer.editors].sort()
      if (adding.length === 0 && removing.length === 0)
        return { op: null, editors: current(), version: reducer.size }
      const body = parseEditorsBody({
        ...(adding.length > 0 ? { add: adding.sort() } : {}),
        ...(removing.length > 0 ? { remove: removing.sort() } : {}),
        ...(auditors ? { audit: auditors.audit } : {}),
      })
      const time = Date.now()
      reducer.check({ author: account.signer.publicKey, type: JSON_OP.editors, body, time })
      const appended = ledger.append(account.signer, { doc: id, type: JSON_OP.editors, body, time })
      // The ledger applied it to the reducer before its first await.
      const changed = { editors: current(), version: reducer.size }
      return { op: (await appended).id, ...changed }
    },
  }
}

/**
 * Throws the JsonEditError a genesis content would get: a genesis the rules refuse is kept in
 * the log but is no document, so it is never signed.
 */
function assertContent(content: Record<string, unknown> | undefined): void {
  if (!content) return
  const change = new JsonCrdt().begin()
  try {
    for (const [key, value] of Object.entries(content)) change.set(ROOT, key, value)
  } finally {
    change.abort()
  }
}
