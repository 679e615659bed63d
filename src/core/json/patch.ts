import { Child, type JsonCrdt, JsonEditError, type LocalChange, type Path, ROOT } from './crdt.ts'

// PLACEHOLDER of helper D's JSON Patch module (issue 23), so that the node side compiles and its
// tests run before D's is merged: same exports and signatures, only add / remove / replace, and
// none of D's limits or minimal text splices. The lead keeps D's file on merge.

/** One operation of a JSON Patch (RFC 6902 §4). */
export type JsonPatchOp =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string }

/** A JSON value that is not an object or an array. */
export type JsonPrimitive = null | boolean | number | string

/** What a path names: a container, or a primitive held in a map or a list. */
export type ResolvedPath =
  | { readonly container: number }
  | { readonly parent: number; readonly key: string | number; readonly value: JsonPrimitive }

/** Parses a JSON Pointer (RFC 6901) into its reference tokens. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/'))
    throw new JsonEditError(`JSON Pointer "${pointer.slice(0, 80)}" does not start with "/".`)
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** Formats a path as a JSON Pointer (RFC 6901). */
export function formatPointer(path: Path): string {
  return path.map((t) => `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')
}

/** The splice that turns `a` into `b` (common prefix and suffix kept). */
export function textDiff(a: string, b: string): [pos: number, del: number, ins: string] {
  const max = Math.min(a.length, b.length)
  let pos = 0
  while (pos < max && a[pos] === b[pos]) pos++
  let end = 0
  while (end < max - pos && a[a.length - 1 - end] === b[b.length - 1 - end]) end++
  return [pos, a.length - pos - end, b.slice(pos, b.length - end)]
}

/** What `path` names in the document; throws JsonEditError when a step does not exist. */
export function resolvePath(crdt: JsonCrdt, path: Path): ResolvedPath {
  let id = ROOT
  for (let i = 0; i < path.length; i++) {
    const token = path[i]!
    const kind = crdt.kind(id)
    let value: unknown
    let key: string | number = token
    if (kind === 'map') value = crdt.get(id, String(token))
    else if (kind === 'list') {
      key = Number(token)
      if (!Number.isInteger(key) || key < 0 || key >= crdt.length(id)) value = undefined
      else value = crdt.at(id, key)
    }
    if (value === undefined)
      throw new JsonEditError(`Nothing is at "${formatPointer(path.slice(0, i + 1))}".`)
    if (value instanceof Child) {
      id = value.id
      continue
    }
    if (i !== path.length - 1)
      throw new JsonEditError(`"${formatPointer(path.slice(0, i + 1))}" holds no container.`)
    return { parent: id, key, value: value as JsonPrimitive }
  }
  return { container: id }
}

/** Applies add / remove / replace operations to a local change (placeholder: see above). */
export function applyJsonPatch(change: LocalChange, crdt: JsonCrdt, ops: unknown): void {
  if (!Array.isArray(ops)) throw new JsonEditError('A JSON Patch is an array of operations.')
  ops.forEach((raw: unknown, index) => {
    const op = raw as { op?: unknown; path?: unknown; value?: unknown }
    if (typeof op?.path !== 'string')
      throw new JsonEditError(`Operation ${index} has no "path" string.`)
    const path = parsePointer(op.path)
    if (path.length === 0) throw new JsonEditError(`Operation ${index}: the root is not replaced.`)
    const parentPath = path.slice(0, -1)
    const last = path[path.length - 1]!
    const parent = resolvePath(crdt, parentPath)
    if (!('container' in parent))
      throw new JsonEditError(`Operation ${index}: "${op.path}" is not inside a container.`)
    const obj = parent.container
    const kind = crdt.kind(obj)
    if (op.op === 'add' || op.op === 'replace') {
      if (!('value' in op)) throw new JsonEditError(`Operation ${index} has no "value".`)
      if (kind === 'map') {
        if (op.op === 'replace' && crdt.get(obj, last) === undefined)
          throw new JsonEditError(`Operation ${index}: nothing to replace at "${op.path}".`)
        change.set(obj, last, op.value)
      } else if (kind === 'list') {
        const at = last === '-' ? crdt.length(obj) : Number(last)
        if (op.op === 'replace') change.remove(obj, at, 1)
        change.insert(obj, at, [op.value])
      } else throw new JsonEditError(`Operation ${index}: a ${kind} holds no values.`)
    } else if (op.op === 'remove') {
      if (kind === 'map') {
        if (crdt.get(obj, last) === undefined)
          throw new JsonEditError(`Operation ${index}: nothing to remove at "${op.path}".`)
        change.delete(obj, last)
      } else change.remove(obj, Number(last), 1)
    } else throw new JsonEditError(`Operation ${index}: "${String(op.op)}" is not supported here.`)
  })
}
