/**
 * Image plumbing for a feature network: bilinear resizing of [C, H, W] planes with half-pixel centres
 * and no antialiasing (torch's `interpolate(mode='bilinear', align_corners=False)`, which the PyTorch
 * FID ports use), and grey to RGB by repeating the channel.
 */

/** Resizes `count` images [C, H, W] to [C, h, w]; returns the input itself when the size is unchanged. */
export function resizeBilinear(
  images: Float32Array,
  count: number,
  C: number,
  H: number,
  W: number,
  h: number,
  w: number,
): Float32Array {
  if (h === H && w === W) return images
  const out = new Float32Array(count * C * h * w)
  const sy = H / h
  const sx = W / w
  const axis = (i: number, scale: number, size: number): [number, number, number] => {
    const src = Math.max(0, (i + 0.5) * scale - 0.5)
    const lo = Math.min(size - 1, Math.floor(src))
    const hi = Math.min(size - 1, lo + 1)
    return [lo, hi, src - lo]
  }
  const ys = Array.from({ length: h }, (_, y) => axis(y, sy, H))
  const xs = Array.from({ length: w }, (_, x) => axis(x, sx, W))
  for (let p = 0; p < count * C; p++) {
    const src = p * H * W
    const dst = p * h * w
    for (let y = 0; y < h; y++) {
      const [y0, y1, fy] = ys[y] ?? [0, 0, 0]
      for (let x = 0; x < w; x++) {
        const [x0, x1, fx] = xs[x] ?? [0, 0, 0]
        const a = images[src + y0 * W + x0] ?? 0
        const b = images[src + y0 * W + x1] ?? 0
        const c = images[src + y1 * W + x0] ?? 0
        const d = images[src + y1 * W + x1] ?? 0
        out[dst + y * w + x] = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
      }
    }
  }
  return out
}

/** Repeats the single channel of `count` grey images [1, H, W] three times. */
export function greyToRgb(images: Float32Array, count: number, H: number, W: number): Float32Array {
  const plane = H * W
  const out = new Float32Array(count * 3 * plane)
  for (let i = 0; i < count; i++) {
    const src = images.subarray(i * plane, (i + 1) * plane)
    for (let c = 0; c < 3; c++) out.set(src, (i * 3 + c) * plane)
  }
  return out
}
