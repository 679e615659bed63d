import { formatPointer } from '../../../core/json/patch.ts'

// One line per change or op for `rwa doc watch` and `rwa doc history`.

type Patch = {
  action: string
  path: (string | number)[]
  value?: unknown
  index?: number
  remove?: number
  insert?: string
  values?: unknown[]
  count?: number
  by?: number
}

/** JSON of a value, cut at `max` characters. */
export function formatValue(value: unknown, max = 60): string {
  const text = JSON.stringify(value) ?? 'undefined'
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

function formatPatch(p: Patch): string {
  const at = formatPointer(p.path) || '/'
  switch (p.action) {
    case 'put':
      return `put ${at} ${formatValue(p.value)}`
    case 'del':
      return `del ${at}`
    case 'splice':
      return `splice ${at}@${p.index}${p.remove ? ` -${p.remove}` : ''}${p.insert ? ` +${formatValue(p.insert)}` : ''}`
    case 'insert':
      return `insert ${at}@${p.index} ${formatValue(p.values)}`
    case 'remove':
      return `remove ${at}@${p.index} ×${p.count}`
    case 'inc':
      return `inc ${at} ${(p.by ?? 0) >= 0 ? '+' : ''}${p.by}`
    default:
      return `${p.action} ${at}`
  }
}

/** A change event: `v12 a1b2c3d4 splice /body@3 +"abc"; put /title "x"`. */
export function formatChange(change: {
  version: number
  op: string
  type?: string
  author: string
  patches: Patch[]
}): string {
  const what =
    change.type === 'json.editors'
      ? '(editors changed: rwa doc editors)'
      : change.patches.length
        ? change.patches.map(formatPatch).join('; ')
        : '(no change)'
  return `v${change.version} ${change.author.slice(0, 8)} ${what}`
}

/** An op of a document's history: time, author, type and edits. */
export function formatHistoryLine(item: {
  op: string
  type: string
  author: string
  seq: number
  time: number
  edits: number
}): string {
  const time = new Date(item.time)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
  return `${time}  ${item.author.slice(0, 8)}#${item.seq}  ${item.type}  ${item.edits} edit(s)  ${item.op}`
}
