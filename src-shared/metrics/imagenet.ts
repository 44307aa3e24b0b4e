/**
 * The ImageNet evaluators' variants of the sample metrics (the ADM / guided-diffusion evaluator, which
 * the VAR paper's numbers follow): Inception Score as the mean over splits of 5000 images, and improved
 * precision / recall (Kynkaanniemi et al. 2019) with k = 3 on squared Euclidean distances, computed in
 * row blocks so 50,000 x 10,000 feature sets need no full distance matrix. FID is `frechetDistance`
 * of ./metrics.ts (the trace of the square root of C1 C2 through a symmetric eigendecomposition).
 */
import { inceptionScore } from './metrics'

/** Images per Inception Score split in the standard evaluators. */
export const IS_SPLIT_SIZE = 5000

/**
 * Inception Score over consecutive splits of `splitSize` rows (the last one may be shorter), each
 * exp(mean KL(p(y|x) || p(y))) with p(y) the split's mean; the result is the mean of the splits.
 */
export function splitInceptionScore(
  probs: ArrayLike<number>,
  n: number,
  k: number,
  splitSize = IS_SPLIT_SIZE,
): number {
  if (probs.length !== n * k)
    throw new RangeError(`splitInceptionScore: ${probs.length} values for ${n}x${k}`)
  if (n === 0) return Number.NaN
  const scores: number[] = []
  for (let start = 0; start < n; start += splitSize) {
    const rows = Math.min(splitSize, n - start)
    const part = Array.prototype.slice.call(probs, start * k, (start + rows) * k) as number[]
    scores.push(inceptionScore(part, rows, k))
  }
  return scores.reduce((s, x) => s + x, 0) / scores.length
}

function squaredNorms(x: ArrayLike<number>, n: number, dim: number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let t = 0; t < dim; t++) {
      const v = x[i * dim + t] ?? 0
      s += v * v
    }
    out[i] = s
  }
  return out
}

/**
 * Calls `visit(i, j, d)` with the squared distance of every row i of `a` to every row j of `b`,
 * as |a|^2 + |b|^2 - 2 a.b clamped at 0 (how the evaluators compute it).
 */
function forEachDistance(
  a: ArrayLike<number>,
  na: number,
  b: ArrayLike<number>,
  nb: number,
  dim: number,
  visit: (i: number, j: number, d: number) => void,
): void {
  const an = squaredNorms(a, na, dim)
  const bn = squaredNorms(b, nb, dim)
  const row = new Float64Array(dim)
  for (let i = 0; i < na; i++) {
    for (let t = 0; t < dim; t++) row[t] = a[i * dim + t] ?? 0
    const ai = an[i] ?? 0
    for (let j = 0; j < nb; j++) {
      let dot = 0
      const base = j * dim
      for (let t = 0; t < dim; t++) dot += (row[t] ?? 0) * (b[base + t] ?? 0)
      visit(i, j, Math.max(0, ai + (bn[j] ?? 0) - 2 * dot))
    }
  }
}

/**
 * Squared distance of each row to its k-th nearest row of the same set, the row itself counted as
 * the 0-th (so duplicates of a row count as neighbours at distance 0, as in the evaluators).
 */
export function manifoldRadii(x: ArrayLike<number>, n: number, dim: number, k = 3): Float64Array {
  const out = new Float64Array(n)
  // the k + 1 smallest distances of the current row, ascending
  const best = new Float64Array(k + 1)
  let current = -1
  const flush = (): void => {
    if (current >= 0) out[current] = best[Math.min(k, n - 1)] ?? 0
  }
  forEachDistance(x, n, x, n, dim, (i, j, d0) => {
    if (i !== current) {
      flush()
      current = i
      best.fill(Number.POSITIVE_INFINITY)
    }
    const d = i === j ? 0 : d0
    if (d >= (best[k] ?? 0)) return
    let p = k
    while (p > 0 && (best[p - 1] ?? 0) > d) {
      best[p] = best[p - 1] ?? 0
      p--
    }
    best[p] = d
  })
  flush()
  return out
}

/**
 * Precision: the share of sample rows inside at least one reference ball (centre, squared radius
 * `manifoldRadii`); recall: the share of reference rows inside at least one sample ball.
 */
export function manifoldPrecisionRecall(
  reference: ArrayLike<number>,
  nRef: number,
  samples: ArrayLike<number>,
  nSamples: number,
  dim: number,
  k = 3,
): { precision: number; recall: number } {
  if (nRef === 0 || nSamples === 0) return { precision: Number.NaN, recall: Number.NaN }
  const refRadii = manifoldRadii(reference, nRef, dim, k)
  const sampleRadii = manifoldRadii(samples, nSamples, dim, k)
  const sampleIn = new Uint8Array(nSamples)
  const refIn = new Uint8Array(nRef)
  forEachDistance(samples, nSamples, reference, nRef, dim, (s, r, d) => {
    if (d <= (refRadii[r] ?? -1)) sampleIn[s] = 1
    if (d <= (sampleRadii[s] ?? -1)) refIn[r] = 1
  })
  const share = (x: Uint8Array): number => x.reduce((s, v) => s + v, 0) / x.length
  return { precision: share(sampleIn), recall: share(refIn) }
}
