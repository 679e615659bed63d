import * as dagCbor from '@ipld/dag-cbor'
import { BaseError } from '../errors/base.ts'
import type { OpId } from '../ledger/op-id.ts'

/**
 * The request–response protocol for catching up: range-based set reconciliation of the document
 * set (as Negentropy / NIP-77), then batched pulls of the ops a peer lacks.
 */
export const SYNC_PROTOCOL = '/rwa/sync/2'

/**
 * Bounds of every sync message: most ops in one answer, most heads one document may name, most
 * documents in one pull, most heads in all of one pull, most ranges in a reconciliation request,
 * most range entries and listed items in its answer, most bytes of any message (the stream limit).
 */
export const SYNC_LIMITS = {
  ops: 8000,
  heads: 256,
  pullDocs: 1024,
  pullHeads: 4096,
  ranges: 128,
  entries: 128 * 16 + 128,
  items: 10_000,
  bytes: 4 * 1024 * 1024,
} as const

/** Bytes of a range fingerprint (the first 16 of a SHA-256, as Negentropy). */
export const FINGERPRINT_BYTES = 16
/** Bytes of an item's hash (SHA-256 of the document id and its sorted heads). */
export const ITEM_HASH_BYTES = 32
/** Longest wait a server may ask for, in ms. */
export const MAX_WAIT_MS = 10_000

/**
 * A range of document ids: from `lo` (inclusive; `''` is the start) to `hi` (exclusive; `null` is
 * the end), compared as strings.
 */
export type KeyRange = { readonly lo: string; readonly hi: string | null }

/** A range the puller asks about: its own fingerprint and count of documents there. */
export type RangeQuery = KeyRange & { readonly fp: Uint8Array; readonly n: number }

/** One document to pull: the heads the puller holds, and ops of the answer to pass over first. */
export type PullDoc = { readonly doc: OpId; readonly heads: readonly OpId[]; readonly skip: number }

/** A request: reconcile ranges of the document set, or pull the ops of some documents. */
export type SyncRequest =
  | { readonly t: 'recon'; readonly ranges: readonly RangeQuery[] }
  | { readonly t: 'pull'; readonly docs: readonly PullDoc[] }

/**
 * An entry of a reconciliation answer, for a part of an asked range: the server's fingerprint
 * there (`fp`), every item it holds there (`items`: document id and item hash), or neither (not
 * looked at: ask again). Parts of an asked range with no entry agree.
 */
export type RangeEntry = KeyRange & {
  readonly fp?: Uint8Array
  readonly items?: readonly (readonly [OpId, Uint8Array])[]
}

/**
 * The ops of one pulled document in an answer; `more` when there are more to pull. When the
 * server knows none of the heads it was sent (the puller is ahead, or both moved on), it sends its
 * own `heads` instead of ops: the puller holds them all (nothing to pull), or asks again from
 * those of them it holds.
 */
export type PulledDoc = {
  readonly doc: OpId
  readonly ops: readonly Uint8Array[]
  readonly more: boolean
  readonly heads?: readonly OpId[]
}

/**
 * A response: reconciliation entries; ops of the first documents of a pull (documents it did not
 * reach are left out: pull them again); or `wait` ms before asking again (the work budget is spent).
 */
export type SyncResponse =
  | { readonly t: 'recon'; readonly ranges: readonly RangeEntry[] }
  | { readonly t: 'ops'; readonly docs: readonly PulledDoc[] }
  | { readonly t: 'wait'; readonly ms: number }

/** Thrown for a sync message that is not one (a misbehaving peer). */
export class BadSyncMessageError extends BaseError {
  override name = 'BadSyncMessageError' as const
  override readonly kind = 'malformed' as const
}

const isId = (value: unknown): value is OpId =>
  typeof value === 'string' && value.length > 0 && value.length <= 100

const isBound = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= 100

const isBytes = (value: unknown, length: number): value is Uint8Array =>
  value instanceof Uint8Array && value.length === length

const isCount = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0

/** Whether `lo`–`hi` is a range: bounds of the right type, and `lo` before `hi`. */
const isRange = (m: Record<string, unknown>): boolean =>
  isBound(m.lo) && (m.hi === null || (isBound(m.hi) && m.lo < m.hi))

/** Encodes a sync message as DAG-CBOR. */
export function encodeSync(message: SyncRequest | SyncResponse): Uint8Array {
  return dagCbor.encode(message)
}

function decode(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > SYNC_LIMITS.bytes)
    throw new BadSyncMessageError(`A sync message is at most ${SYNC_LIMITS.bytes} bytes.`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new BadSyncMessageError('A sync message is not valid DAG-CBOR.', { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadSyncMessageError('A sync message is a map.')
  return value as Record<string, unknown>
}

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function parseQuery(value: unknown): RangeQuery | undefined {
  if (!isMap(value) || !isRange(value)) return undefined
  if (!isBytes(value.fp, FINGERPRINT_BYTES) || !isCount(value.n)) return undefined
  return { lo: value.lo as string, hi: value.hi as string | null, fp: value.fp, n: value.n }
}

function parsePullDoc(value: unknown): PullDoc | undefined {
  if (!isMap(value) || !isId(value.doc) || !isCount(value.skip)) return undefined
  const { heads } = value
  if (!Array.isArray(heads) || heads.length > SYNC_LIMITS.heads || !heads.every(isId))
    return undefined
  return { doc: value.doc, heads, skip: value.skip }
}

/** Every element parsed, or undefined if one fails. */
function parseAll<T>(values: readonly unknown[], parse: (v: unknown) => T | undefined) {
  const out: T[] = []
  for (const value of values) {
    const parsed = parse(value)
    if (parsed === undefined) return undefined
    out.push(parsed)
  }
  return out
}

/** Decodes a request, throwing `BadSyncMessageError` for anything but a well-formed, bounded one. */
export function decodeRequest(bytes: Uint8Array): SyncRequest {
  const m = decode(bytes)
  if (m.t === 'recon' && Array.isArray(m.ranges) && m.ranges.length <= SYNC_LIMITS.ranges) {
    const ranges = parseAll(m.ranges, parseQuery)
    if (ranges) return { t: 'recon', ranges }
  }
  if (m.t === 'pull' && Array.isArray(m.docs) && m.docs.length <= SYNC_LIMITS.pullDocs) {
    const docs = parseAll(m.docs, parsePullDoc)
    if (docs && docs.reduce((sum, d) => sum + d.heads.length, 0) <= SYNC_LIMITS.pullHeads)
      return { t: 'pull', docs }
  }
  throw new BadSyncMessageError(
    `A sync request is {t: "recon", ranges} (at most ${SYNC_LIMITS.ranges} ranges of {lo, hi, fp, n}) or {t: "pull", docs} (at most ${SYNC_LIMITS.pullDocs} of {doc, heads, skip}, ${SYNC_LIMITS.pullHeads} heads in all).`,
  )
}

function parseItem(value: unknown): readonly [OpId, Uint8Array] | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [doc, hash] = value as unknown[]
  return isId(doc) && isBytes(hash, ITEM_HASH_BYTES) ? [doc, hash] : undefined
}

/** Counts the items of parsed entries, to hold the answer to `SYNC_LIMITS.items`. */
type ItemCount = { n: number }

function parseEntry(value: unknown, count: ItemCount): RangeEntry | undefined {
  if (!isMap(value) || !isRange(value)) return undefined
  const range = { lo: value.lo as string, hi: value.hi as string | null }
  if (value.items !== undefined) {
    if (!Array.isArray(value.items)) return undefined
    count.n += value.items.length
    if (count.n > SYNC_LIMITS.items) return undefined
    const items = parseAll(value.items, parseItem)
    // Items lie in the range, in ascending order (so the puller can trust what agrees).
    if (!items || !isAscendingWithin(items, range)) return undefined
    return { ...range, items }
  }
  if (value.fp !== undefined)
    return isBytes(value.fp, FINGERPRINT_BYTES) ? { ...range, fp: value.fp } : undefined
  return range
}

function isAscendingWithin(items: readonly (readonly [OpId, Uint8Array])[], range: KeyRange) {
  let last: string | undefined
  for (const [doc] of items) {
    if (doc < range.lo || (range.hi !== null && doc >= range.hi)) return false
    if (last !== undefined && doc <= last) return false
    last = doc
  }
  return true
}

function parsePulled(value: unknown, count: ItemCount): PulledDoc | undefined {
  if (!isMap(value) || !isId(value.doc) || typeof value.more !== 'boolean') return undefined
  const { ops } = value
  if (!Array.isArray(ops) || !ops.every((op) => op instanceof Uint8Array)) return undefined
  count.n += ops.length
  if (count.n > SYNC_LIMITS.ops) return undefined
  const { heads } = value
  if (heads === undefined) return { doc: value.doc, ops, more: value.more }
  if (!Array.isArray(heads) || heads.length > SYNC_LIMITS.heads || !heads.every(isId))
    return undefined
  return { doc: value.doc, ops, more: value.more, heads }
}

/** Decodes a response, throwing `BadSyncMessageError` for anything but a well-formed, bounded one. */
export function decodeResponse(bytes: Uint8Array): SyncResponse {
  const m = decode(bytes)
  const count: ItemCount = { n: 0 }
  if (m.t === 'recon' && Array.isArray(m.ranges) && m.ranges.length <= SYNC_LIMITS.entries) {
    const ranges = parseAll(m.ranges, (v) => parseEntry(v, count))
    if (ranges) return { t: 'recon', ranges }
  }
  if (m.t === 'ops' && Array.isArray(m.docs) && m.docs.length <= SYNC_LIMITS.pullDocs) {
    const docs = parseAll(m.docs, (v) => parsePulled(v, count))
    if (docs) return { t: 'ops', docs }
  }
  if (m.t === 'wait' && isCount(m.ms) && m.ms <= MAX_WAIT_MS) return { t: 'wait', ms: m.ms }
  throw new BadSyncMessageError(
    `A sync response is {t: "recon", ranges} (at most ${SYNC_LIMITS.entries} entries, ${SYNC_LIMITS.items} items), {t: "ops", docs} (at most ${SYNC_LIMITS.ops} ops) or {t: "wait", ms} (at most ${MAX_WAIT_MS}).`,
  )
}
