import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type Edit,
  JsonCrdt,
  JsonEditError,
  type LocalChange,
  type Patch,
  ROOT,
} from '../src/core/json/crdt.ts'

// Properties of the JSON CRDT: replicas that exchange their changes in any causal order, with
// duplicates, end equal; concurrent typing never interleaves; a text edited by splices reads as
// the same splices on a string; an aborted change leaves no trace; and edits an honest author
// could not have made are refused whole.

/** A change as it travels between replicas (through JSON, as on the wire). */
type Rec = { key: string; lamport: number; deps: string[]; edits: Edit[] }

/** Every change made so far, with its causal past (transitive) and its lamport clock. */
class Network {
  readonly all: Rec[] = []
  readonly past = new Map<string, ReadonlySet<string>>()
  readonly lamport = new Map<string, number>()

  add(rec: Rec): void {
    const past = new Set<string>()
    for (const d of rec.deps) {
      past.add(d)
      for (const x of this.past.get(d)!) past.add(x)
    }
    this.past.set(rec.key, past)
    this.lamport.set(rec.key, rec.lamport)
    this.all.push(rec)
  }

  /** A change's lamport clock as any replica computes it: 1 + the most of its deps'. */
  lamportOf(deps: readonly string[]): number {
    return 1 + Math.max(0, ...deps.map((d) => this.lamport.get(d)!))
  }
}

/** One replica: its CRDT, what it applied, its heads, the changes it waits to apply. */
class Replica {
  readonly crdt = new JsonCrdt()
  readonly applied = new Set<string>()
  readonly order: Rec[] = []
  readonly heads = new Set<string>()
  private readonly waiting = new Map<string, Rec>()
  /** The document rebuilt from the observer's patches alone. */
  mirror: unknown = {}
  private made = 0

  constructor(
    readonly name: string,
    readonly net: Network,
  ) {
    this.crdt.observe((patch) => {
      this.mirror = applyPatch(this.mirror, patch)
    })
  }

  /** Takes a change from the network: skipped when known, kept until its deps are applied. */
  receive(rec: Rec): void {
    if (this.applied.has(rec.key) || this.waiting.has(rec.key)) return
    this.waiting.set(rec.key, rec)
    for (let progress = true; progress; ) {
      progress = false
      for (const w of this.waiting.values())
        if (w.deps.every((d) => this.applied.has(d))) {
          this.waiting.delete(w.key)
          this.apply(w)
          progress = true
        }
    }
  }

  get pending(): number {
    return this.waiting.size
  }

  private apply(rec: Rec): void {
    const lamport = this.net.lamportOf(rec.deps)
    expect(rec.lamport).toBe(lamport)
    const past = this.net.past.get(rec.key)!
    const crdt = this.crdt
    const index = crdt.registerOp(rec.key, lamport)
    crdt.applyChange(index, rec.edits, (op) => past.has(crdt.keys[op]!))
    this.record(rec)
    expect(this.mirror).toEqual(crdt.toJSON())
  }

  private record(rec: Rec): void {
    this.applied.add(rec.key)
    this.order.push(rec)
    for (const d of rec.deps) this.heads.delete(d)
    this.heads.add(rec.key)
  }

  /** Makes a local change with `edit`; commits it unless it made no edit. */
  change(edit: (change: LocalChange) => void): Rec | undefined {
    const change = this.crdt.begin()
    edit(change)
    if (change.edits.length === 0) {
      change.abort()
      return undefined
    }
    const key = `${this.name}.${this.made++}`
    const edits = change.commit(key)
    const rec: Rec = {
      key,
      lamport: this.crdt.lamports[this.crdt.opIndex(key)!]!,
      deps: [...this.heads].sort(),
      edits: JSON.parse(JSON.stringify(edits)),
    }
    expect(rec.lamport).toBe(this.net.lamportOf(rec.deps))
    this.net.add(rec)
    this.record(rec)
    // Local changes are not observed: the mirror starts again from the document.
    this.mirror = this.crdt.toJSON()
    return rec
  }
}

/** Applies an observer's patch to plain JSON. */
function applyPatch(root: unknown, patch: Patch): unknown {
  const path = patch.path
  let parent = root as Record<string | number, unknown>
  for (let i = 0; i < path.length - 1; i++)
    parent = parent[path[i]!] as Record<string | number, unknown>
  const last = path[path.length - 1]!
  switch (patch.action) {
    case 'put':
      parent[last] = structuredClone(patch.value)
      break
    case 'del':
      delete parent[last]
      break
    case 'splice': {
      const s = parent[last] as string
      parent[last] = s.slice(0, patch.index) + patch.insert + s.slice(patch.index + patch.remove)
      break
    }
    case 'inc':
      parent[last] = (parent[last] as number) + patch.by
      break
    case 'insert':
      ;(parent[last] as unknown[]).splice(patch.index, 0, ...structuredClone(patch.values))
      break
    case 'remove':
      ;(parent[last] as unknown[]).splice(patch.index, patch.count)
      break
  }
  return root
}

// ---- local actions, as data (so a twin can repeat them) ----

type Action =
  | { a: 'set'; obj: number; key: string; value: unknown }
  | { a: 'delete'; obj: number; key: string }
  | { a: 'insert'; obj: number; index: number; values: unknown[] }
  | { a: 'remove'; obj: number; index: number; count: number }
  | { a: 'splice'; obj: number; pos: number; del: number; text: string }
  | { a: 'increment'; obj: number; by: number }

function perform(change: LocalChange, x: Action): void {
  if (x.a === 'set') change.set(x.obj, x.key, x.value)
  else if (x.a === 'delete') change.delete(x.obj, x.key)
  else if (x.a === 'insert') change.insert(x.obj, x.index, x.values)
  else if (x.a === 'remove') change.remove(x.obj, x.index, x.count)
  else if (x.a === 'splice') change.splice(x.obj, x.pos, x.del, x.text)
  else change.increment(x.obj, x.by)
}

/**
 * Decisions read from generated numbers (each taken modulo the choices there are, 0 once they run
 * out): steps stay plain data, which fast-check shrinks quickly, whatever the state they act on.
 */
class Choices {
  private i = 0
  constructor(private readonly xs: readonly number[]) {}

  /** A number in 0…n-1. */
  pick(n: number): number {
    if (n <= 1) return 0
    const x = this.xs[this.i++]
    return x === undefined ? 0 : x % n
  }

  /** Some of `items` (each kept with odds 2 in 3), in a random order. */
  some<T>(items: readonly T[]): T[] {
    return this.order(items.filter(() => this.pick(3) !== 0))
  }

  /** All of `items`, in a random order. */
  order<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let k = out.length - 1; k > 0; k--) {
      const j = this.pick(k + 1)
      ;[out[k], out[j]] = [out[j]!, out[k]!]
    }
    return out
  }
}

const choicesArb = fc.array(fc.nat(719), { maxLength: 24 })
const KEYS = ['a', 'b', 'c']
/** Plain JSON written into a document: primitives, maps, lists, texts and counters, nested. */
const VALUES: readonly unknown[] = [
  null,
  true,
  'p',
  0,
  7,
  -3,
  {},
  [],
  { $text: '' },
  { $text: 'ab' },
  { $text: 'xyz' },
  { $counter: 2 },
  { $counter: -1 },
  { a: 1, b: [1, { $text: 'n' }] },
  { a: null, b: { c: [] } },
  [false, ['q']],
]
const CHARS = ['x', 'y', 'z', 'é', '😀']
const SHARED = { t: { $text: 'ab' }, l: [1, 2], m: {}, n: { $counter: 0 } }

/** A local action on the document: on a container it shows, mostly, or on any it holds. */
function actionFrom(crdt: JsonCrdt, ch: Choices): Action {
  const ids = [...crdt.containers.keys()]
  const shown = ids.filter((id) => crdt.pathOf(id) !== undefined)
  const obj = ch.pick(5) < 4 ? shown[ch.pick(shown.length)]! : ids[ch.pick(ids.length)]!
  const len = crdt.length(obj)
  const value = () => VALUES[ch.pick(VALUES.length)]
  switch (crdt.kind(obj)) {
    case 'map': {
      const key = KEYS[ch.pick(KEYS.length)]!
      return ch.pick(5) < 4 ? { a: 'set', obj, key, value: value() } : { a: 'delete', obj, key }
    }
    case 'list': {
      if (len === 0 || ch.pick(2) === 0) {
        const values = Array.from({ length: 1 + ch.pick(2) }, value)
        return { a: 'insert', obj, index: ch.pick(len + 1), values }
      }
      const index = ch.pick(len)
      return { a: 'remove', obj, index, count: 1 + ch.pick(len - index) }
    }
    case 'text': {
      const pos = ch.pick(len + 1)
      // More inserted than deleted, so texts grow past a leaf of the sequence tree.
      const del = ch.pick(Math.min(2, len - pos) + 1)
      const text = Array.from({ length: ch.pick(5) }, () => CHARS[ch.pick(CHARS.length)]).join('')
      return { a: 'splice', obj, pos, del, text }
    }
    case 'counter':
      return { a: 'increment', obj, by: ch.pick(11) - 5 }
  }
}

/** 1 to 3 actions drawn on the state as it goes; answers them. */
function act(crdt: JsonCrdt, change: LocalChange, ch: Choices): Action[] {
  const actions: Action[] = []
  for (let n = 1 + ch.pick(3); n > 0; n--) {
    const x = actionFrom(crdt, ch)
    perform(change, x)
    actions.push(x)
  }
  return actions
}

/** Delivers changes `from` has and `to` may lack: some of them, in random order, duplicated. */
function gossip(from: Replica, to: Replica, ch: Choices): void {
  for (const rec of ch.some([...from.order, ...from.order.slice(-3)])) to.receive(rec)
}

/** A step of a run: a replica makes a local change, or hears from another. */
const stepArb = fc.record({ r: fc.nat(5), local: fc.boolean(), xs: choicesArb })

describe('JsonCrdt convergence', () => {
  test('replicas that exchange changes in any causal order, with duplicates, end equal', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 3 }),
        fc.array(stepArb, { maxLength: 30 }),
        fc.array(fc.nat(719), { maxLength: 200 }),
        (count, steps, last) => {
          const net = new Network()
          const replicas = Array.from({ length: count }, (_, i) => new Replica(`r${i}`, net))
          // A shared start, so replicas edit the same sequences concurrently.
          const genesis = replicas[0]!.change((change) => {
            for (const [k, v] of Object.entries(SHARED)) change.set(ROOT, k, v)
          })!
          for (const r of replicas) r.receive(genesis)
          for (const step of steps) {
            const ch = new Choices(step.xs)
            const r = replicas[step.r % count]!
            if (step.local) r.change((change) => act(r.crdt, change, ch))
            else gossip(replicas[ch.pick(count)]!, r, ch)
          }
          // Full exchange: each replica gets every change, in a random order.
          const ch = new Choices(last)
          for (const r of replicas) {
            for (const rec of ch.order(net.all)) r.receive(rec)
            expect(r.pending).toBe(0)
            expect(r.applied.size).toBe(net.all.length)
          }
          const reference = new Replica('ref', net)
          for (const rec of net.all) reference.receive(rec)
          const expected = reference.crdt.toJSON()
          for (const r of replicas) {
            expect(r.crdt.toJSON()).toEqual(expected)
            expect([...r.heads].sort()).toEqual([...reference.heads].sort())
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})

/** The two texts typed concurrently: as one splice, or one change per character, either way. */
const TYPED = ['abc', 'xyz'] as const

describe('JsonCrdt non-interleaving', () => {
  for (const kind of ['text', 'list'] as const)
    test(`concurrent typing at one place in a ${kind} stays contiguous, the same on both replicas`, () => {
      fc.assert(
        fc.property(
          fc.string({ unit: fc.constantFrom('0', '1', '2', '3'), maxLength: 8 }),
          fc.nat(),
          fc.nat(),
          fc.oneof(fc.constantFrom('start', 'end', 'after deleted'), fc.nat()),
          fc.constantFrom('splice', 'chars', 'backwards'),
          fc.constantFrom('splice', 'chars', 'backwards'),
          choicesArb,
          (base, delAt, delLen, where, modeA, modeB, xs) => {
            const net = new Network()
            const a = new Replica('a', net)
            const b = new Replica('b', net)
            const initial = kind === 'text' ? { $text: base } : [...base]
            const genesis = a.change((c) => c.set(ROOT, 't', initial))!
            const t = (a.crdt.get(ROOT, 't') as { id: number }).id
            // Some characters deleted before the typing (shared by both replicas).
            const from = delAt % (base.length + 1)
            const deleted = delLen % (base.length - from + 1)
            const cut = a.change((c) => c.remove(t, from, deleted))
            b.receive(genesis)
            if (cut) b.receive(cut)
            const shown = base.slice(0, from) + base.slice(from + deleted)
            const pos =
              where === 'start'
                ? 0
                : where === 'end'
                  ? shown.length
                  : where === 'after deleted'
                    ? from
                    : where % (shown.length + 1)
            const typeInto = (r: Replica, s: string, mode: string) => {
              const recs: Rec[] = []
              const put = (c: LocalChange, i: number, chars: string) =>
                kind === 'text' ? c.splice(t, pos + i, 0, chars) : c.insert(t, pos + i, [...chars])
              if (mode === 'splice') recs.push(r.change((c) => put(c, 0, s))!)
              else if (mode === 'chars')
                for (let i = 0; i < s.length; i++) recs.push(r.change((c) => put(c, i, s[i]!))!)
              // Each character typed before the previous one (the caret left where it was).
              else
                for (let i = s.length - 1; i >= 0; i--)
                  recs.push(r.change((c) => put(c, 0, s[i]!))!)
              return recs
            }
            const fromA = typeInto(a, TYPED[0], modeA)
            const fromB = typeInto(b, TYPED[1], modeB)
            const ch = new Choices(xs)
            for (const rec of ch.order(fromB)) a.receive(rec)
            for (const rec of ch.order(fromA)) b.receive(rec)
            const read = (r: Replica) => {
              const v = r.crdt.toJSON(t)
              return typeof v === 'string' ? v : (v as string[]).join('')
            }
            const merged = read(a)
            expect(read(b)).toBe(merged)
            const before = shown.slice(0, pos)
            const after = shown.slice(pos)
            expect([
              before + TYPED[0] + TYPED[1] + after,
              before + TYPED[1] + TYPED[0] + after,
            ]).toContain(merged)
          },
        ),
        { numRuns: 200 },
      )
    })
})

describe('JsonCrdt text', () => {
  test('splices on a text read as the same splices on a string, here and on a replica', () => {
    const splice = fc.record({
      pos: fc.nat(),
      del: fc.nat({ max: 2 }),
      ins: fc.string({ unit: fc.constantFrom(...CHARS), maxLength: 4 }),
      sameChange: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(splice, { maxLength: 120 }), (splices) => {
        const net = new Network()
        const a = new Replica('a', net)
        a.change((c) => c.set(ROOT, 't', { $text: '' }))
        const t = (a.crdt.get(ROOT, 't') as { id: number }).id
        let plain = ''
        let change = a.crdt.begin()
        const commits: Rec[] = []
        const commit = () => {
          const key = `c${commits.length}`
          const edits = change.commit(key)
          commits.push({
            key,
            lamport: a.crdt.lamports[a.crdt.opIndex(key)!]!,
            deps: [],
            edits: JSON.parse(JSON.stringify(edits)),
          })
          expect(a.crdt.text(t)).toBe(plain)
        }
        for (const s of splices) {
          if (!s.sameChange) {
            commit()
            change = a.crdt.begin()
          }
          const pos = s.pos % (plain.length + 1)
          const del = Math.min(s.del, plain.length - pos)
          change.splice(t, pos, del, s.ins)
          plain = plain.slice(0, pos) + s.ins + plain.slice(pos + del)
          expect(a.crdt.text(t)).toBe(plain)
        }
        commit()
        const b = new JsonCrdt()
        const genesis = net.all[0]!
        b.applyChange(b.registerOp(genesis.key, genesis.lamport), genesis.edits)
        for (const c of commits) b.applyChange(b.registerOp(c.key, c.lamport), c.edits)
        expect(b.toJSON()).toEqual({ t: plain })
      }),
      { numRuns: 200 },
    )
  })
})

describe('JsonCrdt rollback', () => {
  test('an aborted change leaves the document and what follows as if it never began', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 8 }),
        choicesArb,
        fc.array(stepArb, { minLength: 1, maxLength: 8 }),
        (before, aborted, after) => {
          const net = new Network()
          const twin = new JsonCrdt()
          const a = new Replica('a', net)
          const other = new Replica('o', net)
          const step = ({ local, xs }: { local: boolean; xs: number[] }) => {
            const ch = new Choices(xs)
            if (local) {
              // A change made on `a`, repeated on the twin by position: the same edits.
              let actions: Action[] = []
              const rec = a.change((change) => {
                actions = act(a.crdt, change, ch)
              })
              const change = twin.begin()
              for (const x of actions) perform(change, x)
              if (!rec) expect(change.abort()).toEqual([])
              else expect(JSON.parse(JSON.stringify(change.commit(rec.key)))).toEqual(rec.edits)
              return
            }
            // A change from another replica, applied to both.
            gossip(a, other, ch)
            const rec = other.change((change) => act(other.crdt, change, ch))
            if (!rec) return
            a.receive(rec)
            const past = net.past.get(rec.key)!
            twin.applyChange(twin.registerOp(rec.key, rec.lamport), rec.edits, (op) =>
              past.has(twin.keys[op]!),
            )
          }
          for (const s of before) step(s)
          const json = a.crdt.toJSON()
          const ch = new Choices(aborted)
          const change = a.crdt.begin()
          for (let n = 1 + ch.pick(5); n > 0; n--) {
            perform(change, actionFrom(a.crdt, ch))
            // An edit the CRDT refuses inside the change: it undoes itself, the change goes on.
            expect(() => change.set(ROOT, 'k'.repeat(300), 1)).toThrow(JsonEditError)
          }
          change.abort()
          expect(a.crdt.toJSON()).toEqual(json)
          expect(a.crdt.ops).toBe(twin.ops)
          expect(a.crdt.maxLamport).toBe(twin.maxLamport)
          for (const s of after) step(s)
          expect(a.crdt.toJSON()).toEqual(twin.toJSON())
        },
      ),
      { numRuns: 150 },
    )
  })
})

// ---- refusals ----

/**
 * G (genesis): t = text "abc" (elements G/0…2), l = list [1, 2] (G/3…4), n = counter 0,
 * m = map {}; containers G/0 text, G/1 list, G/2 counter, G/3 map. X (after G) appends "def" to t
 * and sets x to a new map (X/0); Z (after X) deletes "b". Edits are tried as op Y, which saw
 * `past`.
 */
function fixture(): JsonCrdt {
  const doc = new JsonCrdt()
  const g = doc.begin()
  g.set(ROOT, 't', { $text: 'abc' })
  g.set(ROOT, 'l', [1, 2])
  g.set(ROOT, 'n', { $counter: 0 })
  g.set(ROOT, 'm', {})
  g.commit('G')
  const x = doc.begin()
  x.splice(1, 3, 0, 'def')
  x.set(ROOT, 'x', {})
  x.commit('X')
  const z = doc.begin()
  z.splice(1, 1, 1, '')
  z.commit('Z')
  return doc
}

const ALL = ['G', 'X', 'Z']
const refusals: [string, Edit[], string[]][] = [
  [
    'an element of an op not in its causal past',
    [{ o: 'ins', obj: ['G', 0], l: ['X', 0], r: null, s: 'q' }],
    ['G'],
  ],
  [
    'a container of an op not in its causal past',
    [{ o: 'set', obj: ['X', 0], k: 'a', v: 1 }],
    ['G'],
  ],
  [
    'a deletion of elements not in its causal past',
    [{ o: 'rm', obj: ['G', 0], d: [['X', 0, 1]] }],
    ['G'],
  ],
  ['an unknown op', [{ o: 'set', obj: ['nope', 0], k: 'a', v: 1 }], ALL],
  ['an op that comes after it', [{ o: 'set', obj: ['Y', 0], k: 'a', v: 1 }], ALL],
  [
    'an element offset out of range',
    [{ o: 'ins', obj: ['G', 0], l: ['G', 50], r: null, s: 'q' }],
    ALL,
  ],
  ['a container ordinal out of range', [{ o: 'set', obj: ['G', 9], k: 'a', v: 1 }], ALL],
  ['a container of its own it has not made', [{ o: 'set', obj: 0, k: 'a', v: 1 }], ALL],
  [
    'an element of its own it has not inserted',
    [{ o: 'ins', obj: ['G', 0], l: 0, r: null, s: 'q' }],
    ALL,
  ],
  ['a deleted range past its op’s elements', [{ o: 'rm', obj: ['G', 0], d: [['G', 2, 9]] }], ALL],
  ['an insertion into a map', [{ o: 'ins', obj: ['G', 3], l: null, r: null, v: [1] }], ALL],
  ['a set on a text', [{ o: 'set', obj: ['G', 0], k: 'a', v: 1 }], ALL],
  ['an increment of a list', [{ o: 'inc', obj: ['G', 1], by: 1 }], ALL],
  ['an increment of the root', [{ o: 'inc', obj: null, by: 1 }], ALL],
  ['a deletion in a map', [{ o: 'rm', obj: ['G', 3], d: [['G', 0, 1]] }], ALL],
  ['characters inserted into a list', [{ o: 'ins', obj: ['G', 1], l: null, r: null, s: 'q' }], ALL],
  ['values inserted into a text', [{ o: 'ins', obj: ['G', 0], l: null, r: null, v: ['q'] }], ALL],
  [
    'an origin in another container',
    [{ o: 'ins', obj: ['G', 0], l: ['G', 3], r: null, s: 'q' }],
    ALL,
  ],
  [
    'a deletion of another container’s elements',
    [{ o: 'rm', obj: ['G', 0], d: [['G', 3, 1]] }],
    ALL,
  ],
  [
    'origins with a seen element between',
    [{ o: 'ins', obj: ['G', 0], l: null, r: ['G', 2], s: 'q' }],
    ALL,
  ],
  [
    'origins with a seen, deleted element between',
    [{ o: 'ins', obj: ['G', 0], l: ['G', 0], r: ['G', 2], s: 'q' }],
    ALL,
  ],
  [
    'origins in the wrong order',
    [{ o: 'ins', obj: ['G', 0], l: ['G', 2], r: ['G', 0], s: 'q' }],
    ALL,
  ],
  ['an increment that is not a safe integer', [{ o: 'inc', obj: ['G', 2], by: 0.5 }], ALL],
  ['a non-finite number', [{ o: 'set', obj: null, k: 'a', v: Number.POSITIVE_INFINITY }], ALL],
  ['a key too long', [{ o: 'set', obj: null, k: 'k'.repeat(257), v: 1 }], ALL],
  ['an unknown edit', [{ o: 'zap', obj: null } as unknown as Edit], ALL],
  ['an empty insertion', [{ o: 'ins', obj: ['G', 0], l: null, r: null, s: '' }], ALL],
  [
    'a valid edit followed by a refused one (all or nothing)',
    [
      { o: 'set', obj: null, k: 'new', v: { make: 'text' } },
      { o: 'ins', obj: 0, l: null, r: null, s: 'hi' },
      { o: 'rm', obj: ['G', 0], d: [['G', 0, 1]] },
      { o: 'inc', obj: ['G', 2], by: 4 },
      { o: 'set', obj: ['G', 0], k: 'a', v: 1 },
    ],
    ALL,
  ],
]

describe('JsonCrdt refusals', () => {
  for (const [name, edits, past] of refusals)
    test(`refuses ${name}, changing nothing`, () => {
      const doc = fixture()
      const twin = fixture()
      const json = doc.toJSON()
      const index = doc.registerOp('Y', 4)
      const visible = (op: number) => past.includes(doc.keys[op]!)
      expect(doc.tryChange(index, edits, visible)).toBeInstanceOf(JsonEditError)
      expect(() => doc.applyChange(index, edits, visible)).toThrow(JsonEditError)
      expect(doc.toJSON()).toEqual(json)
      doc.unregisterLast()
      // What follows is as on a document that never saw the op.
      for (const d of [doc, twin]) {
        const c = d.begin()
        c.splice(1, 1, 0, 'Q')
        c.insert(2, 0, ['w'])
        c.set(ROOT, 'after', [{ $text: 'z' }])
        c.commit('W')
      }
      expect(doc.toJSON()).toEqual(twin.toJSON())
      expect(doc.toJSON()).toEqual({
        t: 'aQcdef',
        l: ['w', 1, 2],
        n: 0,
        m: {},
        x: {},
        after: ['z'],
      })
    })

  test('accepts origins with only concurrent elements between (the control for the above)', () => {
    const doc = fixture()
    const index = doc.registerOp('Y', 2)
    doc.applyChange(index, [{ o: 'ins', obj: ['G', 0], l: ['G', 2], r: null, s: 'q' }], (op) =>
      ['G'].includes(doc.keys[op]!),
    )
    expect(doc.text(1)).toBe('acdefq')
  })

  test('refuses garbage edits with JsonEditError only, and then changes nothing', () => {
    const ref = fc.oneof(
      fc.constant(null),
      fc.integer({ min: -2, max: 3 }),
      fc.tuple(fc.constantFrom('G', 'X', 'Z', 'Y', 'nope'), fc.integer({ min: -1, max: 6 })),
      fc.constantFrom('junk', [1, 2, 3], {}, 1.5),
    )
    const wire = fc.oneof(
      fc.constantFrom(null, true, 'p', 0, -3),
      fc.constantFrom(
        { make: 'map' },
        { make: 'text' },
        { make: 'list' },
        { make: 'set' },
        { counter: 2 },
        { counter: 0.5 },
        { make: 'map', x: 1 },
        [],
        undefined,
      ),
    )
    const edit = fc.record(
      {
        o: fc.constantFrom('set', 'del', 'ins', 'rm', 'inc', 'zap', 1),
        obj: ref,
        k: fc.constantFrom('a', 'b', 7),
        v: fc.oneof(wire, fc.array(wire, { maxLength: 2 })),
        s: fc.oneof(fc.constantFrom('', 'q'), fc.constant(3)),
        l: ref,
        r: ref,
        d: fc.oneof(
          fc.array(
            fc.tuple(
              fc.oneof(fc.constantFrom('G', 'X', 'Y', 'nope', -1), fc.constant(0)),
              fc.integer({ min: -1, max: 5 }),
              fc.integer({ min: -1, max: 5 }),
            ),
            { maxLength: 2 },
          ),
          fc.constantFrom('x', [[1]]),
        ),
        by: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, Number.NaN, 2 ** 60)),
      },
      { requiredKeys: ['o'] },
    ) as fc.Arbitrary<Edit>
    fc.assert(
      fc.property(
        fc.array(edit, { minLength: 1, maxLength: 3 }),
        fc.subarray(ALL),
        (edits, past) => {
          const doc = fixture()
          const twin = fixture()
          const index = doc.registerOp('Y', 4)
          const visible = (op: number) => past.includes(doc.keys[op]!)
          let refused: unknown
          try {
            doc.applyChange(index, edits, visible)
          } catch (error) {
            refused = error
          }
          if (refused === undefined) {
            // Accepted: another replica accepts it too, and reads the same.
            twin.applyChange(twin.registerOp('Y', 4), edits, (op) => past.includes(twin.keys[op]!))
          } else {
            expect(refused).toBeInstanceOf(JsonEditError)
            doc.unregisterLast()
          }
          expect(doc.toJSON()).toEqual(twin.toJSON())
          for (const d of [doc, twin]) {
            const c = d.begin()
            c.splice(1, 0, 0, 'Q')
            c.set(ROOT, 'after', [{ $text: 'z' }])
            c.commit('W')
          }
          expect(doc.toJSON()).toEqual(twin.toJSON())
        },
      ),
      { numRuns: 300 },
    )
  })
})
