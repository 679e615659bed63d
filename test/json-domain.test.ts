import { describe, expect, test } from 'vitest'
import { type Edit, ROOT } from '../src/core/json/crdt.ts'
import { type JsonReducer, jsonDomain } from '../src/core/json/domain.ts'
import { changeBody, JSON_OP } from '../src/core/json/ops.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { Ledger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { loadTrace } from './fixtures/editing-trace.ts'
import { makeOp, memoryLedger, testSigner } from './helpers.ts'

const alice = testSigner(1)
const bob = testSigner(2)
const mallory = testSigner(3)
const hex = (s: Signer) => Buffer.from(s.publicKey).toString('hex')

type Index = DocIndex<unknown, JsonReducer>

/** A node's ledger with the json domain's admission, and its index. */
async function node(): Promise<{ ledger: Ledger; index: Index }> {
  let index: Index | undefined
  const ledger = await memoryLedger({ admit: (doc, op) => index?.admit(doc, op) })
  index = createDocIndex(ledger, jsonDomain) as unknown as Index
  await index.start()
  return { ledger, index }
}

function genesis(content: Record<string, unknown> = { text: { $text: '' } }, editors = [hex(bob)]) {
  return makeOp(alice, {
    doc: null,
    seq: 1,
    deps: [],
    type: JSON_OP.create,
    body: { name: 'notes', editors, content },
  })
}

/** An author's change, signed, on explicit deps. */
function change(
  signer: Signer,
  doc: OpId,
  seq: number,
  deps: OpId[],
  edits: readonly Edit[],
): EncodedOp {
  return makeOp(signer, { doc, seq, deps, type: JSON_OP.change, body: changeBody(edits) })
}

const textOf = (reducer: JsonReducer) => (reducer.content() as { text: string }).text
const textId = (reducer: JsonReducer) => (reducer.crdt.get(ROOT, 'text') as { id: number }).id

describe('the json domain on a ledger', () => {
  test('the automerge-paper trace, as signed changes of 200 edits, ends with its endContent', async () => {
    const trace = loadTrace()
    const { ledger, index } = await node()
    const g = genesis()
    await ledger.ingest([g.bytes])
    const reducer = await index.reducer(g.id)
    // The author's own replica makes the changes by position; the node applies the signed ops.
    let heads: OpId[] = [g.id]
    const authorReplica = jsonDomain.createReducer(g)
    const text = textId(authorReplica)
    let seq = 1
    for (let start = 0; start < trace.length; start += 200) {
      const local = authorReplica.crdt.begin()
      for (let i = start; i < Math.min(trace.length, start + 200); i++)
        local.splice(text, trace.pos[i]!, trace.del[i]!, trace.ins[i]!)
      local.abort()
      const op = change(alice, g.id, ++seq, heads, local.edits)
      authorReplica.apply(op)
      const [result] = await ledger.ingest([op.bytes])
      expect(result).toMatchObject({ ok: true, status: 'accepted' })
      heads = [op.id]
    }
    expect(textOf(authorReplica)).toBe(trace.endContent)
    expect(textOf(await index.reducer(g.id))).toBe(trace.endContent)
    expect(reducer.rules.changes).toBe(Math.ceil(trace.length / 200))
  })

  test('two editors typing at one place concurrently do not interleave, and replicas agree in any order', async () => {
    const g = genesis({ text: { $text: 'ab' } })
    const base = jsonDomain.createReducer(g)
    const text = textId(base)
    const mine = base.draft((c) => c.splice(text, 1, 0, 'XYZ'))
    const theirs = base.draft((c) => c.splice(text, 1, 0, 'uvw'))
    const a = change(alice, g.id, 2, [g.id], mine)
    const b = change(bob, g.id, 1, [g.id], theirs)
    const one = await node()
    const two = await node()
    for (const op of [g, a, b]) await one.ledger.ingest([op.bytes])
    for (const op of [g, b, a, b]) await two.ledger.ingest([op.bytes])
    const x = textOf(await one.index.reducer(g.id))
    const y = textOf(await two.index.reducer(g.id))
    expect(x).toBe(y)
    expect(['aXYZuvwb', 'auvwXYZb']).toContain(x)
  })

  test('a forged author is rejected: the signature is not the author’s', async () => {
    const { ledger } = await node()
    const g = genesis()
    await ledger.ingest([g.bytes])
    const forged = makeOp(mallory, {
      doc: g.id,
      seq: 1,
      deps: [g.id],
      type: JSON_OP.change,
      body: changeBody([{ o: 'set', obj: null, k: 'x', v: 1 }]),
    })
    // Claim Bob (an editor) as the author, keeping Mallory's signature.
    const bytes = Buffer.from(forged.bytes)
    const at = bytes.indexOf(Buffer.from(mallory.publicKey))
    Buffer.from(bob.publicKey).copy(bytes, at)
    const [result] = await ledger.ingest([new Uint8Array(bytes)])
    expect(result?.ok).toBe(false)
    expect((result as { error: Error }).error.name).toBe('InvalidSignatureError')
  })

  test('a key that is not an editor is refused at admission, and its change is nowhere', async () => {
    const { ledger, index } = await node()
    const g = genesis()
    await ledger.ingest([g.bytes])
    const op = change(mallory, g.id, 1, [g.id], [{ o: 'set', obj: null, k: 'owned', v: true }])
    const [result] = await ledger.ingest([op.bytes])
    expect(result?.ok).toBe(false)
    expect((result as { error: { name: string; rule?: string } }).error).toMatchObject({
      name: 'OpRefusedError',
      rule: 'JsonForbiddenError',
    })
    expect((await index.reducer(g.id)).content()).toEqual({ text: '' })
    expect(ledger.log.heads(g.id)).toEqual([g.id])
  })

  test('the owner adds and removes editors; each change is judged on the editors its causal past holds', async () => {
    const { ledger, index } = await node()
    const g = genesis({ text: { $text: '' } }, [])
    const editors = (seq: number, deps: OpId[], body: Record<string, unknown>, by = alice) =>
      makeOp(by, { doc: g.id, seq, deps, type: JSON_OP.editors, body })
    const set = (signer: Signer, seq: number, deps: OpId[], k: string) =>
      change(signer, g.id, seq, deps, [{ o: 'set', obj: null, k, v: true }])
    const refusedFor = async (op: EncodedOp) => {
      const [result] = await ledger.ingest([op.bytes])
      expect(result, op.op.type).toMatchObject({ ok: false })
      return (result as { error: { rule?: string; message: string } }).error
    }
    await ledger.ingest([g.bytes])
    // Bob is no editor yet; only the owner changes the editors.
    expect((await refusedFor(set(bob, 1, [g.id], 'early'))).rule).toBe('JsonForbiddenError')
    expect((await refusedFor(editors(1, [g.id], { add: [hex(bob)] }, bob))).rule).toBe(
      'JsonForbiddenError',
    )
    const add = editors(2, [g.id], { add: [hex(bob), hex(mallory)], audit: 'criteria' })
    expect((await ledger.ingest([add.bytes]))[0]).toMatchObject({ ok: true, status: 'accepted' })
    const seesAdd = set(bob, 1, [add.id], 'bob')
    expect((await ledger.ingest([seesAdd.bytes]))[0]).toMatchObject({ ok: true })
    // A change made on the genesis alone did not see the add: refused, whenever it arrives.
    expect((await refusedFor(set(mallory, 1, [g.id], 'blind'))).rule).toBe('JsonForbiddenError')
    const remove = editors(3, [seesAdd.id], { remove: [hex(mallory)] })
    expect((await ledger.ingest([remove.bytes]))[0]).toMatchObject({ ok: true, status: 'accepted' })
    // Mallory's change that saw its removal is refused; one made before it (concurrent) counts.
    expect((await refusedFor(set(mallory, 2, [remove.id], 'after'))).rule).toBe(
      'JsonForbiddenError',
    )
    const concurrent = set(mallory, 3, [add.id], 'concurrent')
    expect((await ledger.ingest([concurrent.bytes]))[0]).toMatchObject({ ok: true })
    // The owner is never removed.
    expect((await refusedFor(editors(4, [remove.id], { remove: [hex(alice)] }))).message).toMatch(
      /always edits/,
    )
    expect((await refusedFor(editors(6, [remove.id], {}))).message).toMatch(/at least one key/)
    const reducer = await index.reducer(g.id)
    expect(reducer.state().editors).toEqual([hex(alice), hex(bob)].sort())
    expect(reducer.state().audit).toBe('criteria')
    expect(reducer.content()).toEqual({ text: '', bob: true, concurrent: true })
    // Two editors ops made concurrently: the log's order decides which counts. Both are kept (a
    // replica may get them in either order), one is refused, and replicas agree.
    const stale = editors(5, [add.id], { add: [hex(bob)], remove: [hex(mallory)], audit: 'x' })
    expect((await ledger.ingest([stale.bytes]))[0]).toMatchObject({ ok: true })
    const after = await index.reducer(g.id)
    const lost = [remove, stale].filter((op) => after.verdict(op.id)?.name === 'JsonConflictError')
    expect(lost).toHaveLength(1)
    expect(after.state().audit).toBe(lost[0] === stale ? 'criteria' : 'x')
    const other = await node()
    for (const op of [g, add, stale, concurrent, seesAdd, remove])
      await other.ledger.ingest([op.bytes])
    expect(await other.index.stateHash(g.id)).toBe(await index.stateHash(g.id))
  })

  test('an op whose parent does not exist waits and never applies', async () => {
    const { ledger, index } = await node()
    const g = genesis()
    await ledger.ingest([g.bytes])
    const ghost = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' as OpId
    const op = change(bob, g.id, 1, [ghost], [{ o: 'set', obj: null, k: 'x', v: 1 }])
    const [result] = await ledger.ingest([op.bytes])
    expect(result).toMatchObject({ ok: true, status: 'pending' })
    expect((await index.reducer(g.id)).content()).toEqual({ text: '' })
    expect(ledger.log.heads(g.id)).toEqual([g.id])
  })

  test('an equivocating author: both changes count on every replica, whatever the order, and the author is flagged', async () => {
    const g = genesis({ text: { $text: 'hello' } })
    const base = jsonDomain.createReducer(g)
    const text = textId(base)
    const one = change(
      bob,
      g.id,
      1,
      [g.id],
      base.draft((c) => c.splice(text, 5, 0, ' world')),
    )
    const two = change(
      bob,
      g.id,
      1,
      [g.id],
      base.draft((c) => c.set(ROOT, 'title', 'hi')),
    )
    const x = await node()
    const y = await node()
    for (const op of [g, one, two]) await x.ledger.ingest([op.bytes])
    for (const op of [g, two, one]) await y.ledger.ingest([op.bytes])
    const cx = (await x.index.reducer(g.id)).content()
    expect(cx).toEqual({ text: 'hello world', title: 'hi' })
    expect((await y.index.reducer(g.id)).content()).toEqual(cx)
    expect(await x.index.stateHash(g.id)).toBe(await y.index.stateHash(g.id))
    expect(x.ledger.log.isEquivocator(g.id, bob.publicKey)).toBe(true)
  })

  test('an edit naming an element the op has not seen (a concurrent op’s) is refused at admission', async () => {
    const { ledger, index } = await node()
    const g = genesis({ text: { $text: 'ab' } })
    await ledger.ingest([g.bytes])
    const reducer = await index.reducer(g.id)
    const text = textId(reducer)
    const first = change(
      bob,
      g.id,
      1,
      [g.id],
      reducer.draft((c) => c.splice(text, 2, 0, 'c')),
    )
    await ledger.ingest([first.bytes])
    // Mallory-as-Alice: deps only the genesis, yet it deletes Bob's "c".
    const blind = change(
      alice,
      g.id,
      2,
      [g.id],
      [{ o: 'rm', obj: [g.id, 0], d: [[first.id, 0, 1]] }],
    )
    const [result] = await ledger.ingest([blind.bytes])
    expect(result?.ok).toBe(false)
    expect((result as { error: { rule?: string } }).error.rule).toBe('JsonEditError')
    expect(textOf(await index.reducer(g.id))).toBe('abc')
  })

  test('last writer wins on a map key: the causally later set, and a deterministic tie-break for concurrent ones', async () => {
    const g = genesis({ title: 'a' })
    const base = jsonDomain.createReducer(g)
    const p = change(
      alice,
      g.id,
      2,
      [g.id],
      base.draft((c) => c.set(ROOT, 'title', 'p')),
    )
    const q = change(
      bob,
      g.id,
      1,
      [g.id],
      base.draft((c) => c.set(ROOT, 'title', 'q')),
    )
    const x = await node()
    const y = await node()
    for (const op of [g, p, q]) await x.ledger.ingest([op.bytes])
    for (const op of [g, q, p]) await y.ledger.ingest([op.bytes])
    const winner = p.id > q.id ? 'p' : 'q'
    expect((await x.index.reducer(g.id)).content()).toEqual({ title: winner })
    expect((await y.index.reducer(g.id)).content()).toEqual({ title: winner })
    const later = await x.index.reducer(g.id)
    const r = change(
      bob,
      g.id,
      2,
      [p.id, q.id],
      later.draft((c) => c.set(ROOT, 'title', 'r')),
    )
    await x.ledger.ingest([r.bytes])
    expect((await x.index.reducer(g.id)).content()).toEqual({ title: 'r' })
  })

  test('nesting: containers in maps and lists, deleting a container, counters', async () => {
    const g = genesis({ todo: [{ task: 'walk', done: false }], visits: { $counter: 1 } })
    const { ledger, index } = await node()
    await ledger.ingest([g.bytes])
    let reducer = await index.reducer(g.id)
    const crdt = reducer.crdt
    const todo = (crdt.get(ROOT, 'todo') as { id: number }).id
    const visits = (crdt.get(ROOT, 'visits') as { id: number }).id
    const edits = reducer.draft((c) => {
      c.insert(todo, 1, [{ task: 'read', tags: ['a', { $text: 'x' }] }])
      c.increment(visits, 41)
      c.set(ROOT, 'meta', { owner: 'alice', nested: { deep: [1, 2, 3] } })
    })
    await ledger.ingest([change(bob, g.id, 1, [g.id], edits).bytes])
    reducer = await index.reducer(g.id)
    expect(reducer.content()).toEqual({
      todo: [
        { task: 'walk', done: false },
        { task: 'read', tags: ['a', 'x'] },
      ],
      visits: 42,
      meta: { owner: 'alice', nested: { deep: [1, 2, 3] } },
    })
    const heads = ledger.log.heads(g.id)
    const more = reducer.draft((c) => {
      c.remove(todo, 0, 1)
      c.delete(ROOT, 'meta')
    })
    await ledger.ingest([change(bob, g.id, 2, [...heads], more).bytes])
    expect((await index.reducer(g.id)).content()).toEqual({
      todo: [{ task: 'read', tags: ['a', 'x'] }],
      visits: 42,
    })
  })

  test('a genesis with content that is not JSON the document can hold is no document', () => {
    const bad = makeOp(alice, {
      doc: null,
      seq: 1,
      deps: [],
      type: JSON_OP.create,
      body: { name: 'x', content: { n: { $counter: 1.5 } } },
    })
    expect(() => jsonDomain.createReducer(bad)).toThrow(/first content is not valid/)
    const noName = makeOp(alice, {
      doc: null,
      seq: 1,
      deps: [],
      type: JSON_OP.create,
      body: { content: {} },
    })
    expect(() => jsonDomain.createReducer(noName)).toThrow(/genesis is not valid: name/)
  })
})

describe('reading a document', () => {
  test('a key named "__proto__" is data: it is read back and counts in the state', () => {
    const doc = jsonDomain.createReducer(genesis({ ok: 1 }))
    const change = doc.crdt.begin()
    change.set(ROOT, '__proto__', 'not a prototype')
    change.commit('op-1')
    const content = doc.content() as Record<string, unknown>
    expect(Object.keys(content)).toEqual(['__proto__', 'ok'])
    expect(JSON.parse(JSON.stringify(content))).toEqual(
      JSON.parse('{"__proto__":"not a prototype","ok":1}'),
    )
  })
})

describe('observing a document', () => {
  test('a change refused by a later edit tells observers nothing', () => {
    const doc = jsonDomain.createReducer(genesis({ ok: 1 }))
    const seen: unknown[] = []
    doc.crdt.observe((patch) => seen.push(patch))
    const op = doc.crdt.registerOp('op-1', 2)
    expect(() =>
      doc.crdt.applyChange(op, [
        { o: 'set', obj: null, k: 'a', v: 1 },
        { o: 'set', obj: ['nowhere', 0], k: 'b', v: 2 },
      ]),
    ).toThrow(/nowhere/)
    expect(seen).toEqual([])
    expect(doc.content()).toEqual({ ok: 1 })
    const next = doc.crdt.registerOp('op-2', 2)
    doc.crdt.applyChange(next, [{ o: 'set', obj: null, k: 'a', v: 1 }])
    expect(seen).toEqual([{ action: 'put', path: ['a'], value: 1 }])
  })
})
