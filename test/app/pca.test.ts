import { describe, expect, it } from 'vitest'
import { pca2 } from '../../src-shared/metrics/pca'

describe('pca2', () => {
  it('finds the axes of points spread along known directions', () => {
    // x spreads 10x more than y; z is constant: axis 1 is x, axis 2 is y.
    const pts = [-2, -1, 0, 1, 2].flatMap((a) => [-1, 1].map((b) => [10 * a, b, 5]))
    const { points, explained } = pca2(pts)
    points.forEach(([u, v], i) => {
      expect(Math.abs(u)).toBeCloseTo(Math.abs(pts[i][0]), 9)
      expect(Math.abs(v)).toBeCloseTo(1, 9)
    })
    expect(explained[0] + explained[1]).toBeCloseTo(1, 9)
    expect(explained[0]).toBeCloseTo(2000 / 2010, 9)
  })

  it('gives the same picture for the Gram (n <= d) and covariance (n > d) paths, with a fixed sign', () => {
    const rows = Array.from({ length: 6 }, (_, i) => [Math.sin(i), Math.cos(2 * i), i / 3, (i * i) % 5])
    const wide = rows.map((r) => [...r, ...r.map((x) => 0 * x)]) // 8 dims, 6 points: Gram
    const tall = [...rows, ...rows] // 12 points, 4 dims: covariance
    const a = pca2(wide)
    const b = pca2(tall)
    a.points.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(b.points[i][0], 6)
      expect(p[1]).toBeCloseTo(b.points[i][1], 6)
    })
    // Deterministic sign: the score of largest magnitude on each axis is positive.
    for (const k of [0, 1]) {
      const scores = a.points.map((p) => p[k])
      const big = scores.reduce((m, s) => (Math.abs(s) > Math.abs(m) ? s : m), 0)
      expect(big).toBeGreaterThan(0)
    }
    expect(pca2(wide)).toEqual(a)
  })

  it('returns zeros for degenerate input', () => {
    expect(pca2([])).toEqual({ points: [], explained: [0, 0] })
    expect(pca2([[1, 2]])).toEqual({ points: [[0, 0]], explained: [0, 0] })
    expect(
      pca2([
        [1, 2],
        [1, 2],
        [1, 2],
      ]),
    ).toEqual({
      points: [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      explained: [0, 0],
    })
  })
})
