// Rebasing a client's text splices, made on an older version of a text, onto the splices the
// document applied to that text since (the operational transform of two edit sequences). Each
// side is first composed into one operation over the old text (retain / delete / insert
// components, with an implicit retain of the rest), in a balanced tree so that m splices cost
// O(m log m); the two are transformed against each other; the client's side is read back as
// splices. Where both inserted at one place, the document's text comes first. Pure.

/** A splice of a text: at `pos`, remove `del` characters and insert `ins` (UTF-16 positions). */
export type Splice = readonly [pos: number, del: number, ins: string]

/** A splice as the document applied it (a `splice` patch of the CRDT observer). */
export type AppliedSplice = {
  readonly index: number
  readonly remove: number
  readonly insert: string
}

type Component =
  | { readonly t: 'r'; readonly n: number }
  | { readonly t: 'd'; readonly n: number }
  | { readonly t: 'i'; readonly s: string }

/** An operation over a text: its components, then an implicit retain of whatever follows. */
type TextOp = Component[]

/** Appends a component, merging it with the last one of its kind (inserts go before deletes). */
function push(op: TextOp, c: Component): void {
  if (c.t === 'i' ? c.s.length === 0 : c.n <= 0) return
  const last = op[op.length - 1]
  if (last?.t === c.t) {
    op[op.length - 1] =
      c.t === 'i'
        ? { t: 'i', s: (last as typeof c).s + c.s }
        : { t: c.t, n: (last as typeof c).n + c.n }
    return
  }
  // A delete then an insert at one place is the same edit as the insert then the delete: keep
  // one order so that equal operations have equal components.
  if (c.t === 'i' && last?.t === 'd') {
    const before = op[op.length - 2]
    op.length -= 1
    if (before?.t === 'i') op[op.length - 1] = { t: 'i', s: before.s + c.s }
    else op.push(c)
    op.push(last)
    return
  }
  op.push(c)
}

const lengthOf = (c: Component) => (c.t === 'i' ? c.s.length : c.n)

/** The first `n` units of a component (retain, delete or insert). */
function head(c: Component, n: number): Component {
  return c.t === 'i' ? { t: 'i', s: c.s.slice(0, n) } : { t: c.t, n }
}

/** What is left of a component once its first `n` units are used. */
function tail(c: Component, n: number): Component | undefined {
  if (n >= lengthOf(c)) return undefined
  return c.t === 'i' ? { t: 'i', s: c.s.slice(n) } : { t: c.t, n: c.n - n }
}

/** One splice as an operation. */
function spliceOp([pos, del, ins]: Splice): TextOp {
  const op: TextOp = []
  push(op, { t: 'r', n: pos })
  push(op, { t: 'i', s: ins })
  push(op, { t: 'd', n: del })
  return op
}

/** A cursor over an operation's components, with the implicit retain after them (undefined). */
class Reader {
  private i = 0
  private rest: Component | undefined
  constructor(private readonly op: TextOp) {
    this.rest = op[0]
  }
  get current(): Component | undefined {
    return this.rest
  }
  /** Uses `n` units of the current component (all of it by default). */
  take(n?: number): void {
    const left = this.rest && n !== undefined ? tail(this.rest, n) : undefined
    if (left) this.rest = left
    else this.rest = this.op[++this.i]
  }
}

/** `a` then `b` as one operation (`b` is over the text `a` makes). */
function compose(a: TextOp, b: TextOp): TextOp {
  const out: TextOp = []
  const ra = new Reader(a)
  const rb = new Reader(b)
  for (;;) {
    const ca = ra.current
    const cb = rb.current
    if (ca?.t === 'd') {
      push(out, ca)
      ra.take()
    } else if (cb?.t === 'i') {
      push(out, cb)
      rb.take()
    } else if (!ca && !cb) return out
    else if (!ca) {
      push(out, cb!)
      rb.take()
    } else if (!cb) {
      push(out, ca)
      ra.take()
    } else {
      const n = Math.min(lengthOf(ca), lengthOf(cb))
      // ca is a retain or an insert, cb a retain or a delete.
      if (cb.t === 'r') push(out, head(ca, n))
      else if (ca.t === 'r') push(out, { t: 'd', n })
      ra.take(n)
      rb.take(n)
    }
  }
}

/**
 * `a` and `b`, both over one text, each made to apply after the other: `a` after `b`, and `b`
 * after `a`. Where both insert at one place, `a`'s insert comes first.
 */
function transform(a: TextOp, b: TextOp): [TextOp, TextOp] {
  const a2: TextOp = []
  const b2: TextOp = []
  const ra = new Reader(a)
  const rb = new Reader(b)
  for (;;) {
    const ca = ra.current
    const cb = rb.current
    if (ca?.t === 'i') {
      push(a2, ca)
      push(b2, { t: 'r', n: ca.s.length })
      ra.take()
    } else if (cb?.t === 'i') {
      push(a2, { t: 'r', n: cb.s.length })
      push(b2, cb)
      rb.take()
    } else if (!ca && !cb) return [a2, b2]
    else {
      // Each is a retain or a delete; a missing one retains the rest.
      const n = Math.min(
        ca ? lengthOf(ca) : Number.POSITIVE_INFINITY,
        cb ? lengthOf(cb) : Number.POSITIVE_INFINITY,
      )
      const deletesA = ca?.t === 'd'
      const deletesB = cb?.t === 'd'
      if (deletesA && !deletesB) push(a2, { t: 'd', n })
      else if (deletesB && !deletesA) push(b2, { t: 'd', n })
      else if (!deletesA && !deletesB) {
        push(a2, { t: 'r', n })
        push(b2, { t: 'r', n })
      }
      if (ca) ra.take(n)
      if (cb) rb.take(n)
    }
  }
}

/** Splices as one operation: composed pairwise, in a balanced tree. */
function composeAll(ops: TextOp[]): TextOp {
  if (ops.length === 0) return []
  let level = ops
  while (level.length > 1) {
    const next: TextOp[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? compose(level[i]!, level[i + 1]!) : level[i]!)
    level = next
  }
  return level[0]!
}

/** An operation as splices applied one after the other, left to right. */
function toSplices(op: TextOp): Splice[] {
  const out: Splice[] = []
  let pos = 0
  let del = 0
  let ins = ''
  const flush = () => {
    if (del > 0 || ins.length > 0) out.push([pos, del, ins])
    pos += ins.length
    del = 0
    ins = ''
  }
  for (const c of op) {
    if (c.t === 'r') {
      flush()
      pos += c.n
    } else if (c.t === 'd') del += c.n
    else ins += c.s
  }
  flush()
  return out
}

/**
 * Rebases `splices`, made one after the other on a text as it was at some version, onto
 * `since`: the splices the document applied to that text after that version, in order. Answers
 * splices to apply one after the other on the text as it is now, keeping both sides' edits
 * (where both inserted at one place, the document's text comes first; what either deleted is
 * deleted once).
 * @example
 * rebaseSplices([[5, 0, '!']], [{ index: 0, remove: 0, insert: 'Oh, ' }]) // [[9, 0, '!']]
 */
export function rebaseSplices(
  splices: readonly Splice[],
  since: readonly AppliedSplice[],
): Splice[] {
  if (since.length === 0) return toSplices(composeAll(splices.map(spliceOp)))
  const theirs = composeAll(since.map((s) => spliceOp([s.index, s.remove, s.insert])))
  const ours = composeAll(splices.map(spliceOp))
  return toSplices(transform(theirs, ours)[1])
}

/** Applies splices one after the other to a string (positions past its end are clamped). */
export function applySplices(text: string, splices: readonly Splice[]): string {
  let out = text
  for (const [pos, del, ins] of splices) out = out.slice(0, pos) + ins + out.slice(pos + del)
  return out
}
