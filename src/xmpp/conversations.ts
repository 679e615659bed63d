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
/** The largest conversation record (JSON bytes): a domain keeps a few fields per person. */
const MAX_RECORD = 16 * 1024

/**
 * A domain's conversations, kept in a journal file (`<data dir>/chat/<domain>.jsonl`, mode
 * 0600: it names people): each change appends one line `{"j": jid, "v": value}` (no `v`:
 * forgotten), so a change costs one small write, and a crash loses at most the line being
 * written, which the next start skips. The file is rewritten with only the live records once
 * it holds many more lines than records.
 */
export function journalMemory(
  path: string,
  {
    max = MAX_CONVERSATIONS,
    onSkipped,
  }: { max?: number; onSkipped?: (lines: number) => void } = {},
): ChatMemory {
  const records = new Map<string, unknown>()
  let lines = 0
  if (existsSync(path)) {
    let skipped = 0
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue
      lines++
      try {
        const { j, v } = JSON.parse(line) as { j?: unknown; v?: unknown }
        if (typeof j !== 'string') throw new Error('no jid')
        records.delete(j)
        if (v !== undefined) records.set(j, v)
      } catch {
        skipped++ // a line torn by a crash mid-write
      }
    }
    if (skipped > 0) onSkipped?.(skipped)
    while (records.size > max) records.delete(records.keys().next().value!)
  } else {
    mkdirSync(dirname(path), { recursive: true })
  }

  const append = (jid: string, value: unknown) => {
    const line = `${JSON.stringify(value === undefined ? { j: jid } : { j: jid, v: value })}\n`
    appendFileSync(path, line, { mode: 0o600 })
    lines++
  }

  /** Rewrites the journal with the live records only (temp file, fsync, rename). */
  const compact = () => {
    const temp = `${path}.tmp`
    const fd = openSync(temp, 'w', 0o600)
    try {
      for (const [j, v] of records) writeSync(fd, `${JSON.stringify({ j, v })}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, path)
    lines = records.size
  }
  if (lines > 2 * records.size + 1000) compact()

  return {
    get: (jid) => records.get(jid),
    set(jid, value) {
      if (value === undefined) {
        if (!records.delete(jid)) return
        append(jid, undefined)
      } else {
        const size = Buffer.byteLength(JSON.stringify(value))
        if (size > MAX_RECORD)
          throw new RangeError(`A conversation record of ${size} bytes is over ${MAX_RECORD}.`)
        records.delete(jid) // re-inserted last: the most recently touched
        records.set(jid, value)
        append(jid, value)
        if (records.size > max) {
          const oldest = records.keys().next().value!
          records.delete(oldest)
          append(oldest, undefined)
        }
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
