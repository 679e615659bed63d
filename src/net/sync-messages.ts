import * as dagCbor from '@ipld/dag-cbor'
import { BaseError } from '../errors/base.ts'
import type { OpId } from '../ledger/op-id.ts'

/** The request–response protocol for catching up (hash-graph reconciliation). */
export const SYNC_PROTOCOL = '/rwa/sync/1'

/** Most ops in one response; most docs in one doc list; most heads a request may name. */
export const SYNC_LIMITS = { ops: 1000, docs: 10_000, heads: 256, bytes: 4 * 1024 * 1024 } as const

/** A request: the documents a peer follows with their heads, or the ops a peer lacks in one. */
export type SyncRequest =
  | { readonly t: 'docs' }
  | {
      readonly t: 'pull'
      readonly doc: OpId
      readonly heads: readonly OpId[]
      /**
       * Ops of the answer to pass over first: when `heads` (at most `SYNC_LIMITS.heads` of them)
       * cannot name all a peer holds, the answer starts with ops it has, and it reads on past them.
       */
      readonly skip?: number
    }

/** A response to `docs` or `pull`. */
export type SyncResponse =
  | { readonly t: 'docs'; readonly docs: readonly { doc: OpId; heads: OpId[] }[] }
  | { readonly t: 'ops'; readonly ops: readonly Uint8Array[]; readonly more: boolean }

/** Thrown for a sync message that is not one (a misbehaving peer). */
export class BadSyncMessageError extends BaseError {
  override name = 'BadSyncMessageError' as const
  override readonly kind = 'malformed' as const
}

const isId = (value: unknown): value is OpId =>
  typeof value === 'string' && value.length > 0 && value.length <= 100

export function encodeSync(message: SyncRequest | SyncResponse): Uint8Array {
  return dagCbor.encode(message)
}

function decode(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new BadSyncMessageError('A sync message is not valid DAG-CBOR.', { cause })
  }
  if (typeof value !== 'object' || value === null)
    throw new BadSyncMessageError('A sync message is a map.')
  return value as Record<string, unknown>
}

export function decodeRequest(bytes: Uint8Array): SyncRequest {
  const m = decode(bytes)
  if (m.t === 'docs') return { t: 'docs' }
  if (
    m.t === 'pull' &&
    isId(m.doc) &&
    Array.isArray(m.heads) &&
    m.heads.length <= SYNC_LIMITS.heads &&
    m.heads.every(isId) &&
    (m.skip === undefined || (Number.isSafeInteger(m.skip) && (m.skip as number) >= 0))
  )
    return m.skip === undefined
      ? { t: 'pull', doc: m.doc, heads: m.heads }
      : { t: 'pull', doc: m.doc, heads: m.heads, skip: m.skip as number }
  throw new BadSyncMessageError('A sync request is {t: "docs"} or {t: "pull", doc, heads, skip?}.')
}

export function decodeResponse(bytes: Uint8Array): SyncResponse {
  const m = decode(bytes)
  if (m.t === 'docs' && Array.isArray(m.docs) && m.docs.length <= SYNC_LIMITS.docs) {
    const docs = m.docs as { doc?: unknown; heads?: unknown }[]
    if (
      docs.every(
        (d) =>
          isId(d.doc) &&
          Array.isArray(d.heads) &&
          d.heads.length <= SYNC_LIMITS.heads &&
          d.heads.every(isId),
      )
    )
      return { t: 'docs', docs: docs as { doc: OpId; heads: OpId[] }[] }
  }
  if (
    m.t === 'ops' &&
    Array.isArray(m.ops) &&
    m.ops.length <= SYNC_LIMITS.ops &&
    m.ops.every((op) => op instanceof Uint8Array) &&
    typeof m.more === 'boolean'
  )
    return { t: 'ops', ops: m.ops as Uint8Array[], more: m.more }
  throw new BadSyncMessageError('A sync response is {t: "docs", docs} or {t: "ops", ops, more}.')
}
