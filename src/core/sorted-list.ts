/**
 * A list kept sorted by `compare`, grown in batches: items added since the last read wait apart
 * and are merged in once (a sort of the new ones, then one linear merge), so reading a page of a
 * big listing costs its size, never a sort of everything.
 * @example
 * const ids = new SortedList<string>((a, b) => (a < b ? -1 : a > b ? 1 : 0))
 * ids.add('b'); ids.add('a')
 * ids.items() // ['a', 'b']
 */
export class SortedList<T> {
  private sorted: T[] = []
  private fresh: T[] = []

  constructor(private readonly compare: (a: T, b: T) => number) {}

  /** Adds an item (not already in the list). */
  add(item: T): void {
    this.fresh.push(item)
  }

  get size(): number {
    return this.sorted.length + this.fresh.length
  }

  /** Every item, in order. */
  items(): readonly T[] {
    if (this.fresh.length === 0) return this.sorted
    const { sorted, compare } = this
    const fresh = this.fresh.sort(compare)
    const merged: T[] = []
    let i = 0
    let j = 0
    while (i < sorted.length && j < fresh.length)
      merged.push(compare(fresh[j]!, sorted[i]!) < 0 ? fresh[j++]! : sorted[i++]!)
    for (; i < sorted.length; i++) merged.push(sorted[i]!)
    for (; j < fresh.length; j++) merged.push(fresh[j]!)
    this.sorted = merged
    this.fresh = []
    return merged
  }

  /** Where the items not before `item` start (binary search); `strict`: those after it. */
  indexOf(item: T, { strict = false }: { strict?: boolean } = {}): number {
    const all = this.items()
    let low = 0
    let high = all.length
    while (low < high) {
      const mid = (low + high) >>> 1
      const c = this.compare(all[mid]!, item)
      if (c < 0 || (strict && c === 0)) low = mid + 1
      else high = mid
    }
    return low
  }
}
