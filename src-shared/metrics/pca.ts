/**
 * Two principal components of a small point set, for the Density view's candidate map. Pure and
 * deterministic: power iteration from a fixed start on whichever of the centred Gram matrix (n x n)
 * or covariance matrix (d x d) is smaller, deflation for the second axis, and a sign rule (the score
 * of largest magnitude is positive) so the same points always give the same picture.
 */

export interface Projection2 {
  /** [n][2] scores on the two axes */
  readonly points: [number, number][]
  /** share of the total variance on each axis, in [0, 1] */
  readonly explained: [number, number]
}

const ITERATIONS = 2000
const TOLERANCE = 1e-13

/** Top eigenvector of the symmetric matrix `a` (m x m) by power iteration; returns [vector, value]. */
function topEigen(a: Float64Array, m: number): [Float64Array, number] {
  // A fixed, non-symmetric start avoids being orthogonal to the top vector in practice.
  let v = new Float64Array(m).map((_, i) => 1 + (i % 7) / 7)
  let lambda = 0
  for (let it = 0; it < ITERATIONS; it++) {
    const w = new Float64Array(m)
    for (let i = 0; i < m; i++) {
      let s = 0
      for (let j = 0; j < m; j++) s += a[i * m + j] * v[j]
      w[i] = s
    }
    let sq = 0
    for (let i = 0; i < m; i++) sq += w[i] * w[i]
    const norm = Math.sqrt(sq)
    if (norm === 0) return [v.fill(0), 0]
    let change = 0
    for (let i = 0; i < m; i++) {
      w[i] /= norm
      change = Math.max(change, Math.abs(w[i] - v[i]))
    }
    lambda = norm
    v = w
    if (change <= TOLERANCE) break
  }
  return [v, lambda]
}

function deflate(a: Float64Array, m: number, v: Float64Array, lambda: number): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) a[i * m + j] -= lambda * v[i] * v[j]
}

/** Projects `data` ([n][d] rows) onto its two principal axes. */
export function pca2(data: readonly ArrayLike<number>[]): Projection2 {
  const n = data.length
  const d = n > 0 ? data[0].length : 0
  const zero: Projection2 = { points: data.map(() => [0, 0]), explained: [0, 0] }
  if (n < 2 || d === 0) return zero
  const mean = new Float64Array(d)
  for (const row of data) for (let j = 0; j < d; j++) mean[j] += row[j] / n
  const x = new Float64Array(n * d)
  data.forEach((row, i) => {
    for (let j = 0; j < d; j++) x[i * d + j] = row[j] - mean[j]
  })
  const useGram = n <= d
  const m = useGram ? n : d
  const a = new Float64Array(m * m)
  for (let p = 0; p < m; p++) {
    for (let q = p; q < m; q++) {
      let s = 0
      if (useGram) for (let j = 0; j < d; j++) s += x[p * d + j] * x[q * d + j]
      else for (let i = 0; i < n; i++) s += x[i * d + p] * x[i * d + q]
      a[p * m + q] = s
      a[q * m + p] = s
    }
  }
  let trace = 0
  for (let i = 0; i < m; i++) trace += a[i * m + i]
  if (trace <= 0) return zero

  const axes: Float64Array[] = []
  const values: number[] = []
  for (let k = 0; k < 2; k++) {
    const [v, lambda] = topEigen(a, m)
    axes.push(v)
    values.push(lambda)
    deflate(a, m, v, lambda)
  }
  // Gram: scores are sqrt(lambda) * u. Covariance: scores are x . v.
  const scores = axes.map((v, k) => {
    const s = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      if (useGram) s[i] = Math.sqrt(Math.max(0, values[k])) * v[i]
      else for (let j = 0; j < d; j++) s[i] += x[i * d + j] * v[j]
    }
    let big = 0
    for (let i = 0; i < n; i++) if (Math.abs(s[i]) > Math.abs(s[big]) + 1e-12) big = i
    if (s[big] < 0) for (let i = 0; i < n; i++) s[i] = -s[i]
    return s
  })
  const share = (k: number): number => Math.min(1, Math.max(0, values[k] / trace))
  return {
    points: data.map((_, i) => [scores[0][i] + 0, scores[1][i] + 0]),
    explained: [share(0), share(1)],
  }
}
