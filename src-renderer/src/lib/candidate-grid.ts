/**
 * Layout of many candidate token maps on one canvas (the Timeline's search scale at large N): one
 * canvas and one draw instead of N canvases, which is what froze the page at N = 1000 (each canvas
 * is its own element to style, lay out and paint).
 */

/** Above this many candidates the Timeline draws them on one canvas instead of one element each. */
export const CANVAS_CANDIDATES = 64

export interface CandidateGridLayout {
  readonly cols: number
  readonly rows: number
  readonly cell: number
  readonly gap: number
  readonly width: number
  readonly height: number
}

/**
 * Cells of `cell` px with `gap` px around them (room for the kept and chosen outlines), as many per
 * row as fit in `width`, at least one.
 */
export function candidateGridLayout(
  count: number,
  width: number,
  cell: number,
  gap: number,
): CandidateGridLayout {
  const pitch = cell + gap
  const cols = Math.max(1, Math.min(count, Math.floor((width - gap) / pitch)))
  const rows = Math.ceil(count / cols)
  return { cols, rows, cell, gap, width: cols * pitch + gap, height: rows * pitch + gap }
}

/** Top-left corner of candidate n's cell, in CSS px. */
export function cellOrigin(layout: CandidateGridLayout, n: number): { x: number; y: number } {
  const pitch = layout.cell + layout.gap
  return { x: layout.gap + (n % layout.cols) * pitch, y: layout.gap + Math.floor(n / layout.cols) * pitch }
}

/** The candidate under a point (CSS px), or undefined between cells and past the last one. */
export function candidateAt(
  layout: CandidateGridLayout,
  count: number,
  x: number,
  y: number,
): number | undefined {
  const pitch = layout.cell + layout.gap
  const cx = x - layout.gap
  const cy = y - layout.gap
  if (cx < 0 || cy < 0) return undefined
  const col = Math.floor(cx / pitch)
  const row = Math.floor(cy / pitch)
  if (col >= layout.cols || cx - col * pitch >= layout.cell || cy - row * pitch >= layout.cell) {
    return undefined
  }
  const n = row * layout.cols + col
  return n < count ? n : undefined
}
