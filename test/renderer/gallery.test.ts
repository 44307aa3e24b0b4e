import { describe, expect, it } from 'vitest'
import type { ImageEntry } from '../../src-shared/ipc'
import { filterImages, gridMove, rowWindow, scrollToRow } from '../../src-renderer/src/lib/gallery'
import { FASHION_CLASSES } from '../fixtures/manifest'

function entry(i: number, over: Partial<ImageEntry> = {}): ImageEntry {
  return {
    id: `img${i}`,
    jobId: `job${Math.floor(i / 4)}`,
    modelId: i % 2 ? 'fashion-mnist-var-d4' : 'other-model',
    classId: i % 10,
    className: FASHION_CLASSES[i % 10] ?? '',
    seed: 1000 + i,
    strategyKind: ['baseline', 'topk-only', 'randomk-only', 'var-scaling'][i % 4] ?? 'baseline',
    strategy: {},
    sampling: { cfg: 1, top_k: 0, top_p: 0 },
    N: 8,
    provider: 'cpu',
    createdAt: new Date(Date.UTC(2025, 0, 1 + (i % 60))).toISOString(),
    file: `images/x${i}.png`,
    width: 28,
    height: 28,
    parameters: '',
    ...over,
  }
}

describe('gallery search and filters', () => {
  const images = Array.from({ length: 200 }, (_, i) => entry(i))

  it('matches every word in class, strategy name or id, model, seed and date', () => {
    expect(filterImages(images, { search: 'sneaker' }).every((i) => i.className === 'Sneaker')).toBe(true)
    expect(filterImages(images, { search: 'sneaker' })).toHaveLength(20)
    // the strategy's name as people read it, and its id
    const topk = filterImages(images, { search: 'Top-k only' })
    expect(topk.length).toBe(50)
    expect(topk.every((i) => i.strategyKind === 'topk-only')).toBe(true)
    expect(filterImages(images, { search: 'var-scaling bag' }).map((i) => i.id)).toEqual(
      images.filter((i) => i.strategyKind === 'var-scaling' && i.className === 'Bag').map((i) => i.id),
    )
    expect(filterImages(images, { search: 'seed 1042' }).map((i) => i.id)).toEqual(['img42'])
    expect(
      filterImages(images, { search: '2025-01-03' }).every((i) => i.createdAt.startsWith('2025-01-03')),
    ).toBe(true)
    expect(filterImages(images, { search: 'other-model' })).toHaveLength(100)
    expect(filterImages(images, { search: 'zebra' })).toEqual([])
  })

  it('filters by class, strategy, model, exact seed and date range', () => {
    expect(filterImages(images, { classId: '7' })).toHaveLength(20)
    expect(filterImages(images, { strategy: 'baseline', modelId: 'other-model' })).toHaveLength(50)
    expect(filterImages(images, { seed: '1042' }).map((i) => i.id)).toEqual(['img42'])
    expect(filterImages(images, { seed: '104' })).toEqual([]) // exact, not a prefix
    const now = new Date(Date.UTC(2025, 0, 10, 12))
    const week = filterImages(images, { date: '7d' }, now)
    expect(week.length).toBeGreaterThan(0)
    expect(week.every((i) => Date.parse(i.createdAt) >= now.getTime() - 7 * 86_400_000)).toBe(true)
    expect(filterImages(images, { date: '' }, now)).toHaveLength(200)
  })
})

describe('thumbnail grid keys and virtual rows', () => {
  it('moves by arrows, pages, Home and End within the grid', () => {
    // 10 images, 4 columns: rows 0-3, 4-7, 8-9
    expect(gridMove(0, 'ArrowRight', 4, 10)).toBe(1)
    expect(gridMove(0, 'ArrowLeft', 4, 10)).toBe(0)
    expect(gridMove(1, 'ArrowDown', 4, 10)).toBe(5)
    expect(gridMove(6, 'ArrowDown', 4, 10)).toBe(6) // no image below
    expect(gridMove(5, 'ArrowDown', 4, 10)).toBe(9)
    expect(gridMove(5, 'ArrowUp', 4, 10)).toBe(1)
    expect(gridMove(1, 'ArrowUp', 4, 10)).toBe(1)
    expect(gridMove(3, 'ArrowRight', 4, 10)).toBe(4) // wraps to the next row
    expect(gridMove(0, 'PageDown', 4, 10, 2)).toBe(8)
    expect(gridMove(9, 'PageUp', 4, 10, 5)).toBe(0)
    expect(gridMove(4, 'Home', 4, 10)).toBe(0)
    expect(gridMove(4, 'End', 4, 10)).toBe(9)
    expect(gridMove(4, 'Enter', 4, 10)).toBeUndefined()
    expect(gridMove(0, 'ArrowRight', 4, 0)).toBeUndefined()
  })

  it('renders only the rows in view: 5000 images are a few dozen tiles in the page', () => {
    const rows = Math.ceil(5000 / 8)
    const top = rowWindow(0, 800, 144, rows)
    expect(top.start).toBe(0)
    expect(top.end).toBeLessThan(12)
    const mid = rowWindow(300 * 144 + 20, 800, 144, rows)
    expect(mid.start).toBe(297)
    expect(mid.end - mid.start).toBeLessThan(14)
    expect(mid.before + (mid.end - mid.start) * 144 + mid.after).toBe(rows * 144)
    const end = rowWindow(rows * 144, 800, 144, rows)
    expect(end.end).toBe(rows)
    expect(rowWindow(0, 800, 144, 0)).toEqual({ start: 0, end: 0, before: 0, after: 0 })
    // a row above the view scrolls up to it, one below just into it, one in view stays
    expect(scrollToRow(1000, 500, 100, 5)).toBe(500)
    expect(scrollToRow(1000, 500, 100, 20)).toBe(1600)
    expect(scrollToRow(1000, 500, 100, 12)).toBe(1000)
  })
})
