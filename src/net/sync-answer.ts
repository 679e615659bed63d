import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { type ReconIndex, sameBytes } from './recon-index.ts'
import {
  type PullDoc,
  type PulledDoc,
  type RangeEntry,
  type RangeQuery,
  SYNC_LIMITS,
  type SyncResponse,
} from './sync-messages.ts'

/** Sub-ranges a differing range is split into (as Negentropy). */
export const RANGE_SPLIT = 16
/** A differing range with at most this many documents is answered with its items. */
export const SMALL_RANGE = 32
/** Documents one reconciliation answer reads at most (fingerprints cost O(documents)). */
const MAX_SCAN = 1_000_000
/** Bytes of ops one pull answer carries at most: the stream limit less room for the framing. */
const PULL_BYTES = SYNC_LIMITS.bytes - 256 * 1024
/** Bytes of one head in an answer (an op id and its CBOR header). */
const HEAD_BYTES = 64
/** Documents read per op's worth of budget when fingerprinting. */
const SCAN_PER_OP = 64

/** An answer, and the ops' worth of work it cost (for the peer's budget). */
export type Answered = { readonly response: SyncResponse; readonly work: number }

/** Items listed so far in an answer, and documents read. */
type Budget = { items: number; scanned: number }

/**
 * Answers a reconciliation request: a range whose fingerprint matches ours is left out; a range
 * the asker holds nothing of, or a small one, is answered with our items; a bigger one is split
 * into `RANGE_SPLIT` sub-ranges, each with our fingerprint (or items, when small). Past the item
 * or scan budget, ranges are answered in part with the bound reached, or not looked at: the
 * asker asks on. Stateless: everything needed is in the request.
 */
export function answerRecon(index: ReconIndex, queries: readonly RangeQuery[]): Answered {
  const out: RangeEntry[] = []
  const budget: Budget = { items: 0, scanned: 0 }
  for (const query of queries) {
    const range = { lo: query.lo, hi: query.hi }
    if (budget.items >= SYNC_LIMITS.items || budget.scanned >= MAX_SCAN) {
      out.push(range)
      continue
    }
    const [start, end] = index.bounds(range)
    budget.scanned += end - start
    if (sameBytes(index.fingerprint(start, end), query.fp)) continue
    if (query.n === 0 || end - start <= SMALL_RANGE)
      listItems(index, query, start, end, out, budget)
    else split(index, query, start, end, out, budget)
  }
  return {
    response: { t: 'recon', ranges: out },
    work: budget.items + Math.ceil(budget.scanned / SCAN_PER_OP),
  }
}

/** Lists our items of a range, as many as the budget allows; the rest stays open. */
function listItems(
  index: ReconIndex,
  range: RangeQuery,
  start: number,
  end: number,
  out: RangeEntry[],
  budget: Budget,
): void {
  const take = Math.min(end - start, SYNC_LIMITS.items - budget.items)
  const items = itemsOf(index, start, start + take, budget)
  if (start + take === end) {
    out.push({ lo: range.lo, hi: range.hi, items })
    return
  }
  // take ≥ 1 here, so the bound lies strictly inside the range.
  const bound = index.idAt(start + take)
  out.push({ lo: range.lo, hi: bound, items })
  out.push({ lo: bound, hi: range.hi })
}

/** Our items at positions `[from, to)`, counted against the answer's budget. */
function itemsOf(index: ReconIndex, from: number, to: number, budget: Budget) {
  const items: (readonly [OpId, Uint8Array])[] = []
  for (let i = from; i < to; i++) items.push([index.idAt(i), index.hashAt(i)])
  budget.items += to - from
  return items
}

/** Splits a range of more than `SMALL_RANGE` documents into `RANGE_SPLIT` sub-ranges of our own. */
function split(
  index: ReconIndex,
  range: RangeQuery,
  start: number,
  end: number,
  out: RangeEntry[],
  budget: Budget,
): void {
  const n = end - start
  for (let b = 0; b < RANGE_SPLIT; b++) {
    const from = start + Math.floor((b * n) / RANGE_SPLIT)
    const to = start + Math.floor(((b + 1) * n) / RANGE_SPLIT)
    const lo = b === 0 ? range.lo : index.idAt(from)
    const hi = b === RANGE_SPLIT - 1 ? range.hi : index.idAt(to)
    if (to - from <= SMALL_RANGE && budget.items + (to - from) <= SYNC_LIMITS.items)
      out.push({ lo, hi, items: itemsOf(index, from, to, budget) })
    else {
      budget.scanned += to - from
      out.push({ lo, hi, fp: index.fingerprint(from, to) })
    }
  }
}

/**
 * Answers a pull: for each document in turn, the ops outside the causal past of the asker's
 * heads (`Log.since`), in order, past `skip`; until the op or byte limit of one answer. Documents
 * it does not reach are left out (the asker asks again); at least the first is answered. When it
 * knows none of the heads sent, the answer is its own heads (see `PulledDoc`).
 */
export async function answerPull(
  ledger: Ledger,
  docs: readonly PullDoc[],
  budget?: AnswerBudget,
): Promise<Answered> {
  const maxOps = Math.max(1, Math.min(SYNC_LIMITS.ops, budget?.ops ?? SYNC_LIMITS.ops))
  const maxBytes = Math.max(1, Math.min(PULL_BYTES, budget?.bytes ?? PULL_BYTES))
  // Which ops of which documents, up to the op limit; then one read for all of them.
  const plan: { want: PullDoc; ids: OpId[]; left: number; heads?: OpId[] }[] = []
  let count = 0
  for (const want of docs) {
    if (count >= maxOps) break
    if (!knowsAny(ledger, want)) {
      // Sending the whole document would mostly repeat what the puller holds: send our heads.
      const heads = ledger.log.heads(want.doc).slice(0, SYNC_LIMITS.heads)
      plan.push({ want, ids: [], left: 0, heads })
      continue
    }
    const all = ledger.log.since(want.doc, want.heads)
    const skip = Math.min(want.skip, all.length)
    const ids = all.slice(skip, skip + maxOps - count)
    count += ids.length
    plan.push({ want, ids, left: all.length - skip - ids.length })
  }
  const read = await ledger.getBytesOfDocs(plan.map(({ want, ids }) => ({ doc: want.doc, ids })))
  return { response: { t: 'ops', docs: pack(plan, read, maxBytes) }, work: count }
}

/** At most how many ops, and bytes of ops, one pull answer may carry (within `SYNC_LIMITS`). */
export type AnswerBudget = { readonly ops?: number; readonly bytes?: number }

/** Packs the ops read into an answer, up to `maxBytes`; the first op always goes. */
function pack(
  plan: readonly { want: PullDoc; ids: readonly OpId[]; left: number; heads?: OpId[] }[],
  read: readonly Uint8Array[][],
  maxBytes: number,
): PulledDoc[] {
  const out: PulledDoc[] = []
  let bytes = 0
  for (let d = 0; d < plan.length; d++) {
    const { want, left, heads } = plan[d]!
    if (heads) {
      bytes += heads.length * HEAD_BYTES
      out.push({ doc: want.doc, ops: [], more: false, heads })
      continue
    }
    const ops = read[d]!
    const taken: Uint8Array[] = []
    for (const op of ops) {
      if (bytes + op.length > maxBytes && (bytes > 0 || taken.length > 0)) break
      bytes += op.length
      taken.push(op)
    }
    out.push({ doc: want.doc, ops: taken, more: left > 0 || taken.length < ops.length })
    if (taken.length < ops.length || bytes >= maxBytes) break
  }
  return out
}

/** Whether the puller sent no heads, or one this node holds (so `since` can start from it). */
function knowsAny(ledger: Ledger, want: PullDoc): boolean {
  return want.heads.length === 0 || want.heads.some((head) => ledger.log.has(want.doc, head))
}
