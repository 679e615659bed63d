import { z } from 'zod'
import { SortedList } from '../core/sorted-list.ts'
import type { Ledger } from '../ledger/ledger.ts'
import { compareOpIds, isOpId, type OpId } from '../ledger/op-id.ts'

/** Items in a page of a listing when the request does not say (`?limit=`). */
export const DEFAULT_PAGE_SIZE = 100

/** Most items in a page of a listing: bounds the work one unauthenticated request causes. */
export const MAX_PAGE_SIZE = 1000

const limitOf = (max: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max, `at most ${max} per page; follow "next" for more`)
    .optional()

/**
 * The query of a listing paged by document id: `?limit=<n>&after=<id>`, `after` being the
 * `next` of the page before.
 */
export const listPageQuery = z.object({
  limit: limitOf(MAX_PAGE_SIZE),
  after: z
    .string()
    .refine(isOpId, 'a document id, as the "next" of the page before')
    .transform((id) => id as OpId)
    .optional(),
})

/** Ops in a page of `GET /docs/:doc/ops` when the request does not say, and at most. */
export const OPS_PAGE_SIZE = 1000

/** A page of ops in order: `?from=<index>&limit=<n>`, `from` being the `next` of the page before. */
export const opsPageQuery = z.object({
  from: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: limitOf(OPS_PAGE_SIZE),
})

/**
 * The ids of a ledger's documents in id order, kept up to date as documents arrive, so a page
 * of them costs its own size (plus a merge of the documents new since the last page) rather than
 * a sort of every document.
 */
export interface DocList {
  /** Up to `limit` ids after `after` (from the first without it), and the cursor of the next page. */
  page(after: OpId | undefined, limit: number): { ids: OpId[]; next: OpId | null }
  /** Number of documents. */
  readonly size: number
}

/** Creates the sorted list of a ledger's documents, following it from now on. */
export function createDocList(ledger: Ledger): DocList {
  const ids = new SortedList<OpId>(compareOpIds)
  const known = new Set<OpId>()
  const note = (doc: OpId) => {
    if (known.has(doc)) return
    known.add(doc)
    ids.add(doc)
  }
  for (const doc of ledger.log.docs()) note(doc)
  ledger.onAdded((accepted) => {
    for (const { doc } of accepted) note(doc)
  })
  return {
    page(after, limit) {
      const all = ids.items()
      const start = after === undefined ? 0 : ids.indexOf(after, { strict: true })
      const page = all.slice(start, start + limit)
      return { ids: page, next: start + limit < all.length ? page.at(-1)! : null }
    },
    get size() {
      return known.size
    },
  }
}
