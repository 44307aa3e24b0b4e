/**
 * A labelled image grid: tiles upscaled with nearest neighbour (token-sized images stay crisp), a
 * caption under each tile and an optional title, drawn with the built-in bitmap font.
 */
import { drawText, fitText, GLYPH_H, textWidth } from './bitmap-font'
import type { RawImage } from './png'

export interface GridTile {
  readonly image: RawImage
  /** caption lines drawn under the tile */
  readonly caption: readonly string[]
}

export interface GridOptions {
  /** tiles per row; about square by default */
  readonly columns?: number
  /** integer upscale of every tile; by default the smallest that makes tiles >= 128 px wide */
  readonly scale?: number
  readonly title?: string
}

const PAD = 8
const BACKGROUND = 255
const INK = [32, 32, 32] as const

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
  const font = tileW >= 120 ? 2 : 1
  const lineH = GLYPH_H * font + 2
  const captionLines = Math.max(0, ...tiles.map((t) => t.caption.length))
  const cellW = tileW + PAD
  const cellH = tileH + captionLines * lineH + PAD
  const columns = Math.max(1, Math.min(tiles.length, options.columns ?? Math.ceil(Math.sqrt(tiles.length))))
  const rows = Math.ceil(tiles.length / columns)
  const titleH = options.title ? GLYPH_H * 2 + PAD : 0
  const width = PAD + columns * cellW
  const height = PAD + titleH + rows * cellH
  const data = new Uint8Array(width * height * 3).fill(BACKGROUND)
  const out: RawImage = { data, width, height, channels: 3 }

  if (options.title) {
    const titleScale = textWidth(options.title, 2) <= width - 2 * PAD ? 2 : 1
    const title = fitText(options.title, width - 2 * PAD, titleScale)
    drawText(out, title, PAD, PAD + (titleScale === 1 ? GLYPH_H / 2 : 0), { scale: titleScale, color: INK })
  }
  tiles.forEach((tile, i) => {
    const x0 = PAD + (i % columns) * cellW
    const y0 = PAD + titleH + Math.floor(i / columns) * cellH
    const src = tile.image
    for (let y = 0; y < tileH; y++) {
      const sy = Math.floor(y / scale)
      for (let x = 0; x < tileW; x++) {
        const si = (sy * w + Math.floor(x / scale)) * src.channels
        const o = ((y0 + y) * width + x0 + x) * 3
        for (let c = 0; c < 3; c++) data[o + c] = src.data[si + (src.channels === 3 ? c : 0)] ?? 0
      }
    }
    tile.caption.forEach((line, j) => {
      drawText(out, fitText(line, tileW, font), x0, y0 + tileH + 2 + j * lineH, { scale: font, color: INK })
    })
  })
  return out
}
