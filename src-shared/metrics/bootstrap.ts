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

function squaredDistances(
  a: ArrayLike<number>,
  na: number,
  b: ArrayLike<number>,
  nb: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(na * nb)
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      let s = 0
      for (let t = 0; t < dim; t++) {
        const x = (a[i * dim + t] ?? 0) - (b[j * dim + t] ?? 0)
        s += x * x
      }
      out[i * nb + j] = s
    }
  }
  return out
}

/** Squared distance of each point to its k-th nearest other point of the same set. */
function kthRadii(self: Float64Array, n: number, k: number): Float64Array {
  const out = new Float64Array(n)
  const row = new Float64Array(n - 1)
  for (let i = 0; i < n; i++) {
    let c = 0
    for (let j = 0; j < n; j++) if (j !== i) row[c++] = self[i * n + j] ?? 0
    row.sort()
    out[i] = row[Math.min(k, n - 1) - 1] ?? 0
  }
  return out
}

/** Share of `points` inside at least one ball (centre, squared radius). */
function coverage(
  cross: Float64Array,
  nPoints: number,
  nCentres: number,
  radii: Float64Array,
  pointsFirst: boolean,
): number {
  let inside = 0
  for (let p = 0; p < nPoints; p++) {
    for (let c = 0; c < nCentres; c++) {
      const d = pointsFirst ? cross[p * nCentres + c] : cross[c * nPoints + p]
      if (d <= (radii[c] ?? -1)) {
        inside++
        break
      }
    }
  }
  return inside / nPoints
}

/**
 * Precision: share of generated features inside the real manifold (the union of k-NN balls around
 * real features); recall: share of real features inside the generated manifold.
 */
export function precisionRecall(
  real: ArrayLike<number>,
  nReal: number,
  fake: ArrayLike<number>,
  nFake: number,
  dim: number,
  k = 3,
): { precision: number; recall: number } {
  const realRadii = kthRadii(squaredDistances(real, nReal, real, nReal, dim), nReal, k)
  const fakeRadii = kthRadii(squaredDistances(fake, nFake, fake, nFake, dim), nFake, k)
  const cross = squaredDistances(fake, nFake, real, nReal, dim) // [fake][real]
  return {
    precision: coverage(cross, nFake, nReal, realRadii, true),
    recall: coverage(cross, nReal, nFake, fakeRadii, false),
  }
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
