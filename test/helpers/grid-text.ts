/**
 * Finds text drawn with the built-in bitmap font in an image: the text is drawn alone into a
 * template and the image searched for the same ink and paper, pixel for pixel. Reads what an
 * exported grid says without OCR.
 */
import { ADVANCE, drawable, drawText, GLYPH_H } from '../../src-main/storage/bitmap-font'
import { FONT } from '../../src-main/storage/grid'

export interface Raw {
  readonly data: Uint8Array
  readonly width: number
  readonly height: number
  readonly channels: number
}

/** Whether `text` appears in `image` at the grid's font (ink darker than 128, paper lighter). */
export function hasText(image: Raw, text: string, scale = FONT): boolean {
  const n = Array.from(drawable(text)).length
  const tw = n * ADVANCE * scale - scale
  const th = GLYPH_H * scale
  const mask = { data: new Uint8Array(tw * th), width: tw, height: th, channels: 1 }
  drawText(mask, text, 0, 0, { scale, color: [1] })
  const ink: number[] = []
  const paper: number[] = []
  for (let i = 0; i < tw * th; i++) (mask.data[i] ? ink : paper).push(i)
  if (ink.length === 0) return false
  const first = ink[0] ?? 0
  const dark = (x: number, y: number): boolean =>
    (image.data[(y * image.width + x) * image.channels] ?? 255) < 128
  for (let y = 0; y + th <= image.height; y++) {
    for (let x = 0; x + tw <= image.width; x++) {
      if (!dark(x + (first % tw), y + Math.floor(first / tw))) continue
      const at = (i: number): boolean => dark(x + (i % tw), y + Math.floor(i / tw))
      if (ink.every(at) && !paper.some(at)) return true
    }
  }
  return false
}
