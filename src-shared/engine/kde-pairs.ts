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
 *   From SCREEN_MIN_U distinct vectors on, a float32 screen goes first (kde-wasm.ts `screen`): a
 *   float32 product of the same matrix gives every pair's exponent to within a bound stated in
 *   `screenThresholds`; pairs surely below a cutoff are skipped, far ones summed from a float32 exp,
 *   and only near ones recomputed in float64. Where most pairs are near (tight clusters), it gives way
 *   to the float64 kernel for the rest of the position.
 *
 * Tolerance against the definition: a skipped pair has kernel < e^EXP_CUTOFF ≈ 4.2e-18, and every
 * sum holds its self term (>= 1), so the relative error from skipping is below U·4.2e-18 (1.3e-14 at
 * U = 3000). The Gram form's rounding on |x - y|² is a few ulps of |x|² + |y|² (features centred per
 * position), i.e. about 1e-14 relative on the kernel at the Silverman bandwidth. The screen adds at
 * most SCREEN_SKIP_TOLERANCE + SCREEN_TOLERANCE (1.01e-7) relative, by construction. All far below the
 * 1e-5 the reference tests ask.
 */

import { wasmGram, type WasmLayout } from './kde-wasm'

/** Pairs whose exponent -|x - y|²/(2·bw²) is at or below this contribute nothing (exp < 4.3e-18). */
export const EXP_CUTOFF = -40

/** Below this many distinct vectors the direct loop is used (the other two have setup costs). */
export const DIRECT_MAX_U = 48

/**
 * `gram` runs its product in WebAssembly SIMD where that exists (with the float32 screen from
 * SCREEN_MIN_U vectors), `gram-f64` the same without the screen, `gram-js` always in JavaScript
 */
export type PairMethod = 'direct' | 'bits' | 'gram' | 'gram-f64' | 'gram-js'

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
  gramSums(src, offsets, weight, U, d, scale, sums, scratch, wasm, want !== 'gram-f64')
  return wasm ? (want === 'gram-f64' ? 'gram-f64' : 'gram') : 'gram-js'
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
  allowScreen: boolean,
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
    const { S8 } = at
    const out = new Float64Array(f64.buffer, at.out, S * 4)
    const w = new Float64Array(f64.buffer, at.w, S8)
    const cols = new Float64Array(f64.buffer, at.cols, S8)
    const rows = new Float64Array(f64.buffer, at.rows, 8)
    w.set(weight.subarray(0, U))
    w.fill(0, U, S8) // padding columns add nothing to the rows they meet
    cols.fill(0)
    new Float64Array(f64.buffer, at.norms, S8).fill(0, S) // the screen's 8-column groups read past S
    let screen = allowScreen ? screenThresholds(norms, weight, U, d, scale) : undefined
    if (screen !== undefined) {
      fillScreen(wasm.f64, at, xt, norms, S, d)
      screenStats.positions++
    }
    let screened = 0
    let exact = 0
    for (let u = 0; u < U; u += 4) {
      // the diagonal block: exponents out, pairs v > u summed here
      wasm.tile(at.xt, S, d, u, u, u + 4, at.norms, scale, at.out)
      for (let r = 0; r < 4; r++) {
        for (let c = r + 1; c < 4; c++) addExp(sums, weight, U, u + r, u + c, out[4 * r + c])
      }
      if (u + 4 >= S) continue
      // every block right of it, summed inside the kernel
      rows.fill(0)
      if (screen !== undefined) {
        exact += wasm.screen(
          at.xt32,
          S8,
          d,
          u,
          u + 4,
          S,
          at.n32,
          screen.skip,
          at.xr,
          at.D2,
          at.norms,
          scale,
          EXP_CUTOFF,
          at.w,
          at.cols,
          at.rows,
          screen.near,
        )
        screened += 32 * Math.ceil((S - u - 4) / 8)
        // many near pairs, each done twice: the float64 kernel is cheaper from here on
        if (screened >= SCREEN_PROBE && exact > SCREEN_MAX_EXACT * screened) {
          screen = undefined
          screenStats.gaveWay++
        }
      } else {
        wasm.sums(at.xt, S, d, u, u + 4, S, at.norms, scale, at.w, at.cols, at.rows, EXP_CUTOFF)
      }
      for (let r = 0; r < 4 && u + r < U; r++) sums[u + r] += rows[2 * r] + rows[2 * r + 1]
    }
    for (let v = 0; v < U; v++) sums[v] += cols[v]
    screenStats.exactPairs += exact
    screenStats.screenedPairs += screened
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

/** What the float32 screen did since the last reset (tests and benches read it). */
export const screenStats = { positions: 0, gaveWay: 0, exactPairs: 0, screenedPairs: 0 }

/** Below this many distinct vectors the float32 screen is not tried. */
export const SCREEN_MIN_U = 256
/** The screen's bound on the relative error its float32 far pairs add to a sum. */
export const SCREEN_TOLERANCE = 1e-7
/** The screen's bound on the relative error from the pairs it skips. */
export const SCREEN_SKIP_TOLERANCE = 1e-9
/** The screen is dropped for the rest of a position once this share of its first pairs was near. */
const SCREEN_MAX_EXACT = 0.03
const SCREEN_PROBE = 32768

/**
 * The float32 screen's two thresholds for one position, or undefined where it does not apply.
 *
 * The float32 exponent of a pair, ((n_u + n_v) - 2·x_u·x_v)·scale from features and norms rounded to
 * float32 and a float32 dot product over d terms, is within
 *   bound = (d + 8)·2⁻²⁴·(n_u + n_v)·|scale| + 2⁻²²·|e|
 * of the float64 one (first-order rounding bounds: inputs 2u, the d-term sum (d - 1)u, the three adds
 * and the scale 5u, u = 2⁻²⁴); δ = 8·bound at the largest norm.
 * - skip: the cutoff less δ. A pair at or below it is below the cutoff in float64 too.
 * - near: above it, a pair's exponent is recomputed in float64 and summed exactly as the float64 path
 *   does. Between the two, its kernel is exp of the float32 exponent in float32: relative error at
 *   most ρ = δ + 1e-6 on a kernel below e^near. Each sum holds its self term (a multiplicity, >= 1),
 *   so these pairs change a sum by at most W·e^near·ρ relative (W the total multiplicity), and near is
 *   chosen so that this is SCREEN_TOLERANCE.
 */
function screenThresholds(
  norms: Float64Array,
  weight: Float64Array,
  U: number,
  d: number,
  scale: number,
): { skip: number; near: number } | undefined {
  if (U < SCREEN_MIN_U) return undefined
  let nmax = 0
  let W = 0
  for (let u = 0; u < U; u++) {
    if (!(norms[u] <= nmax)) nmax = norms[u]
    W += weight[u]
  }
  const delta = 8 * ((d + 8) * 2 ** -24 * 2 * nmax * Math.abs(scale) + 2 ** -22 * Math.abs(EXP_CUTOFF))
  // beyond float32's range, or so loose that the screen would skip little
  if (!(nmax < 1e30 && delta < 1)) return undefined
  const near = Math.log(SCREEN_TOLERANCE / (W * (delta + 1e-6)))
  const cutoff = Math.max(EXP_CUTOFF, Math.log(SCREEN_SKIP_TOLERANCE / W))
  let skip = Math.fround(cutoff - delta)
  if (skip >= cutoff - delta) skip = Math.fround(cutoff - 2 * delta)
  // nothing left between the two: every pair that passes would be exact
  if (!(near > skip + 1)) return undefined
  return { skip, near: Math.fround(Math.min(near, 0)) }
}

/** The screen's inputs: float32 copies of the transposed features and norms, and float64 rows. */
function fillScreen(
  f64: Float64Array,
  at: WasmLayout,
  xt: Float64Array,
  norms: Float64Array,
  S: number,
  d: number,
): void {
  const { S8, D2 } = at
  const xt32 = new Float32Array(f64.buffer, at.xt32, d * S8)
  const n32 = new Float32Array(f64.buffer, at.n32, S8)
  const xr = new Float64Array(f64.buffer, at.xr, S8 * D2)
  xt32.fill(0)
  xr.fill(0)
  for (let j = 0; j < d; j++) {
    const o = j * S
    const o32 = j * S8
    for (let u = 0; u < S; u++) {
      const x = xt[o + u]
      xt32[o32 + u] = x
      xr[u * D2 + j] = x
    }
  }
  n32.fill(0)
  n32.set(norms.subarray(0, S))
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
