/**
 * Class accuracy, Inception Score and FID of a scored image set, or of one bootstrap resample of it
 * (`idx`: the image indices drawn): the point estimate and every resample of `eval` and of a sweep's
 * cells go through here.
 */
import { gatherRows } from './bootstrap'
import { splitInceptionScore } from './imagenet'
import { frechetDistance, gaussianStats, type GaussianStats, inceptionScore } from './metrics'

export interface ScoredImages {
  readonly n: number
  /** class-probability columns per image (0: none) */
  readonly K: number
  /** feature dimension per image (0: none) */
  readonly dim: number
  readonly features: Float32Array
  readonly probs: Float64Array
  /** 1 where the classifier's argmax is the image's class */
  readonly correct: ArrayLike<number>
  /** false when no classifier scored the images (accuracy is NaN); default true */
  readonly hasAccuracy?: boolean
  /** IS over splits of 5000, as the ImageNet evaluators compute it; default one split */
  readonly splitIs?: boolean
}

export interface MetricValues {
  readonly accuracy: number
  readonly IS: number
  readonly FID: number
}

/** The metrics of the images `idx` (all of them when undefined); FID is NaN without a reference. */
export function metricValues(
  s: ScoredImages,
  ref: GaussianStats | undefined,
  idx: ArrayLike<number> | undefined,
): MetricValues {
  const n = idx ? idx.length : s.n
  const at = (i: number): number => (idx ? (idx[i] ?? 0) : i)
  let hits = 0
  for (let i = 0; i < n; i++) hits += s.correct[at(i)] ?? 0
  const probs = idx ? Float64Array.from(gatherRows(s.probs, s.K, idx)) : s.probs
  const features = idx ? gatherRows(s.features, s.dim, idx) : s.features
  return {
    accuracy: s.hasAccuracy === false ? Number.NaN : hits / n,
    IS:
      s.K === 0 ? Number.NaN : s.splitIs ? splitInceptionScore(probs, n, s.K) : inceptionScore(probs, n, s.K),
    FID: ref && s.dim > 0 ? frechetDistance(gaussianStats(features, n, s.dim), ref) : Number.NaN,
  }
}
