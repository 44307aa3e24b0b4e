/**
 * Candidate densities for VAR-Scaling (DESIGN section 4, step 3), in float64 throughout.
 *
 * For row b and position p: sd = population std over the N candidates per feature dim, Silverman's
 * h = (N·(d+2)/4)^(-1/(d+4)) · sd, bandwidth bw = mean of h over dims (and over rows when pooled)
 * + 1e-6. Gaussian kernel exp(-|x_n - x_m|² / (2·bw²)), unnormalised, self term included;
 * D[n] = Σ_p Σ_m K_p[n, m]. `exactMatch` replaces the kernel by "same token id" and counts.
 *
 * Speed: candidates holding the same vector at a position are one group with a multiplicity (by id
 * when ids are given: equal ids are equal codebook rows; by hashing the feature bits otherwise), so
 * the std costs O(U·d) and the kernel O(U²·d) per position, U <= N the number of distinct vectors;
 * `exactMatch` is O(N) per position. The pairwise sums (kde-pairs.ts) use a popcount for binary
 * features and a blocked Gram product otherwise, skipping exp where the kernel is below 4.3e-18.
 * Results equal the N² definition to about 1e-13 relative (see kde-pairs.ts for the bound).
 *
 * Input is plain data (typed arrays and numbers), so it can be sent to a worker thread as is.
 */

import { PairScratch, pairSums, type PairMethod } from './kde-pairs'

export type KdeKernel = 'gaussian' | 'exactMatch'

export interface KdeInput {
  B: number
  N: number
  /** positions per candidate map (l at the search scale) */
  P: number
  /** feature dims (Cvae) */
  d: number
  /** [B, N, P] token ids: needed by `exactMatch`; with `gaussian`, equal ids must mean equal features */
  ids?: Int32Array
  /** [V, d]: the features are codebook rows of `ids` ... */
  codebook?: Float32Array
  /** ... or [B, N, P, d] explicit features (exactly one of the two) */
  features?: Float32Array
  kernel: KdeKernel
  poolBandwidthOverBatch: boolean
  /**
   * Sum the densities over positions [from, to) only (bandwidths are still given for all): the
   * positions are independent, so threads can share a large KDE and add their densities.
   */
  positions?: { from: number; to: number }
}

export interface KdeResult {
  /** [B, N] */
  densities: Float64Array
  /** [B, P] */
  bandwidths: Float64Array
}

/** A KDE implementation the loop can await: the pure one, or one that runs in a worker. */
export type KdeFn = (input: KdeInput) => Promise<KdeResult>

export const BANDWIDTH_EPS = 1e-6

/** Where each candidate's feature vector sits: src[offsets[(b·N + n)·P + p] + j], j < d. */
export interface FeatureView {
  src: Float32Array
  offsets: Int32Array
  B: number
  N: number
  P: number
  d: number
}

/** The feature view of a KDE input (codebook rows of ids, or explicit features). */
export function featureView(input: KdeInput): FeatureView {
  const { B, N, P, d, ids, codebook, features } = input
  const count = B * N * P
  const offsets = new Int32Array(count)
  if (codebook && !features) {
    if (!ids) throw new RangeError('KDE input: ids are needed with a codebook')
    if (ids.length !== count)
      throw new RangeError(`KDE input: ids has ${ids.length} values, ${count} expected`)
    const V = codebook.length / d
    for (let i = 0; i < count; i++) {
      const id = ids[i]
      if (id < 0 || id >= V) throw new RangeError(`KDE input: token id ${id} outside [0, ${V})`)
      offsets[i] = id * d
    }
    return { src: codebook, offsets, B, N, P, d }
  }
  if (features && !codebook) {
    if (features.length !== count * d) {
      throw new RangeError(`KDE input: features has ${features.length} values, ${count * d} expected`)
    }
    for (let i = 0; i < count; i++) offsets[i] = i * d
    return { src: features, offsets, B, N, P, d }
  }
  throw new RangeError('KDE input: give exactly one of codebook (with ids) or features')
}

/** Silverman's factor (N·(d+2)/4)^(-1/(d+4)). */
export function silvermanFactor(N: number, d: number): number {
  return Math.pow((N * (d + 2)) / 4, -1 / (d + 4))
}

/**
 * Candidates of one (row, position) grouped by token id: equal ids share a feature vector, so sums
 * over candidates become count-weighted sums over distinct ids. Without ids, candidates whose feature
 * vectors are bit-for-bit equal are grouped (through a hash of the float32 bits). Scratch arrays are
 * reused from one (row, position) to the next.
 */
class Groups {
  /** number of distinct groups */
  U = 0
  readonly counts: Float64Array
  /** feature offset of each group's vector */
  readonly offsets: Int32Array
  /** group of each candidate */
  readonly of: Int32Array
  private readonly slot: Int32Array
  private readonly map = new Map<number, number>()
  /** open-addressing table of groups by feature hash (no ids) */
  private readonly table: Int32Array
  private readonly bits: Uint32Array

  constructor(
    private readonly view: FeatureView,
    private readonly ids: Int32Array | undefined,
  ) {
    const { N } = view
    this.counts = new Float64Array(N)
    this.offsets = new Int32Array(N)
    this.of = new Int32Array(N)
    let max = -1
    if (ids) {
      for (const id of ids) {
        if (id < 0) throw new RangeError(`KDE input: token id ${id} is negative`)
        if (id > max) max = id
      }
    }
    // a dense id -> group table when ids are small (codebook ids), a Map otherwise
    this.slot = new Int32Array(max >= 0 && max < 1 << 22 ? max + 1 : 0).fill(-1)
    let size = 16
    while (size < 2 * N) size *= 2
    this.table = new Int32Array(ids ? 0 : size)
    const src = view.src
    this.bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  }

  load(b: number, p: number): this {
    const { N, P } = this.view
    const src = this.view.offsets
    const { ids, counts, offsets, of, slot, map } = this
    const from = b * N * P + p
    if (!ids) return this.loadByFeatures(from)
    let U = 0
    const dense = slot.length > 0
    for (let n = 0; n < N; n++) {
      const id = ids[from + n * P]
      let g = dense ? slot[id] : (map.get(id) ?? -1)
      if (g < 0) {
        g = U++
        if (dense) slot[id] = g
        else map.set(id, g)
        counts[g] = 0
        offsets[g] = src[from + n * P]
      }
      counts[g]++
      of[n] = g
    }
    if (dense) for (let n = 0; n < N; n++) slot[ids[from + n * P]] = -1
    else map.clear()
    this.U = U
    return this
  }

  private loadByFeatures(from: number): this {
    const { N, P, d } = this.view
    const src = this.view.offsets
    const { counts, offsets, of, table, bits } = this
    const mask = table.length - 1
    table.fill(-1)
    let U = 0
    for (let n = 0; n < N; n++) {
      const o = src[from + n * P]
      // murmur3's 32-bit mixing: the rotations carry the sign and exponent bits down
      let h = 0
      for (let j = 0; j < d; j++) {
        let k = Math.imul(bits[o + j], 0xcc9e2d51)
        k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
        h ^= k
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
      }
      h ^= h >>> 16
      h = Math.imul(h, 0x85ebca6b)
      h ^= h >>> 13
      let at = h & mask
      let g = -1
      for (;;) {
        const t = table[at]
        if (t < 0) break
        const q = offsets[t]
        let same = true
        for (let j = 0; j < d; j++) {
          if (bits[o + j] !== bits[q + j]) {
            same = false
            break
          }
        }
        if (same) {
          g = t
          break
        }
        at = (at + 1) & mask
      }
      if (g < 0) {
        g = U++
        table[at] = g
        counts[g] = 0
        offsets[g] = o
      }
      counts[g]++
      of[n] = g
    }
    this.U = U
    return this
  }
}

/** Mean over dims of Silverman's h for the loaded groups: population std over the N candidates. */
function meanH(view: FeatureView, g: Groups, factor: number, mean: Float64Array, sq: Float64Array): number {
  const { src, N, d } = view
  const { U, counts, offsets } = g
  mean.fill(0)
  sq.fill(0)
  for (let u = 0; u < U; u++) {
    const o = offsets[u]
    const c = counts[u]
    for (let j = 0; j < d; j++) mean[j] += c * src[o + j]
  }
  for (let j = 0; j < d; j++) mean[j] /= N
  for (let u = 0; u < U; u++) {
    const o = offsets[u]
    const c = counts[u]
    for (let j = 0; j < d; j++) {
      const x = src[o + j] - mean[j]
      sq[j] += c * x * x
    }
  }
  let h = 0
  for (let j = 0; j < d; j++) h += factor * Math.sqrt(sq[j] / N)
  return h / d
}

function bandwidthsOf(view: FeatureView, groups: Groups, pool: boolean): Float64Array {
  const { B, N, P, d } = view
  const factor = silvermanFactor(N, d)
  const mean = new Float64Array(d)
  const sq = new Float64Array(d)
  const hMean = new Float64Array(B * P)
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) hMean[b * P + p] = meanH(view, groups.load(b, p), factor, mean, sq)
  }
  const bw = new Float64Array(B * P)
  for (let p = 0; p < P; p++) {
    let pooled = 0
    for (let b = 0; b < B; b++) pooled += hMean[b * P + p]
    pooled /= B
    for (let b = 0; b < B; b++) bw[b * P + p] = (pool ? pooled : hMean[b * P + p]) + BANDWIDTH_EPS
  }
  return bw
}

/** Bandwidths [B, P] as described at the top of this file (ids, when given, group equal features). */
export function bandwidths(view: FeatureView, pool: boolean, ids?: Int32Array): Float64Array {
  return bandwidthsOf(view, new Groups(view, ids), pool)
}

/** Densities and bandwidths of every candidate of every row. */
export function kdeDensities(input: KdeInput): KdeResult {
  return kdeDensitiesWith(input)
}

/**
 * `kdeDensities` with a choice of pairwise method for the Gaussian kernel (tests and benches compare
 * them); `methods`, when given, counts the (row, position) pairs each method ran.
 */
export function kdeDensitiesWith(
  input: KdeInput,
  force?: PairMethod,
  methods?: Partial<Record<PairMethod, number>>,
): KdeResult {
  if (input.kernel === 'exactMatch' && !input.ids) {
    throw new RangeError('KDE input: the exactMatch kernel needs token ids')
  }
  const view = featureView(input)
  const groups = new Groups(view, input.ids)
  const bw = bandwidthsOf(view, groups, input.poolBandwidthOverBatch)
  const { B, N, P, d } = view
  const densities = new Float64Array(B * N)
  const sums = new Float64Array(N)
  const scratch = new PairScratch(d)
  const from = input.positions?.from ?? 0
  const to = input.positions?.to ?? P
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= P))
    throw new RangeError(`KDE input: positions [${from}, ${to}) outside [0, ${P}]`)
  for (let b = 0; b < B; b++) {
    for (let p = from; p < to; p++) {
      const g = groups.load(b, p)
      if (input.kernel === 'exactMatch') {
        for (let n = 0; n < N; n++) densities[b * N + n] += g.counts[g.of[n]]
        continue
      }
      const used = pairSums(view.src, g.offsets, g.counts, g.U, d, bw[b * P + p], sums, scratch, force)
      if (methods) methods[used] = (methods[used] ?? 0) + 1
      for (let n = 0; n < N; n++) densities[b * N + n] += sums[g.of[n]]
    }
  }
  return { densities, bandwidths: bw }
}

/** Async wrapper of the pure function: the default `KdeFn`. */
export const localKde: KdeFn = (input) => Promise.resolve(kdeDensities(input))
