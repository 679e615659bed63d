import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import type { ChatMemory } from '../domains/plugin.ts'

/** Conversations kept at most per domain; the least recently touched is forgotten first. */
export const MAX_CONVERSATIONS = 10_000
/**
 * Disposable conversations (a stranger who only named an audit) kept at most: a flood of
 * throwaway JIDs forgets its own kind first, never the people with a role.
 */
export const MAX_DISPOSABLE = 1_000
/** The largest conversation record (JSON bytes): a domain keeps a few fields per person. */
const MAX_RECORD = 16 * 1024

/**
 * A domain's conversations, kept in a journal file (`<data dir>/chat/<domain>.jsonl`, mode
 * 0600: it names people): each change appends one line `{"j": jid, "v": value}` (no `v`:
 * forgotten; `"d": 1`: disposable), so a change costs one small write, and a crash loses at most
 * the line being written, which the next start skips. The file is rewritten with only the live
 * records once it holds many more lines than records.
 */
export function journalMemory(
  path: string,
  {
    max = MAX_CONVERSATIONS,
    maxDisposable = MAX_DISPOSABLE,
    onSkipped,
  }: { max?: number; maxDisposable?: number; onSkipped?: (lines: number) => void } = {},
): ChatMemory {
  const records = new Map<string, unknown>()
  /** The disposable records' JIDs, least recently touched first. */
  const disposable = new Set<string>()
  let lines = 0

  const forget = (jid: string) => {
    records.delete(jid)
    disposable.delete(jid)
  }

  if (existsSync(path)) {
    let skipped = 0
    const text = readFileSync(path, 'utf8')
    for (const line of text.split('\n')) {
      if (!line) continue
      lines++
      try {
        const { j, v, d } = JSON.parse(line) as { j?: unknown; v?: unknown; d?: unknown }
        if (typeof j !== 'string') throw new Error('no jid')
        forget(j)
        if (v === undefined) continue
        records.set(j, v)
        if (d === 1) disposable.add(j)
      } catch {
        skipped++ // a line torn by a crash mid-write
      }
    }
    if (skipped > 0) onSkipped?.(skipped)
    // A torn last line has no newline: end it, or the next line would be glued to it and lost.
    if (text.length > 0 && !text.endsWith('\n')) appendFileSync(path, '\n')
  } else {
    mkdirSync(dirname(path), { recursive: true })
  }

  const append = (jid: string, value: unknown, isDisposable = false) => {
    const record =
      value === undefined
        ? { j: jid }
        : isDisposable
          ? { j: jid, v: value, d: 1 }
          : { j: jid, v: value }
    appendFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 })
    lines++
  }

  /** Forgets the oldest disposable record, else the oldest of all, until within the limits. */
  const evict = (write: boolean) => {
    while (records.size > max || disposable.size > maxDisposable) {
      const oldest =
        disposable.size > 0 ? disposable.values().next().value! : records.keys().next().value!
      forget(oldest)
      if (write) append(oldest, undefined)
    }
  }

  /** Rewrites the journal with the live records only (temp file, fsync, rename). */
  const compact = () => {
    const temp = `${path}.tmp`
    const fd = openSync(temp, 'w', 0o600)
    try {
      for (const [j, v] of records)
        writeSync(fd, `${JSON.stringify(disposable.has(j) ? { j, v, d: 1 } : { j, v })}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, path)
    lines = records.size
  }

  evict(false)
  if (lines > 2 * records.size + 1000) compact()

  return {
    get: (jid) => records.get(jid),
    set(jid, value, options) {
      if (value === undefined) {
        if (!records.has(jid)) return
        forget(jid)
        append(jid, undefined)
      } else {
        const size = Buffer.byteLength(JSON.stringify(value))
        if (size > MAX_RECORD)
          throw new RangeError(`A conversation record of ${size} bytes is over ${MAX_RECORD}.`)
        forget(jid) // re-inserted last: the most recently touched
        records.set(jid, value)
        const isDisposable = options?.disposable === true
        if (isDisposable) disposable.add(jid)
        append(jid, value, isDisposable)
        evict(true)
      }
      if (lines > 2 * records.size + 1000) compact()
    },
    entries: () => [...records],
  }
}

/** Conversations held in memory only (tests, and a node without a data dir). */
export function memoryOnly(): ChatMemory {
  const records = new Map<string, unknown>()
  return {
    get: (jid) => records.get(jid),
    set(jid, value) {
      if (value === undefined) records.delete(jid)
      else records.set(jid, value)
    },
    entries: () => [...records],
  }
}
