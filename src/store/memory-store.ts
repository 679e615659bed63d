import type { OpId } from '../ledger/op-id.ts'
import type { Store, StoredOp } from '../ledger/store.ts'
import { StoreClosedError } from '../ledger/store.ts'

const PAGE = 4096

/** Creates a store that keeps everything in memory: for tests and throwaway nodes. */
export function memoryStore(): Store {
  const accepted: StoredOp[] = []
  const pending = new Map<OpId, StoredOp>()
  let closed = false
  const assertOpen = () => {
    if (closed) throw new StoreClosedError()
  }
  return {
    async write(batch) {
      assertOpen()
      for (const op of batch.accepted) accepted.push({ id: op.id, bytes: new Uint8Array(op.bytes) })
      for (const id of batch.pendingRemoved) pending.delete(id)
      for (const op of batch.pendingAdded)
        pending.set(op.id, {
          id: op.id,
          bytes: new Uint8Array(op.bytes),
          received: op.received,
          source: op.source,
        })
    },
    async *accepted() {
      assertOpen()
      const end = accepted.length
      for (let i = 0; i < end; i += PAGE) yield accepted.slice(i, Math.min(i + PAGE, end))
    },
    async *pending() {
      assertOpen()
      yield* [...pending.values()]
    },
    async read(positions) {
      assertOpen()
      return positions.map((p) => {
        const op = accepted[p]
        return op && { id: op.id, bytes: new Uint8Array(op.bytes) }
      })
    },
    async count() {
      assertOpen()
      return accepted.length
    },
    async close() {
      closed = true
    },
  }
}
