import { int32Column } from './column.ts'

/**
 * The dependency graph of one document's ops, numbered in the order they were added (deps
 * first), in compressed rows: node n's deps are `flat[start[n]] … flat[start[n + 1])`, the last
 * node's run to the end of `flat`. Typed columns hold no pointers, so the garbage collector never
 * scans them however many ops a document has. The log indexes documents with it, and the causal
 * engine of every domain's reducer judges ops with it.
 */
export class Dag {
  private readonly starts = int32Column()
  private readonly flat = int32Column()

  /** How many nodes the graph has. */
  get size(): number {
    return this.starts.length
  }

  /** Adds the next node and returns its number; its deps follow with `addDep`. */
  addNode(): number {
    this.starts.push(this.flat.length)
    return this.starts.length - 1
  }

  /** Adds a dep (an earlier node) to the node added last. */
  addDep(dep: number): void {
    this.flat.push(dep)
  }

  /** Where node `n`'s deps start in the flat column. */
  depsStart(n: number): number {
    return this.starts.at(n)
  }

  /** Where node `n`'s deps end in the flat column (exclusive). */
  depsEnd(n: number): number {
    return n + 1 < this.starts.length ? this.starts.at(n + 1) : this.flat.length
  }

  /** The dep at index `k` of the flat column. */
  dep(k: number): number {
    return this.flat.at(k)
  }
}

/**
 * Marks (1) every strict ancestor of the `starts` nodes with one walk down the deps; the starts
 * themselves are marked only when one is an ancestor of another.
 */
export function markAncestors(dag: Dag, starts: readonly number[]): Uint8Array {
  const marks = new Uint8Array(dag.size)
  const stack = [...starts]
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    const end = dag.depsEnd(n)
    for (let k = dag.depsStart(n); k < end; k++) {
      const dep = dag.dep(k)
      if (marks[dep] === 1) continue
      marks[dep] = 1
      stack.push(dep)
    }
  }
  return marks
}

/**
 * Kahn's algorithm over the nodes marked in `include` (all when undefined): deps first, and
 * among the nodes ready at once the least by `compare` first. Deps outside `include` (nodes the
 * reader already has) do not hold a node back.
 */
export function topologicalOrder(
  dag: Dag,
  compare: (a: number, b: number) => number,
  include?: Uint8Array,
): number[] {
  const count = dag.size
  const indegree = new Int32Array(count)
  const childCount = new Int32Array(count + 1)
  const inSet = (n: number) => include === undefined || include[n] === 1
  for (let n = 0; n < count; n++) {
    if (!inSet(n)) continue
    const end = dag.depsEnd(n)
    for (let k = dag.depsStart(n); k < end; k++) {
      const dep = dag.dep(k)
      if (!inSet(dep)) continue
      indegree[n]!++
      childCount[dep + 1]!++
    }
  }
  // Children in compressed rows: childCount[n] … childCount[n + 1].
  for (let n = 0; n < count; n++) childCount[n + 1]! += childCount[n]!
  const next = childCount.slice()
  const children = new Int32Array(childCount[count]!)
  for (let n = 0; n < count; n++) {
    if (!inSet(n)) continue
    const end = dag.depsEnd(n)
    for (let k = dag.depsStart(n); k < end; k++) {
      const dep = dag.dep(k)
      if (inSet(dep)) children[next[dep]!++] = n
    }
  }
  const ready = new MinHeap(compare)
  for (let n = 0; n < count; n++) if (inSet(n) && indegree[n] === 0) ready.push(n)
  const out: number[] = []
  for (let n = ready.pop(); n !== undefined; n = ready.pop()) {
    out.push(n)
    for (let c = childCount[n]!; c < childCount[n + 1]!; c++) {
      const child = children[c]!
      if (--indegree[child]! === 0) ready.push(child)
    }
  }
  return out
}

/** A binary min-heap of node numbers. */
class MinHeap {
  private readonly items: number[] = []
  constructor(private readonly less: (a: number, b: number) => number) {}
  push(value: number): void {
    const items = this.items
    items.push(value)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.less(items[i]!, items[parent]!) >= 0) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }
  pop(): number | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (items.length === 0) return top
    items[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < items.length && this.less(items[l]!, items[m]!) < 0) m = l
      if (r < items.length && this.less(items[r]!, items[m]!) < 0) m = r
      if (m === i) return top
      ;[items[i], items[m]] = [items[m]!, items[i]!]
      i = m
    }
  }
}
