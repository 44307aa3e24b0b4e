/**
 * Sample-quality metrics computed from a classifier's outputs: class accuracy, Inception Score and
 * the Fréchet distance between two Gaussians fitted to feature vectors (FID). Pure math on typed
 * arrays; rows are row-major `[n, dim]`.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix'

/** Row-wise softmax of `[n, k]` logits, computed stably in float64. */
export function softmaxRows(logits: ArrayLike<number>, n: number, k: number): Float64Array {
  if (logits.length !== n * k) throw new RangeError(`softmaxRows: ${logits.length} values for ${n}x${k}`)
  const out = new Float64Array(n * k)
  for (let i = 0; i < n; i++) {
    let max = -Infinity
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j] ?? 0)
    let sum = 0
    for (let j = 0; j < k; j++) {
      const e = Math.exp((logits[i * k + j] ?? 0) - max)
      out[i * k + j] = e
      sum += e
    }
    for (let j = 0; j < k; j++) out[i * k + j] = (out[i * k + j] ?? 0) / sum
  }
  return out
}

/** Index of the largest value of each `[n, k]` row. */
export function argmaxRows(values: ArrayLike<number>, n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let best = 0
    for (let j = 1; j < k; j++) if ((values[i * k + j] ?? 0) > (values[i * k + best] ?? 0)) best = j
    return best
  })
}

/** Share of rows whose argmax equals the requested label. */
export function classAccuracy(logits: ArrayLike<number>, labels: readonly number[], k: number): number {
  const n = labels.length
  if (n === 0) return NaN
  const predicted = argmaxRows(logits, n, k)
  return predicted.filter((p, i) => p === labels[i]).length / n
}

/**
 * Inception Score of `[n, k]` class probabilities: exp(mean_x KL(p(y|x) || p(y))) with p(y) the
 * mean of the rows (one split). 1 for identical rows, k for confident rows spread evenly over k classes.
 */
export function inceptionScore(probs: ArrayLike<number>, n: number, k: number): number {
  if (probs.length !== n * k) throw new RangeError(`inceptionScore: ${probs.length} values for ${n}x${k}`)
  if (n === 0) return NaN
  const marginal = new Float64Array(k)
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) marginal[j] = (marginal[j] ?? 0) + (probs[i * k + j] ?? 0) / n
  let kl = 0
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j] ?? 0
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[j] ?? 0))
    }
  }
  return Math.exp(kl / n)
}

/** Mean and covariance of a set of feature vectors. */
export interface GaussianStats {
  readonly dim: number
  readonly count: number
  readonly mean: number[]
  /** `[dim][dim]`, unbiased (divides by count - 1; by 1 for a single sample). */
  readonly cov: number[][]
}

/** Mean and unbiased covariance of `[n, dim]` features, accumulated in float64. */
export function gaussianStats(features: ArrayLike<number>, n: number, dim: number): GaussianStats {
  if (features.length !== n * dim) {
    throw new RangeError(`gaussianStats: ${features.length} values for ${n}x${dim}`)
  }
  if (n < 1) throw new RangeError('gaussianStats: needs at least one sample')
  const mean = new Float64Array(dim)
  for (let i = 0; i < n; i++)
    for (let a = 0; a < dim; a++) mean[a] = (mean[a] ?? 0) + (features[i * dim + a] ?? 0)
  for (let a = 0; a < dim; a++) mean[a] = (mean[a] ?? 0) / n
  const cov = new Float64Array(dim * dim)
  const row = new Float64Array(dim)
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < dim; a++) row[a] = (features[i * dim + a] ?? 0) - (mean[a] ?? 0)
    for (let a = 0; a < dim; a++) {
      const ra = row[a] ?? 0
      if (ra === 0) continue
      const base = a * dim
      for (let b = a; b < dim; b++) cov[base + b] = (cov[base + b] ?? 0) + ra * (row[b] ?? 0)
    }
  }
  const denom = Math.max(1, n - 1)
  // Only the upper triangle was accumulated: read (min, max) for both halves.
  const out = Array.from({ length: dim }, (_, a) =>
    Array.from({ length: dim }, (_, b) => (cov[Math.min(a, b) * dim + Math.max(a, b)] ?? 0) / denom),
  )
  return { dim, count: n, mean: Array.from(mean), cov: out }
}

/** Symmetric eigen-decomposition; negative eigenvalues from rounding are clamped to 0. */
function symmetricSqrt(m: Matrix): Matrix {
  const e = new EigenvalueDecomposition(m, { assumeSymmetric: true })
  const v = e.eigenvectorMatrix
  const roots = e.realEigenvalues.map((x) => Math.sqrt(Math.max(0, x)))
  // ml-matrix's element-wise methods work in place: scale a copy.
  return v.clone().mulRowVector(roots).mmul(v.transpose())
}

function symmetrise(m: Matrix): Matrix {
  return Matrix.add(m, m.transpose()).mul(0.5)
}

/**
 * Fréchet distance between N(mu1, C1) and N(mu2, C2):
 * |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((sqrt(C1) C2 sqrt(C1))^(1/2)).
 * The inner product is symmetric positive semi-definite, so its square root's trace is the sum of
 * the square roots of its eigenvalues.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new RangeError(`frechetDistance: dimensions ${a.dim} and ${b.dim} differ`)
  let meanTerm = 0
  for (let i = 0; i < a.dim; i++) meanTerm += ((a.mean[i] ?? 0) - (b.mean[i] ?? 0)) ** 2
  const c1 = new Matrix(a.cov)
  const c2 = new Matrix(b.cov)
  const s1 = symmetricSqrt(symmetrise(c1))
  const inner = symmetrise(s1.mmul(c2).mmul(s1))
  const e = new EigenvalueDecomposition(inner, { assumeSymmetric: true })
  const traceSqrt = e.realEigenvalues.reduce((s, x) => s + Math.sqrt(Math.max(0, x)), 0)
  const fd = meanTerm + c1.trace() + c2.trace() - 2 * traceSqrt
  // Rounding can leave a tiny negative value for identical distributions.
  return Math.max(0, fd)
}
