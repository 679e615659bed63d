import { describe, expect, test } from 'vitest'
import { SortedList } from '../src/core/sorted-list.ts'

const byNumber = (a: number, b: number) => a - b

describe('SortedList', () => {
  test('merges batches added between reads into one order, and finds where items start', () => {
    const list = new SortedList(byNumber)
    for (const n of [5, 1, 9]) list.add(n)
    expect(list.items()).toEqual([1, 5, 9])
    for (const n of [7, 0, 10, 3]) list.add(n)
    expect(list.size).toBe(7)
    expect(list.items()).toEqual([0, 1, 3, 5, 7, 9, 10])
    expect(list.indexOf(5)).toBe(3)
    expect(list.indexOf(5, { strict: true })).toBe(4)
    expect(list.indexOf(4)).toBe(3)
    expect(list.indexOf(-1)).toBe(0)
    expect(list.indexOf(11)).toBe(7)
  })
})
