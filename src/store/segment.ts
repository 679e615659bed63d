import type { OpId } from '../ledger/op-id.ts'
import type { StoredOp } from '../ledger/store.ts'

/**
 * A segment: consecutive accepted ops packed into one blob, so a store writes one row per
 * segment instead of one per op. Layout, per op: u8 id length ‖ id (ASCII) ‖ u32 BE byte length
 * ‖ op bytes.
 */
export function encodeSegment(ops: readonly StoredOp[]): Buffer {
  let size = 0
  for (const op of ops) size += 1 + op.id.length + 4 + op.bytes.length
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const op of ops) {
    out[at] = op.id.length
    at += 1 + out.write(op.id, at + 1, 'latin1')
    out.writeUInt32BE(op.bytes.length, at)
    out.set(op.bytes, at + 4)
    at += 4 + op.bytes.length
  }
  return out
}

/** Unpacks the `count` ops of a segment, as views into `data`; throws RangeError on a damaged one. */
export function decodeSegment(data: Uint8Array, count: number): StoredOp[] {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.length)
  const out: StoredOp[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    const idLength = buffer[at]!
    const id = buffer.toString('latin1', at + 1, at + 1 + idLength) as OpId
    at += 1 + idLength
    const length = buffer.readUInt32BE(at)
    out.push({ id, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset + at + 4, length) })
    at += 4 + length
  }
  if (at !== buffer.length)
    throw new RangeError(`segment holds ${buffer.length - at} bytes beyond its ${count} ops`)
  return out
}
