/**
 * Colours for token ids. Consecutive ids land far apart on the hue circle (golden-ratio steps), so
 * neighbouring codebook entries stay distinguishable, and the same id is the same colour in every
 * view and every run.
 */
const GOLDEN = 0.618033988749895

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h * 12) % 12
  const a = s * Math.min(l, 1 - l)
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1))
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)]
}

/** The colour of a token id as [r, g, b] in 0..255. */
export function tokenRgb(id: number): [number, number, number] {
  const hue = (id * GOLDEN) % 1
  // Three lightness bands make ids with nearby hues (id and id + 21, ...) differ too.
  const lightness = [0.42, 0.56, 0.7][id % 3] ?? 0.56
  return hslToRgb(hue, 0.7, lightness)
}

/** RGBA pixels of a pn x pn token map, one pixel per token (the canvas scales it up). */
export function tokenMapPixels(tokens: readonly number[], pn: number): Uint8ClampedArray<ArrayBuffer> {
  if (tokens.length !== pn * pn) {
    throw new RangeError(`a ${pn}x${pn} token map needs ${pn * pn} tokens, got ${tokens.length}`)
  }
  const pixels = new Uint8ClampedArray(pn * pn * 4)
  tokens.forEach((id, i) => {
    const [r, g, b] = tokenRgb(id)
    pixels.set([r, g, b, 255], i * 4)
  })
  return pixels
}

/** The token under a point of a map drawn `size` px wide, or undefined outside it. */
export function tokenAt(
  tokens: readonly number[],
  pn: number,
  size: number,
  x: number,
  y: number,
): { row: number; col: number; id: number } | undefined {
  if (x < 0 || y < 0 || x >= size || y >= size) return undefined
  const col = Math.min(pn - 1, Math.floor((x / size) * pn))
  const row = Math.min(pn - 1, Math.floor((y / size) * pn))
  const id = tokens.at(row * pn + col)
  return id === undefined ? undefined : { row, col, id }
}
