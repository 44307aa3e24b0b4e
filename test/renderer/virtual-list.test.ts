import { describe, expect, it } from 'vitest'
import { offsetWindow, revealRow, rowOffsets } from '../../src-renderer/src/lib/virtual-list'

// History's shape: a 40 px job header, then four 66 px image rows, five times
const heights = Array.from({ length: 5 }, () => [40, 66, 66, 66, 66]).flat()
const offsets = rowOffsets(heights)

describe('virtual list of rows of a few heights', () => {
  it('places every row and the total height', () => {
    expect(offsets.length).toBe(26)
    expect(offsets[1]).toBe(40)
    expect(offsets[5]).toBe(304)
    expect(offsets[25]).toBe(5 * 304)
  })

  it('renders the rows in view and the overscan, with spacers that keep the total height', () => {
    const w = offsetWindow(offsets, 304, 200, 1)
    // rows 5 (header at 304) .. 8 (image at 476-542) are in view; one more either side
    expect([w.start, w.end]).toEqual([4, 10])
    expect(w.before).toBe(offsets[4])
    expect(w.before + (offsets[w.end] - offsets[w.start]) + w.after).toBe(offsets[25])
    expect(offsetWindow(offsets, 0, 100, 0)).toMatchObject({ start: 0, end: 2, before: 0 })
    expect(offsetWindow(offsets, 10_000, 300, 0)).toMatchObject({ start: 24, end: 25, after: 0 })
    expect(offsetWindow(rowOffsets([]), 0, 300)).toEqual({ start: 0, end: 0, before: 0, after: 0 })
  })

  it('scrolls just enough to show a row', () => {
    expect(revealRow(offsets, 0, 200, 1)).toBe(0) // in view
    expect(revealRow(offsets, 0, 200, 4)).toBe(offsets[5] - 200) // below: its bottom at the edge
    expect(revealRow(offsets, 600, 200, 2)).toBe(offsets[2]) // above: its top at the edge
  })
})
