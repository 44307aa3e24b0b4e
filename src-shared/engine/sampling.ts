/**
 * Classifier-free guidance, top-k / top-p filtering and token draws (DESIGN section 3, steps 2-3).
 *
 * Filtering follows the reference exactly, without sorting the vocabulary:
 *  - top-k keeps every entry >= the k-th largest value (so ties at the threshold all stay, as
 *    with torch's `z < kth` mask); found with a quickselect;
 *  - top-p orders the surviving entries ascending by (value, token id), a total order, so equal
 *    logits are ordered by id and the lower id is dropped first; it drops the longest prefix whose
 *    cumulative softmax mass is <= 1 - top_p and never the last (largest) entry. The prefix is found
 *    by binning the values, then sorting only the few entries of the one bin that holds the cut,
 *    carrying the mass of everything below. The cut equals the sorted definition's up to float64
 *    summation order (the masses are summed bin by bin, not as a sorted cumsum). The masses are
 *    first estimated (a table of exp with relative error < 1e-9, weights below exp(-64) as 0), with
 *    a bound on the error of every sum: when a comparison with the limit lies within that bound the
 *    cut is redone with Math.exp, so the estimate never changes which entries are kept. Kept
 *    entries always get exact weights exp(z - max), which is all the draw uses.
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

/** Bins of the top-p search (a Uint8Array holds the bin of each id; NO_BUCKET marks dropped ids). */
const BUCKETS = 128
const NO_BUCKET = 255

/**
 * Top-p first estimates the weights from a table of exp(-j/16), j/16 <= 64 (nearest entry times a
 * degree-4 Taylor term: relative error <= 2.5e-10, bounded by TABLE_ERROR) and counts weights below
 * exp(-64) as 0: Math.exp is most of the sampler's time, and most of the vocabulary is cut anyway.
 */
const TABLE_STEPS = 16
const TABLE_RANGE = 64
const EXP_TABLE = Float64Array.from({ length: TABLE_STEPS * TABLE_RANGE + 2 }, (_, j) =>
  Math.exp(-j / TABLE_STEPS),
)
const TABLE_ERROR = 1e-9
const BELOW_TABLE = Math.exp(-TABLE_RANGE)
const ROUNDING = 2 ** -52

/**
 * Per-token filtering and drawing over one vocabulary of size V. Holds scratch buffers so that no
 * token allocates; one instance per thread of work.
 *
 * This is most of the engine's JavaScript time (V = 512 per token), so with top-p a token takes two
 * passes over the vocabulary (max and min; estimated weights and their bins) and one over the bins,
 * then works on the kept ids only: Math.exp once per kept id, their cumulative weights in id order,
 * and a binary search in those for the draw.
 */
export class TokenSampler {
  readonly V: number
  /** Weights exp(z - max) of the last filtered token, 0 where filtered out. */
  readonly weights: Float64Array
  /** The kept ids of the last filtered token in id order, and their cumulative weights. */
  private readonly keptIds: Int32Array
  private readonly keptCum: Float64Array
  private keptCount = 0
  private readonly values: Float32Array
  private readonly members: Int32Array
  private readonly bucketOf: Uint8Array
  private readonly bucketMass = new Float64Array(BUCKETS)
  /** the kept lists of every token of a candidate search, V entries per token */
  private cdfIds: Int32Array
  private cdf: Float64Array
  private counts: Int32Array
  /** set by `binWeights`: total mass and a bound on its error (and on any partial sum's) */
  private mass = 0
  private massError = 0

  constructor(V: number) {
    if (!Number.isInteger(V) || V < 1) throw new RangeError(`vocabulary size must be a positive integer`)
    this.V = V
    this.weights = new Float64Array(V)
    this.keptIds = new Int32Array(V)
    this.keptCum = new Float64Array(V)
    this.values = new Float32Array(V)
    this.members = new Int32Array(V)
    this.bucketOf = new Uint8Array(V)
    this.cdfIds = new Int32Array(0)
    this.cdf = new Float64Array(0)
    this.counts = new Int32Array(0)
  }

  /**
   * Filters z[off .. off+V) in place (dropped entries become -Infinity), leaves the kept weights in
   * `weights` and returns their sum (summed in token-id order).
   */
  filter(z: Float32Array, off: number, topK: number, topP: number): number {
    const total = this.filterInto(z, off, topK, topP, this.keptIds, this.keptCum, 0)
    this.keptCount = this.count
    return total
  }

  /** kept ids of the last `filterInto` */
  private count = 0

  /**
   * `filter`, writing the kept ids in id order to ids[at ..] and their cumulative weights to
   * cum[at ..] (`count` of them; ids with weight 0 may be listed, they are never drawn).
   */
  private filterInto(
    z: Float32Array,
    off: number,
    topK: number,
    topP: number,
    ids: Int32Array,
    cum: Float64Array,
    at: number,
  ): number {
    const V = this.V
    if (topK > 0 && topK < V) this.applyTopK(z, off, topK)

    let max = -Infinity
    let min = Infinity
    let nan = false
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      if (v > max) max = v
      if (v < min && v !== -Infinity) min = v
      nan ||= v !== v
    }
    if (nan) throw new RangeError('logits contain NaN')
    if (max === -Infinity) throw new RangeError('logits contain no finite value')
    if (max === Infinity) throw new RangeError('logits contain +Infinity')
    const w = this.weights

    if (!(topP < 1)) {
      let acc = 0
      for (let i = 0; i < V; i++) {
        const e = Math.exp(z[off + i] - max)
        w[i] = e
        acc += e
        ids[at + i] = i
        cum[at + i] = acc
      }
      this.count = V
      return acc
    }

    // the max lies in the top bin: BUCKETS - 1, or 0 when every finite value is equal
    const top = max > min ? BUCKETS - 1 : 0
    this.binWeights(z, off, max, min, false)
    let n = this.findCut(z, off, topP, top, ids, at, true)
    if (n < 0) {
      this.binWeights(z, off, max, min, true)
      n = this.findCut(z, off, topP, top, ids, at, false)
    }

    // everything but the kept ids becomes -Infinity with weight 0; kept weights are Math.exp
    // itself, never the table estimate
    const { bucketOf, values } = this
    let k = 0
    for (let j = 0; j < n; j++) {
      const id = ids[at + j]
      if (bucketOf[id] !== NO_BUCKET) {
        ids[at + k] = id
        values[k++] = z[off + id]
      }
    }
    z.fill(-Infinity, off, off + V)
    w.fill(0)
    let total = 0
    for (let j = 0; j < k; j++) {
      const id = ids[at + j]
      const v = values[j]
      z[off + id] = v
      const e = Math.exp(v - max)
      w[id] = e
      total += e
      cum[at + j] = total
    }
    this.count = k
    return total
  }

  /**
   * Weights, the bin of each value and the mass of each bin in one pass. Binning keeps the order
   * (equal values share a bin), so whole bins below the cut are dropped without sorting. Unless
   * `exact`, every weight is estimated from a table (see `findCut`), and `massError` bounds how far
   * any sum of them may be from the same sum of exact weights.
   */
  private binWeights(z: Float32Array, off: number, max: number, min: number, exact: boolean): void {
    const { V, weights: w, bucketOf, bucketMass } = this
    bucketMass.fill(0)
    const scale = max > min ? BUCKETS / (max - min) : 0
    let mass = 0
    let zeroed = 0
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      if (v === -Infinity) {
        w[i] = 0
        bucketOf[i] = NO_BUCKET
        continue
      }
      const d = v - max
      let e: number
      if (exact) e = Math.exp(d)
      else if (d > -TABLE_RANGE) {
        // nearest table entry times a Taylor term for the rest (|f| <= 1/32)
        const s = -d * TABLE_STEPS
        const j = (s + 0.5) | 0
        const f = (j - s) * (1 / TABLE_STEPS)
        e = EXP_TABLE[j] * (1 + f * (1 + f * (1 / 2 + f * (1 / 6 + f * (1 / 24)))))
      } else {
        e = 0
        zeroed++
      }
      w[i] = e
      const t = ((v - min) * scale) | 0
      const b = t < BUCKETS ? t : BUCKETS - 1
      bucketOf[i] = b
      bucketMass[b] += e
      mass += e
    }
    this.mass = mass
    // each estimate is within TABLE_ERROR (relative), a weight counted as 0 within BELOW_TABLE, and
    // a float sum of them (<= 2V + 2·BUCKETS additions) may round differently by <= ROUNDING each
    this.massError = exact
      ? 0
      : TABLE_ERROR * mass + BELOW_TABLE * zeroed + ROUNDING * (2 * V + 2 * BUCKETS) * mass
  }

  /**
   * The top-p cut over the binned weights: drops whole bins below the cut bin and, in (value, id)
   * order, the members of the cut bin while the cumulative mass stays <= (1 - topP)·mass. Lists the
   * ids of the cut bin and above in ids[at ..] in id order and returns how many; the dropped
   * members are marked NO_BUCKET. With `estimated` weights it returns -1 when a decision lies
   * closer to the limit than the error bound allows (the caller then repeats with exact weights):
   * otherwise every comparison comes out as it does with exact weights.
   */
  private findCut(
    z: Float32Array,
    off: number,
    topP: number,
    top: number,
    ids: Int32Array,
    at: number,
    estimated: boolean,
  ): number {
    const { V, weights: w, bucketOf, bucketMass, members: m } = this
    const limit = (1 - topP) * this.mass
    // the largest sum that was <= limit, and the smallest that was not
    let kept = -Infinity
    let over = Infinity
    let acc = 0
    let cut = 0
    while (cut < top) {
      const next = acc + bucketMass[cut]
      if (next > limit) {
        over = next
        break
      }
      acc = kept = next
      cut++
    }
    let n = 0
    let listed = 0
    for (let i = 0; i < V; i++) {
      const b = bucketOf[i]
      if (b >= cut && b !== NO_BUCKET) {
        ids[at + listed++] = i
        if (b === cut) m[n++] = i
      }
    }
    insertionSort(z, off, m, n)
    const keepLast = cut === top ? n - 1 : n
    let dropped = 0
    while (dropped < keepLast) {
      const next = acc + w[m[dropped]]
      if (next > limit) {
        if (next < over) over = next
        break
      }
      acc = kept = next
      dropped++
    }
    if (estimated) {
      // sums and limit are each within massError of their exact-weight values
      const margin = 3 * this.massError
      if (limit - kept <= margin || over - limit <= margin) return -1
    }
    for (let j = 0; j < dropped; j++) bucketOf[m[j]] = NO_BUCKET
    return listed
  }

  /** Inverse-CDF draw from `weights` of the last filtered token; total is what `filter` returned. */
  drawFiltered(u: number, total: number): number {
    if (!(total > 0)) throw new RangeError('no token has weight')
    return this.keptIds[searchCdf(this.keptCum, 0, this.keptCount, u * total, total)]
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
   * (filtered once; the draws search the kept ids' cumulative weights, which picks the same token
   * as `drawFiltered`). With `legacy`, the filter is re-applied in place before each candidate's
   * draw, as the authors' loop does, so each nucleus is nested in the previous one.
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
    if (this.cdf.length < l * V) {
      this.cdf = new Float64Array(l * V)
      this.cdfIds = new Int32Array(l * V)
      this.counts = new Int32Array(l)
    }
    const { cdf, cdfIds, counts } = this
    const masses = new Float64Array(l)
    for (let p = 0; p < l; p++) {
      masses[p] = this.filterInto(z, off + p * V, topK, topP, cdfIds, cdf, p * V)
      counts[p] = this.count
    }
    for (let c = 0; c < N; c++) {
      for (let p = 0; p < l; p++) {
        const total = masses[p]
        const k = searchCdf(cdf, p * V, counts[p], rng.nextDouble() * total, total)
        out[outOff + c * l + p] = cdfIds[p * V + k]
      }
    }
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
}

/**
 * The position (in cdf[base .. base+n)) of the first cumulative weight that exceeds target: over
 * the ids in id order, the first at which the running sum passes u·W. A zero-weight id repeats its
 * predecessor's sum, so it is never the first. `c >= total` only decides when u·W rounded up to W:
 * then the last id with weight wins.
 */
function searchCdf(cdf: Float64Array, base: number, n: number, target: number, total: number): number {
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = cdf[base + mid]
    if (c > target || c >= total) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** Sorts ids m[0, n) ascending by (z value, id); n is a handful (the ids of one top-p bin). */
function insertionSort(z: Float32Array, off: number, m: Int32Array, n: number): void {
  for (let j = 1; j < n; j++) {
    const id = m[j]
    const v = z[off + id]
    let k = j - 1
    while (k >= 0) {
      const u = z[off + m[k]]
      if (u < v || (u === v && m[k] < id)) break
      m[k + 1] = m[k]
      k--
    }
    m[k + 1] = id
  }
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
