/**
 * A labelled image grid, laid out like an X/Y plot: tiles upscaled with nearest neighbour
 * (token-sized images stay crisp), optional row headers on the left and column headers on top,
 * optional caption lines under each tile and a title, all drawn with the built-in bitmap font at
 * one size whatever the tile scale (a column is widened rather than its type shrunk). Text is
 * wrapped, never cut: a seed is always printed in full.
 */
import { ADVANCE, drawable, drawText, GLYPH_H } from './bitmap-font'
import type { RawImage } from './png'

export interface GridTile {
  readonly image: RawImage
  /** caption lines drawn under the tile (wrapped to the column) */
  readonly caption: readonly string[]
}

export interface GridOptions {
  /** tiles per row; about square by default */
  readonly columns?: number
  /** integer upscale of every tile; by default the smallest that makes tiles >= 128 px wide */
  readonly scale?: number
  readonly title?: string
  /** one per row of tiles, drawn left of it */
  readonly rowHeaders?: readonly string[]
  /** one per column, drawn above it */
  readonly columnHeaders?: readonly string[]
}

const PAD = 8
const BACKGROUND = 255
const INK = [32, 32, 32] as const
/** the scale of every text: 10x16 px glyphs */
export const FONT = 2
export const LINE_H = GLYPH_H * FONT + 2
/** a header or caption line is at most this many characters wide before it wraps */
const MAX_CHARS = 24

const chars = (text: string): string[] => Array.from(drawable(text))
const widthOf = (n: number): number => (n === 0 ? 0 : (n * ADVANCE - 1) * FONT)
const charsIn = (width: number): number => Math.max(1, Math.floor((width / FONT + 1) / ADVANCE))

/**
 * Lines of `text` no wider than `width` px at the grid's font: broken at spaces, and a word longer
 * than a line is broken inside (all of it is kept).
 */
export function wrapText(text: string, width: number): string[] {
  const max = charsIn(width)
  const lines: string[] = []
  let line: string[] = []
  for (const word of drawable(text)
    .split(/\s+/)
    .filter((w) => w !== '')) {
    let rest = Array.from(word)
    while (rest.length > max) {
      if (line.length > 0) lines.push(line.join(''))
      line = []
      lines.push(rest.slice(0, max).join(''))
      rest = rest.slice(max)
    }
    if (rest.length === 0) continue
    if (line.length === 0) line = rest
    else if (line.length + 1 + rest.length <= max) line = [...line, ' ', ...rest]
    else {
      lines.push(line.join(''))
      line = rest
    }
  }
  if (line.length > 0) lines.push(line.join(''))
  return lines
}

/** The widest word (in px, capped at MAX_CHARS characters) of some texts. */
function widestWord(texts: readonly string[]): number {
  let n = 0
  for (const t of texts) for (const w of drawable(t).split(/\s+/)) n = Math.max(n, chars(w).length)
  return widthOf(Math.min(n, MAX_CHARS))
}

export function composeGrid(tiles: readonly GridTile[], options: GridOptions = {}): RawImage {
  const first = tiles.at(0)
  if (!first) throw new RangeError('a grid needs at least one tile')
  const { width: w, height: h } = first.image
  for (const t of tiles) {
    if (t.image.width !== w || t.image.height !== h) throw new RangeError('grid tiles must all have one size')
  }
  const scale = Math.max(1, Math.floor(options.scale ?? Math.ceil(128 / w)))
  const tileW = w * scale
  const tileH = h * scale
  const columns = Math.max(1, Math.min(tiles.length, options.columns ?? Math.ceil(Math.sqrt(tiles.length))))
  const rows = Math.ceil(tiles.length / columns)
  const columnHeaders = options.columnHeaders ?? []
  const rowHeaders = options.rowHeaders ?? []

  // a column is as wide as its tile or its longest word, whichever is wider
  const colW = Math.max(tileW, widestWord([...columnHeaders, ...tiles.flatMap((t) => t.caption)]))
  const captions = tiles.map((t) => t.caption.flatMap((line) => wrapText(line, colW)))
  const captionLines = Math.max(0, ...captions.map((c) => c.length))
  const heads = columnHeaders.map((text) => wrapText(text, colW))
  const headH = heads.length > 0 ? Math.max(...heads.map((l) => l.length)) * LINE_H + 4 : 0
  const rowW =
    rowHeaders.length > 0
      ? Math.max(
          widestWord(rowHeaders),
          Math.min(widthOf(MAX_CHARS), Math.max(...rowHeaders.map((t) => widthOf(chars(t).length)))),
        )
      : 0
  const rowHeads = rowHeaders.map((text) => wrapText(text, rowW))
  const x0 = PAD + (rowW > 0 ? rowW + PAD : 0)
  const cellW = colW + PAD
  const cellH = Math.max(tileH, ...rowHeads.map((l) => l.length * LINE_H)) + captionLines * LINE_H + PAD
  const width = x0 + columns * cellW
  const titleLines = options.title ? wrapText(options.title, width - 2 * PAD) : []
  const titleH = titleLines.length > 0 ? titleLines.length * LINE_H + PAD : 0
  const y0 = PAD + titleH + headH
  const height = y0 + rows * cellH
  const data = new Uint8Array(width * height * 3).fill(BACKGROUND)
  const out: RawImage = { data, width, height, channels: 3 }
  const text = (line: string, x: number, y: number): void => {
    drawText(out, line, x, y, { scale: FONT, color: INK })
  }
  const centred = (line: string, x: number, span: number): number =>
    x + Math.max(0, Math.floor((span - widthOf(chars(line).length)) / 2))

  titleLines.forEach((line, j) => {
    text(line, PAD, PAD + j * LINE_H)
  })
  heads.forEach((lines, c) => {
    const x = x0 + c * cellW
    // bottom-aligned, so every header sits right above its column
    const top = PAD + titleH + headH - 4 - lines.length * LINE_H
    lines.forEach((line, j) => {
      text(line, centred(line, x, colW), top + j * LINE_H)
    })
  })
  rowHeads.forEach((lines, r) => {
    const top = y0 + r * cellH + Math.max(0, Math.floor((tileH - lines.length * LINE_H) / 2))
    lines.forEach((line, j) => {
      text(line, PAD, top + j * LINE_H)
    })
  })
  tiles.forEach((tile, i) => {
    const cx = x0 + (i % columns) * cellW
    const x1 = cx + Math.floor((colW - tileW) / 2)
    const y1 = y0 + Math.floor(i / columns) * cellH
    const src = tile.image
    for (let y = 0; y < tileH; y++) {
      const sy = Math.floor(y / scale)
      for (let x = 0; x < tileW; x++) {
        const si = (sy * w + Math.floor(x / scale)) * src.channels
        const o = ((y1 + y) * width + x1 + x) * 3
        for (let c = 0; c < 3; c++) data[o + c] = src.data[si + (src.channels === 3 ? c : 0)] ?? 0
      }
    }
    captions[i]?.forEach((line, j) => {
      text(line, centred(line, cx, colW), y1 + tileH + 2 + j * LINE_H)
    })
  })
  return out
}
