/**
 * A growable Int32Array or Float64Array: a compact per-op column. Typed arrays hold no pointers,
 * so the garbage collector never scans them, however many ops a log or reducer keeps.
 */
export class Column<T extends Int32Array | Float64Array> {
  data: T
  length = 0
  constructor(private readonly make: (size: number) => T) {
    this.data = make(16) // small: a node may hold many small documents
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = value
  }

  at(index: number): number {
    return this.data[index]!
  }

  set(index: number, value: number): void {
    this.data[index] = value
  }
}

/** A growable Int32Array column. */
export const int32Column = () => new Column((n) => new Int32Array(n))

/** A growable Float64Array column (for values past 2^31, such as times in milliseconds). */
export const float64Column = () => new Column((n) => new Float64Array(n))
