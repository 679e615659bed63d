import { createHash } from 'node:crypto'
import { SortedList } from '../core/sorted-list.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { FINGERPRINT_BYTES, ITEM_HASH_BYTES, type KeyRange } from './sync-messages.ts'

/**
 * The document set as reconciliation sees it: document ids in ascending order, each with its item
 * hash (SHA-256 of the id and its sorted heads), fed by the ledger as ops join the log.
 */
export interface ReconIndex {
  /** The positions `[start, end)` of the documents in `range`, in O(log n). */
  bounds(range: KeyRange): readonly [number, number]
  /** The document at a position (from `bounds`). */
  idAt(position: number): OpId
  /** The item hash of the document at a position (from `bounds`). */
  hashAt(position: number): Uint8Array
  /** The item hash of a document, or undefined when this node holds none of its ops. */
  hashOf(doc: OpId): Uint8Array | undefined
  /** The fingerprint of positions `[start, end)`, in O(end − start). */
  fingerprint(start: number, end: number): Uint8Array
  /** How many documents there are. */
  size(): number
  /** Stops following the ledger. */
  close(): void
}

/**
 * The item hash of a document: SHA-256 of its id and its heads, space-separated, in the log's
 * order (`Log.heads` sorts them by id bytes: the same on every node).
 */
export function itemHash(doc: OpId, heads: readonly OpId[]): Uint8Array {
  const hash = createHash('sha256').update(doc)
  for (const head of heads) hash.update(' ').update(head)
  return new Uint8Array(hash.digest())
}

/** A running sum mod 2^256 of 32-byte little-endian numbers, in 32-bit limbs. */
class Accumulator {
  readonly limbs = new Uint32Array(8)
  count = 0

  add(hash: Uint8Array): void {
    const view = new DataView(hash.buffer, hash.byteOffset, ITEM_HASH_BYTES)
    let carry = 0
    for (let i = 0; i < 8; i++) {
      const sum = this.limbs[i]! + view.getUint32(i * 4, true) + carry
      this.limbs[i] = sum >>> 0
      carry = sum > 0xffff_ffff ? 1 : 0
    }
    this.count++
  }

  /** Negentropy's fingerprint: the first 16 bytes of SHA-256(sum ‖ varint(count)). */
  fingerprint(): Uint8Array {
    const sum = new Uint8Array(this.limbs.buffer.slice(0))
    const hash = createHash('sha256').update(sum).update(varint(this.count)).digest()
    return new Uint8Array(hash.subarray(0, FINGERPRINT_BYTES))
  }
}

/** Unsigned LEB128. */
function varint(n: number): Uint8Array {
  const out: number[] = []
  let rest = n
  do {
    const low = rest % 128
    rest = Math.floor(rest / 128)
    out.push(rest > 0 ? low | 0x80 : low)
  } while (rest > 0)
  return Uint8Array.from(out)
}

// Little-endian limbs are what DataView reads above; a big-endian host would differ.
const EMPTY = new Accumulator().fingerprint()

/** The fingerprint of an empty range. */
export const EMPTY_FINGERPRINT: Uint8Array = EMPTY

/** Whether two fingerprints or item hashes are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/**
 * Follows the ledger: a document whose heads change drops its item hash, recomputed
 * when next read; new documents are sorted in when the order is next read. A round of
 * reconciliation costs O(documents in the asked ranges), never a rebuild.
 */
export function createReconIndex(ledger: Pick<Ledger, 'log' | 'onAdded'>): ReconIndex {
  const ids = new SortedList<string>((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  /** Each document's item hash; undefined while its heads changed since it was computed. */
  const hashes = new Map<OpId, Uint8Array | undefined>()

  const note = (doc: OpId) => {
    if (!hashes.has(doc)) ids.add(doc)
    hashes.set(doc, undefined)
  }
  for (const doc of ledger.log.docs()) if (ledger.log.heads(doc).length > 0) note(doc)
  const unsubscribe = ledger.onAdded((added) => {
    for (const { doc } of added) note(doc)
  })

  const hashOf = (doc: OpId): Uint8Array | undefined => {
    if (!hashes.has(doc)) return undefined
    let hash = hashes.get(doc)
    if (hash === undefined) {
      hash = itemHash(doc, ledger.log.heads(doc))
      hashes.set(doc, hash)
    }
    return hash
  }

  return {
    bounds(range) {
      const start = ids.indexOf(range.lo)
      const end = range.hi === null ? ids.size : ids.indexOf(range.hi)
      return [start, Math.max(start, end)]
    },
    idAt: (position) => ids.items()[position]! as OpId,
    hashAt: (position) => hashOf(ids.items()[position]! as OpId)!,
    hashOf,
    fingerprint(start, end) {
      const sorted = ids.items()
      const acc = new Accumulator()
      for (let i = start; i < end; i++) acc.add(hashOf(sorted[i]! as OpId)!)
      return acc.fingerprint()
    },
    size: () => ids.size,
    close: unsubscribe,
  }
}
