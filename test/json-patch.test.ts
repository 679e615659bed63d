import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { type Edit, JsonCrdt, JsonEditError, ROOT } from '../src/core/json/crdt.ts'
import { JsonConflictError } from '../src/core/json/ops.ts'
import {
  applyJsonPatch,
  formatPointer,
  MAX_PATCH_DEPTH,
  MAX_PATCH_OPS,
  parseJsonPatch,
  parsePointer,
  resolvePath,
  textDiff,
} from '../src/core/json/patch.ts'

/** A change as it travels: its op id, lamport clock and edits (through JSON, as on the wire). */
type Change = { key: string; lamport: number; edits: Edit[] }

/** A document whose first change (op "genesis") writes `content`, with that change. */
function create(content: Record<string, unknown>): { doc: JsonCrdt; genesis: Change } {
  const doc = new JsonCrdt()
  const change = doc.begin()
  for (const [k, v] of Object.entries(content)) change.set(ROOT, k, v)
  const edits = change.commit('genesis')
  return { doc, genesis: record(doc, 'genesis', edits) }
}

function record(doc: JsonCrdt, key: string, edits: Edit[]): Change {
  return {
    key,
    lamport: doc.lamports[doc.opIndex(key)!]!,
    edits: JSON.parse(JSON.stringify(edits)),
  }
}

/** Applies a patch as one local change committed as op `key` (aborted when it throws). */
function patch(doc: JsonCrdt, ops: unknown, key = 'patch'): Change {
  const change = doc.begin()
  try {
    applyJsonPatch(change, doc, ops)
  } catch (error) {
    change.abort()
    throw error
  }
  return record(doc, key, change.commit(key))
}

/** Applies a remote change that saw the ops in `past` (all earlier ones by default). */
function deliver(doc: JsonCrdt, change: Change, past?: ReadonlySet<string>): void {
  const index = doc.registerOp(change.key, change.lamport)
  doc.applyChange(index, change.edits, past && ((op) => past.has(doc.keys[op]!)))
}

function replay(changes: Change[]): JsonCrdt {
  const doc = new JsonCrdt()
  for (const c of changes) deliver(doc, c)
  return doc
}

/** The error `run` throws (fails the test when it throws none). */
function thrown(run: () => unknown): Error {
  try {
    run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected an error')
}

// RFC 6902 Appendix A, adapted: the document root is always an object here.
const APPENDIX_A: {
  name: string
  doc: Record<string, unknown>
  patch: unknown[]
  expected?: unknown
  error?: 'edit' | 'conflict'
}[] = [
  {
    name: 'A.1 adding an object member',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz', value: 'qux' }],
    expected: { baz: 'qux', foo: 'bar' },
  },
  {
    name: 'A.2 adding an array element',
    doc: { foo: ['bar', 'baz'] },
    patch: [{ op: 'add', path: '/foo/1', value: 'qux' }],
    expected: { foo: ['bar', 'qux', 'baz'] },
  },
  {
    name: 'A.3 removing an object member',
    doc: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'remove', path: '/baz' }],
    expected: { foo: 'bar' },
  },
  {
    name: 'A.4 removing an array element',
    doc: { foo: ['bar', 'qux', 'baz'] },
    patch: [{ op: 'remove', path: '/foo/1' }],
    expected: { foo: ['bar', 'baz'] },
  },
  {
    name: 'A.5 replacing a value',
    doc: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'replace', path: '/baz', value: 'boo' }],
    expected: { baz: 'boo', foo: 'bar' },
  },
  {
    name: 'A.6 moving a value',
    doc: { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    patch: [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    expected: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  },
  {
    name: 'A.7 moving an array element',
    doc: { foo: ['all', 'grass', 'cows', 'eat'] },
    patch: [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
    expected: { foo: ['all', 'cows', 'eat', 'grass'] },
  },
  {
    name: 'A.8 testing a value: success',
    doc: { baz: 'qux', foo: ['a', 2, 'c'] },
    patch: [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ],
    expected: { baz: 'qux', foo: ['a', 2, 'c'] },
  },
  {
    name: 'A.9 testing a value: error',
    doc: { baz: 'qux' },
    patch: [{ op: 'test', path: '/baz', value: 'bar' }],
    error: 'conflict',
  },
  {
    name: 'A.10 adding a nested member object',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/child', value: { grandchild: {} } }],
    expected: { foo: 'bar', child: { grandchild: {} } },
  },
  {
    name: 'A.11 ignoring unrecognized elements',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
    expected: { foo: 'bar', baz: 'qux' },
  },
  {
    name: 'A.12 adding to a nonexistent target',
    doc: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz/bat', value: 'qux' }],
    error: 'edit',
  },
  {
    name: 'A.14 ~ escape ordering',
    doc: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: 10 }],
    expected: { '/': 9, '~1': 10 },
  },
  {
    name: 'A.15 comparing strings and numbers',
    doc: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: '10' }],
    error: 'conflict',
  },
  {
    name: 'A.16 adding an array value',
    doc: { foo: ['bar'] },
    patch: [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
    expected: { foo: ['bar', ['abc', 'def']] },
  },
]

describe('applyJsonPatch', () => {
  for (const c of APPENDIX_A)
    test(`RFC 6902 ${c.name}`, () => {
      const { doc, genesis } = create(c.doc)
      if (c.error) {
        const before = doc.toJSON()
        const error = thrown(() => patch(doc, c.patch))
        expect(error).toBeInstanceOf(c.error === 'edit' ? JsonEditError : JsonConflictError)
        expect(error.message).toContain('Patch operation 0')
        expect(doc.toJSON()).toEqual(before)
        return
      }
      const change = patch(doc, c.patch)
      expect(doc.toJSON()).toEqual(c.expected)
      expect(replay([genesis, change]).toJSON()).toEqual(c.expected)
    })

  test('keeps texts and counters as such: add, move and copy of them stay editable', () => {
    const { doc, genesis } = create({ t: { $text: 'ab' }, n: { $counter: 3 }, list: [] })
    const change = patch(doc, [
      { op: 'add', path: '/u', value: { $text: 'xyz' } },
      { op: 'move', from: '/t', path: '/list/0' },
      { op: 'copy', from: '/n', path: '/m' },
      { op: 'add', path: '/list/-', value: { deep: [{ $text: 'q' }, { $counter: -2 }] } },
    ])
    expect(doc.toJSON()).toEqual({
      u: 'xyz',
      n: 3,
      m: 3,
      list: ['ab', { deep: ['q', -2] }],
    })
    expect(replay([genesis, change]).toJSON()).toEqual(doc.toJSON())
    const moved = resolvePath(doc, ['list', 0])
    const copied = resolvePath(doc, ['m'])
    expect('container' in moved && doc.kind(moved.container)).toBe('text')
    expect('container' in copied && doc.kind(copied.container)).toBe('counter')
    const deep = resolvePath(doc, ['list', 1, 'deep', 1])
    expect('container' in deep && doc.kind(deep.container)).toBe('counter')
  })

  test('replaces a text by one splice and a counter by an increment, not by new containers', () => {
    const { doc } = create({ t: { $text: 'hello world' }, n: { $counter: 5 } })
    const change = patch(doc, [
      { op: 'replace', path: '/t', value: 'hello brave world' },
      { op: 'replace', path: '/n', value: 8 },
    ])
    expect(change.edits.map((e) => e.o)).toEqual(['ins', 'inc'])
    expect(change.edits[1]).toMatchObject({ o: 'inc', by: 3 })
    expect(doc.toJSON()).toEqual({ t: 'hello brave world', n: 8 })
  })

  test('keeps concurrent edits elsewhere in a replaced text, and concurrent increments', () => {
    const a = create({ t: { $text: 'hello world' }, n: { $counter: 5 } })
    const b = replay([a.genesis])
    const fromA = patch(
      a.doc,
      [
        { op: 'replace', path: '/t', value: 'hello brave world' },
        { op: 'replace', path: '/n', value: 8 },
      ],
      'a1',
    )
    const bChange = b.begin()
    const t = resolvePath(b, ['t']) as { container: number }
    const n = resolvePath(b, ['n']) as { container: number }
    bChange.splice(t.container, 0, 1, 'H')
    bChange.splice(t.container, 11, 0, '!')
    bChange.increment(n.container, 10)
    const fromB = record(b, 'b1', bChange.commit('b1'))
    const past = new Set(['genesis'])
    deliver(a.doc, fromB, past)
    deliver(b, fromA, past)
    const merged = { t: 'Hello brave world!', n: 18 }
    expect(a.doc.toJSON()).toEqual(merged)
    expect(b.toJSON()).toEqual(merged)
  })

  test('replacing the whole document updates its members in place', () => {
    const { doc, genesis } = create({ t: { $text: 'abc' }, gone: 1, keep: [1] })
    const change = patch(doc, [
      { op: 'replace', path: '', value: { t: 'abXc', keep: [1], add: true } },
    ])
    expect(doc.toJSON()).toEqual({ t: 'abXc', keep: [1], add: true })
    expect(change.edits.filter((e) => e.o === 'set' && e.k === 't')).toEqual([])
    expect(replay([genesis, change]).toJSON()).toEqual(doc.toJSON())
  })

  test('later operations see earlier ones', () => {
    const { doc } = create({})
    patch(doc, [
      { op: 'add', path: '/a', value: [] },
      { op: 'add', path: '/a/-', value: { b: 1 } },
      { op: 'test', path: '/a/0/b', value: 1 },
      { op: 'replace', path: '/a/0/b', value: 2 },
      { op: 'copy', from: '/a/0', path: '/a/-' },
      { op: 'remove', path: '/a/0' },
    ])
    expect(doc.toJSON()).toEqual({ a: [{ b: 2 }] })
  })

  test('tests texts as strings and counters as numbers, objects whatever their key order', () => {
    const { doc } = create({ t: { $text: 'x' }, n: { $counter: 2 }, o: { a: 1, b: [true, null] } })
    patch(doc, [
      { op: 'test', path: '/t', value: 'x' },
      { op: 'test', path: '/t', value: { $text: 'x' } },
      { op: 'test', path: '/n', value: 2 },
      { op: 'test', path: '/o', value: { b: [true, null], a: 1 } },
      { op: 'test', path: '', value: { n: 2, o: { a: 1, b: [true, null] }, t: 'x' } },
    ])
    expect(
      thrown(() => patch(doc, [{ op: 'test', path: '/o', value: { a: 1, b: [null, true] } }])),
    ).toBeInstanceOf(JsonConflictError)
    expect(thrown(() => patch(doc, [{ op: 'test', path: '/o', value: { a: 1 } }]))).toBeInstanceOf(
      JsonConflictError,
    )
  })

  test('a failed test names the operation and the path, and is a conflict', () => {
    const { doc } = create({ a: { b: 'x' } })
    const error = thrown(() =>
      patch(doc, [
        { op: 'add', path: '/c', value: 1 },
        { op: 'test', path: '/a/b', value: 'y' },
      ]),
    )
    expect(error).toBeInstanceOf(JsonConflictError)
    expect((error as JsonConflictError).shortMessage).toBe(
      'Patch operation 1 (test at "/a/b"): the test failed: the document holds "x", not "y".',
    )
    const missing = thrown(() => patch(doc, [{ op: 'test', path: '/a/z', value: 1 }]))
    expect(missing).toBeInstanceOf(JsonConflictError)
    expect(missing.message).toContain('no member "z"')
  })

  const refused: [string, unknown, string][] = [
    ['a patch that is not an array', { op: 'add' }, 'A JSON Patch is an array of operations'],
    ['an operation that is not an object', [1], 'Patch operation 0: an operation is an object'],
    [
      'an unknown op',
      [
        { op: 'add', path: '/a', value: 1 },
        { op: 'frob', path: '/a' },
      ],
      'Patch operation 1: "op" is "frob"',
    ],
    ['a missing path', [{ op: 'remove' }], 'Patch operation 0: "remove" needs "path"'],
    ['a missing value', [{ op: 'add', path: '/a' }], 'Patch operation 0: "add" needs "value"'],
    ['a missing from', [{ op: 'copy', path: '/a' }], 'Patch operation 0: "copy" needs "from"'],
    ['a pointer without a leading slash', [{ op: 'remove', path: 'a' }], 'does not start with "/"'],
    ['a bad ~ escape', [{ op: 'remove', path: '/a~2' }], 'not followed by 0 or 1'],
    [
      'a non-finite number',
      [{ op: 'add', path: '/a', value: Number.NaN }],
      'NaN is not a JSON number',
    ],
    [
      'a value that is not JSON',
      [{ op: 'add', path: '/a', value: new Date(0) }],
      'A value is JSON',
    ],
    [
      'a counter that is not a safe integer',
      [{ op: 'add', path: '/a', value: { $counter: 0.5 } }],
      'safe integer',
    ],
    [
      'a key too long',
      [{ op: 'add', path: `/${'k'.repeat(300)}`, value: 1 }],
      'at most 256 characters',
    ],
    ['a missing member', [{ op: 'remove', path: '/nope' }], 'has no member "nope"'],
    ['a replace of a missing member', [{ op: 'replace', path: '/nope', value: 1 }], 'use "add"'],
    [
      'an index past the end',
      [{ op: 'add', path: '/list/3', value: 1 }],
      'Index 3 is outside the array at "/list" (length 2)',
    ],
    ['"-" outside add', [{ op: 'remove', path: '/list/-' }], '"-" names no element'],
    ['an index with a leading zero', [{ op: 'remove', path: '/list/01' }], '"01" is not an index'],
    [
      'a path through a primitive',
      [{ op: 'add', path: '/s/x', value: 1 }],
      '"/s" is "str", which has no members',
    ],
    [
      'a path into a text',
      [{ op: 'add', path: '/t/0', value: 'x' }],
      'replace it with a new string',
    ],
    [
      'a path into a counter',
      [{ op: 'remove', path: '/n/0' }],
      'is a counter, which has no members',
    ],
    ['removing the root', [{ op: 'remove', path: '' }], 'The document root cannot be removed'],
    [
      'a root that is not an object',
      [{ op: 'replace', path: '', value: [1] }],
      'The document root is an object',
    ],
    ['a move into itself', [{ op: 'move', from: '/o', path: '/o/x' }], 'cannot move into itself'],
    ['a move from nowhere', [{ op: 'move', from: '/nope', path: '/x' }], 'has no member "nope"'],
  ]
  for (const [name, ops, message] of refused)
    test(`refuses ${name}, naming what is wrong and changing nothing`, () => {
      const { doc } = create({
        list: [1, 2],
        s: 'str',
        t: { $text: 'ab' },
        n: { $counter: 1 },
        o: {},
      })
      const before = doc.toJSON()
      const error = thrown(() => patch(doc, ops))
      expect(error).toBeInstanceOf(JsonEditError)
      expect(error.message).toContain(message)
      expect(doc.toJSON()).toEqual(before)
    })

  test('bounds the patch: operations, pointer depth and value depth', () => {
    const { doc } = create({})
    const many = Array.from({ length: MAX_PATCH_OPS + 1 }, () => ({
      op: 'test',
      path: '',
      value: {},
    }))
    expect(thrown(() => patch(doc, many)).message).toContain(`at most ${MAX_PATCH_OPS} operations`)
    expect(() => patch(doc, many.slice(1))).not.toThrow()
    const deepPath = `/${Array(MAX_PATCH_DEPTH + 1)
      .fill('a')
      .join('/')}`
    expect(thrown(() => patch(doc, [{ op: 'remove', path: deepPath }])).message).toContain(
      `at most ${MAX_PATCH_DEPTH} tokens`,
    )
    let deep: unknown = 1
    for (let i = 0; i < MAX_PATCH_DEPTH + 1; i++) deep = [deep]
    expect(thrown(() => patch(doc, [{ op: 'add', path: '/d', value: deep }])).message).toContain(
      `at most ${MAX_PATCH_DEPTH} levels`,
    )
  })

  test('bounds what copies read: doubling a document a thousand times is refused', () => {
    const { doc } = create({ a: Array.from({ length: 100 }, (_, i) => i) })
    const ops = Array.from({ length: 1000 }, () => ({ op: 'copy', from: '', path: '/a/-' }))
    const error = thrown(() => patch(doc, ops))
    expect(error).toBeInstanceOf(JsonEditError)
    expect(error.message).toContain('at most 1000000 values and characters')
  })

  test('agrees with a plain-JSON model of RFC 6902, and its edits replay on another replica', () => {
    fc.assert(
      fc.property(
        docArb,
        fc.array(choicesArb, { minLength: 1, maxLength: 8 }),
        (content, draws) => {
          // Operations drawn on the model's current document; the patch stops at the first the
          // model refuses (or runs to the end of the draws).
          let expected = flatten(content)
          const ops: unknown[] = []
          let refused: unknown
          for (const xs of draws) {
            const op = opFrom(expected, new Choices(xs))
            try {
              expected = applyModel(expected, [op])
              ops.push(op)
            } catch {
              refused = op
              break
            }
          }
          const { doc, genesis } = create(content)
          const change = patch(doc, ops)
          expect(doc.toJSON()).toEqual(expected)
          expect(replay([genesis, change]).toJSON()).toEqual(expected)
          if (refused === undefined) return
          const fresh = create(content).doc
          const before = fresh.toJSON()
          const error = thrown(() => patch(fresh, [...ops, refused]))
          expect(error instanceof JsonEditError || error instanceof JsonConflictError).toBe(true)
          expect(error.message).toContain(`Patch operation ${ops.length} `)
          expect(fresh.toJSON()).toEqual(before)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('parsePointer', () => {
  test('reads the RFC 6901 §5 examples', () => {
    const doc: Record<string, unknown> = {
      foo: ['bar', 'baz'],
      '': 0,
      'a/b': 1,
      'c%d': 2,
      'e^f': 3,
      'g|h': 4,
      'i\\j': 5,
      'k"l': 6,
      ' ': 7,
      'm~n': 8,
    }
    const cases: [string, string[]][] = [
      ['', []],
      ['/foo', ['foo']],
      ['/foo/0', ['foo', '0']],
      ['/', ['']],
      ['/a~1b', ['a/b']],
      ['/c%d', ['c%d']],
      ['/e^f', ['e^f']],
      ['/g|h', ['g|h']],
      ['/i\\j', ['i\\j']],
      ['/k"l', ['k"l']],
      ['/ ', [' ']],
      ['/m~0n', ['m~n']],
      ['/~01', ['~1']],
    ]
    for (const [pointer, tokens] of cases) {
      expect(parsePointer(pointer)).toEqual(tokens)
      expect(formatPointer(tokens)).toBe(pointer)
    }
    const { doc: crdt } = create(doc)
    expect(resolvePath(crdt, parsePointer('/m~0n'))).toEqual({ parent: ROOT, key: 'm~n', value: 8 })
    expect(resolvePath(crdt, parsePointer('/foo/1'))).toMatchObject({ key: 1, value: 'baz' })
  })

  test('round-trips any path', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 8 }), (tokens) => {
        expect(parsePointer(formatPointer(tokens))).toEqual(tokens)
      }),
    )
  })
})

describe('parseJsonPatch', () => {
  test('answers the operations with their RFC members only', () => {
    expect(
      parseJsonPatch([
        { op: 'add', path: '/a', value: 1, extra: true },
        { op: 'move', from: '/a', path: '/b', value: 'ignored' },
        { op: 'remove', path: '/b', from: '/x' },
      ]),
    ).toEqual([
      { op: 'add', path: '/a', value: 1 },
      { op: 'move', from: '/a', path: '/b' },
      { op: 'remove', path: '/b' },
    ])
    expect(parseJsonPatch([])).toEqual([])
  })
})

describe('textDiff', () => {
  test('keeps the common prefix and suffix', () => {
    expect(textDiff('hello world', 'hello brave world')).toEqual([6, 0, 'brave '])
    expect(textDiff('abc', 'abc')).toEqual([0, 0, ''])
    expect(textDiff('aaa', 'aa')).toEqual([2, 1, ''])
    expect(textDiff('', 'xy')).toEqual([0, 0, 'xy'])
    expect(textDiff('abcdef', 'abXYef')).toEqual([2, 2, 'XY'])
  })

  test('never splits a surrogate pair', () => {
    expect(textDiff('a😀b', 'a😁b')).toEqual([1, 2, '😁'])
    expect(textDiff('😀', '😀😀')).toEqual([2, 0, '😀'])
  })

  test('the splice turns the first string into the second', () => {
    const unit = fc.constantFrom('a', 'b', '😀', '\ud83d', '\ude00')
    const str = fc.array(unit, { maxLength: 12 }).map((a) => a.join(''))
    fc.assert(
      fc.property(str, str, (a, b) => {
        const [pos, del, ins] = textDiff(a, b)
        expect(a.slice(0, pos) + ins + a.slice(pos + del)).toBe(b)
        expect(del + ins.length).toBeLessThanOrEqual(a.length + b.length)
        // Minimal up to a surrogate pair at each end.
        expect(del - (a.length - b.length)).toBe(ins.length)
      }),
      { numRuns: 500 },
    )
  })
})

// ---- a plain-JSON model of RFC 6902, to check applyJsonPatch against ----

type J = null | boolean | number | string | J[] | { [k: string]: J }

/** Plain JSON as the document reads it: `{"$text"}` as its string, `{"$counter"}` as its number. */
function flatten(v: unknown): J {
  if (Array.isArray(v)) return v.map(flatten)
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
    if (keys.length === 1 && typeof o.$text === 'string') return o.$text
    if (keys.length === 1 && typeof o.$counter === 'number') return o.$counter
    return Object.fromEntries(keys.map((k) => [k, flatten(o[k])]))
  }
  return v as J
}

const INDEX = /^(0|[1-9][0-9]*)$/

function modelGet(doc: J, tokens: string[]): J {
  let cur = doc
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      if (!INDEX.test(t) || Number(t) >= cur.length) throw new Error('no element')
      cur = cur[Number(t)]!
    } else if (typeof cur === 'object' && cur !== null && Object.hasOwn(cur, t)) cur = cur[t]!
    else throw new Error('no member')
  }
  return cur
}

function modelParent(doc: J, tokens: string[]): J[] | { [k: string]: J } {
  const parent = modelGet(doc, tokens.slice(0, -1))
  if (typeof parent !== 'object' || parent === null) throw new Error('not a container')
  return parent
}

function modelAdd(doc: J, tokens: string[], value: J): J {
  if (tokens.length === 0) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('root')
    return value
  }
  const parent = modelParent(doc, tokens)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : INDEX.test(last) ? Number(last) : Number.NaN
    if (!(i <= parent.length)) throw new Error('index')
    parent.splice(i, 0, value)
  } else parent[last] = value
  return doc
}

function modelRemove(doc: J, tokens: string[]): void {
  if (tokens.length === 0) throw new Error('root')
  modelGet(doc, tokens)
  const parent = modelParent(doc, tokens)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) parent.splice(Number(last), 1)
  else delete parent[last]
}

function applyModel(start: J, ops: unknown[]): J {
  let doc = structuredClone(start)
  for (const raw of ops) {
    const op = raw as { op: string; path: string; from?: string; value?: unknown }
    const path = parsePointer(op.path)
    const value = flatten(op.value)
    if (op.op === 'add') doc = modelAdd(doc, path, value)
    else if (op.op === 'remove') modelRemove(doc, path)
    else if (op.op === 'replace') {
      modelGet(doc, path)
      if (path.length > 0) modelRemove(doc, path)
      doc = modelAdd(doc, path, value)
    } else if (op.op === 'test') {
      if (!sameJson(modelGet(doc, path), value)) throw new Error('test')
    } else {
      const from = parsePointer(op.from!)
      const moved = structuredClone(modelGet(doc, from))
      if (op.op === 'move') {
        if (from.length < path.length && from.every((t, i) => t === path[i]))
          throw new Error('into')
        if (from.length === path.length && from.every((t, i) => t === path[i])) continue
        modelRemove(doc, from)
      }
      doc = modelAdd(doc, path, moved)
    }
  }
  return doc
}

function sameJson(a: J, b: J): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b))
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => sameJson(x, b[i]!))
    )
  const ka = Object.keys(a)
  return (
    ka.length === Object.keys(b).length &&
    ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k]!, b[k]!))
  )
}

const KEYS = ['a', 'b', 'c']
const keyArb = fc.constantFrom(...KEYS)
const leafArb = fc.oneof(
  fc.constantFrom(null, true, false),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom('', 'x', 'yz'),
  fc.constantFrom('', 'ab', 'abc', 'xbc').map(($text) => ({ $text })),
  fc.integer({ min: -3, max: 3 }).map(($counter) => ({ $counter })),
)
const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 3 }),
  ),
}))
const docArb = fc.dictionary(keyArb, valueArb, { maxKeys: 3 }) as fc.Arbitrary<
  Record<string, unknown>
>
const TOKENS = ['a', 'b', 'c', '0', '1', '2', '-', '01']
const VALUES: readonly unknown[] = [
  null,
  false,
  0,
  -4,
  'x',
  'yz',
  {},
  [],
  { $text: 'ab' },
  { $text: 'xbc' },
  { $counter: 2 },
  { a: [1, { $text: 'q' }], b: { c: null } },
  [[], { a: 'x' }],
]

/**
 * Decisions read from generated numbers (each taken modulo the choices there are, 0 once they run
 * out): plain data, which fast-check shrinks quickly, whatever the document they act on.
 */
class Choices {
  private i = 0
  constructor(private readonly xs: readonly number[]) {}

  pick(n: number): number {
    if (n <= 1) return 0
    const x = this.xs[this.i++]
    return x === undefined ? 0 : x % n
  }
}

const choicesArb = fc.array(fc.nat(719), { maxLength: 8 })

/** Every path in a plain JSON document, the root's included. */
function pathsOf(doc: J, prefix: string[] = [], out: string[][] = []): string[][] {
  out.push(prefix)
  if (Array.isArray(doc))
    for (let i = 0; i < doc.length; i++) pathsOf(doc[i]!, [...prefix, String(i)], out)
  else if (typeof doc === 'object' && doc !== null)
    for (const [k, v] of Object.entries(doc)) pathsOf(v, [...prefix, k], out)
  return out
}

/** An operation on `doc`: mostly on paths it has (or new members of them), sometimes anywhere. */
function opFrom(doc: J, ch: Choices): unknown {
  const paths = pathsOf(doc)
  const inner = paths.filter((p) => p.length > 0)
  const any = inner.length > 0 ? inner : paths
  // A new member of a container: a key of an object, an index (or "-") of an array.
  const members = paths.flatMap((p) => {
    const v = modelGet(doc, p)
    if (Array.isArray(v)) return [...Array(v.length + 1).keys(), '-'].map((t) => [...p, String(t)])
    return typeof v === 'object' && v !== null ? KEYS.map((k) => [...p, k]) : []
  })
  // Choice 0 is always a likely one: an existing path, a new member.
  const at = () => {
    const k = ch.pick(10)
    if (k === 9) return ''
    if (k === 8)
      return formatPointer(Array.from({ length: 1 + ch.pick(3) }, () => TOKENS[ch.pick(8)]!))
    return formatPointer(any[ch.pick(any.length)]!)
  }
  const target = () =>
    ch.pick(3) === 2 || members.length === 0
      ? at()
      : formatPointer(members[ch.pick(members.length)]!)
  const value = () => VALUES[ch.pick(VALUES.length)]
  const k = ch.pick(12)
  if (k < 3) return { op: 'add', path: target(), value: value() }
  if (k < 5) return { op: 'remove', path: at() }
  if (k < 8) return { op: 'replace', path: at(), value: value() }
  if (k < 10) return { op: k === 8 ? 'move' : 'copy', from: at(), path: target() }
  if (k === 10) return { op: 'test', path: at(), value: value() }
  const path = any[ch.pick(any.length)]!
  return { op: 'test', path: formatPointer(path), value: modelGet(doc, path) }
}
