/**
 * What Gallery, History and the image pickers share: one search and filter over recorded images,
 * keyboard movement in a thumbnail grid, and the window of rows a virtualised list renders.
 */
import type { ImageEntry } from '../../../src-shared/ipc'
import { strategyName } from '../../../src-shared/strategy-names'

export type DateRange = '' | 'today' | '7d' | '30d'

export interface ImageFilter {
  /** words that must all appear in an image's class, strategy, model, seed, date or job */
  readonly search?: string
  readonly classId?: string
  readonly strategy?: string
  readonly modelId?: string
  /** an exact seed, as typed */
  readonly seed?: string
  readonly date?: DateRange
}

const DAY_MS = 86_400_000

/** The text a search looks in: what a person reads about the image, ids included. */
export function searchText(i: ImageEntry): string {
  return [
    i.className,
    strategyName(i.strategyKind),
    i.strategyKind,
    i.modelId,
    `seed ${i.seed}`,
    `N ${i.N}`,
    i.createdAt.slice(0, 10),
    i.jobId,
    i.id,
  ]
    .join(' ')
    .toLowerCase()
}

/** The start of a date range, in ms since the epoch, relative to `now`. */
function since(range: DateRange, now: Date): number {
  if (range === 'today') return new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
  if (range === '7d') return now.getTime() - 7 * DAY_MS
  if (range === '30d') return now.getTime() - 30 * DAY_MS
  return -Infinity
}

export function filterImages(
  images: readonly ImageEntry[],
  f: ImageFilter,
  now: Date = new Date(),
): ImageEntry[] {
  const words = (f.search ?? '')
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== '')
  const seed = (f.seed ?? '').trim()
  const from = since(f.date ?? '', now)
  return images.filter(
    (i) =>
      (!f.classId || String(i.classId) === f.classId) &&
      (!f.strategy || i.strategyKind === f.strategy) &&
      (!f.modelId || i.modelId === f.modelId) &&
      (seed === '' || String(i.seed) === seed) &&
      (from === -Infinity || Date.parse(i.createdAt) >= from) &&
      (words.length === 0 || words.every((w) => searchText(i).includes(w))),
  )
}

/**
 * The index a key moves to in a grid of `count` items laid out `columns` wide (row-major);
 * undefined for keys that do not move. PageUp/PageDown move `pageRows` rows.
 */
export function gridMove(
  index: number,
  key: string,
  columns: number,
  count: number,
  pageRows = 1,
): number | undefined {
  if (count === 0) return undefined
  const cols = Math.max(1, columns)
  const clamp = (i: number): number => Math.min(count - 1, Math.max(0, i))
  const at = Math.min(count - 1, Math.max(0, index))
  switch (key) {
    case 'ArrowRight':
      return clamp(at + 1)
    case 'ArrowLeft':
      return clamp(at - 1)
    case 'ArrowDown':
      return at + cols < count ? at + cols : at
    case 'ArrowUp':
      return at - cols >= 0 ? at - cols : at
    case 'PageDown':
      return clamp(at + cols * Math.max(1, pageRows))
    case 'PageUp':
      return clamp(at - cols * Math.max(1, pageRows))
    case 'Home':
      return 0
    case 'End':
      return count - 1
    default:
      return undefined
  }
}

export interface RowWindow {
  /** first row rendered */
  readonly start: number
  /** one past the last row rendered */
  readonly end: number
  /** px above the first rendered row */
  readonly before: number
  /** px below the last rendered row */
  readonly after: number
}

/** The rows of a list of `rows` rows of `rowH` px that a viewport shows, with `overscan` either side. */
export function rowWindow(
  scrollTop: number,
  viewportH: number,
  rowH: number,
  rows: number,
  overscan = 3,
): RowWindow {
  if (rows === 0 || rowH <= 0) return { start: 0, end: 0, before: 0, after: 0 }
  const first = Math.floor(Math.max(0, scrollTop) / rowH)
  const start = Math.max(0, Math.min(rows - 1, first) - overscan)
  const end = Math.min(rows, Math.ceil((Math.max(0, scrollTop) + Math.max(0, viewportH)) / rowH) + overscan)
  return {
    start,
    end: Math.max(start, end),
    before: start * rowH,
    after: (rows - Math.max(start, end)) * rowH,
  }
}

/** The scrollTop that brings row `row` into a viewport (unchanged when it is in view). */
export function scrollToRow(scrollTop: number, viewportH: number, rowH: number, row: number): number {
  const top = row * rowH
  if (top < scrollTop) return top
  if (top + rowH > scrollTop + viewportH) return top + rowH - viewportH
  return scrollTop
}
