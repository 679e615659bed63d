import { BaseError } from '../../errors/base.ts'
import { type LeafIndex, Run, runIndex, Seq } from './seq.ts'

// A JSON CRDT (ARCHITECTURE §7, issue 23): maps with a last-writer-wins register per key, lists
// and texts as FugueMax sequences (no interleaving of concurrent insertions at one place),
// counters, nested to any depth. Pure: the state is a function of the ops applied, whatever their
// (causal) order. An element is named by the op that inserted it and its offset among that op's
// elements; a container by the op that created it and its ordinal there.

/** A container's kind. The root is a map. */
export type ContainerKind = 'map' | 'list' | 'text' | 'counter'

/** A reference to a container in an edit: the root (null), this op's n-th, or an earlier op's. */
export type ObjRef = null | number | readonly [op: string, ordinal: number]
/** A reference to an element: this op's n-th, an earlier op's, or null (the start or the end). */
export type ElemRef = null | number | readonly [op: string, offset: number]
/** A value written into a map or a list: a JSON primitive, a new container or a new counter. */
export type WireValue =
  | null
  | boolean
  | number
  | string
  | { readonly make: 'map' | 'list' | 'text' }
  | { readonly counter: number }
/** Elements of one op deleted: the op (an id, or -1 for this op), the first offset, how many. */
export type DeletedRange = readonly [op: string | -1, offset: number, len: number]

/** One edit of a change (`json.change` body `{ e: Edit[] }`). */
export type Edit =
  | { readonly o: 'set'; readonly obj: ObjRef; readonly k: string; readonly v: WireValue }
  | { readonly o: 'del'; readonly obj: ObjRef; readonly k: string }
  | {
      readonly o: 'ins'
      readonly obj: ObjRef
      readonly l: ElemRef
      readonly r: ElemRef
      readonly s?: string
      readonly v?: readonly WireValue[]
    }
  | { readonly o: 'rm'; readonly obj: ObjRef; readonly d: readonly DeletedRange[] }
  | { readonly o: 'inc'; readonly obj: ObjRef; readonly by: number }

/** A change to the document as it happened, in this replica's visible coordinates at the time. */
export type Patch =
  | { readonly action: 'put'; readonly path: Path; readonly value: unknown }
  | { readonly action: 'del'; readonly path: Path }
  | {
      readonly action: 'splice'
      readonly path: Path
      readonly index: number
      readonly remove: number
      readonly insert: string
    }
  | {
      readonly action: 'insert'
      readonly path: Path
      readonly index: number
      readonly values: unknown[]
    }
  | {
      readonly action: 'remove'
      readonly path: Path
      readonly index: number
      readonly count: number
    }
  | { readonly action: 'inc'; readonly path: Path; readonly by: number }

export type Path = readonly (string | number)[]

/** An edit that cannot apply on the op's causal past: the op changes nothing. */
export class JsonEditError extends BaseError {
  override name = 'JsonEditError' as const
  override readonly kind = 'invalid' as const
}

/** A container held in a map key or a list element. */
export class Child {
  constructor(readonly id: number) {}
}

/** A map key's register: the last write by (lamport, op id, edit index). */
type Reg = { lamport: number; op: number; edit: number; value: unknown }

/** A deleted key's value (the register keeps its lamport, so a concurrent older set loses). */
const DELETED: unique symbol = Symbol('deleted')

type Container = {
  readonly id: number
  readonly kind: ContainerKind
  readonly seq: Seq | null
  readonly map: Map<string, Reg> | null
  count: bigint
  /** Where it hangs: the parent container, and the key (map) or element lv (list); -1 for the root. */
  readonly parent: number
  readonly slot: string | number
}

type Undo =
  | { t: 'ins'; seq: Seq; lv: number; len: number }
  | { t: 'del'; seq: Seq; lv: number; len: number }
  | { t: 'set'; map: Map<string, Reg>; k: string; prev: Reg | undefined }
  | { t: 'inc'; c: Container; by: bigint }

/** Most edits in one change, and longest key and string. */
export const MAX_EDITS = 10_000
export const MAX_KEY_LENGTH = 256
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * A JSON document as a CRDT. Ops are registered (`registerOp`, in causal order) and their
 * changes applied (`applyChange`); `begin` starts a local change edited by position.
 * @example
 * const doc = new JsonCrdt()
 * const change = doc.begin()
 * change.set(ROOT, 'title', { $text: 'Hello' })
 * const edits = change.commit('op-id-1')
 */
export class JsonCrdt {
  // Per op (index in apply order): its global id, lamport clock, elements and containers.
  readonly keys: string[] = []
  readonly lamports: number[] = []
  private readonly lvStart: number[] = []
  private readonly lvCount: number[] = []
  private readonly contStart: number[] = []
  private readonly contCount: number[] = []
  private readonly byKey = new Map<string, number>()
  // Ops that inserted elements, in lv order: lv → op by binary search.
  private readonly lvOps: number[] = []
  private readonly lvOpStarts: number[] = []
  /** Element lv → its leaf. */
  readonly leafOf: LeafIndex = []
  private nextLv = 0
  readonly containers: Container[] = []
  maxLamport = 0
  private listeners: ((patch: Patch, op: string) => void)[] = []
  // The op being applied, its visibility test, and its undo log.
  private cur = -1
  private visible: ((op: number) => boolean) | undefined
  private undo: Undo[] = []
  private quiet = false
  /** Patches of the change being applied, told once it has applied whole. */
  private held: Patch[] = []
  /** maxLamport before the op registered last. */
  private prevMax = 0

  constructor() {
    this.containers.push({
      id: 0,
      kind: 'map',
      seq: null,
      map: new Map(),
      count: 0n,
      parent: -1,
      slot: '',
    })
  }

  /** Ops registered. */
  get ops(): number {
    return this.keys.length
  }

  /** Registers the next op (after every op it follows) and answers its index. */
  registerOp(key: string, lamport: number): number {
    if (this.byKey.has(key)) throw new JsonEditError(`Op ${key} is registered already.`)
    const index = this.pushOp(key, lamport)
    this.byKey.set(key, index)
    return index
  }

  /** Adds an op's columns (not findable by key). */
  private pushOp(key: string, lamport: number): number {
    const index = this.keys.length
    this.keys.push(key)
    this.lamports.push(lamport)
    this.lvStart.push(this.nextLv)
    this.lvCount.push(0)
    this.contStart.push(this.containers.length)
    this.contCount.push(0)
    this.prevMax = this.maxLamport
    if (lamport > this.maxLamport) this.maxLamport = lamport
    return index
  }

  /** The index of a registered op, or undefined. */
  opIndex(key: string): number | undefined {
    return this.byKey.get(key)
  }

  /** Follows the document's changes as they apply (not those of a local change being edited). */
  observe(listener: (patch: Patch, op: string) => void): () => void {
    this.listeners.push(listener)
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener)
    }
  }

  /**
   * Applies op `op`'s edits: all of them, or none (a JsonEditError names the first that cannot
   * apply). `visible(op)` says whether an op is in this op's causal past (all are by default).
   */
  applyChange(op: number, edits: readonly Edit[], visible?: (op: number) => boolean): void {
    if (op !== this.keys.length - 1 || this.lvCount[op] !== 0 || this.contCount[op] !== 0)
      throw new JsonEditError('A change applies once, to the op registered last.')
    this.cur = op
    this.visible = visible
    this.undo = []
    this.held = []
    try {
      for (let e = 0; e < edits.length; e++) this.applyEdit(edits[e]!, e)
    } catch (error) {
      this.held = []
      this.rollback(op)
      throw error
    } finally {
      this.cur = -1
      this.visible = undefined
      this.undo = []
    }
    this.flush(op)
  }

  /**
   * Whether op `op`'s edits would apply (undefined) or the error they get, without changing the
   * state. The op must be registered last.
   */
  tryChange(
    op: number,
    edits: readonly Edit[],
    visible?: (op: number) => boolean,
  ): JsonEditError | undefined {
    const quiet = this.quiet
    this.cur = op
    this.visible = visible
    this.undo = []
    this.quiet = true
    try {
      for (let e = 0; e < edits.length; e++) this.applyEdit(edits[e]!, e)
      return undefined
    } catch (error) {
      if (error instanceof JsonEditError) return error
      throw error
    } finally {
      this.rollback(op)
      this.quiet = quiet
      this.cur = -1
      this.visible = undefined
      this.undo = []
    }
  }

  /** Forgets the op registered last (it must have changed nothing). */
  unregisterLast(): void {
    const op = this.keys.length - 1
    if (this.lvCount[op] !== 0 || this.contCount[op] !== 0)
      throw new Error('unregisterLast: the op changed the document')
    const key = this.keys.pop()!
    if (this.byKey.get(key) === op) this.byKey.delete(key)
    this.lamports.pop()
    this.lvStart.pop()
    this.lvCount.pop()
    this.contStart.pop()
    this.contCount.pop()
    this.maxLamport = this.prevMax
  }

  /** Undoes the current op's effects recorded after the first `mark` (newest first). */
  private undoTo(mark: number): void {
    const undo = this.undo
    for (let u = undo.length - 1; u >= mark; u--) {
      const x = undo[u]!
      if (x.t === 'ins') x.seq.remove(x.lv, x.len)
      else if (x.t === 'del') x.seq.setDeleted(x.lv, x.len, false)
      else if (x.t === 'set') {
        if (x.prev) x.map.set(x.k, x.prev)
        else x.map.delete(x.k)
      } else x.c.count -= x.by
    }
    undo.length = mark
  }

  /** Undoes the current op's edits (the op stays registered, with nothing). */
  private rollback(op: number): void {
    this.undoTo(0)
    const lvs = this.lvCount[op]!
    if (lvs > 0) {
      this.nextLv = this.lvStart[op]!
      this.leafOf.length = this.nextLv
      this.lvOps.pop()
      this.lvOpStarts.pop()
    }
    this.lvCount[op] = 0
    this.containers.length = this.contStart[op]!
    this.contCount[op] = 0
  }

  // ---- references ----

  private refuse(message: string): never {
    throw new JsonEditError(message)
  }

  private opOf(ref: string): number {
    const op = this.byKey.get(ref)
    if (op === undefined || op >= this.cur)
      this.refuse(`The edit names op ${describe(ref)}, which is not in this document before it.`)
    if (this.visible && !this.visible(op))
      this.refuse(`The edit names op ${describe(ref)}, which is not in the op's causal past.`)
    return op
  }

  /**
   * The index (an lv, or a container id) a reference names: this op's n-th (a number) or an
   * earlier op's (`[op id, n]`), checked against what each op made (`starts`, `counts`).
   */
  private resolve(
    ref: number | readonly [string, number],
    starts: number[],
    counts: number[],
    what: string,
  ): number {
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref < 0 || ref >= counts[this.cur]!)
        this.refuse(`${what} ${ref} of this op does not exist (yet).`)
      return starts[this.cur]! + ref
    }
    if (
      !Array.isArray(ref) ||
      ref.length !== 2 ||
      typeof ref[0] !== 'string' ||
      !Number.isInteger(ref[1])
    )
      this.refuse(`A reference to a ${what.toLowerCase()} is null, a number or [op id, n].`)
    const op = this.opOf(ref[0])
    if (ref[1] < 0 || ref[1] >= counts[op]!)
      this.refuse(`Op ${describe(ref[0])} made no ${what.toLowerCase()} ${ref[1]}.`)
    return starts[op]! + ref[1]
  }

  private container(ref: ObjRef): Container {
    if (ref === null) return this.containers[0]!
    return this.containers[this.resolve(ref, this.contStart, this.contCount, 'Container')]!
  }

  /** The lv of an element of `seq`, or -1 for null. */
  private elem(ref: ElemRef, seq: Seq): number {
    if (ref === null) return -1
    const lv = this.resolve(ref, this.lvStart, this.lvCount, 'Element')
    if (this.leafOf[lv]?.seq !== seq)
      this.refuse('The element named is not in the container edited.')
    return lv
  }

  /** The op that inserted element `lv`. */
  opOfLv(lv: number): number {
    const starts = this.lvOpStarts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (starts[mid]! <= lv) lo = mid
      else hi = mid - 1
    }
    return this.lvOps[lo]!
  }

  /** The reference an edit of the current op uses for element `lv`. */
  elemRef(lv: number): ElemRef {
    if (lv === -1) return null
    const op = this.opOfLv(lv)
    const offset = lv - this.lvStart[op]!
    return op === this.cur ? offset : [this.keys[op]!, offset]
  }

  /** The reference an edit of the current op uses for container `id`. */
  objRef(id: number): ObjRef {
    if (id === 0) return null
    let lo = 0
    let hi = this.contStart.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.contStart[mid]! <= id) lo = mid
      else hi = mid - 1
    }
    while (this.contCount[lo] === 0 || this.contStart[lo]! + this.contCount[lo]! <= id) lo--
    const ordinal = id - this.contStart[lo]!
    return lo === this.cur ? ordinal : [this.keys[lo]!, ordinal]
  }

  // ---- edits ----

  private applyEdit(edit: Edit, e: number): void {
    if (typeof edit !== 'object' || edit === null) this.refuse('An edit is an object.')
    switch (edit.o) {
      case 'set': {
        const c = this.mapOf(edit.obj)
        this.setKey(c, checkKey(edit.k), this.value(edit.v, c, edit.k), e)
        return
      }
      case 'del': {
        const c = this.mapOf(edit.obj)
        this.setKey(c, checkKey(edit.k), DELETED, e)
        return
      }
      case 'ins':
        this.insert(edit)
        return
      case 'rm':
        this.delete(edit)
        return
      case 'inc': {
        const c = this.container(edit.obj)
        if (c.kind !== 'counter') this.refuse(`inc edits a counter, not a ${c.kind}.`)
        if (!Number.isSafeInteger(edit.by)) this.refuse('inc takes a safe integer.')
        const by = BigInt(edit.by)
        c.count += by
        this.undo.push({ t: 'inc', c, by })
        this.emit(c, (path) => ({ action: 'inc', path, by: edit.by }))
        return
      }
      default:
        this.refuse(
          `Unknown edit ${describe((edit as { o?: unknown }).o)}: use set, del, ins, rm or inc.`,
        )
    }
  }

  private mapOf(ref: ObjRef): Container {
    const c = this.container(ref)
    if (c.kind !== 'map') this.refuse(`set and del edit a map, not a ${c.kind}.`)
    return c
  }

  /** A wire value as stored: a primitive, or a new container (created now). */
  private value(v: WireValue, parent: Container, slot: string | number): unknown {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) this.refuse('Numbers are finite.')
      return v
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v)
      if (keys.length === 1 && keys[0] === 'make') {
        const kind = (v as { make: unknown }).make
        if (kind !== 'map' && kind !== 'list' && kind !== 'text')
          this.refuse('make is "map", "list" or "text".')
        return this.create(kind, parent, slot, 0n)
      }
      if (keys.length === 1 && keys[0] === 'counter') {
        const n = (v as { counter: unknown }).counter
        if (!Number.isSafeInteger(n)) this.refuse('A counter starts at a safe integer.')
        return this.create('counter', parent, slot, BigInt(n as number))
      }
    }
    return this.refuse('A value is null, a boolean, a number, a string, {make} or {counter}.')
  }

  private create(
    kind: ContainerKind,
    parent: Container,
    slot: string | number,
    count: bigint,
  ): Child {
    const id = this.containers.length
    this.containers.push({
      id,
      kind,
      seq: kind === 'list' || kind === 'text' ? new Seq(this.leafOf, id, kind === 'text') : null,
      map: kind === 'map' ? new Map() : null,
      count,
      parent: parent.id,
      slot,
    })
    this.contCount[this.cur]!++
    return new Child(id)
  }

  private setKey(c: Container, k: string, value: unknown, edit: number): void {
    const map = c.map!
    const prev = map.get(k)
    const reg: Reg = { lamport: this.lamports[this.cur]!, op: this.cur, edit, value }
    if (prev && !this.wins(reg, prev)) return
    map.set(k, reg)
    this.undo.push({ t: 'set', map, k, prev })
    if (this.listeners.length && !this.quiet) {
      if (value === DELETED) {
        if (prev && prev.value !== DELETED)
          this.emit(c, (path) => ({ action: 'del', path: [...path, k] }))
      } else
        this.emit(c, (path) => ({ action: 'put', path: [...path, k], value: this.plain(value) }))
    }
  }

  private wins(a: Reg, b: Reg): boolean {
    if (a.lamport !== b.lamport) return a.lamport > b.lamport
    if (a.op !== b.op) return this.keys[a.op]! > this.keys[b.op]!
    return a.edit > b.edit
  }

  private allocate(len: number): number {
    const op = this.cur
    if (this.lvCount[op] === 0) {
      this.lvOps.push(op)
      this.lvOpStarts.push(this.nextLv)
    }
    const lv = this.nextLv
    this.nextLv += len
    this.lvCount[op]! += len
    return lv
  }

  private insert(edit: Extract<Edit, { o: 'ins' }>): void {
    const c = this.container(edit.obj)
    const seq = c.seq
    if (!seq) this.refuse(`ins edits a list or a text, not a ${c.kind}.`)
    const text = seq.isText
    let len: number
    if (text) {
      if (typeof edit.s !== 'string' || edit.s.length === 0 || edit.v !== undefined)
        this.refuse('ins into a text carries s, a non-empty string.')
      len = edit.s.length
    } else {
      if (!Array.isArray(edit.v) || edit.v.length === 0 || edit.s !== undefined)
        this.refuse('ins into a list carries v, a non-empty array of values.')
      len = edit.v.length
    }
    if (!text) for (const v of edit.v!) checkWire(v)
    const ol = this.elem(edit.l, seq)
    const or = this.elem(edit.r, seq)
    const next = ol === -1 ? seq.first() : seq.nextRaw(ol)
    let dest = -1
    if (next !== or) {
      if (ol !== -1 && or !== -1 && seq.rawIndex(ol) >= seq.rawIndex(or))
        this.refuse('ins: the left origin must come before the right one.')
      this.checkAdjacent(seq, ol, or)
      dest = this.integrate(seq, ol, or, this.nextLv)
    }
    // Nothing below refuses: the edit applies whole.
    const lv = this.allocate(len)
    let vals: unknown[] | null = null
    if (!text) {
      vals = new Array(len)
      for (let i = 0; i < len; i++) vals[i] = this.value(edit.v![i]!, c, lv + i)
    }
    const run = new Run(lv, len, ol, or, false, text ? edit.s! : '', vals)
    if (dest === -1) seq.insertAfter(ol, run)
    else seq.insertAtRaw(dest, run)
    this.undo.push({ t: 'ins', seq, lv, len })
    if (this.listeners.length && !this.quiet) {
      const index = seq.visibleIndex(lv)
      this.emit(c, (path) =>
        text
          ? { action: 'splice', path, index, remove: 0, insert: edit.s! }
          : { action: 'insert', path, index, values: vals!.map((v) => this.plain(v)) },
      )
    }
  }

  /**
   * Refuses origins that are not adjacent in the op's causal past: every element between them
   * must be concurrent with the op (an honest author inserts between neighbours it sees).
   */
  private checkAdjacent(seq: Seq, ol: number, or: number): void {
    let lv = ol === -1 ? seq.first() : seq.nextRaw(ol)
    while (lv !== -1 && lv !== or) {
      const op = this.opOfLv(lv)
      if (op === this.cur || !this.visible || this.visible(op))
        this.refuse(
          'ins: its origins are not neighbours; an element the op has seen lies between them.',
        )
      // The rest of this op's elements in the run are as concurrent: skip them.
      const run = seq.runOf(lv)
      const last = Math.min(run.lv + run.len, this.lvStart[op]! + this.lvCount[op]!) - 1
      if (or > lv && or <= last) return
      lv = seq.nextRaw(last)
    }
  }

  /** FugueMax: the raw index where a run with origins (ol, or) of op `this.cur` goes. */
  private integrate(seq: Seq, ol: number, or: number, lv: number): number {
    const left = ol === -1 ? -1 : seq.rawIndex(ol)
    const size = seq.size
    const right = or === -1 ? size : seq.rawIndex(or)
    let scanning = false
    let dest = left + 1
    const place = seq.findRaw(left + 1)
    let leaf = place.leaf
    let ri = place.i
    let off = place.off
    for (let i = left + 1; ; ) {
      if (!scanning) dest = i
      if (i >= right) break
      while (ri >= leaf.runs.length) {
        leaf = leaf.next!
        ri = 0
        off = 0
      }
      const r = leaf.runs[ri]!
      const oleft = off > 0 ? i - 1 : r.ol === -1 ? -1 : seq.rawIndex(r.ol)
      if (oleft < left) break
      if (oleft === left) {
        const oright = r.or === -1 ? size : seq.rawIndex(r.or)
        if (oright < right) scanning = true
        else if (oright === right) {
          if (this.before(lv, r.lv + off)) break
          scanning = false
        } else scanning = false
      }
      const step = Math.min(r.len - off, right - i)
      i += step
      ri++
      off = 0
    }
    return dest
  }

  /** Whether element `a` (of the current op) goes before the concurrent sibling `b`. */
  private before(a: number, b: number): boolean {
    const opB = this.opOfLv(b)
    if (opB === this.cur) return a < b
    return this.keys[this.cur]! < this.keys[opB]!
  }

  private delete(edit: Extract<Edit, { o: 'rm' }>): void {
    const c = this.container(edit.obj)
    const seq = c.seq
    if (!seq) this.refuse(`rm edits a list or a text, not a ${c.kind}.`)
    if (!Array.isArray(edit.d) || edit.d.length === 0)
      this.refuse('rm carries d, a non-empty array of ranges.')
    for (const range of edit.d) {
      if (!Array.isArray(range) || range.length !== 3)
        this.refuse('A deleted range is [op, offset, length].')
      const [ref, offset, len] = range
      if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 1)
        this.refuse('A deleted range has an offset ≥ 0 and a length ≥ 1.')
      const op =
        ref === -1
          ? this.cur
          : typeof ref === 'string'
            ? this.opOf(ref)
            : this.refuse('A range names an op id or -1.')
      if (offset + len > this.lvCount[op]!)
        this.refuse('A deleted range goes past the elements its op inserted.')
      const lv = this.lvStart[op]! + offset
      for (let x = lv; x < lv + len; x++)
        if (this.leafOf[x]?.seq !== seq)
          this.refuse('A deleted element is not in the container edited.')
      const emit = this.listeners.length > 0 && !this.quiet
      seq.setDeleted(lv, len, true, (at, n) => {
        this.undo.push({ t: 'del', seq, lv: at, len: n })
        if (emit) {
          const index = seq.visibleIndex(at)
          this.emit(c, (path) =>
            seq.isText
              ? { action: 'splice', path, index, remove: n, insert: '' }
              : { action: 'remove', path, index, count: n },
          )
        }
      })
    }
  }

  // ---- reads ----

  /** A stored value as plain JSON (containers as their content). */
  plain(value: unknown): unknown {
    return value instanceof Child ? this.toJSON(value.id) : value
  }

  /** The plain JSON of a container (the root by default): keys sorted, texts as strings. */
  toJSON(id = 0): unknown {
    const c = this.containers[id]!
    switch (c.kind) {
      case 'map': {
        const out: Record<string, unknown> = {}
        for (const k of [...c.map!.keys()].sort()) {
          const reg = c.map!.get(k)!
          if (reg.value === DELETED) continue
          // A key named "__proto__" is data here, not the result's prototype.
          if (k === '__proto__')
            Object.defineProperty(out, k, {
              value: this.plain(reg.value),
              enumerable: true,
              writable: true,
              configurable: true,
            })
          else out[k] = this.plain(reg.value)
        }
        return out
      }
      case 'text':
        return c.seq!.text()
      case 'list':
        return c.seq!.values().map((v) => this.plain(v))
      case 'counter':
        return c.count >= -MAX_SAFE && c.count <= MAX_SAFE ? Number(c.count) : c.count.toString()
    }
  }

  kind(id: number): ContainerKind {
    return this.containers[id]!.kind
  }

  /** A map's value at `key`: a primitive, a Child, or undefined. */
  get(id: number, key: string): unknown {
    const reg = this.containers[id]!.map?.get(key)
    return !reg || reg.value === DELETED ? undefined : reg.value
  }

  /** A map's keys, sorted. */
  mapKeys(id: number): string[] {
    const map = this.containers[id]!.map!
    return [...map.keys()].filter((k) => map.get(k)!.value !== DELETED).sort()
  }

  /** Visible elements of a list or text; keys of a map. */
  length(id: number): number {
    const c = this.containers[id]!
    return c.seq ? c.seq.length : c.map ? this.mapKeys(id).length : 0
  }

  /** A list's value at visible `index`. */
  at(id: number, index: number): unknown {
    const seq = this.containers[id]!.seq!
    const { leaf, i, off } = seq.findVisible(index)
    const r = leaf.runs[i]!
    return r.vals ? r.vals[off] : r.text[off]
  }

  /** A text's characters. */
  text(id: number): string {
    return this.containers[id]!.seq!.text()
  }

  /** The path of a container from the root, or undefined when it is no longer reachable. */
  pathOf(id: number): (string | number)[] | undefined {
    const out: (string | number)[] = []
    while (id !== 0) {
      const c = this.containers[id]!
      const parent = this.containers[c.parent]!
      if (parent.map) {
        const reg = parent.map.get(c.slot as string)
        if (!reg || !(reg.value instanceof Child) || reg.value.id !== id) return undefined
        out.push(c.slot)
      } else {
        const seq = parent.seq!
        const lv = c.slot as number
        const leaf = this.leafOf[lv]
        if (!leaf || seq.runOf(lv).del) return undefined
        out.push(seq.visibleIndex(lv))
      }
      id = c.parent
    }
    return out.reverse()
  }

  private emit(c: Container, make: (path: Path) => Patch): void {
    if (this.listeners.length === 0 || this.quiet) return
    const path = this.pathOf(c.id)
    if (!path) return
    // Held until the whole change has applied: a later edit may refuse it.
    this.held.push(make(path))
  }

  /** Tells the listeners what the change just applied did. */
  private flush(op: number): void {
    const held = this.held
    if (held.length === 0) return
    this.held = []
    const key = this.keys[op]!
    for (const patch of held) for (const l of this.listeners) l(patch, key)
  }

  // ---- local changes ----

  /**
   * Starts a local change on the current state (lamport: after every op applied). Edit it by
   * position, then `commit(key)` once the op's id is known, or `abort()`. Nothing else may be
   * applied meanwhile.
   */
  begin(): LocalChange {
    return new LocalChange(this)
  }

  /** @internal */
  _begin(): number {
    // Its id is known once it is signed (`_end`): until then it is found by index only.
    const op = this.pushOp('', this.maxLamport + 1)
    this.cur = op
    this.visible = undefined
    this.undo = []
    this.quiet = true
    return op
  }

  /** @internal Applies one edit to the local change; on a refusal, the edit changes nothing. */
  _edit(edit: Edit, index: number): void {
    const mark = this.undo.length
    try {
      this.applyEdit(edit, index)
    } catch (error) {
      // Undo this edit only: the change keeps its earlier edits.
      this.undoTo(mark)
      throw error
    }
  }

  /** @internal */
  _end(op: number, key: string | undefined): void {
    if (key === undefined) {
      this.rollback(op)
      this.unregisterLast()
    } else {
      if (this.byKey.has(key)) {
        this.rollback(op)
        this.unregisterLast()
        this.cur = -1
        this.quiet = false
        throw new JsonEditError(`Op ${key} is registered already.`)
      }
      this.keys[op] = key
      this.byKey.set(key, op)
    }
    this.cur = -1
    this.undo = []
    this.quiet = false
  }

  /** @internal */
  get _current(): number {
    return this.cur
  }

  /** @internal */
  get _nextLv(): number {
    return this.nextLv
  }

  /** @internal The first lv of op `op`. */
  _lvStart(op: number): number {
    return this.lvStart[op]!
  }

  /** @internal The lv after op `op`'s last. */
  _lvEnd(op: number): number {
    return this.lvStart[op]! + this.lvCount[op]!
  }

  /** The value of list element `lv`. */
  valueAt(lv: number): unknown {
    const leaf = this.leafOf[lv]!
    const r = leaf.runs[runIndex(leaf, lv)]!
    return r.vals ? r.vals[lv - r.lv] : r.text[lv - r.lv]
  }
}

/** A local change edited by position: each edit applies at once, and is recorded for the op. */
export class LocalChange {
  readonly edits: Edit[] = []
  private readonly op: number
  private done = false

  constructor(private readonly doc: JsonCrdt) {
    if (doc._current !== -1)
      throw new JsonEditError('Another change is being edited on this document.')
    this.op = doc._begin()
  }

  private push(edit: Edit): void {
    if (this.done) throw new JsonEditError('This change is committed or aborted already.')
    this.doc._edit(edit, this.edits.length)
    this.edits.push(edit)
  }

  /** Sets a map key to plain JSON: objects, arrays, `{ $text }` and `{ $counter }` become containers. */
  set(obj: number, key: string, value: unknown): void {
    const c = this.doc.containers[obj]
    if (c?.kind !== 'map')
      throw new JsonEditError(`set writes into a map, not a ${c?.kind ?? 'missing container'}.`)
    this.push({ o: 'set', obj: this.doc.objRef(obj), k: key, v: wireOf(value) })
    const child = this.doc.get(obj, key)
    if (child instanceof Child) this.fill(child.id, value)
  }

  delete(obj: number, key: string): void {
    const c = this.doc.containers[obj]
    if (c?.kind !== 'map')
      throw new JsonEditError(
        `delete removes a key of a map, not of a ${c?.kind ?? 'missing container'}.`,
      )
    this.push({ o: 'del', obj: this.doc.objRef(obj), k: key })
  }

  /** Inserts plain JSON values into a list at visible `index`. */
  insert(obj: number, index: number, values: readonly unknown[]): void {
    const seq = this.seq(obj, 'list')
    if (values.length === 0) return
    if (!Number.isInteger(index) || index < 0 || index > seq.length)
      throw new JsonEditError(`Index ${index} is outside the list (length ${seq.length}).`)
    const { ol, or } = seq.originsAt(index)
    const wire = values.map((v) => wireOf(v))
    const first = this.doc._nextLv
    this.push({
      o: 'ins',
      obj: this.doc.objRef(obj),
      l: this.doc.elemRef(ol),
      r: this.doc.elemRef(or),
      v: wire,
    })
    for (let i = 0; i < values.length; i++) {
      const v = this.doc.valueAt(first + i)
      if (v instanceof Child) this.fill(v.id, values[i])
    }
  }

  /** Removes `count` elements of a list or text from visible `index`. */
  remove(obj: number, index: number, count: number): void {
    const c = this.doc.containers[obj]
    const seq = c?.seq
    if (!seq)
      throw new JsonEditError(
        `Only lists and texts have elements to remove; this is a ${c?.kind ?? 'missing container'}.`,
      )
    if (count <= 0) return
    if (!Number.isInteger(index) || index < 0 || index + count > seq.length)
      throw new JsonEditError(
        `Elements ${index}…${index + count - 1} are outside the ${c.kind} (length ${seq.length}).`,
      )
    const ranges: [string | -1, number, number][] = []
    let { leaf, i, off } = seq.findVisible(index)
    for (let left = count; left > 0; i++, off = 0) {
      while (i >= leaf.runs.length) {
        leaf = leaf.next!
        i = 0
      }
      const r = leaf.runs[i]!
      if (r.del) continue
      const take = Math.min(r.len - off, left)
      this.addRanges(ranges, r.lv + off, take)
      left -= take
    }
    this.push({ o: 'rm', obj: this.doc.objRef(obj), d: ranges })
  }

  /** Adds elements lv…lv+n-1 to `ranges`, split where the op that inserted them changes. */
  private addRanges(ranges: [string | -1, number, number][], lv: number, n: number): void {
    while (n > 0) {
      const op = this.doc.opOfLv(lv)
      const start = this.doc._lvStart(op)
      const take = Math.min(n, this.doc._lvEnd(op) - lv)
      const ref = op === this.op ? -1 : this.doc.keys[op]!
      const offset = lv - start
      const last = ranges[ranges.length - 1]
      if (last && last[0] === ref && last[1] + last[2] === offset) last[2] += take
      else ranges.push([ref, offset, take])
      lv += take
      n -= take
    }
  }

  /** Replaces `del` characters of a text at `pos` with `text`. */
  splice(obj: number, pos: number, del: number, text: string): void {
    const seq = this.seq(obj, 'text')
    if (
      !Number.isInteger(pos) ||
      !Number.isInteger(del) ||
      pos < 0 ||
      del < 0 ||
      pos + del > seq.length
    )
      throw new JsonEditError(
        `Characters ${pos}…${pos + del} are outside the text (length ${seq.length}).`,
      )
    if (del > 0) this.remove(obj, pos, del)
    if (text.length === 0) return
    const { ol, or } = seq.originsAt(pos)
    const objRef = this.doc.objRef(obj)
    const l = this.doc.elemRef(ol)
    const r = this.doc.elemRef(or)
    const last = this.edits[this.edits.length - 1]
    // Typing on: extend the previous insertion of this change (the same edit on every replica).
    if (
      last?.o === 'ins' &&
      last.s !== undefined &&
      typeof l === 'number' &&
      l === this.doc._lvEnd(this.op) - this.doc._lvStart(this.op) - 1 &&
      sameRef(last.obj, objRef) &&
      sameRef(last.r, r)
    ) {
      if (this.done) throw new JsonEditError('This change is committed or aborted already.')
      this.doc._edit({ o: 'ins', obj: objRef, l, r, s: text }, this.edits.length - 1)
      this.edits[this.edits.length - 1] = { ...last, s: last.s + text }
      return
    }
    this.push({ o: 'ins', obj: objRef, l, r, s: text })
  }

  /** Adds `by` to a counter. */
  increment(obj: number, by: number): void {
    const c = this.doc.containers[obj]
    if (c?.kind !== 'counter')
      throw new JsonEditError(
        `increment adds to a counter, not to a ${c?.kind ?? 'missing container'}.`,
      )
    this.push({ o: 'inc', obj: this.doc.objRef(obj), by })
  }

  private seq(obj: number, kind: 'list' | 'text'): Seq {
    const c = this.doc.containers[obj]
    if (!c) throw new JsonEditError(`No container ${obj}.`)
    if (c.kind !== kind) throw new JsonEditError(`Expected a ${kind}, found a ${c.kind}.`)
    return c.seq!
  }

  /** Fills container `id`, just created for plain JSON `value`, with its content. */
  private fill(id: number, value: unknown): void {
    if (Array.isArray(value)) {
      if (value.length > 0) this.insert(id, 0, value)
    } else if (isTextValue(value)) {
      if (value.$text.length > 0) this.splice(id, 0, 0, value.$text)
    } else if (isCounterValue(value)) {
      // its value is in its creation
    } else if (typeof value === 'object' && value !== null)
      for (const [k, v] of Object.entries(value)) this.set(id, k, v)
  }

  /** Signs off the change under the op's id: the edits stay applied. */
  commit(key: string): Edit[] {
    this.finish(key)
    return this.edits
  }

  /** Undoes the change: the document is as before `begin`. Answers the edits it made. */
  abort(): Edit[] {
    this.finish(undefined)
    return this.edits
  }

  private finish(key: string | undefined): void {
    if (this.done) throw new JsonEditError('This change is committed or aborted already.')
    this.done = true
    this.doc._end(this.op, key)
  }
}

function sameRef(a: ObjRef | ElemRef, b: ObjRef | ElemRef): boolean {
  if (a === b) return true
  return Array.isArray(a) && Array.isArray(b) && a[0] === b[0] && a[1] === b[1]
}

function isTextValue(v: unknown): v is { $text: string } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof (v as { $text?: unknown }).$text === 'string' &&
    Object.keys(v).length === 1
  )
}

function isCounterValue(v: unknown): v is { $counter: number } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof (v as { $counter?: unknown }).$counter === 'number' &&
    Object.keys(v).length === 1
  )
}

/** The wire value that starts plain JSON `v` (containers are filled by later edits). */
export function wireOf(v: unknown): WireValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new JsonEditError('Numbers in a document are finite.')
    return v
  }
  if (Array.isArray(v)) return { make: 'list' }
  if (isTextValue(v)) return { make: 'text' }
  if (isCounterValue(v)) {
    if (!Number.isSafeInteger(v.$counter)) throw new JsonEditError('A counter is a safe integer.')
    return { counter: v.$counter }
  }
  if (typeof v === 'object') return { make: 'map' }
  throw new JsonEditError(`A ${typeof v} cannot be stored in a document.`)
}

/** Throws unless `v` is a wire value (as `value` would take it). */
function checkWire(v: unknown): void {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return
  } else if (typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v)
    const o = v as { make?: unknown; counter?: unknown }
    if (keys.length === 1 && (o.make === 'map' || o.make === 'list' || o.make === 'text')) return
    if (keys.length === 1 && Number.isSafeInteger(o.counter)) return
  }
  throw new JsonEditError(
    'A value is null, a boolean, a finite number, a string, {make} or {counter}.',
  )
}

function checkKey(k: unknown): string {
  if (typeof k !== 'string' || k.length > MAX_KEY_LENGTH)
    throw new JsonEditError(`A key is a string of at most ${MAX_KEY_LENGTH} characters.`)
  return k
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
  return `"${s.length > 80 ? `${s.slice(0, 77)}…` : s}"`
}

/** The root container's id. */
export const ROOT = 0
