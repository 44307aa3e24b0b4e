import { describe, expect, it } from 'vitest'
import { candidateAt, candidateGridLayout, cellOrigin } from '../../src-renderer/src/lib/candidate-grid'

describe('candidate grid on one canvas', () => {
  it('fits as many cells per row as the width allows, at least one', () => {
    // 36 px cells, 5 px gaps: 5 + 10 * 41 = 415 px holds 10 columns, 414 px only 9
    expect(candidateGridLayout(1000, 415, 36, 5)).toMatchObject({
      cols: 10,
      rows: 100,
      width: 415,
      height: 4105,
    })
    expect(candidateGridLayout(1000, 414, 36, 5).cols).toBe(9)
    expect(candidateGridLayout(3, 1000, 36, 5)).toMatchObject({ cols: 3, rows: 1 })
    expect(candidateGridLayout(5, 10, 36, 5)).toMatchObject({ cols: 1, rows: 5 })
  })

  it('puts candidate n row-major and finds it again under the pointer', () => {
    const layout = candidateGridLayout(25, 415, 36, 5)
    expect(cellOrigin(layout, 0)).toEqual({ x: 5, y: 5 })
    expect(cellOrigin(layout, 13)).toEqual({ x: 5 + 3 * 41, y: 5 + 41 })
    for (const n of [0, 9, 10, 13, 24]) {
      const { x, y } = cellOrigin(layout, n)
      expect(candidateAt(layout, 25, x, y)).toBe(n)
      expect(candidateAt(layout, 25, x + 35.9, y + 35.9)).toBe(n)
    }
  })

  it('finds nothing in the gaps, outside the grid or past the last candidate', () => {
    const layout = candidateGridLayout(25, 415, 36, 5)
    expect(candidateAt(layout, 25, 2, 10)).toBeUndefined()
    expect(candidateAt(layout, 25, 5 + 36 + 1, 10)).toBeUndefined()
    expect(candidateAt(layout, 25, 10, 5 + 36 + 1)).toBeUndefined()
    expect(candidateAt(layout, 25, 414, 10)).toBeUndefined()
    const last = cellOrigin(layout, 25) // the cell after the last candidate
    expect(candidateAt(layout, 25, last.x + 1, last.y + 1)).toBeUndefined()
  })
})
