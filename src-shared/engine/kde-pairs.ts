/**
 * The pairwise part of the Gaussian KDE: for U distinct feature vectors f_u with multiplicities w_u,
 *
 *   sums[u] = Σ_v w_v · exp(-|f_u - f_v|² / (2·bw²))   (v = u included: the self term is w_u)
 *
 * Three ways to the same numbers, picked by `pairSums`:
 * - `direct`: the definition, Σ_j (x_j - y_j)² per pair; cheapest for a few dozen vectors.
 * - `bits`: every dim takes at most two values and all dims that vary have the same gap g, so
 *   |f_u - f_v|² = g²·(number of differing dims): the vectors are packed into 32-bit words, a pair
 *   costs a xor and a popcount per word and the kernel is a table lookup (Infinity's bit labels).
 * - `gram`: |x - y|² = |x|² + |y|² - 2·x·y with the dot products from a 4x4-blocked product of the
 *   (centred, float64) feature matrix with itself, upper triangle only, and exp only for pairs whose
 *   exponent is above EXP_CUTOFF. With WebAssembly SIMD the blocks right of the diagonal are summed
 *   inside the kernel (kde-wasm.ts `sums`, its exp within 4e-16 relative of Math.exp).
 *
 * Tolerance against the definition: a skipped pair has kernel < e^EXP_CUTOFF ≈ 4.2e-18, and every
 * sum holds its self term (>= 1), so the relative error from skipping is below U·4.2e-18 (1.3e-14 at
 * U = 3000). The Gram form's rounding on |x - y|² is a few ulps of |x|² + |y|² (features centred per
 * position), i.e. about 1e-14 relative on the kernel at the Silverman bandwidth. Both are far below
 * the 1e-5 the reference tests ask.
 */

import { wasmGram } from './kde-wasm'

/** Pairs whose exponent -|x - y|²/(2·bw²) is at or below this contribute nothing (exp < 4.3e-18). */
export const EXP_CUTOFF = -40

/** Below this many distinct vectors the direct loop is used (the other two have setup costs). */
export const DIRECT_MAX_U = 48

/** `gram` runs its product in WebAssembly SIMD where that exists, `gram-js` always in JavaScript */
export type PairMethod = 'direct' | 'bits' | 'gram' | 'gram-js'

/** Scratch buffers reused across (row, position) pairs; grown on demand. */
export class PairScratch {
  feats = new Float64Array(0)
  norms = new Float64Array(0)
  words = new Uint32Array(0)
  readonly lo: Float64Array
  readonly hi: Float64Array
  readonly mean: Float64Array

  constructor(readonly d: number) {
    this.lo = new Float64Array(d)
    this.hi = new Float64Array(d)
    this.mean = new Float64Array(d)
  }

  ensure(U: number): void {
    const S = (U + 3) & ~3
    if (this.feats.length < S * this.d) this.feats = new Float64Array(S * this.d)
    if (this.norms.length < S) this.norms = new Float64Array(S)
    const W = Math.ceil(this.d / 32)
    if (this.words.length < U * W) this.words = new Uint32Array(U * W)
  }
}

/**
 * sums[u] for the U vectors src[offsets[u] + j], j < d, with multiplicities weight[u]. Returns the
 * method it used. `force` picks one (tests and benches); the others fall back to `direct` when they
 * do not apply.
 */
export function pairSums(
  src: Float32Array,
  offsets: Int32Array,
  weight: Float64Array,
  U: number,
  d: number,
  bw: number,
  sums: Float64Array,
  scratch: PairScratch,
  force?: PairMethod,
): PairMethod {
  const scale = -1 / (2 * bw * bw)
  const want = force ?? (U <= DIRECT_MAX_U ? 'direct' : 'auto')
  if (want === 'direct') {
    directSums(src, offsets, weight, U, d, scale, sums)
    return 'direct'
  }
  scratch.ensure(U)
  if (want === 'auto' || want === 'bits') {
    const gap2 = binaryGap(src, offsets, U, d, scratch)
    if (gap2 >= 0) {
      bitSums(scratch.words, Math.ceil(d / 32), weight, U, d, gap2 * scale, sums)
      return 'bits'
    }
    if (want === 'bits') {
      directSums(src, offsets, weight, U, d, scale, sums)
      return 'direct'
    }
  }
  const wasm = want === 'gram-js' ? false : wasmGram() !== undefined
  gramSums(src, offsets, weight, U, d, scale, sums, scratch, wasm)
  return wasm ? 'gram' : 'gram-js'
}

/** Every sum starts with its self term: a group's own multiplicity (kernel 1 at distance 0). */
function selfTerms(sums: Float64Array, weight: Float64Array, U: number): void {
  for (let u = 0; u < U; u++) sums[u] = weight[u]
}

function directSums(
  src: Float32Array,
  offsets: Int32Array,
  weight: Float64Array,
  U: number,
  d: number,
  scale: number,
  sums: Float64Array,
): void {
  selfTerms(sums, weight, U)
  for (let u = 0; u < U; u++) {
    const fu = offsets[u]
    const wu = weight[u]
    let acc = 0
    for (let v = u + 1; v < U; v++) {
      const fv = offsets[v]
      let d2 = 0
      for (let j = 0; j < d; j++) {
        const x = src[fu + j] - src[fv + j]
        d2 += x * x
      }
      const e = d2 * scale
      if (e <= EXP_CUTOFF) continue
      const k = Math.exp(e)
      acc += weight[v] * k
      sums[v] += wu * k
    }
    sums[u] += acc
  }
}

/**
 * When every dim holds at most two values and all dims with two share one squared gap, packs each
 * vector's "is the high value" bits into scratch.words (ceil(d/32) words per vector) and returns the
 * squared gap; otherwise -1. The gap is 0 when all U vectors are equal (U = 1 after grouping).
 */
function binaryGap(src: Float32Array, offsets: Int32Array, U: number, d: number, s: PairScratch): number {
  const { lo, hi } = s
  const o0 = offsets[0]
  for (let j = 0; j < d; j++) {
    lo[j] = src[o0 + j]
    hi[j] = NaN
  }
  for (let u = 1; u < U; u++) {
    const o = offsets[u]
    for (let j = 0; j < d; j++) {
      const x = src[o + j]
      if (x === lo[j]) continue
      if (Number.isNaN(hi[j])) hi[j] = x
      else if (x !== hi[j]) return -1
    }
  }
  let gap2 = -1
  for (let j = 0; j < d; j++) {
    if (Number.isNaN(hi[j])) continue
    const g = hi[j] - lo[j]
    if (gap2 < 0) gap2 = g * g
    else if (g * g !== gap2) return -1
  }
  if (gap2 < 0) gap2 = 0
  const W = Math.ceil(d / 32)
  const words = s.words
  words.fill(0, 0, U * W)
  for (let u = 0; u < U; u++) {
    const o = offsets[u]
    for (let j = 0; j < d; j++) {
      if (src[o + j] === hi[j]) words[u * W + (j >>> 5)] |= 1 << (j & 31)
    }
  }
  return gap2
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  x = (x + (x >>> 4)) & 0x0f0f0f0f
  return Math.imul(x, 0x01010101) >>> 24
}

/** Pairs of packed bit vectors: kernel = table[number of differing bits]. */
function bitSums(
  words: Uint32Array,
  W: number,
  weight: Float64Array,
  U: number,
  d: number,
  unitExponent: number,
  sums: Float64Array,
): void {
  const table = new Float64Array(d + 1)
  for (let h = 0; h <= d; h++) {
    const e = h * unitExponent
    table[h] = e <= EXP_CUTOFF ? 0 : Math.exp(e)
  }
  selfTerms(sums, weight, U)
  if (W === 1) {
    for (let u = 0; u < U; u++) {
      const bu = words[u]
      const wu = weight[u]
      let acc = 0
      for (let v = u + 1; v < U; v++) {
        const k = table[popcount(bu ^ words[v])]
        acc += weight[v] * k
        sums[v] += wu * k
      }
      sums[u] += acc
    }
    return
  }
  for (let u = 0; u < U; u++) {
    const wu = weight[u]
    let acc = 0
    for (let v = u + 1; v < U; v++) {
      let h = 0
      for (let i = 0; i < W; i++) h += popcount(words[u * W + i] ^ words[v * W + i])
      const k = table[h]
      acc += weight[v] * k
      sums[v] += wu * k
    }
    sums[u] += acc
  }
}

/**
 * The Gram path. Features are centred (the mean of the distinct vectors: any shift leaves distances
 * unchanged and a small |x| keeps |x|² + |y|² - 2·x·y accurate) and stored transposed, [d][S] with
 * S = U rounded up to 4 (padding columns are zero and never summed).
 */
function gramSums(
  src: Float32Array,
  offsets: Int32Array,
  weight: Float64Array,
  U: number,
  d: number,
  scale: number,
  sums: Float64Array,
  s: PairScratch,
  useWasm: boolean,
): void {
  const S = (U + 3) & ~3
  const wasm = useWasm ? wasmGram() : undefined
  const at = wasm?.reserve(d, S)
  const xt = wasm && at ? new Float64Array(wasm.f64.buffer, at.xt, d * S) : s.feats
  const norms = wasm && at ? new Float64Array(wasm.f64.buffer, at.norms, S) : s.norms
  const mean = s.mean
  mean.fill(0)
  for (let u = 0; u < U; u++) {
    const o = offsets[u]
    for (let j = 0; j < d; j++) mean[j] += src[o + j]
  }
  for (let j = 0; j < d; j++) mean[j] /= U
  norms.fill(0, 0, S)
  for (let u = 0; u < U; u++) {
    const o = offsets[u]
    let n2 = 0
    for (let j = 0; j < d; j++) {
      const x = src[o + j] - mean[j]
      xt[j * S + u] = x
      n2 += x * x
    }
    norms[u] = n2
  }
  for (let u = U; u < S; u++) for (let j = 0; j < d; j++) xt[j * S + u] = 0
  selfTerms(sums, weight, U)
  if (wasm && at) {
    const f64 = wasm.f64
    const out = new Float64Array(f64.buffer, at.out, S * 4)
    const w = new Float64Array(f64.buffer, at.w, S)
    const cols = new Float64Array(f64.buffer, at.cols, S)
    const rows = new Float64Array(f64.buffer, at.rows, 8)
    w.set(weight.subarray(0, U))
    w.fill(0, U, S) // padding columns add nothing to the rows they meet
    cols.fill(0)
    for (let u = 0; u < U; u += 4) {
      // the diagonal block: exponents out, pairs v > u summed here
      wasm.tile(at.xt, S, d, u, u, u + 4, at.norms, scale, at.out)
      for (let r = 0; r < 4; r++) {
        for (let c = r + 1; c < 4; c++) addExp(sums, weight, U, u + r, u + c, out[4 * r + c])
      }
      if (u + 4 >= S) continue
      // every block right of it, summed inside the kernel
      rows.fill(0)
      wasm.sums(at.xt, S, d, u, u + 4, S, at.norms, scale, at.w, at.cols, at.rows, EXP_CUTOFF)
      for (let r = 0; r < 4 && u + r < U; r++) sums[u + r] += rows[2 * r] + rows[2 * r + 1]
    }
    for (let v = 0; v < U; v++) sums[v] += cols[v]
    return
  }

  for (let u = 0; u < U; u += 4) {
    for (let v = u; v < U; v += 4) {
      let a00 = 0,
        a01 = 0,
        a02 = 0,
        a03 = 0,
        a10 = 0,
        a11 = 0,
        a12 = 0,
        a13 = 0,
        a20 = 0,
        a21 = 0,
        a22 = 0,
        a23 = 0,
        a30 = 0,
        a31 = 0,
        a32 = 0,
        a33 = 0
      for (let j = 0, o = 0; j < d; j++, o += S) {
        const x0 = xt[o + u]
        const x1 = xt[o + u + 1]
        const x2 = xt[o + u + 2]
        const x3 = xt[o + u + 3]
        const y0 = xt[o + v]
        const y1 = xt[o + v + 1]
        const y2 = xt[o + v + 2]
        const y3 = xt[o + v + 3]
        a00 += x0 * y0
        a01 += x0 * y1
        a02 += x0 * y2
        a03 += x0 * y3
        a10 += x1 * y0
        a11 += x1 * y1
        a12 += x1 * y2
        a13 += x1 * y3
        a20 += x2 * y0
        a21 += x2 * y1
        a22 += x2 * y2
        a23 += x2 * y3
        a30 += x3 * y0
        a31 += x3 * y1
        a32 += x3 * y2
        a33 += x3 * y3
      }
      addPair(sums, norms, weight, scale, U, u, v, a00)
      addPair(sums, norms, weight, scale, U, u, v + 1, a01)
      addPair(sums, norms, weight, scale, U, u, v + 2, a02)
      addPair(sums, norms, weight, scale, U, u, v + 3, a03)
      addPair(sums, norms, weight, scale, U, u + 1, v, a10)
      addPair(sums, norms, weight, scale, U, u + 1, v + 1, a11)
      addPair(sums, norms, weight, scale, U, u + 1, v + 2, a12)
      addPair(sums, norms, weight, scale, U, u + 1, v + 3, a13)
      addPair(sums, norms, weight, scale, U, u + 2, v, a20)
      addPair(sums, norms, weight, scale, U, u + 2, v + 1, a21)
      addPair(sums, norms, weight, scale, U, u + 2, v + 2, a22)
      addPair(sums, norms, weight, scale, U, u + 2, v + 3, a23)
      addPair(sums, norms, weight, scale, U, u + 3, v, a30)
      addPair(sums, norms, weight, scale, U, u + 3, v + 1, a31)
      addPair(sums, norms, weight, scale, U, u + 3, v + 2, a32)
      addPair(sums, norms, weight, scale, U, u + 3, v + 3, a33)
    }
  }
}

/** `addPair` from an exponent already computed. */
function addExp(sums: Float64Array, weight: Float64Array, U: number, u: number, v: number, e: number): void {
  if (v <= u || v >= U || e <= EXP_CUTOFF) return
  const k = e >= 0 ? 1 : Math.exp(e)
  sums[u] += weight[v] * k
  sums[v] += weight[u] * k
}

/** One pair (u, v) of the upper triangle (u < v < U); others (diagonal block, padding) are ignored. */
function addPair(
  sums: Float64Array,
  norms: Float64Array,
  weight: Float64Array,
  scale: number,
  U: number,
  u: number,
  v: number,
  dot: number,
): void {
  if (v <= u || v >= U) return
  const e = (norms[u] + norms[v] - 2 * dot) * scale
  if (e <= EXP_CUTOFF) return
  const k = e >= 0 ? 1 : Math.exp(e)
  sums[u] += weight[v] * k
  sums[v] += weight[u] * k
}
