import { describeValue } from '../text.ts'
import {
  Child,
  type JsonCrdt,
  JsonEditError,
  type LocalChange,
  MAX_KEY_LENGTH,
  type Path,
  ROOT,
} from './crdt.ts'
import { JsonConflictError } from './ops.ts'

// JSON Patch (RFC 6902) and JSON Pointer (RFC 6901) on a JSON CRDT: each operation of a patch
// becomes edits of one local change, applied at once, so later operations read what earlier ones
// wrote. Edits are chosen to merge well with concurrent changes: a text replaced by a string is
// one splice of what differs, and a counter replaced by a number is incremented by the difference.

/** Most operations in one patch. */
export const MAX_PATCH_OPS = 1000
/** Most tokens in a JSON Pointer, and deepest value a patch writes. */
export const MAX_PATCH_DEPTH = 64
/** Longest JSON Pointer, in characters. */
export const MAX_POINTER_LENGTH = 8192
/**
 * Most values plus characters one patch may read or write (its `value`s, what `move`, `copy` and
 * `test` read, the texts it replaces); a change this large is far past any op's size limit anyway.
 */
export const MAX_PATCH_SIZE = 1_000_000

/** One operation of a JSON Patch (RFC 6902 §4); other members are ignored, as the RFC says. */
export type JsonPatchOp =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string }

/** A JSON value that is not an object or an array. */
export type JsonPrimitive = null | boolean | number | string

/** What a path names: a container (the root for []), or a primitive held in a map or a list. */
export type ResolvedPath =
  | { readonly container: number }
  | { readonly parent: number; readonly key: string | number; readonly value: JsonPrimitive }

/**
 * A value to write or compare, read from a patch or from the document: kinds kept (a text is not
 * a string here), and no object whose keys could be mistaken for `$text` or `$counter`.
 */
type Snap =
  | null
  | boolean
  | number
  | string
  | { readonly t: 'map'; readonly entries: readonly (readonly [string, Snap])[] }
  | { readonly t: 'list'; readonly items: readonly Snap[] }
  | { readonly t: 'text'; readonly s: string }
  | { readonly t: 'counter'; readonly n: number }

type OpName = JsonPatchOp['op']
const OPS: readonly OpName[] = ['add', 'remove', 'replace', 'move', 'copy', 'test']

/** A checked operation. */
type Step = {
  readonly index: number
  readonly op: OpName
  readonly path: string[]
  readonly from: string[] | undefined
  readonly value: Snap | undefined
  readonly raw: JsonPatchOp
}

/** How much of MAX_PATCH_SIZE is left. */
type Budget = { left: number }

type Ctx = { readonly change: LocalChange; readonly crdt: JsonCrdt; readonly budget: Budget }

/**
 * Parses a JSON Pointer (RFC 6901) into its reference tokens (`~1` is `/`, `~0` is `~`).
 * @example
 * parsePointer('/a~1b/0') // ['a/b', '0']
 * parsePointer('') // [] (the whole document)
 */
export function parsePointer(pointer: string): string[] {
  if (typeof pointer !== 'string')
    throw new JsonEditError(`A JSON Pointer is a string, not ${describeValue(pointer)}.`)
  if (pointer.length > MAX_POINTER_LENGTH)
    throw new JsonEditError(
      `A JSON Pointer has at most ${MAX_POINTER_LENGTH} characters, not ${pointer.length}.`,
    )
  if (pointer === '') return []
  if (pointer[0] !== '/')
    throw new JsonEditError(
      `JSON Pointer ${describeValue(pointer)} does not start with "/"; write "/key/0" (RFC 6901), or "" for the whole document.`,
    )
  const tokens = pointer.slice(1).split('/')
  if (tokens.length > MAX_PATCH_DEPTH)
    throw new JsonEditError(
      `A JSON Pointer has at most ${MAX_PATCH_DEPTH} tokens, not ${tokens.length}.`,
    )
  return tokens.map((token) => {
    if (/~(?![01])/.test(token))
      throw new JsonEditError(
        `JSON Pointer ${describeValue(pointer)} has a "~" not followed by 0 or 1; write "~0" for "~" and "~1" for "/".`,
      )
    return token.replace(/~1/g, '/').replace(/~0/g, '~')
  })
}

/** Formats a path as a JSON Pointer (RFC 6901). */
export function formatPointer(path: Path): string {
  return path.map((t) => `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')
}

/**
 * The splice that turns `a` into `b`: the common prefix and suffix kept, the rest replaced (never
 * splitting a surrogate pair).
 * @example
 * textDiff('hello world', 'hello brave world') // [6, 0, 'brave ']
 */
export function textDiff(a: string, b: string): [pos: number, del: number, ins: string] {
  if (a === b) return [0, 0, '']
  const max = Math.min(a.length, b.length)
  let pos = 0
  while (pos < max && a.charCodeAt(pos) === b.charCodeAt(pos)) pos++
  if (pos > 0 && isHighSurrogate(a.charCodeAt(pos - 1))) pos--
  let end = 0
  while (end < max - pos && a.charCodeAt(a.length - 1 - end) === b.charCodeAt(b.length - 1 - end))
    end++
  if (end > 0 && isLowSurrogate(a.charCodeAt(a.length - end))) end--
  return [pos, a.length - pos - end, b.slice(pos, b.length - end)]
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff

/**
 * What `path` names in the document (JSON Pointer tokens, or numbers for list indices); throws
 * JsonEditError naming the first step that does not exist.
 */
export function resolvePath(crdt: JsonCrdt, path: Path): ResolvedPath {
  let id = ROOT
  for (let i = 0; i < path.length; i++) {
    const { key, value } = member(crdt, id, path[i]!, path.slice(0, i))
    if (value instanceof Child) {
      id = value.id
      continue
    }
    if (i === path.length - 1) return { parent: id, key, value: value as JsonPrimitive }
    throw new JsonEditError(
      `${where(path.slice(0, i + 1))} is ${describeValue(value)}, which has no members.`,
    )
  }
  return { container: id }
}

/** Member `token` of container `id` (at `at`): a map's key or a list's element. */
function member(
  crdt: JsonCrdt,
  id: number,
  token: string | number,
  at: Path,
): { key: string | number; value: unknown } {
  const kind = crdt.kind(id)
  if (kind === 'map') {
    const key = String(token)
    const value = crdt.get(id, key)
    if (value === undefined)
      throw new JsonEditError(`The object at ${where(at)} has no member ${describeValue(key)}.`)
    return { key, value }
  }
  if (kind === 'list') {
    const key = listIndex(token, crdt.length(id), false, at)
    return { key, value: crdt.at(id, key) }
  }
  throw new JsonEditError(`${where(at)} is a ${kind}, which has no members.`)
}

/** A list index from a path token; `-` (the end) only when `end` (an insertion). */
function listIndex(token: string | number, length: number, end: boolean, at: Path): number {
  let index: number
  if (typeof token === 'number') index = token
  else if (token === '-') {
    if (end) return length
    throw new JsonEditError(
      `"-" names no element of the array at ${where(at)}; it appends, with "add" only.`,
    )
  } else if (/^(0|[1-9][0-9]*)$/.test(token)) index = Number(token)
  else
    throw new JsonEditError(
      `${describeValue(token)} is not an index of the array at ${where(at)}; write 0, 1, … (no sign, no leading zero).`,
    )
  const last = end ? length : length - 1
  if (!Number.isInteger(index) || index < 0 || index > last)
    throw new JsonEditError(
      `Index ${index} is outside the array at ${where(at)} (length ${length}).`,
    )
  return index
}

const where = (at: Path) =>
  at.length === 0 ? 'the document root' : describeValue(formatPointer(at))

// ---- the patch document ----

/**
 * Checks a JSON Patch document (an array of at most MAX_PATCH_OPS operations) and answers its
 * operations; a JsonEditError names the first that is malformed, by index.
 */
export function parseJsonPatch(patch: unknown): JsonPatchOp[] {
  return parseSteps(patch, { left: MAX_PATCH_SIZE }).map((s) => s.raw)
}

function parseSteps(patch: unknown, budget: Budget): Step[] {
  if (!Array.isArray(patch))
    throw new JsonEditError(
      `A JSON Patch is an array of operations, not ${describeValue(patch)}; see RFC 6902.`,
    )
  if (patch.length > MAX_PATCH_OPS)
    throw new JsonEditError(
      `A JSON Patch has at most ${MAX_PATCH_OPS} operations, not ${patch.length}; split it.`,
    )
  const steps: Step[] = []
  for (let index = 0; index < patch.length; index++) {
    try {
      steps.push(parseStep(patch[index], index, budget))
    } catch (error) {
      if (!(error instanceof JsonEditError)) throw error
      throw new JsonEditError(`Patch operation ${index}: ${error.shortMessage}`, { cause: error })
    }
  }
  return steps
}

function parseStep(raw: unknown, index: number, budget: Budget): Step {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new JsonEditError(`an operation is an object, not ${describeValue(raw)}.`)
  const o = raw as Record<string, unknown>
  const op = o.op
  if (!OPS.includes(op as OpName))
    throw new JsonEditError(
      `"op" is ${describeValue(op)}; use add, remove, replace, move, copy or test.`,
    )
  const name = op as OpName
  if (typeof o.path !== 'string')
    throw new JsonEditError(`"${name}" needs "path", a JSON Pointer string.`)
  const path = parsePointer(o.path)
  let from: string[] | undefined
  let value: Snap | undefined
  let checked: JsonPatchOp
  if (name === 'move' || name === 'copy') {
    if (typeof o.from !== 'string')
      throw new JsonEditError(`"${name}" needs "from", a JSON Pointer string.`)
    from = parsePointer(o.from)
    checked = { op: name, from: o.from, path: o.path }
  } else if (name === 'remove') checked = { op: name, path: o.path }
  else {
    if (!Object.hasOwn(o, 'value') || o.value === undefined)
      throw new JsonEditError(`"${name}" needs "value".`)
    value = snapOf(o.value, 0, budget)
    checked = { op: name, path: o.path, value: o.value }
  }
  return { index, op: name, path, from, value, raw: checked }
}

/** A plain JSON value from a patch as a Snap: `{"$text"}` and `{"$counter"}` as the document reads them. */
function snapOf(v: unknown, depth: number, budget: Budget): Snap {
  charge(budget, 1)
  if (v === null || typeof v === 'boolean') return v
  if (typeof v === 'string') {
    charge(budget, v.length)
    return v
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new JsonEditError(`${v} is not a JSON number.`)
    return v
  }
  if (typeof v !== 'object' || (!Array.isArray(v) && !isPlainObject(v)))
    throw new JsonEditError(`A value is JSON, not ${describeValue(v)}.`)
  if (depth >= MAX_PATCH_DEPTH)
    throw new JsonEditError(`A value nests at most ${MAX_PATCH_DEPTH} levels deep.`)
  if (Array.isArray(v)) {
    const items: Snap[] = []
    for (let i = 0; i < v.length; i++) items.push(snapOf(v[i], depth + 1, budget))
    return { t: 'list', items }
  }
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.length === 1 && keys[0] === '$text' && typeof o.$text === 'string') {
    charge(budget, o.$text.length)
    return { t: 'text', s: o.$text }
  }
  if (keys.length === 1 && keys[0] === '$counter' && typeof o.$counter === 'number') {
    if (!Number.isSafeInteger(o.$counter))
      throw new JsonEditError(`A counter starts at a safe integer, not ${o.$counter}.`)
    return { t: 'counter', n: o.$counter }
  }
  const entries: [string, Snap][] = []
  for (const k of keys) {
    if (k.length > MAX_KEY_LENGTH)
      throw new JsonEditError(`A key has at most ${MAX_KEY_LENGTH} characters.`)
    entries.push([k, snapOf(o[k], depth + 1, budget)])
  }
  return { t: 'map', entries }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function charge(budget: Budget, n: number): void {
  budget.left -= n
  if (budget.left < 0)
    throw new JsonEditError(
      `A patch reads and writes at most ${MAX_PATCH_SIZE} values and characters; split it.`,
    )
}

// ---- applying ----

/**
 * Applies a JSON Patch (RFC 6902) to a local change of `crdt`, operation by operation (later ones
 * see earlier ones). `add` and `replace` write plain JSON (`{"$text": s}` makes a text,
 * `{"$counter": n}` a counter); a text replaced by a string is spliced where they differ and a
 * counter replaced by a number is incremented by the difference, so concurrent edits survive (an
 * `add` on an existing member is a `replace`, RFC 6902 §4.1). `move` and `copy` keep the kinds of
 * what they carry, but make new containers: concurrent edits of the source do not follow.
 * Throws JsonEditError (a malformed patch, or an operation that cannot apply) or JsonConflictError
 * (a failed `test`), naming the operation's index and path; the change then holds the operations
 * before it, so abort it.
 * @example
 * const change = doc.begin()
 * applyJsonPatch(change, doc, [{ op: 'replace', path: '/title', value: 'Hello, world' }])
 * change.commit(opId)
 */
export function applyJsonPatch(change: LocalChange, crdt: JsonCrdt, ops: unknown): void {
  const budget = { left: MAX_PATCH_SIZE }
  const steps = parseSteps(ops, budget)
  const ctx: Ctx = { change, crdt, budget }
  for (const step of steps) {
    try {
      runStep(ctx, step)
    } catch (error) {
      if (!(error instanceof JsonEditError) && !(error instanceof JsonConflictError)) throw error
      const message = `Patch operation ${step.index} (${step.op} at ${describeValue(step.raw.path)}): ${error.shortMessage}`
      throw error instanceof JsonConflictError
        ? new JsonConflictError(message, { cause: error })
        : new JsonEditError(message, { cause: error })
    }
  }
}

function runStep(ctx: Ctx, step: Step): void {
  switch (step.op) {
    case 'add':
      add(ctx, step.path, step.value!)
      break
    case 'remove':
      remove(ctx, step.path)
      break
    case 'replace':
      replace(ctx, step.path, step.value!)
      break
    case 'move':
      move(ctx, step.from!, step.path)
      break
    case 'copy':
      add(ctx, step.path, read(ctx, step.from!))
      break
    case 'test':
      test(ctx, step.path, step.value!)
      break
  }
}

/** The container holding the last token of a non-empty path, and that token. */
function parentOf(ctx: Ctx, path: string[]): { parent: number; token: string; at: string[] } {
  const at = path.slice(0, -1)
  const found = resolvePath(ctx.crdt, at)
  if (!('container' in found))
    throw new JsonEditError(`${where(at)} is ${describeValue(found.value)}, which has no members.`)
  const kind = ctx.crdt.kind(found.container)
  if (kind !== 'map' && kind !== 'list')
    throw new JsonEditError(
      kind === 'text'
        ? `${where(at)} is a text, which has no members; replace it with a new string to edit it.`
        : `${where(at)} is a counter, which has no members.`,
    )
  return { parent: found.container, token: path[path.length - 1]!, at }
}

function add(ctx: Ctx, path: string[], value: Snap): void {
  if (path.length === 0) {
    replaceRoot(ctx, value)
    return
  }
  const { parent, token, at } = parentOf(ctx, path)
  const crdt = ctx.crdt
  if (crdt.kind(parent) === 'list') {
    insertAt(ctx, parent, listIndex(token, crdt.length(parent), true, at), value)
    return
  }
  // RFC 6902 §4.1: adding an existing member replaces its value.
  const current = crdt.get(parent, token)
  if (current === undefined) setKey(ctx, parent, token, value)
  else replaceAt(ctx, parent, token, current, value)
}

function remove(ctx: Ctx, path: string[]): void {
  if (path.length === 0)
    throw new JsonEditError(
      'The document root cannot be removed; remove its members, or replace it with {}.',
    )
  const { parent, token, at } = parentOf(ctx, path)
  const crdt = ctx.crdt
  if (crdt.kind(parent) === 'list') {
    ctx.change.remove(parent, listIndex(token, crdt.length(parent), false, at), 1)
    return
  }
  if (crdt.get(parent, token) === undefined)
    throw new JsonEditError(`The object at ${where(at)} has no member ${describeValue(token)}.`)
  ctx.change.delete(parent, token)
}

function replace(ctx: Ctx, path: string[], value: Snap): void {
  if (path.length === 0) {
    replaceRoot(ctx, value)
    return
  }
  const { parent, token, at } = parentOf(ctx, path)
  const crdt = ctx.crdt
  if (crdt.kind(parent) === 'list') {
    const index = listIndex(token, crdt.length(parent), false, at)
    replaceAt(ctx, parent, index, crdt.at(parent, index), value)
    return
  }
  const current = crdt.get(parent, token)
  if (current === undefined)
    throw new JsonEditError(
      `The object at ${where(at)} has no member ${describeValue(token)} to replace; use "add".`,
    )
  replaceAt(ctx, parent, token, current, value)
}

function move(ctx: Ctx, from: string[], path: string[]): void {
  if (from.length <= path.length && from.every((t, i) => t === path[i])) {
    if (from.length < path.length)
      throw new JsonEditError(
        `A value cannot move into itself (from ${describeValue(formatPointer(from))}).`,
      )
    resolvePath(ctx.crdt, from)
    return
  }
  const value = read(ctx, from)
  remove(ctx, from)
  add(ctx, path, value)
}

function test(ctx: Ctx, path: string[], expected: Snap): void {
  let actual: Snap
  try {
    actual = read(ctx, path)
  } catch (error) {
    if (!(error instanceof JsonEditError)) throw error
    throw new JsonConflictError(`the test failed: ${error.shortMessage}`, { cause: error })
  }
  if (!sameSnap(actual, expected))
    throw new JsonConflictError(
      `the test failed: the document holds ${describeSnap(actual)}, not ${describeSnap(expected)}.`,
    )
}

/** Replaces the root map's members with an object's (the root itself stays). */
function replaceRoot(ctx: Ctx, value: Snap): void {
  if (typeof value !== 'object' || value === null || value.t !== 'map')
    throw new JsonEditError(
      `The document root is an object; it cannot become ${describeSnap(value)}.`,
    )
  const crdt = ctx.crdt
  const keep = new Set(value.entries.map(([k]) => k))
  for (const k of crdt.mapKeys(ROOT)) if (!keep.has(k)) ctx.change.delete(ROOT, k)
  for (const [k, v] of value.entries) {
    const current = crdt.get(ROOT, k)
    if (current === undefined) setKey(ctx, ROOT, k, v)
    else replaceAt(ctx, ROOT, k, current, v)
  }
}

/**
 * Replaces `current`, held at `slot` of `parent`: a text by a string is spliced, a counter by an
 * integer incremented; anything else is written anew.
 */
function replaceAt(
  ctx: Ctx,
  parent: number,
  slot: string | number,
  current: unknown,
  value: Snap,
): void {
  if (current instanceof Child && spliceTo(ctx, current.id, value)) return
  if (current instanceof Child && countTo(ctx, current.id, value)) return
  if (typeof slot === 'string') {
    setKey(ctx, parent, slot, value)
    return
  }
  ctx.change.remove(parent, slot, 1)
  insertAt(ctx, parent, slot, value)
}

/** Splices text `id` into `value` when it is a string or a text. */
function spliceTo(ctx: Ctx, id: number, value: Snap): boolean {
  const crdt = ctx.crdt
  if (crdt.kind(id) !== 'text') return false
  const next = typeof value === 'string' ? value : isKind(value, 'text') ? value.s : undefined
  if (next === undefined) return false
  const text = crdt.text(id)
  charge(ctx.budget, text.length)
  const [pos, del, ins] = textDiff(text, next)
  if (del > 0 || ins.length > 0) ctx.change.splice(id, pos, del, ins)
  return true
}

/** Increments counter `id` to `value` when it is a safe integer (or a counter) within reach. */
function countTo(ctx: Ctx, id: number, value: Snap): boolean {
  const crdt = ctx.crdt
  if (crdt.kind(id) !== 'counter') return false
  const next = typeof value === 'number' ? value : isKind(value, 'counter') ? value.n : undefined
  const now = crdt.toJSON(id)
  if (!Number.isSafeInteger(next) || typeof now !== 'number') return false
  const by = next! - now
  if (!Number.isSafeInteger(by)) return false
  if (by !== 0) ctx.change.increment(id, by)
  return true
}

/** Sets map key `key` to `value`, containers filled. */
function setKey(ctx: Ctx, map: number, key: string, value: Snap): void {
  ctx.change.set(map, key, startOf(value))
  fill(ctx, ctx.crdt.get(map, key), value)
}

/** Inserts `value` into list `list` at `index`, containers filled. */
function insertAt(ctx: Ctx, list: number, index: number, value: Snap): void {
  ctx.change.insert(list, index, [startOf(value)])
  fill(ctx, ctx.crdt.at(list, index), value)
}

/** The plain JSON a LocalChange writes to start `value`: maps and lists empty, filled after. */
function startOf(value: Snap): unknown {
  if (typeof value !== 'object' || value === null) return value
  switch (value.t) {
    case 'map':
      return {}
    case 'list':
      return []
    case 'text':
      return { $text: value.s }
    case 'counter':
      return { $counter: value.n }
  }
}

/** Fills the container just made for a map or list `value`, member by member. */
function fill(ctx: Ctx, made: unknown, value: Snap): void {
  if (typeof value !== 'object' || value === null) return
  if (value.t !== 'map' && value.t !== 'list') return
  const id = (made as Child).id
  if (value.t === 'map') {
    for (const [k, v] of value.entries) setKey(ctx, id, k, v)
    return
  }
  if (value.items.length === 0) return
  ctx.change.insert(id, 0, value.items.map(startOf))
  for (let i = 0; i < value.items.length; i++) fill(ctx, ctx.crdt.at(id, i), value.items[i]!)
}

/** The value at `path`, as a Snap (counted against the patch's budget). */
function read(ctx: Ctx, path: string[]): Snap {
  const found = resolvePath(ctx.crdt, path)
  if (!('container' in found)) {
    charge(ctx.budget, typeof found.value === 'string' ? found.value.length + 1 : 1)
    return found.value
  }
  return snapshot(ctx, found.container, path.length)
}

/** Container `id` (at depth `depth`) as a Snap. */
function snapshot(ctx: Ctx, id: number, depth: number): Snap {
  const crdt = ctx.crdt
  charge(ctx.budget, 1)
  if (depth > 4 * MAX_PATCH_DEPTH)
    throw new JsonEditError(`A patch reads values at most ${4 * MAX_PATCH_DEPTH} levels deep.`)
  const inner = (v: unknown): Snap => {
    if (v instanceof Child) return snapshot(ctx, v.id, depth + 1)
    charge(ctx.budget, typeof v === 'string' ? v.length + 1 : 1)
    return v as Snap
  }
  switch (crdt.kind(id)) {
    case 'map':
      return { t: 'map', entries: crdt.mapKeys(id).map((k) => [k, inner(crdt.get(id, k))]) }
    case 'list': {
      const items: Snap[] = []
      for (let i = 0, n = crdt.length(id); i < n; i++) items.push(inner(crdt.at(id, i)))
      return { t: 'list', items }
    }
    case 'text': {
      const s = crdt.text(id)
      charge(ctx.budget, s.length)
      return { t: 'text', s }
    }
    case 'counter': {
      const n = crdt.toJSON(id)
      if (typeof n !== 'number')
        throw new JsonEditError(`A counter beyond 2^53 (${n}) cannot be read by a patch.`)
      return { t: 'counter', n }
    }
  }
}

/** A text as its string, a counter as its number: what the document reads as. */
function flat(v: Snap): Snap {
  if (typeof v !== 'object' || v === null) return v
  return v.t === 'text' ? v.s : v.t === 'counter' ? v.n : v
}

/** JSON equality (RFC 6902 §4.6): texts compare as strings, counters as numbers. */
function sameSnap(a: Snap, b: Snap): boolean {
  a = flat(a)
  b = flat(b)
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (a.t === 'list' && b.t === 'list')
    return a.items.length === b.items.length && a.items.every((x, i) => sameSnap(x, b.items[i]!))
  if (a.t !== 'map' || b.t !== 'map' || a.entries.length !== b.entries.length) return false
  const other = new Map(b.entries)
  return a.entries.every(([k, v]) => other.has(k) && sameSnap(v, other.get(k)!))
}

function describeSnap(v: Snap): string {
  v = flat(v)
  if (isKind(v, 'list')) return `an array of ${v.items.length}`
  if (isKind(v, 'map')) return `an object of ${v.entries.length} members`
  return describeValue(v)
}

type Kind<K> = Extract<Snap, { t: K }>

function isKind<K extends 'map' | 'list' | 'text' | 'counter'>(v: Snap, t: K): v is Kind<K> {
  return typeof v === 'object' && v !== null && v.t === t
}
