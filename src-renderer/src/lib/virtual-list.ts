/**
 * A virtualised list whose rows have a few fixed heights (History's job headers and image rows):
 * the rows' top offsets, the window of rows a viewport shows, and the scroll that reveals a row.
 * Lists of rows of one height use gallery.ts's rowWindow.
 */
import type { RowWindow } from './gallery'

/** Each row's top, and the total height last: `offsets[i]` .. `offsets[i + 1]` is row i. */
export function rowOffsets(heights: readonly number[]): Float64Array {
  const out = new Float64Array(heights.length + 1)
  for (let i = 0; i < heights.length; i++) out[i + 1] = out[i] + heights[i]
  return out
}

/** The last row whose top is at or above `y` (0 for an empty list). */
function rowAt(offsets: Float64Array, y: number): number {
  let lo = 0
  let hi = offsets.length - 2
  if (hi < 0) return 0
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (offsets[mid] <= y) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** The rows a viewport shows, with `overscan` rows either side. */
export function offsetWindow(
  offsets: Float64Array,
  scrollTop: number,
  viewportH: number,
  overscan = 4,
): RowWindow {
  const rows = offsets.length - 1
  const total = offsets[rows] ?? 0
  if (rows <= 0) return { start: 0, end: 0, before: 0, after: 0 }
  const top = Math.max(0, scrollTop)
  const start = Math.max(0, rowAt(offsets, top) - overscan)
  const end = Math.min(rows, rowAt(offsets, top + Math.max(0, viewportH)) + 1 + overscan)
  return { start, end, before: offsets[start], after: total - offsets[end] }
}

/** The scrollTop that brings row `row` fully into view (unchanged when it is in view). */
export function revealRow(offsets: Float64Array, scrollTop: number, viewportH: number, row: number): number {
  const top = offsets[row] ?? 0
  const bottom = offsets[row + 1] ?? top
  if (top < scrollTop) return top
  if (bottom > scrollTop + viewportH) return bottom - viewportH
  return scrollTop
}
