/**
 * The KDE's Gram path as a small WebAssembly SIMD module (f64x2), assembled here from its opcodes so
 * that no build step or binary file is needed. Two functions:
 *
 * `sums` does the whole pairwise sum for 4 rows against the blocks right of the diagonal: products,
 * exponents, the cutoff, exp (a polynomial, within 4e-16 of Math.exp) and the weighted row and column
 * sums, without writing a pair out (see WasmGram.sums).
 *
 * `tile` writes the exponents out (the diagonal block, where only some pairs count). For 4 rows
 * u..u+3 of a transposed feature matrix xt [d][S] (float64, S a multiple of 4) and the columns
 * v0, v0 + 4, ... < v1, the kernel exponent
 *
 *   e(r, c) = (|x_{u+r}|² + |x_c|² - 2·x_{u+r}·x_c) · scale
 *
 * with the same operations in the same order as the JavaScript loop in kde-pairs.ts (multiply, then
 * add, over j; no fused multiply-add), so both give bit-identical exponents. Output layout: one
 * 128-byte group per 4 columns, [row r][column c] within it: e(r, v0 + 4g + c) at float64 index
 * 16g + 4r + c. After the S / 4 groups (at out + 32·S bytes), the largest exponent of each row of each
 * group, at float64 index 4g + r, so that the caller skips the rows whose pairs all lie below its cutoff.
 *
 * `wasmGram()` returns undefined where WebAssembly or its SIMD instructions are missing (the caller
 * then uses the JavaScript loop).
 */

interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}

interface WasmApi {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: Record<string, unknown> }
}

/**
 * Byte offsets in the kernel's memory for d features of S (a multiple of 4) vectors; S8 = S + 8
 * entries where the 8-column float32 screen can read past S (all zero there), D2 = d rounded up to even.
 */
export interface WasmLayout {
  /** float64 [d][S] */
  xt: number
  /** float64 [S8] */
  norms: number
  out: number
  /** float64 [S8] weights, column sums; 4 rows x 2 float64 row sums */
  w: number
  cols: number
  rows: number
  /** float32 [d][S8] and [S8]: the screen's copies of xt and norms */
  xt32: number
  n32: number
  /** float64 [S8][D2]: the features row by row, for the screen's exact pairs */
  xr: number
  S8: number
  D2: number
}

export interface WasmGram {
  /** float64 views of the kernel's memory, valid until the next `reserve` */
  f64: Float64Array
  /**
   * makes room for d x S features, S norms, S / 4 output groups, S weights, S column sums and 4 row
   * sums; returns the byte offsets
   */
  reserve(d: number, S: number): WasmLayout
  tile(
    xt: number,
    S: number,
    d: number,
    u: number,
    v0: number,
    v1: number,
    norms: number,
    scale: number,
    out: number,
  ): void
  /**
   * The kernel sums of rows u..u+3 against the columns v0, v0 + 4, ... < v1 (all above the rows:
   * v0 >= u + 4), without writing the exponents out: for each pair, k = 0 where the exponent e is at
   * or below `cutoff`, exp(min(e, 0)) otherwise (NaN stays NaN), from a float64 polynomial within a
   * few ulps of Math.exp. Adds w[c]·k to rows[r] (f64x2 per row: the caller adds its two lanes) and
   * w[u + r]·k to cols[c]. A 4 x 4 block whose 16 exponents are all at or below the cutoff costs
   * one compare per pair and is skipped.
   */
  sums(
    xt: number,
    S: number,
    d: number,
    u: number,
    v0: number,
    v1: number,
    norms: number,
    scale: number,
    w: number,
    cols: number,
    rows: number,
    cutoff: number,
  ): void
  /**
   * The same sums as `sums` for rows u..u+3 against the columns v0, v0 + 8, ... < v1 (groups of 8),
   * screened in float32: the pairs whose float32 exponent is at or below `thr` (the cutoff less a
   * bound on the float32 error, chosen by the caller) are skipped; every other pair gets its float64
   * exponent from the rows of `xr` and is summed as in `sums` (rows[r] at float64 index 2r). Returns
   * the number of pairs that passed the screen.
   */
  screen(
    xt32: number,
    S8: number,
    d: number,
    u: number,
    v0: number,
    v1: number,
    n32: number,
    thr: number,
    xr: number,
    D2: number,
    norms: number,
    scale: number,
    cutoff: number,
    w: number,
    cols: number,
    rows: number,
    near: number,
  ): number
}

const I32 = 0x7f
const F64 = 0x7c
const V128 = 0x7b

/** unsigned LEB128 */
function leb(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

/** signed LEB128 (i32.const) */
function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body]
}

function name(s: string): number[] {
  return [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]
}

// parameters
const P_XT = 0
const P_S = 1
const P_D = 2
const P_U = 3
const P_V0 = 4
const P_V1 = 5
const P_NORMS = 6
const P_SCALE = 7
const P_OUT = 8
// locals: i32 v, j, p, q, o, sb ; v128 a0..a7, y0, y1, x, sc
const L_V = 9
const L_J = 10
const L_P = 11
const L_Q = 12
const L_O = 13
const L_SB = 14
const L_A = 15 // a0..a7 = 15..22
const L_Y0 = 23
const L_Y1 = 24
const L_X = 25
const L_SC = 26
// i32 m (where the group's rows' largest exponents go); v128 e (the exponents just stored), mx (their max)
const L_M = 27
const L_E = 28
const L_MX = 29

const get = (i: number): number[] => [0x20, ...leb(i)]
const set = (i: number): number[] => [0x21, ...leb(i)]
const tee = (i: number): number[] => [0x22, ...leb(i)]
const i32c = (n: number): number[] => [0x41, ...sleb(n)]
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...leb(op), ...imm]
const mem = (align: number, offset: number): number[] => [...leb(align), ...leb(offset)]
const load = (offset: number): number[] => simd(0x00, ...mem(3, offset))
const splat64 = (offset: number): number[] => simd(0x0a, ...mem(3, offset))
const store = (offset: number): number[] => simd(0x0b, ...mem(3, offset))
const fadd = simd(0xf0)
const fsub = simd(0xf1)
const fmul = simd(0xf2)
const fmax = simd(0xf5)
const lane = (i: number): number[] => simd(0x21, i)
const F64_MAX = 0xa5
const F64_STORE = 0x39
const zero = simd(0x0c, ...new Array<number>(16).fill(0))
const I32_ADD = 0x6a
const I32_SHL = 0x74
const I32_LT_U = 0x49
const I32_GE_U = 0x4f

const splat32 = (offset: number): number[] => simd(0x09, ...mem(2, offset))
const load4 = (offset: number): number[] => simd(0x00, ...mem(2, offset))
const F32X4_ADD = 0xe4
const F32X4_SUB = 0xe5
const F32X4_MUL = 0xe6

type Emit = (...parts: number[][]) => void

/** Locals (and parameters) of the 4-row product loop shared by the three kernels. */
interface ProductRegs {
  readonly xt: number
  readonly d: number
  readonly u: number
  readonly v: number
  readonly p: number
  readonly q: number
  readonly j: number
  readonly sb: number
  /** a0..a7: row r's products with columns v..v+1 (or v..v+3 in float32) in a(2r), the next ones in a(2r+1) */
  readonly a: number
  readonly y0: number
  readonly y1: number
  readonly x: number
}

/**
 * a(2r + h) = Σ_j x_{u+r}[j] · (the column vector h of v), multiply then add over j in order: float64
 * (4 x 4 block, 2 lanes) or float32 (4 x 8 block, 4 lanes). `sb` holds the byte stride of a row of xt.
 */
function emitProducts(emit: Emit, r: ProductRegs, f32: boolean): void {
  const mul = f32 ? simd(F32X4_MUL) : fmul
  const add = f32 ? simd(F32X4_ADD) : fadd
  for (let a = 0; a < 8; a++) emit(zero, set(r.a + a))
  emit(get(r.xt), set(r.p), i32c(0), set(r.j))
  emit([0x03, 0x40]) // loop (dims)
  emitColumnsAndRow(emit, r, r.p, f32)
  for (let i = 0; i < 4; i++) {
    emit(get(r.q), f32 ? splat32(4 * i) : splat64(8 * i), set(r.x))
    emit(get(r.a + 2 * i), get(r.x), get(r.y0), mul, add, set(r.a + 2 * i))
    emit(get(r.a + 2 * i + 1), get(r.x), get(r.y1), mul, add, set(r.a + 2 * i + 1))
  }
  emit(get(r.p), get(r.sb), [I32_ADD], set(r.p))
  emit(get(r.j), i32c(1), [I32_ADD], set(r.j))
  emit(get(r.j), get(r.d), [I32_LT_U], [0x0d, 0])
  emit([0x0b]) // end loop (dims)
}

/** y0, y1 = the two column vectors at v of the array at `base` (a local or parameter); q = base + u (the rows). */
function emitColumnsAndRow(emit: Emit, r: ProductRegs, base: number, f32: boolean): void {
  const shift = f32 ? 2 : 3
  const ld = f32 ? load4 : load
  emit(get(base), get(r.v), i32c(shift), [I32_SHL], [I32_ADD], set(r.q))
  emit(get(r.q), ld(0), set(r.y0), get(r.q), ld(16), set(r.y1))
  emit(get(base), get(r.u), i32c(shift), [I32_SHL], [I32_ADD], set(r.q))
}

const TILE_REGS: ProductRegs = {
  xt: P_XT,
  d: P_D,
  u: P_U,
  v: L_V,
  p: L_P,
  q: L_Q,
  j: L_J,
  sb: L_SB,
  a: L_A,
  y0: L_Y0,
  y1: L_Y1,
  x: L_X,
}

function body(): number[] {
  const code: number[] = []
  const emit = (...parts: number[][]): void => {
    for (const p of parts) code.push(...p)
  }
  // sb = S << 3; sc = splat(scale); v = v0; o = out
  emit(get(P_S), i32c(3), [I32_SHL], set(L_SB))
  emit(get(P_SCALE), simd(0x14), set(L_SC))
  emit(get(P_V0), set(L_V), get(P_OUT), set(L_O))
  // m = out + S * 32: the groups' largest exponents follow the groups
  emit(get(P_OUT), get(P_S), i32c(5), [I32_SHL], [I32_ADD], set(L_M))
  emit([0x02, 0x40], [0x03, 0x40]) // block, loop (columns)
  emit(get(L_V), get(P_V1), [I32_GE_U], [0x0d, 1]) // v >= v1: leave
  emitProducts(emit, TILE_REGS, false)
  // y0, y1 = norms of the columns; q = norms + u*8
  emitColumnsAndRow(emit, TILE_REGS, P_NORMS, false)
  for (let r = 0; r < 4; r++) {
    emit(get(L_Q), splat64(8 * r), set(L_X))
    for (let h = 0; h < 2; h++) {
      const a = L_A + 2 * r + h
      // address first, then ((nu + nv) - (a + a)) * sc
      emit(get(L_O))
      emit(get(L_X), get(h === 0 ? L_Y0 : L_Y1), fadd, get(a), get(a), fadd, fsub, get(L_SC), fmul)
      emit(tee(L_E), store(32 * r + 16 * h))
      if (h === 0) emit(get(L_E), set(L_MX))
      else emit(get(L_MX), get(L_E), fmax, set(L_MX))
    }
    // m[r] = the largest of row r's 4 exponents in this group (NaN if any is NaN)
    emit(get(L_M), get(L_MX), lane(0), get(L_MX), lane(1), [F64_MAX], [F64_STORE], mem(3, 8 * r))
  }
  emit(get(L_M), i32c(32), [I32_ADD], set(L_M))
  emit(get(L_O), i32c(128), [I32_ADD], set(L_O))
  emit(get(L_V), i32c(4), [I32_ADD], set(L_V))
  emit([0x0c, 0]) // br loop (columns)
  emit([0x0b, 0x0b]) // end loop, end block
  emit([0x0b]) // end function
  const locals = [...leb(4), ...leb(6), I32, ...leb(12), V128, ...leb(1), I32, ...leb(2), V128]
  const fn = [...locals, ...code]
  return [...leb(fn.length), ...fn]
}

const flt = (op: number): number[] => simd(op)
const F64X2_LE = 0x4b
const V128_NOT = 0x4d
const V128_AND = 0x4e
const I64X2_ALL_TRUE = 0xc3
const F64X2_NEAREST = 0x94
const F64X2_MIN = 0xf4
const I32X4_TRUNC_SAT_F64X2_S_ZERO = 0xfc
const I64X2_EXTEND_LOW_I32X4_S = 0xc7
const I64X2_SHL = 0xcb
const I64X2_ADD = 0xce

/** v128.const of two equal float64 lanes */
function f64x2const(x: number): number[] {
  const b = new Uint8Array(new Float64Array([x, x]).buffer)
  return simd(0x0c, ...Array.from(b))
}

// exp(e) = 2^t · exp(r), t = nearest(e / ln 2), r = e - t·ln 2 in two parts (Cody and Waite; LN2_HI has
// trailing zero bits, so t·LN2_HI is exact for |t| < 2^11), |r| <= ln 2 / 2, exp(r) by its Taylor
// polynomial to r^12 / 12! (truncation below 2.5e-16 relative there)
const LOG2E = Math.LOG2E
const LN2_HI = 0.6931471803691238
const LN2_LO = 1.9082149292705877e-10
const EXP_DEGREE = 12

// parameters of `sums`
const Q_XT = 0
const Q_S = 1
const Q_D = 2
const Q_U = 3
const Q_V0 = 4
const Q_V1 = 5
const Q_NORMS = 6
const Q_SCALE = 7
const Q_W = 8
const Q_COLS = 9
const Q_ROWS = 10
const Q_CUT = 11
// locals: i32 v, j, p, q, sb ; v128 a0..a7, y0, y1, x, sc, cut, e, t, r, m
const M_V = 12
const M_J = 13
const M_P = 14
const M_Q = 15
const M_SB = 16
const M_A = 17 // 17..24
const M_Y0 = 25
const M_Y1 = 26
const M_X = 27
const M_SC = 28
const M_CUT = 29
const M_E = 30
const M_T = 31
const M_R = 32
const M_M = 33

const SUMS_REGS: ProductRegs = {
  xt: Q_XT,
  d: Q_D,
  u: Q_U,
  v: M_V,
  p: M_P,
  q: M_Q,
  j: M_J,
  sb: M_SB,
  a: M_A,
  y0: M_Y0,
  y1: M_Y1,
  x: M_X,
}

function sumsBody(): number[] {
  const code: number[] = []
  const emit = (...parts: number[][]): void => {
    for (const p of parts) code.push(...p)
  }
  emit(get(Q_S), i32c(3), [I32_SHL], set(M_SB))
  emit(get(Q_SCALE), simd(0x14), set(M_SC))
  emit(get(Q_CUT), simd(0x14), set(M_CUT))
  emit(get(Q_V0), set(M_V))
  emit([0x02, 0x40], [0x03, 0x40]) // block, loop (column groups)
  emit(get(M_V), get(Q_V1), [I32_GE_U], [0x0d, 1])
  emitProducts(emit, SUMS_REGS, false) // the same products as `tile`
  // exponents ((|x|² + |y|²) - (a + a))·scale, in place of the products
  emitColumnsAndRow(emit, SUMS_REGS, Q_NORMS, false)
  for (let r = 0; r < 4; r++) {
    emit(get(M_Q), splat64(8 * r), set(M_X))
    for (let h = 0; h < 2; h++) {
      const a = M_A + 2 * r + h
      emit(get(M_X), get(h === 0 ? M_Y0 : M_Y1), fadd, get(a), get(a), fadd, fsub, get(M_SC), fmul, set(a))
    }
  }
  emit([0x02, 0x40]) // block (this group's sums; left when all 16 pairs are at or below the cutoff)
  emit(get(M_A), get(M_CUT), flt(F64X2_LE))
  for (let a = 1; a < 8; a++) emit(get(M_A + a), get(M_CUT), flt(F64X2_LE), flt(V128_AND))
  emit(flt(I64X2_ALL_TRUE), [0x0d, 0])
  for (let a = 0; a < 8; a++) {
    const A = M_A + a
    // m = lanes above the cutoff (NaN included); e = min(e, 0)
    emit(get(A), get(M_CUT), flt(F64X2_LE), flt(V128_NOT), set(M_M))
    emit(get(A), zero, flt(F64X2_MIN), set(M_E))
    emit(get(M_E), f64x2const(LOG2E), fmul, flt(F64X2_NEAREST), set(M_T))
    emit(
      get(M_E),
      get(M_T),
      f64x2const(LN2_HI),
      fmul,
      fsub,
      get(M_T),
      f64x2const(LN2_LO),
      fmul,
      fsub,
      set(M_R),
    )
    emit(f64x2const(1 / factorial(EXP_DEGREE)))
    for (let i = EXP_DEGREE - 1; i >= 0; i--) emit(get(M_R), fmul, f64x2const(1 / factorial(i)), fadd)
    // · 2^t: t added to the exponent field (t >= -58 in every lane that is kept)
    emit(get(M_T), flt(I32X4_TRUNC_SAT_F64X2_S_ZERO), flt(I64X2_EXTEND_LOW_I32X4_S), i32c(52), flt(I64X2_SHL))
    emit(flt(I64X2_ADD), get(M_M), flt(V128_AND), set(A))
  }
  // rows[r] += k(r, v..v+1)·w[v..v+1] + k(r, v+2..v+3)·w[v+2..v+3]
  emit(get(Q_W), get(M_V), i32c(3), [I32_SHL], [I32_ADD], set(M_Q))
  emit(get(M_Q), load(0), set(M_Y0), get(M_Q), load(16), set(M_Y1))
  for (let r = 0; r < 4; r++) {
    emit(get(Q_ROWS), get(Q_ROWS), load(16 * r))
    emit(get(M_A + 2 * r), get(M_Y0), fmul, get(M_A + 2 * r + 1), get(M_Y1), fmul, fadd, fadd, store(16 * r))
  }
  // cols[v..v+3] += Σ_r w[u+r]·k(r, ·)
  emit(get(Q_COLS), get(M_V), i32c(3), [I32_SHL], [I32_ADD], set(M_Q))
  emit(get(M_Q), load(0), set(M_Y0), get(M_Q), load(16), set(M_Y1))
  emit(get(Q_W), get(Q_U), i32c(3), [I32_SHL], [I32_ADD], set(M_P))
  for (let r = 0; r < 4; r++) {
    emit(get(M_P), splat64(8 * r), set(M_X))
    emit(get(M_Y0), get(M_A + 2 * r), get(M_X), fmul, fadd, set(M_Y0))
    emit(get(M_Y1), get(M_A + 2 * r + 1), get(M_X), fmul, fadd, set(M_Y1))
  }
  emit(get(M_Q), get(M_Y0), store(0), get(M_Q), get(M_Y1), store(16))
  emit([0x0b]) // end block
  emit(get(M_V), i32c(4), [I32_ADD], set(M_V))
  emit([0x0c, 0])
  emit([0x0b, 0x0b])
  emit([0x0b])
  const locals = [...leb(2), ...leb(5), I32, ...leb(17), V128]
  const fn = [...locals, ...code]
  return [...leb(fn.length), ...fn]
}

function factorial(n: number): number {
  let f = 1
  for (let i = 2; i <= n; i++) f *= i
  return f
}

// ---------------------------------------------------------------------------------------------- screen
const F32 = 0x7d
const I32_SUB = 0x6b
const I32_MUL = 0x6c
const I32_AND = 0x71
const I32_CTZ = 0x68
const I32_EQZ = 0x45
const F64_LOAD = 0x2b
const F64_ADD = 0xa0
const F64_SUB = 0xa1
const F64_MUL = 0xa2
const F64_MIN = 0xa4
const F64_LE = 0x65
const F64_NEAREST = 0x9e
const F32_DEMOTE_F64 = 0xb6
const I64_SHL = 0x86
const I64_ADD = 0x7c
const I64_REINTERPRET_F64 = 0xbd
const F64_REINTERPRET_I64 = 0xbf
const I64_TRUNC_SAT_F64_S = [0xfc, 0x06]
const f64c = (x: number): number[] => [0x44, ...Array.from(new Uint8Array(new Float64Array([x]).buffer))]
const f32x4const = (x: number): number[] =>
  simd(0x0c, ...Array.from(new Uint8Array(new Float32Array([x, x, x, x]).buffer)))
const F32X4_LE = 0x45
const F32X4_NEAREST = 0x6a
const I32X4_BITMASK = 0xa4
const I32X4_TRUNC_SAT_F32X4_S = 0xf8
const I32X4_SHL = 0xab
const I32X4_ADD = 0xae
const F64X2_PROMOTE_LOW_F32X4 = 0x5f
/** i8x16.shuffle moving lanes 2, 3 of an f32x4 to 0, 1 */
const HIGH_HALF = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)

// float32 exp for the far pairs: the same reduction with float32 constants (LN2_HI_32 has 9 bits, so
// t·LN2_HI_32 is exact for |t| < 2^15) and the Taylor polynomial to r^6 / 6! (1.2e-7 there)
const LN2_HI_32 = 0.693359375
const LN2_LO_32 = -2.1219444e-4
const EXP32_DEGREE = 6

// parameters of `screen`
const R_XT = 0 // float32 [d][S8]
const R_S = 1 // S8
const R_D = 2
const R_U = 3
const R_V0 = 4
const R_V1 = 5
const R_N32 = 6 // float32 norms [S8]
const R_THR = 7 // f32: at or below, a pair is skipped
const R_XR = 8 // float64 rows [S8][D2]
const R_D2 = 9 // d rounded up to even
const R_N64 = 10
const R_SCALE = 11
const R_CUT = 12
const R_W = 13
const R_COLS = 14
const R_ROWS = 15
const R_NEAR = 16 // f32: above it, a pair's exponent is recomputed in float64
// locals: i32 v, j, p, q, sb, bits, i, k, pi, pk, pe, cnt ; v128 a0..a7, y0, y1, x, e, m, k, dacc ; f64 e64, t, r, kv
const S_V = 17
const S_J = 18
const S_P = 19
const S_Q = 20
const S_SB = 21
const S_BITS = 22
const S_I = 23
const S_K = 24
const S_PI = 25
const S_PK = 26
const S_PE = 27
const S_CNT = 28
const S_A = 29 // 29..36
const S_Y0 = 37
const S_Y1 = 38
const S_X = 39
const S_E = 40
const S_M = 41
const S_K4 = 42
const S_DACC = 43
const S_E64 = 44
const S_T = 45
const S_R = 46
const S_KV = 47

/** the pair (i, k): its float64 exponent from the rows' dot product, and its kernel summed if above the cutoff */
function exactPair(emit: Emit, r: number): void {
  emit(get(R_D2), i32c(3), [I32_SHL], set(S_PE)) // row bytes
  emit(get(R_XR), get(S_I), get(S_PE), [I32_MUL], [I32_ADD], set(S_PI))
  emit(get(R_XR), get(S_K), get(S_PE), [I32_MUL], [I32_ADD], set(S_PK))
  emit(get(S_PI), get(S_PE), [I32_ADD], set(S_PE))
  emit(zero, set(S_DACC))
  emit([0x03, 0x40]) // loop (dims, two at a time)
  emit(get(S_DACC), get(S_PI), load(0), get(S_PK), load(0), fmul, fadd, set(S_DACC))
  emit(get(S_PI), i32c(16), [I32_ADD], set(S_PI), get(S_PK), i32c(16), [I32_ADD], set(S_PK))
  emit(get(S_PI), get(S_PE), [I32_LT_U], [0x0d, 0])
  emit([0x0b])
  // e64 = ((n[i] + n[k]) - (dot + dot)) · scale
  emit(get(R_N64), get(S_I), i32c(3), [I32_SHL], [I32_ADD], [F64_LOAD], mem(3, 0))
  emit(get(R_N64), get(S_K), i32c(3), [I32_SHL], [I32_ADD], [F64_LOAD], mem(3, 0), [F64_ADD])
  emit(get(S_DACC), lane(0), get(S_DACC), lane(1), [F64_ADD], set(S_T))
  emit(get(S_T), get(S_T), [F64_ADD], [F64_SUB], get(R_SCALE), [F64_MUL], set(S_E64))
  emit(get(S_CNT), i32c(1), [I32_ADD], set(S_CNT))
  emit(get(S_E64), get(R_CUT), [F64_LE], [I32_EQZ], [0x04, 0x40]) // if above the cutoff (or NaN)
  emit(get(S_E64), f64c(0), [F64_MIN], set(S_E64))
  emit(get(S_E64), f64c(LOG2E), [F64_MUL], [F64_NEAREST], set(S_T))
  emit(
    get(S_E64),
    get(S_T),
    f64c(LN2_HI),
    [F64_MUL],
    [F64_SUB],
    get(S_T),
    f64c(LN2_LO),
    [F64_MUL],
    [F64_SUB],
    set(S_R),
  )
  emit(f64c(1 / factorial(EXP_DEGREE)))
  for (let n = EXP_DEGREE - 1; n >= 0; n--) emit(get(S_R), [F64_MUL], f64c(1 / factorial(n)), [F64_ADD])
  emit(
    [I64_REINTERPRET_F64],
    get(S_T),
    I64_TRUNC_SAT_F64_S,
    [0x42, 52],
    [I64_SHL],
    [I64_ADD],
    [F64_REINTERPRET_I64],
  )
  emit(set(S_KV))
  // rows[r] (lane 0) += w[k]·kv ; cols[k] += w[i]·kv
  emit(get(R_ROWS), get(R_ROWS), [F64_LOAD], mem(3, 16 * r))
  emit(
    get(R_W),
    get(S_K),
    i32c(3),
    [I32_SHL],
    [I32_ADD],
    [F64_LOAD],
    mem(3, 0),
    get(S_KV),
    [F64_MUL],
    [F64_ADD],
  )
  emit([F64_STORE], mem(3, 16 * r))
  emit(get(R_COLS), get(S_K), i32c(3), [I32_SHL], [I32_ADD], tee(S_PI))
  emit(get(S_PI), [F64_LOAD], mem(3, 0))
  emit(
    get(R_W),
    get(S_I),
    i32c(3),
    [I32_SHL],
    [I32_ADD],
    [F64_LOAD],
    mem(3, 0),
    get(S_KV),
    [F64_MUL],
    [F64_ADD],
  )
  emit([F64_STORE], mem(3, 0))
  emit([0x0b]) // end if
}

/**
 * One row r against 4 columns v + 4h.. whose float32 exponents are in S_E: the far pairs (between the
 * skip threshold and `near`) summed from a float32 exp, the near ones (and NaN) through exactPair.
 */
function rowVector(emit: Emit, r: number, h: number): void {
  emit(
    get(S_E),
    get(R_THR),
    simd(0x13),
    simd(F32X4_LE),
    flt(V128_NOT),
    tee(S_M),
    simd(I32X4_BITMASK),
    [I32_EQZ],
    [0x0d, 0],
  )
  // near lanes (NaN included): exact
  emit(get(S_E), get(R_NEAR), simd(0x13), simd(F32X4_LE), flt(V128_NOT), simd(I32X4_BITMASK), tee(S_BITS))
  emit([0x04, 0x40]) // if any
  emit([0x03, 0x40]) // loop (set bits)
  emit(get(R_U), i32c(r), [I32_ADD], set(S_I))
  emit(get(S_V), i32c(4 * h), [I32_ADD], get(S_BITS), [I32_CTZ], [I32_ADD], set(S_K))
  emit(get(S_BITS), get(S_BITS), i32c(1), [I32_SUB], [I32_AND], set(S_BITS))
  exactPair(emit, r)
  emit(get(S_BITS), [0x0d, 0])
  emit([0x0b]) // end loop
  emit([0x0b]) // end if
  // far lanes: m = above the threshold and at or below `near`
  emit(get(S_M), get(S_E), get(R_NEAR), simd(0x13), simd(F32X4_LE), flt(V128_AND), set(S_M))
  emit(get(S_E), f32x4const(Math.LOG2E), simd(F32X4_MUL), simd(F32X4_NEAREST), set(S_X))
  emit(get(S_E), get(S_X), f32x4const(LN2_HI_32), simd(F32X4_MUL), simd(F32X4_SUB))
  emit(get(S_X), f32x4const(LN2_LO_32), simd(F32X4_MUL), simd(F32X4_SUB), set(S_K4))
  emit(f32x4const(1 / factorial(EXP32_DEGREE)))
  for (let n = EXP32_DEGREE - 1; n >= 0; n--)
    emit(get(S_K4), simd(F32X4_MUL), f32x4const(1 / factorial(n)), simd(F32X4_ADD))
  emit(get(S_X), simd(I32X4_TRUNC_SAT_F32X4_S), i32c(23), simd(I32X4_SHL), simd(I32X4_ADD))
  emit(get(S_M), flt(V128_AND), set(S_K4))
  // k as float64, columns 0-1 in S_E, 2-3 in S_X
  emit(get(S_K4), simd(F64X2_PROMOTE_LOW_F32X4), set(S_E))
  emit(get(S_K4), get(S_K4), HIGH_HALF, simd(F64X2_PROMOTE_LOW_F32X4), set(S_X))
  // rows[r] += k·w[columns] ; cols[columns] += k·w[row]
  emit(get(R_W), get(S_V), i32c(3), [I32_SHL], [I32_ADD], set(S_PI))
  emit(get(R_ROWS), get(R_ROWS), load(16 * r))
  emit(get(S_E), get(S_PI), load(32 * h), fmul, get(S_X), get(S_PI), load(32 * h + 16), fmul, fadd, fadd)
  emit(store(16 * r))
  emit(get(R_W), get(R_U), i32c(3), [I32_SHL], [I32_ADD], splat64(8 * r), set(S_K4))
  emit(get(R_COLS), get(S_V), i32c(3), [I32_SHL], [I32_ADD], set(S_PI))
  emit(get(S_PI), get(S_PI), load(32 * h), get(S_E), get(S_K4), fmul, fadd, store(32 * h))
  emit(get(S_PI), get(S_PI), load(32 * h + 16), get(S_X), get(S_K4), fmul, fadd, store(32 * h + 16))
}

const SCREEN_REGS: ProductRegs = {
  xt: R_XT,
  d: R_D,
  u: R_U,
  v: S_V,
  p: S_P,
  q: S_Q,
  j: S_J,
  sb: S_SB,
  a: S_A,
  y0: S_Y0,
  y1: S_Y1,
  x: S_X,
}

function screenBody(): number[] {
  const code: number[] = []
  const emit: Emit = (...parts) => {
    for (const p of parts) code.push(...p)
  }
  emit(get(R_S), i32c(2), [I32_SHL], set(S_SB))
  emit(get(R_V0), set(S_V))
  emit([0x02, 0x40], [0x03, 0x40]) // block, loop (groups of 8 columns)
  emit(get(S_V), get(R_V1), [I32_GE_U], [0x0d, 1])
  emitProducts(emit, SCREEN_REGS, true) // float32 products, 4 rows x 8 columns
  // float32 exponents ((n_u + n_v) - (a + a))·scale, in place of the products
  emitColumnsAndRow(emit, SCREEN_REGS, R_N32, true)
  for (let r = 0; r < 4; r++) {
    emit(get(S_Q), splat32(4 * r), set(S_X))
    for (let h = 0; h < 2; h++) {
      const a = S_A + 2 * r + h
      emit(
        get(S_X),
        get(h === 0 ? S_Y0 : S_Y1),
        simd(F32X4_ADD),
        get(a),
        get(a),
        simd(F32X4_ADD),
        simd(F32X4_SUB),
      )
      emit(get(R_SCALE), [F32_DEMOTE_F64], simd(0x13), simd(F32X4_MUL), set(a))
    }
  }
  for (let r = 0; r < 4; r++) {
    for (let h = 0; h < 2; h++) {
      emit(get(S_A + 2 * r + h), set(S_E))
      emit([0x02, 0x40]) // block: left when no lane is above the threshold
      rowVector(emit, r, h)
      emit([0x0b])
    }
  }
  emit(get(S_V), i32c(8), [I32_ADD], set(S_V))
  emit([0x0c, 0])
  emit([0x0b, 0x0b])
  emit(get(S_CNT))
  emit([0x0b])
  const locals = [...leb(3), ...leb(12), I32, ...leb(15), V128, ...leb(4), F64]
  const fn = [...locals, ...code]
  return [...leb(fn.length), ...fn]
}

function moduleBytes(): Uint8Array {
  const tileParams = [I32, I32, I32, I32, I32, I32, I32, F64, I32]
  const sumsParams = [I32, I32, I32, I32, I32, I32, I32, F64, I32, I32, I32, F64]
  const screenParams = [I32, I32, I32, I32, I32, I32, I32, F32, I32, I32, I32, F64, F64, I32, I32, I32, F32]
  const type = [
    3,
    0x60,
    ...leb(tileParams.length),
    ...tileParams,
    0,
    0x60,
    ...leb(sumsParams.length),
    ...sumsParams,
    0,
    0x60,
    ...leb(screenParams.length),
    ...screenParams,
    1,
    I32,
  ]
  const func = [3, 0, 1, 2]
  const memory = [1, 0, 1]
  const exports = [
    4,
    ...name('mem'),
    2,
    0,
    ...name('tile'),
    0,
    0,
    ...name('sums'),
    0,
    1,
    ...name('screen'),
    0,
    2,
  ]
  const code = [3, ...body(), ...sumsBody(), ...screenBody()]
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, type),
    ...section(3, func),
    ...section(5, memory),
    ...section(7, exports),
    ...section(10, code),
  ])
}

let cached: WasmGram | null | undefined

/** The kernel, or undefined without WebAssembly SIMD (or with `VAR_KDE_NO_WASM` in globalThis). */
export function wasmGram(): WasmGram | undefined {
  if (cached !== undefined) return cached ?? undefined
  cached = null
  const g = globalThis as unknown as { WebAssembly?: WasmApi; VAR_KDE_NO_WASM?: boolean }
  const api = g.WebAssembly
  if (!api || g.VAR_KDE_NO_WASM) return undefined
  try {
    const bytes = moduleBytes()
    if (!api.validate(bytes)) return undefined
    const instance = new api.Instance(new api.Module(bytes))
    const memory = instance.exports.mem as WasmMemory
    const tile = instance.exports.tile as WasmGram['tile']
    const kernel: WasmGram = {
      f64: new Float64Array(memory.buffer),
      reserve(d, S) {
        const S8 = S + 8
        const D2 = (d + 1) & ~1
        const xt = 0
        const norms = d * S * 8
        const out = norms + S8 * 8
        const w = out + S * 64 + 128
        const cols = w + S8 * 8
        const rows = cols + S8 * 8
        const xt32 = rows + 64
        const n32 = xt32 + d * S8 * 4
        const xr = n32 + S8 * 4
        const need = xr + S8 * D2 * 8
        const have = memory.buffer.byteLength
        if (need > have) memory.grow(Math.ceil((need - have) / 65536))
        if (kernel.f64.buffer !== memory.buffer) kernel.f64 = new Float64Array(memory.buffer)
        return { xt, norms, out, w, cols, rows, xt32, n32, xr, S8, D2 }
      },
      tile,
      sums: instance.exports.sums as WasmGram['sums'],
      screen: instance.exports.screen as WasmGram['screen'],
    }
    cached = kernel
    return kernel
  } catch {
    return undefined
  }
}

/** For tests: the module's bytes (to check that they validate where SIMD exists). */
export const wasmGramBytes = moduleBytes
