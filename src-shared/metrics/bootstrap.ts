/**
 * Confidence intervals for the evaluation: bootstrap resamples of image indices (seeded, so a run
 * can be repeated), percentile intervals, and improved precision and recall (Kynkaanniemi et al.
 * 2019: k-NN balls around each real / generated feature vector) on the classifier's features.
 */
import { createRng } from '../engine/rng'

/** `count` resamples of 0 .. n-1 with replacement, from a seeded stream. */
export function bootstrapIndices(n: number, count: number, seed = 0): Int32Array[] {
  const rng = createRng(seed)
  return Array.from({ length: count }, () => {
    const idx = new Int32Array(n)
    for (let i = 0; i < n; i++) idx[i] = rng.nextInt(0, n - 1)
    return idx
  })
}

export interface Interval {
  readonly lo: number
  readonly hi: number
}

/** The central `level` percentile interval of bootstrap values. */
export function percentileInterval(values: readonly number[], level = 0.95): Interval {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return { lo: Number.NaN, hi: Number.NaN }
  const at = (q: number): number => {
    const pos = q * (sorted.length - 1)
    const lo = Math.floor(pos)
    const hi = Math.min(sorted.length - 1, lo + 1)
    return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (pos - lo)
  }
  const tail = (1 - level) / 2
  return { lo: at(tail), hi: at(1 - tail) }
}

/** Rows `idx` of a [n, dim] matrix. */
export function gatherRows(values: ArrayLike<number>, dim: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * dim)
  for (let i = 0; i < idx.length; i++) {
    const src = (idx[i] ?? 0) * dim
    for (let j = 0; j < dim; j++) out[i * dim + j] = values[src + j] ?? 0
  }
  return out
}

/**
 * The bootstrap spread re-centred on the estimate: point + the percentile interval of (value - mean of
 * the values). Resampling with replacement repeats images, which biases FID upward (a set with
 * duplicates has a narrower covariance), so plain percentiles can miss the estimate entirely at small
 * n; the spread is kept and the bias dropped.
 */
export function centredInterval(point: number, values: readonly number[], level = 0.95): Interval {
  const finite = values.filter(Number.isFinite)
  if (finite.length === 0) return { lo: Number.NaN, hi: Number.NaN }
  const mean = finite.reduce((s, x) => s + x, 0) / finite.length
  const spread = percentileInterval(
    finite.map((x) => x - mean),
    level,
  )
  return { lo: point + spread.lo, hi: point + spread.hi }
}
