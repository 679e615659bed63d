import type { BaseError } from '../../errors/base.ts'
import { compareOpIds, type OpId } from '../../ledger/op-id.ts'

/** A logged op that was refused (invalid against its causal past) or valid but excluded by a causal cut. */
export type OpNote = {
  readonly id: OpId
  readonly type: string
  /** The error's name (`ExcludedByCausalCut` for an excluded op). */
  readonly name: string
  readonly message: string
}

/** The `name` of the note of an op that was valid but left out by a causal cut. */
export const EXCLUDED = 'ExcludedByCausalCut'

/**
 * The notes of a document's ops that do not count: refused, or excluded by a freeze. Each op has
 * at most one; `of` answers in O(1), so a node can report the verdict of every op it accepts.
 */
export class Notes {
  private readonly refused: OpNote[] = []
  private readonly left: OpNote[] = []
  private readonly byId = new Map<OpId, OpNote>()

  /** Notes `id` as refused with `error`. */
  reject(id: OpId, type: string, error: BaseError): void {
    const note = { id, type, name: error.name, message: error.shortMessage }
    this.refused.push(note)
    this.byId.set(id, note)
  }

  /** Notes `id` as valid but excluded, once (a second exclusion of the same op is ignored). */
  exclude(id: OpId, type: string, message: string): void {
    if (this.byId.has(id)) return
    const note = { id, type, name: EXCLUDED, message }
    this.left.push(note)
    this.byId.set(id, note)
  }

  /** Why op `id` does not count, or undefined if it counts (or is unknown). */
  of(id: OpId): OpNote | undefined {
    return this.byId.get(id)
  }

  /** The refused ops, sorted by id so the list does not depend on the order ops were applied in. */
  rejected(): OpNote[] {
    return [...this.refused].sort((a, b) => compareOpIds(a.id, b.id))
  }

  /** The excluded ops, sorted by id. */
  excluded(): OpNote[] {
    return [...this.left].sort((a, b) => compareOpIds(a.id, b.id))
  }
}
