import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, test } from 'vitest'
import {
  loadTrace,
  replayPlain,
  TRACE_END_SHA256,
  TRACE_PATH,
  type Trace,
} from './fixtures/editing-trace.ts'

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')

/** The README's replay, word for word: slow, but obviously right. */
function replayBySlicing(trace: Trace): string {
  let s = ''
  for (let i = 0; i < trace.length; i++) {
    const pos = trace.pos[i]!
    s = s.slice(0, pos) + trace.ins[i]! + s.slice(pos + trace.del[i]!)
  }
  return s
}

function countWhere(n: number, keep: (i: number) => boolean): number {
  let count = 0
  for (let i = 0; i < n; i++) if (keep(i)) count++
  return count
}

const dir = mkdtempSync(join(tmpdir(), 'rwa-trace-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Writes `trace` (plain JSON) gzipped to a temporary file and loads it with its own hash. */
function loadWritten(name: string, trace: unknown): Trace {
  const gz = gzipSync(JSON.stringify(trace))
  const path = join(dir, name)
  writeFileSync(path, gz)
  return loadTrace({ path, sha256: sha256(gz) })
}

describe('loadTrace', () => {
  const trace = loadTrace()

  test('flattens the 259,778 single-character patches of the automerge-paper trace', () => {
    expect(trace.length).toBe(259_778)
    expect([trace.pos.length, trace.del.length, trace.ins.length]).toEqual([
      259_778, 259_778, 259_778,
    ])
    expect(countWhere(trace.length, (i) => trace.ins[i] !== '')).toBe(182_315)
    expect(countWhere(trace.length, (i) => trace.del[i]! > 0)).toBe(77_463)
    expect(countWhere(trace.length, (i) => trace.del[i]! + trace.ins[i]!.length !== 1)).toBe(0)
    expect(trace.pos.reduce((a, b) => Math.max(a, b), 0)).toBe(97_428)
  })

  test('keeps the final text the README describes', () => {
    expect(trace.endContent.length).toBe(104_852)
    expect(sha256(trace.endContent)).toBe(TRACE_END_SHA256)
  })

  test('refuses a file whose sha256 is not the expected one', () => {
    const path = join(dir, 'tampered.json.gz')
    const gz = readFileSync(TRACE_PATH)
    gz[gz.length - 1]! ^= 1
    writeFileSync(path, gz)
    expect(() => loadTrace({ path })).toThrow(/has sha256 [0-9a-f]{64}, expected 42c0ff17/)
  })

  test('flattens every patch of a txn with several, in order', () => {
    const small = loadWritten('multi.json.gz', {
      startContent: '',
      endContent: 'abXd',
      txns: [
        {
          patches: [
            [0, 0, 'abc'],
            [3, 0, 'd'],
          ],
        },
        { patches: [[2, 1, 'X']] },
      ],
    })
    expect(small.length).toBe(3)
    expect([...small.pos]).toEqual([0, 3, 2])
    expect([...small.del]).toEqual([0, 0, 1])
    expect(small.ins).toEqual(['abc', 'd', 'X'])
  })

  test('refuses a patch that deletes past the end of the text', () => {
    const bad = {
      endContent: 'a',
      txns: [
        {
          patches: [
            [0, 0, 'ab'],
            [1, 2, ''],
          ],
        },
      ],
    }
    expect(() => loadWritten('past-end.json.gz', bad)).toThrow(
      'Trace patch 1 edits [1, 3) of a 2-character text.',
    )
  })

  test('refuses a trace whose patches do not end at the length of endContent', () => {
    const bad = { endContent: 'abc', txns: [{ patches: [[0, 0, 'ab']] }] }
    expect(() => loadWritten('short.json.gz', bad)).toThrow(
      'Trace ends with 2 characters; endContent has 3.',
    )
  })

  test('refuses a patch that is not [pos, delCount, text]', () => {
    const bad = { endContent: 'a', txns: [{ patches: [[-1, 0, 'a']] }] }
    expect(() => loadWritten('negative.json.gz', bad)).toThrow(/Trace patch 0 is not/)
  })
})

describe('replayPlain', () => {
  test('replays the automerge-paper trace to its endContent', () => {
    const trace = loadTrace()
    const text = replayPlain(trace)
    expect(text.length).toBe(104_852)
    expect(text === trace.endContent).toBe(true)
    expect(sha256(text)).toBe(TRACE_END_SHA256)
  })

  test('agrees with the README replay on multi-character patches across gap moves and growth', () => {
    const pos: number[] = []
    const del: number[] = []
    const ins: string[] = []
    let length = 0
    // A deterministic walk: inserts of 1..2,500 characters and deletes, jumping back and forth.
    for (let i = 0; i < 2000; i++) {
      const p = (i * 7919) % (length + 1)
      const d = i % 3 === 0 ? Math.min(length - p, (i * 31) % 50) : 0
      const s = String.fromCharCode(97 + (i % 26)).repeat(i % 5 === 0 ? 1 + ((i * 13) % 2500) : 1)
      pos.push(p)
      del.push(d)
      ins.push(s)
      length += s.length - d
    }
    const trace = {
      endContent: '',
      length: pos.length,
      pos: Int32Array.from(pos),
      del: Int32Array.from(del),
      ins,
    }
    const expected = replayBySlicing(trace)
    expect(expected.length).toBe(length)
    expect(replayPlain(trace)).toBe(expected)
  })
})
