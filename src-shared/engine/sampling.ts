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
 *    summation order (the masses are summed bin by bin, not as a sorted cumsum). Values too small
 *    to survive whatever the rest is are only summed (see `TokenSampler`); the masses are first
 *    estimated from a table of exp, with a bound on the error of every sum: when a comparison with
 *    the limit lies within that bound the cut is redone with Math.exp over the whole vocabulary,
 *    so the estimate never changes which entries are kept. Kept entries always get exact weights
 *    exp(z - max), which is all the draw uses.
 * `filter` and the samplers over guided logits turn filtered entries into -Infinity in place, which
 * is what the authors' loop re-filters when `legacyProgressiveNucleus` is on; the engine's own path
 * (`sampleGuided`, `sampleGuidedCandidates`) reads var_step's raw logits and writes nothing back.
 */
import type { Rng } from './rng'

export interface SamplingParams {
  /** guidance strength; the schedule ramps it linearly over the scales */
  cfg: number
  /** keep the top_k largest logits; 0 turns it off */
  top_k: number
  /** nucleus mass in [0, 1]; 0 and 1 turn it off (0 is the official sampler's "off") */
  top_p: number
  /**
   * VAR's `more_smooth`: a scale's tokens enter f_hat as Gumbel-softmax mixtures of codebook rows
   * instead of the drawn ids' rows (see `TokenSampler.sampleGuided`); off when left out
   */
  more_smooth?: boolean
}

/** Whether top_p filters at all: 0 (the official sampler's "off") and 1 keep every entry. */
export function topPActive(topP: number): boolean {
  return topP > 0 && topP < 1
}

/** more_smooth's progress ratio si/(S-1) (0 for a single-scale schedule), as VAR's loop computes it. */
export function smoothRatio(si: number, S: number): number {
  return S > 1 ? si / (S - 1) : 0
}

/**
 * more_smooth's Gumbel-softmax temperature at progress ratio r: max(0.27·(1 - 0.95·r), 0.005), the
 * official sampler's schedule (0.27 at the first scale, 0.0135 at the last).
 */
export function smoothTau(ratio: number): number {
  return Math.max(0.27 * (1 - ratio * 0.95), 0.005)
}

/**
 * Gumbel noise from a uniform double u in [0, 1): g = -ln(E) with E = -ln(1 - u) an Exp(1) draw
 * (u = 0, which would give E = 0, is read as u = 2^-54).
 */
export function gumbelFromUniform(u: number): number {
  return -Math.log(-Math.log1p(-(u > 0 ? u : 2 ** -54)))
}

/**
 * Where `sampleGuided` writes the smoothed embeddings of a row: token p's Cvae values go to
 * out[outOff + p·C ..]. `ratio` is `smoothRatio(si, S)`.
 */
export interface Smoothing {
  ratio: number
  codebook: Float32Array
  C: number
  out: Float32Array
  outOff: number
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
 * degree-4 Taylor term: relative error <= 2.5e-10, bounded by TABLE_ERROR; the tail below the drop
 * bound only gets 1 + f, bounded by TAIL_ERROR) and counts weights below exp(-64) as exp(-64), within
 * BELOW_TABLE: Math.exp would be most of the sampler's time, and most of the vocabulary is cut anyway.
 */
const TABLE_STEPS = 16
const TABLE_RANGE = 64
const EXP_TABLE = Float64Array.from({ length: TABLE_STEPS * TABLE_RANGE + 2 }, (_, j) =>
  Math.exp(-j / TABLE_STEPS),
)
const TABLE_ERROR = 1e-9
/** bound on the error of the first-order estimate T[j]·(1 + f) of the tail: f²/2 <= 4.9e-4 */
const TAIL_ERROR = 6e-4
const BELOW_TABLE = Math.exp(-TABLE_RANGE)
const ROUNDING = 2 ** -52

/**
 * Per-token filtering and drawing over one vocabulary of size V. Holds scratch buffers so that no
 * token allocates; one instance per thread of work.
 *
 * This is most of the engine's JavaScript time (V = 512 per token, 104 tokens per image), so a token
 * takes two passes over the vocabulary and then works on a short list:
 *  1. `load`: the token's logits into `vals`, with their max and the NaN / infinity checks; the
 *     sampling path of the engine computes the guidance here, on the fly from the conditional and
 *     null rows of var_step's output (`sampleGuided`), so no guided copy of a whole row is made;
 *  2. `split` (top-p): a value whose weight exp(z - max) is at most (1 - top_p)/(2V) is dropped
 *     whatever the others are: everything up to it in (value, id) order weighs at most V times as
 *     much, half the limit (1 - top_p)·mass, as mass >= 1 (the max weighs 1). Such values only add
 *     their estimated weight to the mass of this tail; the others (about a fifth of the vocabulary
 *     at V = 512, top_p = 0.95) are listed in id order with their estimated weights, and the cut is
 *     found among them as described above (bins, then the one cut bin sorted);
 *  3. the kept ids get exact weights exp(z - max) in id order, which is all the draw uses.
 * When a decision lies within the error bound of the estimates (or top_p is so close to 1 that the
 * tail bound leaves the weight table), the cut is redone over the whole vocabulary with Math.exp
 * (`exactCut`), so the estimate never changes which entries are kept.
 */
export class TokenSampler {
  readonly V: number
  /** Weights exp(z - max) of the last token filtered with `filter`, 0 where filtered out. */
  readonly weights: Float64Array
  /** The kept ids of the last filtered token in id order, and their cumulative weights. */
  private readonly keptIds: Int32Array
  private readonly keptCum: Float64Array
  private keptCount = 0
  /** the current token's logits (guided, top-k applied), and their max; set by `load` */
  private readonly vals: Float32Array
  private max = 0
  /** scratch of top-k's selection: the values of one bin, and the bin counts */
  private readonly values: Float32Array
  private readonly kthBins = new Int32Array(KTH_BINS)
  /** ids that `split` could not drop outright, in id order, and their estimated weights */
  private readonly listIds: Int32Array
  private readonly listW: Float64Array
  /** exact weights of `exactCut` */
  private readonly exactW: Float64Array
  private readonly members: Int32Array
  private readonly bucketOf: Uint8Array
  private readonly bucketMass = new Float64Array(BUCKETS)
  /** the kept lists of every token of a candidate search, V entries per token, and their masses */
  private cdfIds: Int32Array
  private cdf: Float64Array
  private counts: Int32Array
  private masses: Float64Array
  /** kept ids of the last `keep` */
  private count = 0
  /** more_smooth's float64 sum of one embedding */
  private smoothAcc = new Float64Array(0)

  constructor(V: number) {
    if (!Number.isInteger(V) || V < 1) throw new RangeError(`vocabulary size must be a positive integer`)
    this.V = V
    this.weights = new Float64Array(V)
    this.keptIds = new Int32Array(V)
    this.keptCum = new Float64Array(V)
    this.vals = new Float32Array(V)
    this.values = new Float32Array(V)
    this.listIds = new Int32Array(V)
    this.listW = new Float64Array(V)
    this.exactW = new Float64Array(V)
    this.members = new Int32Array(V)
    this.bucketOf = new Uint8Array(V)
    this.cdfIds = new Int32Array(0)
    this.cdf = new Float64Array(0)
    this.counts = new Int32Array(0)
    this.masses = new Float64Array(0)
  }

  /**
   * Filters z[off .. off+V) in place (dropped entries become -Infinity), leaves the kept weights in
   * `weights` and returns their sum (summed in token-id order).
   */
  filter(z: Float32Array, off: number, topK: number, topP: number): number {
    this.load(z, off)
    const total = this.keep(topK, topP, this.keptIds, this.keptCum, 0)
    this.keptCount = this.count
    this.writeBack(z, off, this.keptIds, 0, true)
    return total
  }

  /** Inverse-CDF draw from `weights` of the last filtered token; total is what `filter` returned. */
  drawFiltered(u: number, total: number): number {
    return this.keptIds[draw(this.keptCum, 0, this.keptCount, u, total)]
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
   * `sampleMap` for row b straight from var_step's raw logits [2B, l, V]: token p is drawn from
   * z = (1+t)·logits[b, p] - t·logits[B+b, p] (exactly `guideRow`'s float32 values) without writing
   * guided or filtered logits anywhere. Same draws as `guideRow` then `sampleMap`.
   *
   * With `smooth` (VAR's more_smooth) each token also gets its embedding, written to `smooth.out`:
   * after the token's own draw, one uniform double per surviving id (finite after top-k / top-p, in
   * ascending id order) gives Gumbel noise g_i (`gumbelFromUniform`), and the embedding is
   * Σ_i softmax_i(((1 + r)·z_i + g_i) / τ) · codebook[i] with r = `smooth.ratio`, τ = `smoothTau(r)`:
   * the official sampler's Gumbel-softmax over its filtered logits. The drawn id is still returned
   * (the token map records it), as the official sampler also draws it.
   */
  sampleGuided(
    logits: Float32Array,
    B: number,
    l: number,
    t: number,
    b: number,
    topK: number,
    topP: number,
    rng: Rng,
    out: Int32Array,
    outOff: number,
    smooth?: Smoothing,
  ): void {
    const V = this.V
    const n = checkRows(logits, B, l, V)
    const { keptIds, keptCum } = this
    if (smooth) checkSmoothing(smooth, V, l)
    for (let p = 0; p < l; p++) {
      this.loadGuided(logits, b * n + p * V, (B + b) * n + p * V, t)
      const total = this.keep(topK, topP, keptIds, keptCum, 0)
      this.keptCount = this.count
      out[outOff + p] = keptIds[draw(keptCum, 0, this.count, rng.nextDouble(), total)]
      if (smooth) this.smoothToken(keptIds, this.count, smooth, smooth.outOff + p * smooth.C, rng)
    }
  }

  /**
   * The Gumbel-softmax embedding of the token in `vals` (filtered by the last `keep`, whose listed
   * ids are ids[0 .. n)) into out[o .. o+C); see `sampleGuided`. Computed in float64, stored as float32.
   */
  private smoothToken(ids: Int32Array, n: number, s: Smoothing, o: number, rng: Rng): void {
    const { vals } = this
    const y = this.exactW
    const which = this.listIds
    const a = 1 + s.ratio
    const tau = smoothTau(s.ratio)
    let m = 0
    let yMax = -Infinity
    for (let j = 0; j < n; j++) {
      const id = ids[j]
      const z = vals[id]
      if (z === -Infinity) continue
      const v = (a * z + gumbelFromUniform(rng.nextDouble())) / tau
      which[m] = id
      y[m++] = v
      if (v > yMax) yMax = v
    }
    const C = s.C
    const acc = (this.smoothAcc = this.smoothAcc.length === C ? this.smoothAcc : new Float64Array(C))
    acc.fill(0)
    const cb = s.codebook
    let total = 0
    for (let j = 0; j < m; j++) {
      const w = Math.exp(y[j] - yMax)
      if (w === 0) continue
      total += w
      const row = which[j] * C
      for (let c = 0; c < C; c++) acc[c] += w * cb[row + c]
    }
    for (let c = 0; c < C; c++) s.out[o + c] = acc[c] / total
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
    this.reserve(l)
    for (let p = 0; p < l; p++) {
      this.load(z, off + p * V)
      this.masses[p] = this.keep(topK, topP, this.cdfIds, this.cdf, p * V)
      this.counts[p] = this.count
      this.writeBack(z, off + p * V, this.cdfIds, p * V, false)
    }
    this.drawCandidates(l, N, rng, out, outOff)
  }

  /**
   * `sampleCandidates` without `legacy` for row b straight from var_step's raw logits [2B, l, V],
   * with guidance t computed on the fly as in `sampleGuided`. (The legacy nuclei re-filter the
   * filtered logits in place, so that path needs `guideRow`'s copy.)
   */
  sampleGuidedCandidates(
    logits: Float32Array,
    B: number,
    l: number,
    t: number,
    b: number,
    N: number,
    topK: number,
    topP: number,
    rng: Rng,
    out: Int32Array,
    outOff: number,
  ): void {
    const V = this.V
    const n = checkRows(logits, B, l, V)
    this.reserve(l)
    for (let p = 0; p < l; p++) {
      this.loadGuided(logits, b * n + p * V, (B + b) * n + p * V, t)
      this.masses[p] = this.keep(topK, topP, this.cdfIds, this.cdf, p * V)
      this.counts[p] = this.count
    }
    this.drawCandidates(l, N, rng, out, outOff)
  }

  private reserve(l: number): void {
    if (this.cdf.length < l * this.V) {
      this.cdf = new Float64Array(l * this.V)
      this.cdfIds = new Int32Array(l * this.V)
    }
    if (this.counts.length < l) {
      this.counts = new Int32Array(l)
      this.masses = new Float64Array(l)
    }
  }

  private drawCandidates(l: number, N: number, rng: Rng, out: Int32Array, outOff: number): void {
    const { V, cdf, cdfIds, counts, masses } = this
    for (let c = 0; c < N; c++) {
      for (let p = 0; p < l; p++) {
        const k = draw(cdf, p * V, counts[p], rng.nextDouble(), masses[p])
        out[outOff + c * l + p] = cdfIds[p * V + k]
      }
    }
  }

  /** z[off .. off+V) into `vals`, with the max and the checks. */
  private load(z: Float32Array, off: number): void {
    const { V, vals } = this
    let max = -Infinity
    let nan = false
    for (let i = 0; i < V; i++) {
      const v = z[off + i]
      vals[i] = v
      if (v > max) max = v
      nan ||= v !== v
    }
    this.max = checkedMax(max, nan)
  }

  /** (1+t)·logits[cond + i] - t·logits[uncond + i], rounded to float32 as `guideRow` stores it. */
  private loadGuided(logits: Float32Array, cond: number, uncond: number, t: number): void {
    const { V, vals } = this
    let max = -Infinity
    let nan = false
    if (t === 0) {
      for (let i = 0; i < V; i++) {
        const v = logits[cond + i]
        vals[i] = v
        if (v > max) max = v
        nan ||= v !== v
      }
    } else {
      const a = 1 + t
      for (let i = 0; i < V; i++) {
        const v = Math.fround(a * logits[cond + i] - t * logits[uncond + i])
        vals[i] = v
        if (v > max) max = v
        nan ||= v !== v
      }
    }
    this.max = checkedMax(max, nan)
  }

  /**
   * Top-k and top-p over `vals`: writes the kept ids in id order to ids[at ..] and their cumulative
   * exact weights to cum[at ..] (`count` of them; without top-p every id is listed, those with
   * weight 0 too: they are never drawn) and returns their sum.
   */
  private keep(topK: number, topP: number, ids: Int32Array, cum: Float64Array, at: number): number {
    const { V, vals, max } = this
    if (topK > 0 && topK < V) this.applyTopK(topK)
    let total = 0
    if (!topPActive(topP)) {
      for (let i = 0; i < V; i++) {
        total += Math.exp(vals[i] - max)
        ids[at + i] = i
        cum[at + i] = total
      }
      this.count = V
      return total
    }
    let n = this.split(topP, ids, at)
    if (n < 0) n = this.exactCut(topP, ids, at)
    for (let j = 0; j < n; j++) {
      total += Math.exp(vals[ids[at + j]] - max)
      cum[at + j] = total
    }
    this.count = n
    return total
  }

  /**
   * The top-p cut with estimated weights (see the class comment): writes the kept ids in id order
   * to ids[at ..] and returns how many, or -1 when a decision lies closer to the limit than the
   * error bound allows (the caller then uses `exactCut`): otherwise every comparison comes out as
   * it does with exact weights.
   *
   * Weights are estimated from a table of exp(-j/16), j/16 <= 64 (nearest entry times a degree-4
   * Taylor term: relative error <= 2.5e-10, bounded by TABLE_ERROR), those below exp(-64) counted
   * as 0: Math.exp for every id would be most of the sampler's time.
   */
  private split(topP: number, ids: Int32Array, at: number): number {
    const { V, vals, max, listIds, listW, bucketOf, bucketMass, members: m } = this
    // at or below ln((1 - top_p)/(2V)) below the max, a value is dropped (class comment); one unit
    // of slack keeps the listed values inside the table
    const floor = Math.log((0.5 * (1 - topP)) / V)
    if (!(floor > 1 - TABLE_RANGE)) return -1
    const lo = max + floor
    let tail = 0
    let n = 0
    for (let i = 0; i < V; i++) {
      const v = vals[i]
      // the nearest table entry times 1 + f (|f| <= 1/32: within TAIL_ERROR); values 64 or more
      // below the max (and -Infinity) count as exp(-64), within BELOW_TABLE each
      const s = Math.min((max - v) * TABLE_STEPS, TABLE_STEPS * TABLE_RANGE)
      const j = (s + 0.5) | 0
      const e = EXP_TABLE[j] * (1 + (j - s) * (1 / TABLE_STEPS))
      // without branches: a mispredicted branch per listed value cost more than the rest of the loop
      const c = +(v > lo)
      listIds[n] = i
      n += c
      tail += (1 - c) * e
    }

    // bins over (lo, max] keep the (value, id) order of the listed ids; the max lies in the top one.
    // The listed weights decide the cut, so they get the degree-4 term (within TABLE_ERROR).
    bucketMass.fill(0)
    const scale = BUCKETS / -floor
    let listed = 0
    for (let j = 0; j < n; j++) {
      const v = vals[listIds[j]]
      const s = (max - v) * TABLE_STEPS
      const k = (s + 0.5) | 0
      const f = (k - s) * (1 / TABLE_STEPS)
      const e = EXP_TABLE[k] * (1 + f * (1 + f * (1 / 2 + f * (1 / 6 + f * (1 / 24)))))
      listW[j] = e
      const t = ((v - lo) * scale) | 0
      const b = t < BUCKETS ? t : BUCKETS - 1
      bucketOf[j] = b
      bucketMass[b] += e
      listed += e
    }
    const mass = tail + listed
    // each estimate is within TAIL_ERROR or TABLE_ERROR (relative) or BELOW_TABLE (absolute) of its
    // weight, and a float sum of them (<= 2V + 2·BUCKETS additions) may round differently by
    // <= ROUNDING each
    const margin =
      3 *
      (TAIL_ERROR * tail + TABLE_ERROR * listed + BELOW_TABLE * V + ROUNDING * (2 * V + 2 * BUCKETS) * mass)
    const limit = (1 - topP) * mass

    // the tail is dropped whatever the estimates say; then whole bins, then members of the cut bin
    // in (value, id) order, while the cumulative mass stays <= limit. `kept` is the largest sum that
    // was <= limit, `over` the smallest that was not.
    const top = BUCKETS - 1
    let acc = tail
    let kept = -Infinity
    let over = Infinity
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
    let k = 0
    for (let j = 0; j < n; j++) if (bucketOf[j] === cut) m[k++] = j
    // list positions follow the ids, so (value, position) is the (value, id) order
    insertionSort(vals, listIds, m, k)
    // (one subtraction on every path: a `k - 1` only reached when the cut is in the top bin had no
    // type feedback when first optimized, and the optimized sampler kept bailing out there)
    const keepLast = k - (cut === top ? 1 : 0)
    let dropped = 0
    while (dropped < keepLast) {
      const next = acc + listW[m[dropped]]
      if (next > limit) {
        if (next < over) over = next
        break
      }
      acc = kept = next
      dropped++
    }
    if (limit - kept <= margin || over - limit <= margin) return -1
    for (let j = 0; j < dropped; j++) bucketOf[m[j]] = NO_BUCKET
    let out = 0
    for (let j = 0; j < n; j++) {
      const b = bucketOf[j]
      if (b >= cut && b !== NO_BUCKET) ids[at + out++] = listIds[j]
    }
    return out
  }

  /**
   * The top-p cut with exact weights over the whole vocabulary: whole bins of values below the cut
   * bin are dropped, then members of the cut bin in (value, id) order while the cumulative mass
   * stays <= (1 - topP)·mass, never the last (largest). Writes the kept ids in id order to
   * ids[at ..] and returns how many.
   */
  private exactCut(topP: number, ids: Int32Array, at: number): number {
    const { V, vals, max, exactW: w, bucketOf, bucketMass, members: m } = this
    let min = Infinity
    for (let i = 0; i < V; i++) {
      const v = vals[i]
      if (v < min && v !== -Infinity) min = v
    }
    // the max lies in the top bin: BUCKETS - 1, or 0 when every finite value is equal
    const top = max > min ? BUCKETS - 1 : 0
    bucketMass.fill(0)
    const scale = max > min ? BUCKETS / (max - min) : 0
    let mass = 0
    for (let i = 0; i < V; i++) {
      const v = vals[i]
      if (v === -Infinity) {
        w[i] = 0
        bucketOf[i] = NO_BUCKET
        continue
      }
      const e = Math.exp(v - max)
      w[i] = e
      const t = ((v - min) * scale) | 0
      const b = t < BUCKETS ? t : BUCKETS - 1
      bucketOf[i] = b
      bucketMass[b] += e
      mass += e
    }
    const limit = (1 - topP) * mass
    let acc = 0
    let cut = 0
    while (cut < top) {
      const next = acc + bucketMass[cut]
      if (next > limit) break
      acc = next
      cut++
    }
    let n = 0
    for (let i = 0; i < V; i++) if (bucketOf[i] === cut) m[n++] = i
    insertionSort(vals, null, m, n)
    const keepLast = cut === top ? n - 1 : n
    let dropped = 0
    while (dropped < keepLast) {
      const next = acc + w[m[dropped]]
      if (next > limit) break
      acc = next
      dropped++
    }
    for (let j = 0; j < dropped; j++) bucketOf[m[j]] = NO_BUCKET
    let out = 0
    for (let i = 0; i < V; i++) {
      const b = bucketOf[i]
      if (b >= cut && b !== NO_BUCKET) ids[at + out++] = i
    }
    return out
  }

  /** z[off .. off+V) = `vals` at the kept ids ids[at .. at+count), -Infinity elsewhere. */
  private writeBack(z: Float32Array, off: number, ids: Int32Array, at: number, weights: boolean): void {
    const { V, vals, max, count } = this
    const w = this.weights
    z.fill(-Infinity, off, off + V)
    if (weights) w.fill(0)
    for (let j = 0; j < count; j++) {
      const id = ids[at + j]
      z[off + id] = vals[id]
      if (weights) w[id] = Math.exp(vals[id] - max)
    }
  }

  /** Sets every value of `vals` below the k-th largest to -Infinity. */
  private applyTopK(k: number): void {
    const { V, vals } = this
    const kth = kthLargest(vals, V, k, this.max, this.kthBins, this.values)
    for (let i = 0; i < V; i++) if (vals[i] < kth) vals[i] = -Infinity
  }
}

function checkSmoothing(s: Smoothing, V: number, l: number): void {
  if (!(s.C >= 1) || s.codebook.length !== V * s.C)
    throw new RangeError(`codebook has ${s.codebook.length} values, [${V}, ${s.C}] expected`)
  if (s.out.length < s.outOff + l * s.C)
    throw new RangeError(`embedding buffer has ${s.out.length} values, ${s.outOff + l * s.C} needed`)
  if (!(s.ratio >= 0 && s.ratio <= 1)) throw new RangeError(`smoothing ratio ${s.ratio} is not in [0, 1]`)
}

/** The row length l·V of raw logits [2B, l, V], checked. */
function checkRows(logits: Float32Array, B: number, l: number, V: number): number {
  const n = l * V
  if (logits.length !== 2 * B * n)
    throw new RangeError(`logits has ${logits.length} values, ${2 * B * n} expected`)
  return n
}

/** The max of a token's logits, once NaN, no finite value and +Infinity are ruled out. */
function checkedMax(max: number, nan: boolean): number {
  if (nan) throw new RangeError('logits contain NaN')
  if (max === -Infinity) throw new RangeError('logits contain no finite value')
  if (max === Infinity) throw new RangeError('logits contain +Infinity')
  return max
}

/** The position of the drawn id among the n kept ones: inverse CDF at u·total (see `searchCdf`). */
function draw(cum: Float64Array, base: number, n: number, u: number, total: number): number {
  if (!(total > 0)) throw new RangeError('no token has weight')
  return searchCdf(cum, base, n, u * total, total)
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

/**
 * Sorts m[0, n) ascending by (value, entry), where the value of entry x is vals[map[x]] (or vals[x]
 * without a map) and map is increasing, so ties go by id; n is a handful (the entries of one bin).
 */
function insertionSort(vals: Float32Array, map: Int32Array | null, m: Int32Array, n: number): void {
  for (let j = 1; j < n; j++) {
    const x = m[j]
    const v = vals[map ? map[x] : x]
    let k = j - 1
    while (k >= 0) {
      const y = m[k]
      const u = vals[map ? map[y] : y]
      if (u < v || (u === v && y < x)) break
      m[k + 1] = y
      k--
    }
    m[k + 1] = x
  }
}

/** Bins of `kthLargest`: enough that the bin holding the k-th value is small for V in the thousands. */
const KTH_BINS = 1024

/**
 * The k-th largest of vals[0, V) (1 <= k <= V), `max` being their max: the value quickselect finds
 * at ascending rank V - k, without its data-dependent branches over the whole vocabulary (they
 * mispredict about half the time on real logits). The values are counted into equal-width bins
 * over [min, max] (the bin index is monotone in the value, so every value in a higher bin is
 * larger), the bin holding the k-th largest is found from the top, and only its values go through
 * quickselect. `counts` and `pool` are scratch (KTH_BINS and V entries); `vals` is left unchanged.
 */
export function kthLargest(
  vals: Float32Array,
  V: number,
  k: number,
  max: number,
  counts: Int32Array,
  pool: Float32Array,
): number {
  let min = max
  for (let i = 0; i < V; i++) min = Math.min(min, vals[i])
  const bins = counts.length
  if (!(min > -Infinity) || !(max > min) || bins < 2) {
    pool.set(vals.subarray(0, V))
    return quickselect(pool, V, V - k)
  }
  const scale = (bins - 1) / (max - min)
  counts.fill(0)
  for (let i = 0; i < V; i++) counts[((vals[i] - min) * scale) | 0]++
  let above = 0
  let b = bins - 1
  while (above + counts[b] < k) above += counts[b--]
  let n = 0
  for (let i = 0; i < V; i++) {
    const v = vals[i]
    pool[n] = v
    n += +((((v - min) * scale) | 0) === b)
  }
  return quickselect(pool, n, n - (k - above))
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
