// The sequence tree of one list or text container: a B+tree over runs of elements, each node
// holding how many elements under it are visible and how many exist (deleted ones included), so a
// visible position and a raw (document-order) index are both found in O(log n). Elements are
// numbered by a replica-local version (lv), dense from 0 in the order this replica integrated
// them; `leafOf[lv]` finds an element's leaf in O(1).

/** Most runs in a leaf, and children of an inner node, before it splits. */
const MAX_RUNS = 32
const MAX_KIDS = 16

/**
 * Consecutive elements inserted one after the other: element k > 0 has the previous element as
 * its left origin, and every element has `or` as its right origin (FugueMax / YjsMod origins).
 */
export class Run {
  constructor(
    /** The lv of the first element; the others follow it. */
    public lv: number,
    public len: number,
    /** Left origin of the first element: an lv, or -1 for the start. */
    public ol: number,
    /** Right origin of every element: an lv, or -1 for the end. */
    public or: number,
    public del: boolean,
    /** A text container's characters (kept when deleted, so a rolled-back delete restores them). */
    public text: string,
    /** A list container's values. */
    public vals: unknown[] | null,
  ) {}
}

export class Leaf {
  readonly leaf = true as const
  parent: Inner | null = null
  runs: Run[] = []
  vis = 0
  all = 0
  prev: Leaf | null = null
  next: Leaf | null = null
  constructor(readonly seq: Seq) {}
}

export class Inner {
  readonly leaf = false as const
  parent: Inner | null = null
  kids: Node[] = []
  vis = 0
  all = 0
}

type Node = Leaf | Inner

/** Where an element is: its leaf, its run's index there, and its offset in the run. */
export type Place = { leaf: Leaf; i: number; off: number }

/** Element lv → its leaf, shared by every container of a document. */
export type LeafIndex = Leaf[]

/** The index of the run holding `lv` in `leaf` (the run must be there). */
export function runIndex(leaf: Leaf, lv: number): number {
  const runs = leaf.runs
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!
    if (lv >= r.lv && lv < r.lv + r.len) return i
  }
  throw new Error(`element ${lv} is not in its leaf`)
}

export class Seq {
  root: Node
  constructor(
    readonly leafOf: LeafIndex,
    /** The container's id in its document. */
    readonly id: number,
    readonly isText: boolean,
  ) {
    this.root = new Leaf(this)
  }

  /** Visible elements. */
  get length(): number {
    return this.root.vis
  }

  /** Elements, deleted ones included. */
  get size(): number {
    return this.root.all
  }

  /** The leaf holding the element at `index` (visible, or raw), and the index within it. */
  private descend(index: number, visible: boolean): { leaf: Leaf; index: number } {
    let node = this.root
    while (!node.leaf) {
      const kids = node.kids
      let k = 0
      for (; k < kids.length - 1; k++) {
        const n = visible ? kids[k]!.vis : kids[k]!.all
        if (index < n) break
        index -= n
      }
      node = kids[k]!
    }
    return { leaf: node, index }
  }

  /** The element at visible position `pos` (< length). */
  findVisible(pos: number): Place {
    const { leaf, index } = this.descend(pos, true)
    const runs = leaf.runs
    for (let i = 0, left = index; i < runs.length; i++) {
      const r = runs[i]!
      if (r.del) continue
      if (left < r.len) return { leaf, i, off: left }
      left -= r.len
    }
    throw new RangeError('visible position past the end')
  }

  /** The element at raw index `index` (< size), or the end place when index === size. */
  findRaw(index: number): Place {
    const found = this.descend(index, false)
    const runs = found.leaf.runs
    let left = found.index
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!
      if (left < r.len) return { leaf: found.leaf, i, off: left }
      left -= r.len
    }
    return { leaf: found.leaf, i: runs.length, off: 0 }
  }

  /** The raw index of element `lv` (one of this container's). */
  rawIndex(lv: number): number {
    return this.indexOf(lv, false)
  }

  /** How many visible elements come before element `lv`. */
  visibleIndex(lv: number): number {
    return this.indexOf(lv, true)
  }

  /** How many elements (visible ones, or all) come before element `lv`. */
  private indexOf(lv: number, visible: boolean): number {
    const leaf = this.leafOf[lv]!
    const runs = leaf.runs
    let index = 0
    for (let i = 0; ; i++) {
      const r = runs[i]!
      const counted = !visible || !r.del
      if (lv >= r.lv && lv < r.lv + r.len) {
        if (counted) index += lv - r.lv
        break
      }
      if (counted) index += r.len
    }
    return index + offsetAbove(leaf, visible)
  }

  /** The element right after `lv` in document order, or -1 at the end. */
  nextRaw(lv: number): number {
    const leaf = this.leafOf[lv]!
    const i = runIndex(leaf, lv)
    const r = leaf.runs[i]!
    if (lv + 1 < r.lv + r.len) return lv + 1
    return this.firstFrom(leaf, i + 1)
  }

  /** The first element at or after run `i` of `leaf`, or -1. */
  firstFrom(leaf: Leaf | null, i: number): number {
    while (leaf) {
      if (i < leaf.runs.length) return leaf.runs[i]!.lv
      leaf = leaf.next
      i = 0
    }
    return -1
  }

  /** The last element before run `i` of `leaf`, or -1. */
  lastBefore(leaf: Leaf | null, i: number): number {
    while (leaf) {
      if (i > 0) {
        const r = leaf.runs[i - 1]!
        return r.lv + r.len - 1
      }
      leaf = leaf.prev
      i = leaf ? leaf.runs.length : 0
    }
    return -1
  }

  /** The first element of the sequence, or -1. */
  first(): number {
    let node = this.root
    while (!node.leaf) node = node.kids[0]!
    return this.firstFrom(node, 0)
  }

  /** The last element of the sequence, or -1. */
  last(): number {
    let node = this.root
    while (!node.leaf) node = node.kids[node.kids.length - 1]!
    return this.lastBefore(node, node.runs.length)
  }

  /**
   * Where an insertion at visible position `pos` goes, with adjacent origins: `ol` is the element
   * right before the visible element at `pos` (deleted or not; -1 at the start) and `or` the one
   * after it (-1 at the end).
   */
  originsAt(pos: number): { ol: number; or: number } {
    if (pos >= this.root.vis) return { ol: this.last(), or: -1 }
    const { leaf, i, off } = this.findVisible(pos)
    const r = leaf.runs[i]!
    if (off > 0) return { ol: r.lv + off - 1, or: r.lv + off }
    return { ol: this.lastBefore(leaf, i), or: r.lv }
  }

  /**
   * Inserts `run` right after element `after` (-1: at the start), appended to the run holding
   * `after` when it continues it.
   */
  insertAfter(after: number, run: Run): void {
    if (after === -1) {
      let node = this.root
      while (!node.leaf) node = node.kids[0]!
      this.insertAt(node, 0, run)
      return
    }
    const leaf = this.leafOf[after]!
    const i = runIndex(leaf, after)
    const r = leaf.runs[i]!
    const off = after - r.lv + 1
    if (off === r.len) {
      if (!r.del && !run.del && r.lv + r.len === run.lv && r.or === run.or && run.ol === after) {
        this.extend(leaf, r, run)
        return
      }
      this.insertAt(leaf, i + 1, run)
      return
    }
    this.split(leaf, i, off)
    // The split may have moved the run to a new leaf.
    const at = this.leafOf[after]!
    this.insertAt(at, runIndex(at, after) + 1, run)
  }

  /** Inserts `run` before the element at raw index `index` (at the end when index === size). */
  insertAtRaw(index: number, run: Run): void {
    if (index === 0) {
      this.insertAfter(-1, run)
      return
    }
    const { leaf, i, off } = this.findRaw(index - 1)
    const r = leaf.runs[i]!
    this.insertAfter(r.lv + off, run)
  }

  private extend(leaf: Leaf, r: Run, run: Run): void {
    r.len += run.len
    if (r.vals) r.vals.push(...run.vals!)
    else r.text += run.text
    for (let lv = run.lv, end = run.lv + run.len; lv < end; lv++) this.leafOf[lv] = leaf
    addCounts(leaf, run.len, run.len)
  }

  /** Splits run `i` of `leaf` at `off` (0 < off < len): the second part goes right after it. */
  split(leaf: Leaf, i: number, off: number): void {
    const r = leaf.runs[i]!
    const rest = new Run(
      r.lv + off,
      r.len - off,
      r.lv + off - 1,
      r.or,
      r.del,
      r.vals ? '' : r.text.slice(off),
      r.vals ? r.vals.slice(off) : null,
    )
    r.len = off
    if (r.vals) r.vals.length = off
    else r.text = r.text.slice(0, off)
    leaf.runs.splice(i + 1, 0, rest)
    if (leaf.runs.length > MAX_RUNS) this.splitLeaf(leaf)
  }

  private insertAt(leaf: Leaf, i: number, run: Run): void {
    leaf.runs.splice(i, 0, run)
    for (let lv = run.lv, end = run.lv + run.len; lv < end; lv++) this.leafOf[lv] = leaf
    addCounts(leaf, run.del ? 0 : run.len, run.len)
    if (leaf.runs.length > MAX_RUNS) this.splitLeaf(leaf)
  }

  private splitLeaf(leaf: Leaf): void {
    const half = leaf.runs.length >> 1
    const right = new Leaf(this)
    right.runs = leaf.runs.splice(half)
    let vis = 0
    let all = 0
    for (const r of right.runs) {
      all += r.len
      if (!r.del) vis += r.len
      for (let lv = r.lv, end = r.lv + r.len; lv < end; lv++) this.leafOf[lv] = right
    }
    right.vis = vis
    right.all = all
    leaf.vis -= vis
    leaf.all -= all
    right.next = leaf.next
    if (leaf.next) leaf.next.prev = right
    leaf.next = right
    right.prev = leaf
    this.addSibling(leaf, right)
  }

  /** Puts `right` after `node` under the same parent (a new root if there is none). */
  private addSibling(node: Node, right: Node): void {
    let parent = node.parent
    if (!parent) {
      parent = new Inner()
      parent.kids.push(node)
      parent.vis = node.vis + right.vis
      parent.all = node.all + right.all
      node.parent = parent
      this.root = parent
    }
    parent.kids.splice(parent.kids.indexOf(node) + 1, 0, right)
    right.parent = parent
    if (parent.kids.length > MAX_KIDS) {
      const half = parent.kids.length >> 1
      const sibling = new Inner()
      sibling.kids = parent.kids.splice(half)
      for (const kid of sibling.kids) {
        kid.parent = sibling
        sibling.vis += kid.vis
        sibling.all += kid.all
      }
      parent.vis -= sibling.vis
      parent.all -= sibling.all
      this.addSibling(parent, sibling)
    }
  }

  /**
   * Marks `len` elements from `lv` deleted or not (they must be this container's); calls
   * `changed(lv, n)` for each piece whose state changes, before changing it. Returns how many
   * changed.
   */
  setDeleted(
    lv: number,
    len: number,
    del: boolean,
    changed?: (lv: number, n: number) => void,
  ): number {
    let count = 0
    for (let cur = lv, end = lv + len; cur < end; ) {
      const leaf = this.leafOf[cur]!
      const i = runIndex(leaf, cur)
      const r = leaf.runs[i]!
      const take = Math.min(r.lv + r.len - cur, end - cur)
      if (r.del === del) {
        cur += take
        continue
      }
      // Isolate the piece (a split may move runs to a new leaf: look it up again).
      if (cur > r.lv) {
        this.split(leaf, i, cur - r.lv)
        continue
      }
      if (take < r.len) {
        this.split(leaf, i, take)
        continue
      }
      changed?.(cur, take)
      r.del = del
      addCounts(leaf, del ? -take : take, 0)
      count += take
      cur += take
      this.tryMerge(r.lv)
      if (this.leafOf[cur]?.seq === this) this.tryMerge(cur)
    }
    return count
  }

  /** Removes `len` elements from `lv` from the tree (a rollback of their insertion). */
  remove(lv: number, len: number): void {
    for (let cur = lv, end = lv + len; cur < end; ) {
      const leaf = this.leafOf[cur]!
      const i = runIndex(leaf, cur)
      const r = leaf.runs[i]!
      if (cur > r.lv) {
        this.split(leaf, i, cur - r.lv)
        continue
      }
      const take = Math.min(r.len, end - cur)
      if (take < r.len) {
        this.split(leaf, i, take)
        continue
      }
      leaf.runs.splice(i, 1)
      addCounts(leaf, r.del ? 0 : -r.len, -r.len)
      for (let x = r.lv, e = r.lv + r.len; x < e; x++) this.leafOf[x] = undefined as unknown as Leaf
      cur += take
    }
  }

  /** Every run, in document order. */
  *runs(): Generator<Run> {
    let node = this.root
    while (!node.leaf) node = node.kids[0]!
    for (let leaf: Leaf | null = node; leaf; leaf = leaf.next) for (const r of leaf.runs) yield r
  }

  /** The visible characters of a text container. */
  text(): string {
    const parts: string[] = []
    let node = this.root
    while (!node.leaf) node = node.kids[0]!
    for (let leaf: Leaf | null = node; leaf; leaf = leaf.next)
      for (const r of leaf.runs) if (!r.del) parts.push(r.text)
    return parts.join('')
  }

  /** The visible values of a list container. */
  values(): unknown[] {
    const out: unknown[] = []
    for (const r of this.runs()) if (!r.del) for (const v of r.vals!) out.push(v)
    return out
  }

  /** The run holding element `lv`. */
  runOf(lv: number): Run {
    const leaf = this.leafOf[lv]!
    return leaf.runs[runIndex(leaf, lv)]!
  }

  /** Merges the run starting at `lv` into the one before it when they continue each other. */
  tryMerge(lv: number): void {
    const leaf = this.leafOf[lv]!
    const i = runIndex(leaf, lv)
    if (i === 0) return
    const a = leaf.runs[i - 1]!
    const b = leaf.runs[i]!
    if (b.lv !== lv || a.lv + a.len !== b.lv || a.del !== b.del || a.or !== b.or) return
    if (b.ol !== a.lv + a.len - 1) return
    a.len += b.len
    if (a.vals) a.vals.push(...b.vals!)
    else a.text += b.text
    leaf.runs.splice(i, 1)
  }
}

/** Adds to the counts of `leaf` and every node above it. */
function addCounts(leaf: Leaf, vis: number, all: number): void {
  for (let node: Node | null = leaf; node; node = node.parent) {
    node.vis += vis
    node.all += all
  }
}

/** The elements (visible ones, or all) before `node` in the whole tree. */
function offsetAbove(node: Node, visible: boolean): number {
  let index = 0
  for (let parent = node.parent; parent; node = parent, parent = parent.parent) {
    const kids = parent.kids
    for (let k = 0; k < kids.length; k++) {
      const kid = kids[k]!
      if (kid === node) break
      index += visible ? kid.vis : kid.all
    }
  }
  return index
}
