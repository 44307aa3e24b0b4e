/**
 * Classifier-free guidance, top-k / top-p filtering and token draws (DESIGN section 3, steps 2-3).
 *
 * Filtering follows the reference exactly, without sorting the vocabulary:
 *  - top-k keeps every entry >= the k-th largest value (so ties at the threshold all stay, as
 *    with torch's `z < kth` mask); found with a quickselect;
 *  - top-p orders the surviving entries ascending by (value, token id), a total order, so equal
 *    logits are ordered by id and the lower id is dropped first; it drops the longest prefix whose
 *    cumulative softmax mass is <= 1 - top_p and never the last (largest) entry. The prefix is found
 *    by binning the values, then a partition search inside the one bin that holds the cut, carrying
 *    the mass of everything below the current range. The cut equals the sorted definition's up to
 *    float64 summation order (the masses are summed in a different order than a sorted cumsum).
 * Filtered entries become -Infinity in place, which is what the authors' loop re-filters when
 * `legacyProgressiveNucleus` is on.
 */
import type { Rng } from './rng'

export interface SamplingParams {
  /** guidance strength; the schedule ramps it linearly over the scales */
  cfg: number
  /** keep the top_k largest logits; 0 turns it off */
  top_k: number
  /** nucleus mass in (0, 1]; 1 turns it off */
  top_p: number
}

/** t = cfg·si/(S-1); 0 for a single-scale schedule. */
export function guidanceScale(cfg: number, si: number, S: number): number {
  return S > 1 ? (cfg * si) / (S - 1) : 0
}

/**
 * z[p, :] = (1+t)·logits[b, p, :] - t·logits[B+b, p, :] for row b of raw logits [2B, l, V]: the
 * guided logits of one image, written to out[0, l·V) (`out` may be longer, e.g. sized for the
 * largest scale, and is reused from row to row).
 */
export function guideRow(
  logits: Float32Array,
  B: number,
  l: number,
  V: number,
  t: number,
  b: number,
  out: Float32Array,
): Float32Array {
  const n = l * V
  if (logits.length !== 2 * B * n)
    throw new RangeError(`logits has ${logits.length} values, ${2 * B * n} expected`)
  if (out.length < n) throw new RangeError(`guidance buffer has ${out.length} values, ${n} needed`)
  const cond = b * n
  const uncond = (B + b) * n
  if (t === 0) {
    out.set(logits.subarray(cond, cond + n))
    return out
  }
  const a = 1 + t
  for (let i = 0; i < n; i++) out[i] = a * logits[cond + i] - t * logits[uncond + i]
  return out
}

/** Bins of the top-p search (a Uint8Array holds the bin of each id; NO_BUCKET marks -Infinity). */
const BUCKETS = 128
const NO_BUCKET = 255

/** Ascending by value, then by token id: the total order the nucleus is cut in. */
function before(z: Float32Array, off: number, a: number, b: number): boolean {
  const za = z[off + a]
  const zb = z[off + b]
  return za < zb || (za === zb && a < b)
}

/**
 * Per-token filtering and drawing over one vocabulary of size V. Holds scratch buffers so that no
 * token allocates; one instance per thread of work.
 */
export class TokenSampler {
  readonly V: number
  /** Weights exp(z - max) of the last filtered token, 0 where filtered out. */
  readonly weights: Float64Array
  private readonly values: Float32Array
  private readonly order: Int32Array
  private readonly bucketOf: Uint8Array
  private readonly bucketMass = new Float64Array(BUCKETS)
  private cdf: Float64Array
  private masses: Float64Array

  constructor(V: number) {
    if (!Number.isInteger(V) || V < 1) throw new RangeError(`vocabulary size must be a positive integer`)
    this.V = V
    this.weights = new Float64Array(V)
    this.values = new Float32Array(V)
    this.order = new Int32Array(V)
    this.bucketOf = new Uint8Array(V)
    this.cdf = new Float64Array(0)
    this.masses = new Float64Array(0)
  }

  /**
   * Filters z[off .. off+V) in place (dropped entries become -Infinity), leaves the kept weights in
   * `weights` and returns their sum (summed in token-id order).
   */
  filter(z: Float32Array, off: number, topK: number, topP: number): number {
    const V = this.V
    if (topK > 0 && topK < V) this.applyTopK(z, off, topK)

    let max = -Infinity
    let min = Infinity
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      if (v > max) max = v
      if (v < min && v !== -Infinity) min = v
      if (v !== v) throw new RangeError('logits contain NaN')
    }
    if (max === -Infinity) throw new RangeError('logits contain no finite value')
    if (max === Infinity) throw new RangeError('logits contain +Infinity')
    const w = this.weights
    for (let i = 0; i < V; i++) w[i] = Math.exp(z[off + i] - max)

    if (topP < 1) this.applyTopP(z, off, topP, min, max)
    let total = 0
    for (let i = 0; i < V; i++) total += w[i]
    return total
  }

  /** Inverse-CDF draw from `weights` of the last filtered token; total is what `filter` returned. */
  drawFiltered(u: number, total: number): number {
    const w = this.weights
    const target = u * total
    let acc = 0
    for (let i = 0; i < this.V; i++) {
      acc += w[i]
      // `acc >= total` only decides when u·W rounded up to W: then the last id with weight wins
      if (w[i] !== 0 && (acc > target || acc >= total)) return i
    }
    throw new RangeError('no token has weight')
  }

  /** Filters one token's logits in place and draws it. */
  sample(z: Float32Array, off: number, topK: number, topP: number, rng: Rng): number {
    const total = this.filter(z, off, topK, topP)
    return this.drawFiltered(rng.nextDouble(), total)
  }

  /** Draws the l tokens of one row (z holds [l, V] from `off`) into out[outOff .. outOff+l). */
  sampleMap(
    z: Float32Array,
    off: number,
    l: number,
    topK: number,
    topP: number,
    rng: Rng,
    out: Int32Array,
    outOff: number,
  ): void {
    for (let p = 0; p < l; p++) out[outOff + p] = this.sample(z, off + p * this.V, topK, topP, rng)
  }

  /**
   * Draws N candidate maps of one row from the same guided logits, candidate-major, into
   * out[outOff + c·l + p]. Without `legacy` every candidate sees the same filtered distribution
   * (filtered once; the draws use a cumulative table and a binary search, which picks the same
   * token as `drawFiltered`). With `legacy`, the filter is re-applied in place before each
   * candidate's draw, as the authors' loop does, so each nucleus is nested in the previous one.
   */
  sampleCandidates(
    z: Float32Array,
    off: number,
    l: number,
    N: number,
    topK: number,
    topP: number,
    legacy: boolean,
    rng: Rng,
    out: Int32Array,
    outOff: number,
  ): void {
    const V = this.V
    if (legacy) {
      for (let c = 0; c < N; c++) {
        this.sampleMap(z, off, l, topK, topP, rng, out, outOff + c * l)
      }
      return
    }
    if (this.cdf.length < l * V) this.cdf = new Float64Array(l * V)
    if (this.masses.length < l) this.masses = new Float64Array(l)
    const cdf = this.cdf
    for (let p = 0; p < l; p++) {
      this.filter(z, off + p * V, topK, topP)
      let acc = 0
      const base = p * V
      for (let i = 0; i < V; i++) {
        acc += this.weights[i]
        cdf[base + i] = acc
      }
      this.masses[p] = acc
    }
    for (let c = 0; c < N; c++) {
      for (let p = 0; p < l; p++) {
        const target = rng.nextDouble() * this.masses[p]
        out[outOff + c * l + p] = this.searchCdf(p * V, target)
      }
    }
  }

  /** First id whose cumulative weight exceeds target (zero-weight ids can never be first). */
  private searchCdf(base: number, target: number): number {
    const cdf = this.cdf
    const total = cdf[base + this.V - 1]
    let lo = 0
    let hi = this.V - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = cdf[base + mid]
      if (c > target || c >= total) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Sets every entry below the k-th largest value to -Infinity. */
  private applyTopK(z: Float32Array, off: number, k: number): void {
    const V = this.V
    const a = this.values
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      if (v !== v) throw new RangeError('logits contain NaN')
      a[i] = v
    }
    const kth = quickselect(a, V, V - k)
    for (let i = 0; i < V; i++) if (z[off + i] < kth) z[off + i] = -Infinity
  }

  /**
   * Drops the ascending prefix of mass <= 1 - topP (never the largest entry); weights are set.
   * Values are first binned into equal-width buckets over [min, max] (binning keeps the order, and
   * equal values share a bucket): whole buckets below the cut are dropped at once, and the exact
   * (value, id) partition search only runs inside the bucket that holds the cut.
   */
  private applyTopP(z: Float32Array, off: number, topP: number, min: number, max: number): void {
    const V = this.V
    const { weights: w, order: idx, bucketOf, bucketMass } = this
    bucketMass.fill(0)
    const scale = max > min ? BUCKETS / (max - min) : 0
    let mass = 0
    let top = 0
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      if (v === -Infinity) {
        bucketOf[i] = NO_BUCKET
        continue
      }
      const b = Math.min(((v - min) * scale) | 0, BUCKETS - 1)
      bucketOf[i] = b
      bucketMass[b] += w[i]
      mass += w[i]
      if (b > top) top = b
    }
    const limit = (1 - topP) * mass
    // buckets below `cut` lie wholly inside the dropped prefix; the top bucket holds the largest
    let acc = 0
    let cut = 0
    while (cut < top && acc + bucketMass[cut] <= limit) acc += bucketMass[cut++]
    let n = 0
    for (let i = 0; i < V; i++) {
      const b = bucketOf[i]
      if (b === cut) idx[n++] = i
      else if (b < cut) {
        z[off + i] = -Infinity
        w[i] = 0
      }
    }
    // idx[0, lo) are dropped (the lo smallest of the bucket, total `acc`); idx[hi, n) are kept.
    const keepLast = cut === top ? n - 1 : n
    let lo = 0
    let hi = n
    while (lo < hi) {
      const pivotAt = partitionRange(z, off, idx, lo, hi)
      let below = 0
      for (let j = lo; j < pivotAt; j++) below += w[idx[j]]
      if (pivotAt < keepLast && acc + below + w[idx[pivotAt]] <= limit) {
        acc += below + w[idx[pivotAt]]
        lo = pivotAt + 1
      } else {
        hi = pivotAt
      }
    }
    for (let j = 0; j < lo; j++) {
      z[off + idx[j]] = -Infinity
      w[idx[j]] = 0
    }
  }
}

/**
 * Partitions idx[lo, hi) around a median-of-three pivot in the (value, id) order; returns the
 * pivot's final position (everything before it is smaller, everything after larger).
 */
function partitionRange(z: Float32Array, off: number, idx: Int32Array, lo: number, hi: number): number {
  const last = hi - 1
  if (last - lo >= 2) {
    const mid = (lo + last) >>> 1
    // order idx[lo], idx[mid], idx[last] so that the median ends at `last`
    if (before(z, off, idx[mid], idx[lo])) swap(idx, mid, lo)
    if (before(z, off, idx[last], idx[lo])) swap(idx, last, lo)
    if (before(z, off, idx[mid], idx[last])) swap(idx, mid, last)
  }
  const pivot = idx[last]
  let store = lo
  for (let j = lo; j < last; j++) {
    if (before(z, off, idx[j], pivot)) {
      swap(idx, store, j)
      store++
    }
  }
  swap(idx, store, last)
  return store
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i]
  a[i] = a[j]
  a[j] = t
}

/** The value of rank r (0-based, ascending) among a[0, n); reorders a. Hoare partitioning. */
export function quickselect(a: Float32Array, n: number, r: number): number {
  let lo = 0
  let hi = n - 1
  while (hi > lo) {
    const mid = (lo + hi) >>> 1
    const x = a[lo]
    const y = a[mid]
    const w = a[hi]
    const pivot = x < y ? (y < w ? y : x < w ? w : x) : x < w ? x : y < w ? w : y
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i] < pivot) i++
      while (a[j] > pivot) j--
      if (i <= j) {
        const t = a[i]
        a[i] = a[j]
        a[j] = t
        i++
        j--
      }
    }
    if (r <= j) hi = j
    else if (r >= i) lo = i
    else return a[r]
  }
  return a[r]
}
