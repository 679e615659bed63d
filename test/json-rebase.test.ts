import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { applySplices, rebaseSplices, type Splice } from '../src/core/json/rebase.ts'

// Texts of distinct characters, so that every character says where it came from: the base's,
// the document's inserts and the client's inserts are drawn from separate ranges.

/** Raw draws, turned into splices valid one after the other on a text of `length` characters. */
const rawSplices = fc.array(fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(4), fc.boolean()), {
  maxLength: 12,
})

function makeSplices(
  raw: readonly [number, number, number, boolean][],
  text: string,
  fresh: () => string,
): { splices: Splice[]; result: string } {
  const splices: Splice[] = []
  let result = text
  for (const [a, b, n, long] of raw) {
    const pos = a % (result.length + 1)
    const del = long ? b % (result.length - pos + 1) : Math.min(b % 3, result.length - pos)
    let ins = ''
    for (let i = 0; i < n; i++) ins += fresh()
    splices.push([pos, del, ins])
    result = applySplices(result, [[pos, del, ins]])
  }
  return { splices, result }
}

function counter(start: number): () => string {
  let next = start
  return () => String.fromCharCode(next++)
}

/** Whether `sub`'s characters appear in `text` in the same order (sub is a subsequence). */
function inOrder(text: string, sub: string): boolean {
  let i = 0
  for (const ch of text) if (ch === sub[i]) i++
  return i === sub.length
}

describe('rebaseSplices', () => {
  test('keeps every edit of both sides, in the order each side gave its characters', () => {
    fc.assert(
      fc.property(fc.nat(30), rawSplices, rawSplices, (baseLength, rawTheirs, rawOurs) => {
        const base = Array.from({ length: baseLength }, counter(0x4e00)).join('')
        const theirs = makeSplices(rawTheirs, base, counter(0x5000))
        const ours = makeSplices(rawOurs, base, counter(0x6000))
        const since = theirs.splices.map(([index, remove, insert]) => ({ index, remove, insert }))
        const rebased = rebaseSplices(ours.splices, since)
        const merged = applySplices(theirs.result, rebased)
        // What is in the result: base characters both kept, and what each side inserted and kept.
        const kept = (ch: string) => theirs.result.includes(ch) && ours.result.includes(ch)
        const expected = new Set([
          ...[...base].filter(kept),
          ...[...theirs.result].filter((ch) => !base.includes(ch)),
          ...[...ours.result].filter((ch) => !base.includes(ch)),
        ])
        expect(new Set(merged)).toEqual(expected)
        expect(merged.length).toBe(expected.size)
        // Each side's characters keep the order that side gave them.
        expect(
          inOrder(merged, [...theirs.result].filter((ch) => merged.includes(ch)).join('')),
        ).toBe(true)
        expect(inOrder(merged, [...ours.result].filter((ch) => merged.includes(ch)).join(''))).toBe(
          true,
        )
        // Every rebased splice is within the text it applies to.
        let text = theirs.result
        for (const [pos, del, ins] of rebased) {
          expect(pos + del).toBeLessThanOrEqual(text.length)
          text = applySplices(text, [[pos, del, ins]])
        }
      }),
      { numRuns: 2000 },
    )
  })

  test('with nothing applied since, the splices come back as one equivalent sequence', () => {
    fc.assert(
      fc.property(fc.nat(30), rawSplices, (baseLength, raw) => {
        const base = Array.from({ length: baseLength }, counter(0x4e00)).join('')
        const ours = makeSplices(raw, base, counter(0x6000))
        expect(applySplices(base, rebaseSplices(ours.splices, []))).toBe(ours.result)
      }),
    )
  })

  test('an insert at the place the document inserted goes after the document’s text', () => {
    const rebased = rebaseSplices([[5, 0, '!']], [{ index: 5, remove: 0, insert: ', world' }])
    expect(rebased).toEqual([[12, 0, '!']])
    expect(applySplices('hello, world', rebased)).toBe('hello, world!')
  })

  test('an edit after text the document inserted earlier moves by its length', () => {
    expect(rebaseSplices([[5, 0, '!']], [{ index: 0, remove: 0, insert: 'Oh, ' }])).toEqual([
      [9, 0, '!'],
    ])
  })

  test('text the document deleted is not deleted twice, and an insert inside it survives', () => {
    // base "abcdef": the document deleted "bcd"; the client deleted "cde" and typed "X" at 3.
    const since = [{ index: 1, remove: 3, insert: '' }]
    const rebased = rebaseSplices(
      [
        [2, 3, ''],
        [2, 0, 'X'],
      ],
      since,
    )
    expect(applySplices('aef', rebased)).toBe('aXf')
  })
})
