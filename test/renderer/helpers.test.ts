import { describe, expect, it } from 'vitest'
import { gridLayout, type GridImage } from '../../src-renderer/src/lib/grid-axes'
import { dataUrlBytes, num } from '../../src-renderer/src/lib/format'
import { tokenAt, tokenMapPixels, tokenRgb } from '../../src-renderer/src/lib/palette'
import { progressFraction, progressText } from '../../src-renderer/src/lib/progress'
import { defaultConfigs, strategyIssues, withKind } from '../../src-renderer/src/lib/strategy'

describe('token palette', () => {
  it('gives every id a stable colour and neighbours different ones', () => {
    expect(tokenRgb(17)).toEqual(tokenRgb(17))
    for (let id = 0; id < 511; id++) expect(tokenRgb(id)).not.toEqual(tokenRgb(id + 1))
    for (const c of tokenRgb(300)) expect(c).toBeGreaterThanOrEqual(0)
  })

  it('lays out one RGBA pixel per token, row-major', () => {
    const pixels = tokenMapPixels([0, 1, 2, 3], 2)
    expect(pixels).toHaveLength(16)
    expect([...pixels.slice(4, 7)]).toEqual(tokenRgb(1))
    expect(pixels[15]).toBe(255)
    expect(() => tokenMapPixels([1, 2, 3], 2)).toThrow(/needs 4 tokens/)
  })

  it('finds the token under the pointer', () => {
    expect(tokenAt([5, 6, 7, 8], 2, 100, 75, 10)).toEqual({ row: 0, col: 1, id: 6 })
    expect(tokenAt([5, 6, 7, 8], 2, 100, 99.9, 99.9)).toEqual({ row: 1, col: 1, id: 8 })
    expect(tokenAt([5, 6, 7, 8], 2, 100, 100, 0)).toBeUndefined()
  })
})

describe('grid layout', () => {
  const img = (id: string, classId: number, seed: number, strategyKind: string, N: number): GridImage => ({
    id,
    classId,
    className: `c${classId}`,
    seed,
    strategyKind,
    N,
  })
  const images = [
    img('a', 1, 7, 'var-scaling', 50),
    img('b', 1, 7, 'baseline', 1),
    img('c', 0, 7, 'topk-only', 50),
    img('d', 0, 7, 'var-scaling', 50),
  ]

  it('orders classes by id and strategies in the canonical order, leaving empty cells blank', () => {
    const layout = gridLayout(images, 'class', 'strategy')
    expect(layout.rows.map((r) => r.label)).toEqual(['c0', 'c1'])
    // the one strategy order (the paper's figures), with the names people read
    expect(layout.columns.map((c) => c.key)).toEqual(['baseline', 'topk-only', 'var-scaling'])
    expect(layout.columns.map((c) => c.label)).toEqual(['Baseline', 'Top-k only', 'VAR-Scaling'])
    expect(layout.cells).toEqual([
      [null, 'c', 'd'],
      ['b', null, 'a'],
    ])
    expect(layout.empty).toBe(2)
    expect(layout.hidden).toBe(0)
  })

  it('counts images that collide in one cell', () => {
    const layout = gridLayout(images, 'seed', 'N')
    expect(layout.rows).toHaveLength(1)
    expect(layout.columns.map((c) => c.label)).toEqual(['N = 1', 'N = 50'])
    expect(layout.hidden).toBe(2)
  })
})

describe('strategy knobs', () => {
  it('takes its defaults from the engine schema', () => {
    const d = defaultConfigs()
    expect(d['var-scaling']).toMatchObject({ searchScales: [1], N: 50, k: 10, alpha: 2.3 })
    expect(d['best-of-n']).toEqual({ kind: 'best-of-n', N: 4 })
  })

  it('reports bad knobs by field, including scales the model lacks', () => {
    expect(strategyIssues({ ...defaultConfigs()['var-scaling'], k: 60 })).toHaveProperty('k')
    expect(strategyIssues({ ...defaultConfigs()['var-scaling'], searchScales: [9] }, 6)).toHaveProperty(
      'searchScales',
    )
    expect(strategyIssues(defaultConfigs()['topk-only'], 6)).toEqual({})
  })

  it('carries the search knobs over for Compare', () => {
    const vs = { ...defaultConfigs()['var-scaling'], N: 20 }
    expect(withKind(vs, 'topk-only')).toMatchObject({ kind: 'topk-only', N: 20 })
    expect(withKind(vs, 'baseline')).toEqual({ kind: 'baseline' })
  })
})

describe('progress and formatting', () => {
  const progress = { si: 2, S: 6, batch: 0, batches: 1, generation: 0, generations: 1, done: 0 }
  it('shows a 1-based scale', () => {
    expect(progressText({ state: 'running', progress })).toBe('scale 3 of 6')
    expect(progressFraction({ state: 'running', progress })).toBeCloseTo(0.5)
    expect(progressText({ state: 'running', progress: { ...progress, batches: 2, batch: 1 } })).toBe(
      'scale 3 of 6 · batch 2 of 2',
    )
  })
  it('measures data URLs and prints numbers compactly', () => {
    expect(dataUrlBytes('data:image/png;base64,AAAA')).toBe(3)
    expect(dataUrlBytes('data:image/png;base64,AA==')).toBe(1)
    expect(num(2.345678)).toBe('2.346')
    expect(num(0.0000123)).toBe('1.23e-5')
  })
})
