import { BaseError } from '../errors/base.ts'
import { headSize, readHead, writeHead } from '../ledger/cbor.ts'

/** Most ops in one gossip message. */
export const GOSSIP_BATCH = 256

/**
 * Encodes a gossip message: a DAG-CBOR list of signed op bytes (exactly what
 * `@ipld/dag-cbor`'s `encode(ops)` gives), written directly into one buffer. Every receiver
 * decodes every message, so this is on the replication hot path.
 */
export function encodeGossip(ops: readonly Uint8Array[]): Uint8Array {
  let size = headSize(ops.length)
  for (const op of ops) size += headSize(op.length) + op.length
  const out = new Uint8Array(size)
  let at = writeHead(out, 0, 4, ops.length)
  for (const op of ops) {
    at = writeHead(out, at, 2, op.length)
    out.set(op, at)
    at += op.length
  }
  return out
}

/** Thrown for a gossip message that is not a list of ops (a misbehaving peer: a strike). */
export class BadGossipError extends BaseError {
  override name = 'BadGossipError' as const
  override readonly kind = 'malformed' as const
}

/**
 * Reads a gossip message: a non-empty DAG-CBOR list of at most `GOSSIP_BATCH` byte strings in
 * shortest form, and nothing after it. The ops are views into `data`, not copies. Throws (the
 * sender misbehaved) on anything else.
 */
export function decodeGossip(data: Uint8Array): Uint8Array[] {
  let list: { major: number; value: number; end: number }
  try {
    list = { ...readHead(data, 0) }
  } catch {
    throw new BadGossipError('gossiped bytes that are not DAG-CBOR')
  }
  if (list.major !== 4 || list.value === 0 || list.value > GOSSIP_BATCH)
    throw new BadGossipError('gossiped something other than a list of ops')
  const ops: Uint8Array[] = new Array(list.value)
  let at = list.end
  for (let i = 0; i < list.value; i++) {
    let major: number
    let length: number
    try {
      ;({ major, value: length, end: at } = readHead(data, at))
    } catch {
      throw new BadGossipError('gossiped bytes that are not DAG-CBOR')
    }
    if (major !== 2) throw new BadGossipError('gossiped something other than a list of ops')
    if (at + length > data.length) throw new BadGossipError('gossiped bytes that are not DAG-CBOR')
    ops[i] = data.subarray(at, at + length)
    at += length
  }
  if (at !== data.length) throw new BadGossipError('gossiped bytes that are not DAG-CBOR')
  return ops
}
