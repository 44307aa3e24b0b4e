import { describe, expect, it } from 'vitest'
import {
  BANDWIDTH_EPS,
  featureView,
  kdeDensities,
  kdeDensitiesWith,
  silvermanFactor,
  type KdeInput,
} from '../../src-shared/engine/kde'
import {
  EXP_CUTOFF,
  SCREEN_MIN_U,
  SCREEN_SKIP_TOLERANCE,
  SCREEN_TOLERANCE,
  screenStats,
  type PairMethod,
} from '../../src-shared/engine/kde-pairs'
import { wasmGram } from '../../src-shared/engine/kde-wasm'
import { createRng } from '../../src-shared/engine/rng'
import { kdeInput, loadSelectionFixture } from './selection-fixture'

const sets = loadSelectionFixture()

function maxRelError(got: ArrayLike<number>, want: readonly number[]): number {
  let worst = 0
  want.forEach((w, i) => {
    worst = Math.max(worst, Math.abs(got[i] - w) / Math.max(Math.abs(w), 1e-300))
  })
  return worst
}

describe('KDE densities against the NumPy reference', () => {
  const cases = sets.flatMap((set) =>
    set.cases
      // densities do not depend on alpha, k or dedup: one case per kernel and pooling is enough
      .filter(
        (c, i, all) =>
          all.findIndex(
            (o) => o.kernel === c.kernel && o.poolBandwidthOverBatch === c.poolBandwidthOverBatch,
          ) === i,
      )
      .map((c) => ({ set, c })),
  )

  it.each(cases.map(({ set, c }) => [c.name, set, c] as const))('%s', (_name, set, c) => {
    const [B, N, P] = set.shape
    const variants = c.kernel === 'gaussian' ? [true, false] : [true] // gaussian: shared-id path and direct path
    for (const withIds of variants) {
      const { densities, bandwidths } = kdeDensities(kdeInput(set, c, withIds))
      expect(densities).toHaveLength(B * N)
      expect(bandwidths).toHaveLength(B * P)
      for (let b = 0; b < B; b++) {
        expect(maxRelError(densities.subarray(b * N, (b + 1) * N), c.densities_f64[b])).toBeLessThan(1e-5)
        expect(maxRelError(bandwidths.subarray(b * P, (b + 1) * P), c.bandwidth[b])).toBeLessThan(1e-5)
      }
    }
  })

  it('gives the same densities from codebook rows of ids as from explicit features', () => {
    const V = 64
    const d = 8
    const rng = createRng(17)
    const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)
    const [B, N, P] = [2, 30, 4]
    const ids = Int32Array.from({ length: B * N * P }, () => Math.floor(rng.nextDouble() * 10))
    const features = new Float32Array(B * N * P * d)
    ids.forEach((id, i) => {
      features.set(codebook.subarray(id * d, (id + 1) * d), i * d)
    })
    const base = { B, N, P, d, kernel: 'gaussian', poolBandwidthOverBatch: false } as const
    const a = kdeDensities({ ...base, ids, codebook })
    const b = kdeDensities({ ...base, features })
    expect(maxRelError(a.densities, Array.from(b.densities))).toBeLessThan(1e-12)
    expect(maxRelError(a.bandwidths, Array.from(b.bandwidths))).toBeLessThan(1e-12)
  })

  it('uses Silverman’s factor (N·(d+2)/4)^(-1/(d+4))', () => {
    expect(silvermanFactor(50, 16)).toBeCloseTo(Math.pow(50 * 4.5, -1 / 20), 15)
  })

  it('rejects inputs that do not fit their shape', () => {
    const base = { B: 1, N: 2, P: 1, d: 2, kernel: 'exactMatch', poolBandwidthOverBatch: false } as const
    expect(() => featureView({ ...base, features: new Float32Array(3) })).toThrow(/features has 3 values/)
    expect(() => kdeDensities({ ...base, features: new Float32Array(4) })).toThrow(/needs token ids/)
    expect(() =>
      featureView({ ...base, ids: Int32Array.from([0, 9]), codebook: new Float32Array(4) }),
    ).toThrow(/token id 9 outside/)
  })
})

describe('positions where all N candidates hold the same token (DESIGN section 4)', () => {
  const V = 32
  const d = 16
  const N = 50
  const rng = createRng(99)
  const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)

  it('contribute exactly N to every density, with the bandwidth at its floor of 1e-6', () => {
    const P = 3
    const B = 2
    // row 0: every position holds one token for all candidates; row 1 the same at positions 0 and 2
    const ids = new Int32Array(B * N * P)
    for (let n = 0; n < N; n++) {
      ids.set([5, 9, 17], (0 * N + n) * P)
      ids.set([3, n % V, 3], (1 * N + n) * P)
    }
    for (const kernel of ['gaussian', 'exactMatch'] as const) {
      for (const poolBandwidthOverBatch of [false, true]) {
        const base = { B, N, P, d, kernel, poolBandwidthOverBatch }
        const { densities, bandwidths } = kdeDensities({ ...base, ids, codebook })
        // row 0: exactly N per position, exactly N·P in all
        expect(Array.from(densities.subarray(0, N))).toEqual(new Array<number>(N).fill(N * P))
        if (!poolBandwidthOverBatch) {
          expect(Array.from(bandwidths.subarray(0, P))).toEqual([BANDWIDTH_EPS, BANDWIDTH_EPS, BANDWIDTH_EPS])
        }
        // row 1: positions 0 and 2 add N each to what position 1 alone gives
        const alone = kdeDensities({
          ...base,
          B: 1,
          P: 1,
          ids: Int32Array.from({ length: N }, (_, n) => ids[(N + n) * P + 1]),
          codebook,
          poolBandwidthOverBatch: false,
        })
        if (!poolBandwidthOverBatch) {
          for (let n = 0; n < N; n++) {
            expect(densities[N + n] - 2 * N).toBeCloseTo(alone.densities[n], 12)
          }
        }
      }
    }
  })

  it('give the same exact value through explicit features (no shared-id grouping)', () => {
    const P = 2
    const features = new Float32Array(N * P * d)
    for (let n = 0; n < N; n++) {
      features.set(codebook.subarray(4 * d, 5 * d), (n * P + 0) * d)
      features.set(codebook.subarray(7 * d, 8 * d), (n * P + 1) * d)
    }
    const { densities, bandwidths } = kdeDensities({
      B: 1,
      N,
      P,
      d,
      features,
      kernel: 'gaussian',
      poolBandwidthOverBatch: false,
    })
    expect(Array.from(densities)).toEqual(new Array<number>(N).fill(N * P))
    expect(Array.from(bandwidths)).toEqual([BANDWIDTH_EPS, BANDWIDTH_EPS])
  })
})

/**
 * The definition of DESIGN section 4 step 3, written out with no grouping, no symmetry and no
 * cutoff: every candidate against every candidate, |x - y|² as Σ (x_j - y_j)².
 */
function definition(input: KdeInput): Float64Array {
  const { B, N, P, d } = input
  const feat = (b: number, n: number, p: number, j: number): number => {
    const i = (b * N + n) * P + p
    if (input.features) return input.features[i * d + j]
    return (input.codebook ?? new Float32Array(0))[(input.ids ?? new Int32Array(0))[i] * d + j]
  }
  const factor = Math.pow((N * (d + 2)) / 4, -1 / (d + 4))
  const h = new Float64Array(B * P)
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      let sum = 0
      for (let j = 0; j < d; j++) {
        let mean = 0
        for (let n = 0; n < N; n++) mean += feat(b, n, p, j)
        mean /= N
        let sq = 0
        for (let n = 0; n < N; n++) sq += (feat(b, n, p, j) - mean) ** 2
        sum += factor * Math.sqrt(sq / N)
      }
      h[b * P + p] = sum / d
    }
  }
  const D = new Float64Array(B * N)
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      let bw = h[b * P + p]
      if (input.poolBandwidthOverBatch) {
        bw = 0
        for (let c = 0; c < B; c++) bw += h[c * P + p] / B
      }
      bw += BANDWIDTH_EPS
      for (let n = 0; n < N; n++) {
        for (let m = 0; m < N; m++) {
          let d2 = 0
          for (let j = 0; j < d; j++) d2 += (feat(b, n, p, j) - feat(b, m, p, j)) ** 2
          D[b * N + n] += Math.exp(-d2 / (2 * bw * bw))
        }
      }
    }
  }
  return D
}

describe('KDE at Infinity’s shape (36 positions x 32 features) against the definition', () => {
  const [B, N, P, d] = [2, 160, 36, 32]
  const rng = createRng(2024)
  const base = { B, N, P, d, kernel: 'gaussian', poolBandwidthOverBatch: true } as const
  // clustered features, so that many pairs have kernels between e^-1 and e^-40 (where a wrong
  // cutoff or a wrong distance shows), and exact repeats (where the grouping shows)
  function clustered(spread: number): Float32Array {
    const centres = Array.from({ length: 6 }, () => Array.from({ length: d }, () => rng.nextDouble() * 2 - 1))
    const f = new Float32Array(B * N * P * d)
    for (let i = 0; i < B * N * P; i++) {
      if (i % 7 === 3 && i >= 2 * P) {
        f.copyWithin(i * d, (i - 2 * P) * d, (i - 2 * P + 1) * d) // the same position two candidates back
        continue
      }
      const c = centres[Math.floor(rng.nextDouble() * centres.length)]
      for (let j = 0; j < d; j++) f[i * d + j] = c[j] + spread * (rng.nextDouble() - 0.5)
    }
    return f
  }
  // ±1 bits, mostly equal to a per-position pattern so that near neighbours are common
  function bits(lo: number, hi: number, gaps?: number[]): Float32Array {
    const f = new Float32Array(B * N * P * d)
    const pattern = Array.from({ length: P * d }, () => rng.nextDouble() < 0.5)
    for (let i = 0; i < B * N * P; i++) {
      const p = i % P
      for (let j = 0; j < d; j++) {
        const bit = rng.nextDouble() < 0.08 ? !pattern[p * d + j] : pattern[p * d + j]
        f[i * d + j] = bit ? (gaps ? lo + gaps[j] : hi) : lo
      }
    }
    return f
  }
  const V = 96
  const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)
  const ids = Int32Array.from({ length: B * N * P }, () => Math.floor(V * rng.nextDouble() ** 3))
  const cases: [string, KdeInput, PairMethod][] = [
    ['clustered floats with repeats', { ...base, features: clustered(0.4) }, 'gram'],
    ['±1 bits', { ...base, features: bits(-1, 1) }, 'bits'],
    [
      '{0, 0.25} bits, bandwidth per row',
      { ...base, poolBandwidthOverBatch: false, features: bits(0, 0.25) },
      'bits',
    ],
    [
      'two values per dim with unequal gaps (not bits)',
      {
        ...base,
        features: bits(
          0,
          0,
          Array.from({ length: d }, (_, j) => 0.5 + j / 64),
        ),
      },
      'gram',
    ],
    ['codebook rows of peaked ids', { ...base, ids, codebook }, 'gram'],
  ]

  it('uses WebAssembly SIMD for the Gram product under Node', () => {
    expect(wasmGram()).toBeDefined()
  })

  it.each(cases)('%s: every method equals the definition within 1e-12 relative', (_name, input, auto) => {
    const want = definition(input)
    const used: Partial<Record<PairMethod, number>> = {}
    const got = kdeDensitiesWith(input, undefined, used)
    expect(Object.keys(used)).toEqual([auto])
    expect(maxRelError(got.densities, Array.from(want))).toBeLessThan(1e-12)
    for (const force of ['direct', 'gram', 'gram-f64', 'gram-js', 'bits'] as const) {
      const other = kdeDensitiesWith(input, force)
      expect(maxRelError(other.densities, Array.from(want)), force).toBeLessThan(1e-12)
    }
    // the kernel mass that the cutoff and the distances decide is not negligible here
    let spread = 0
    for (let i = 0; i < want.length; i++) spread = Math.max(spread, want[i] / (P * 1) - 1)
    expect(spread).toBeGreaterThan(1)
    expect(EXP_CUTOFF).toBeLessThanOrEqual(-40)
  })
})

describe('the WebAssembly kernel that sums the Gram path', () => {
  // one feature dim: rows at 0, columns at y, scale -1, so each pair's exponent is -(y²) exactly and
  // a column's sum is (sum of the 4 rows' weights) · exp(-y²)
  function run(ys: number[], weights = [1, 2, 3, 4]): Float64Array {
    const kernel = wasmGram()
    if (!kernel) throw new Error('no WebAssembly SIMD')
    const S = 4 + ((ys.length + 3) & ~3)
    const at = kernel.reserve(1, S)
    const f = kernel.f64
    f.fill(0, at.xt / 8, at.xt / 8 + S)
    ys.forEach((y, i) => {
      f[at.xt / 8 + 4 + i] = y
      f[at.norms / 8 + 4 + i] = y * y
    })
    for (let i = 0; i < 4; i++) f[at.norms / 8 + i] = 0
    f.fill(0, at.w / 8, at.w / 8 + S)
    weights.forEach((w, i) => (f[at.w / 8 + i] = w))
    ys.forEach((_, i) => (f[at.w / 8 + 4 + i] = 1))
    f.fill(0, at.cols / 8, at.cols / 8 + S)
    f.fill(0, at.rows / 8, at.rows / 8 + 8)
    kernel.sums(at.xt, S, 1, 0, 4, S, at.norms, -1, at.w, at.cols, at.rows, EXP_CUTOFF)
    return kernel.f64.slice(at.cols / 8 + 4, at.cols / 8 + 4 + ys.length)
  }

  it('computes exp to within 4e-16 relative over the whole range it is used in, (cutoff, 0]', () => {
    const ys: number[] = []
    for (let i = 0; i < 4000; i++) ys.push(Math.sqrt(-EXP_CUTOFF * (i / 4000)) * (1 - 1e-9))
    const got = run(ys)
    let worst = 0
    ys.forEach((y, i) => {
      const want = 10 * Math.exp(-(y * y))
      worst = Math.max(worst, Math.abs(got[i] - want) / want)
    })
    expect(worst).toBeLessThan(4e-16)
    expect(worst).toBeGreaterThanOrEqual(0)
  })

  it('gives 0 at and below the cutoff, 1 at distance 0, and passes NaN through', () => {
    const atCut = Math.sqrt(-EXP_CUTOFF)
    const got = run([0, atCut, 100, NaN, 1e200, Math.sqrt(-EXP_CUTOFF - 1e-6), 1, 2])
    expect(got[0]).toBe(10)
    // at the cutoff: the exponent -(√40)² may round to just above -40; the definition decides either way
    const e = -(atCut * atCut)
    expect(got[1]).toBe(e <= EXP_CUTOFF ? 0 : 10 * Math.exp(e))
    expect(got[2]).toBe(0)
    expect(got[3]).toBeNaN()
    expect(got[4]).toBe(0)
    expect(got[5]).toBeGreaterThan(0)
    expect(got[6]).toBeCloseTo(10 * Math.exp(-1), 14)
  })

  it('adds each row its weighted sum over the columns', () => {
    const kernel = wasmGram()
    const ys = [0.5, 1, 1.5, 2, 0.25]
    const cols = run(ys, [1, 1, 1, 1])
    const rows = kernel!.f64.slice(kernel!.reserve(1, 12).rows / 8, kernel!.reserve(1, 12).rows / 8 + 8)
    const want = ys.reduce((acc, y) => acc + Math.exp(-(y * y)), 0)
    for (let r = 0; r < 4; r++) expect(rows[2 * r] + rows[2 * r + 1]).toBeCloseTo(want, 14)
    expect(cols[0]).toBeCloseTo(4 * Math.exp(-0.25), 14)
  })
})

describe('the float32 screen of the Gram path (from SCREEN_MIN_U distinct vectors)', () => {
  const N = 600
  const P = 3
  const rng = createRng(77)
  const uniform = (d: number): Float32Array =>
    Float32Array.from({ length: N * P * d }, () => rng.nextDouble() * 2 - 1)
  // uniform, plus near copies of some vectors (so that near pairs exist and go through float64)
  function withNearCopies(d: number): Float32Array {
    const f = uniform(d)
    for (let n = 1; n < N; n += 9) {
      for (let p = 0; p < P; p++) {
        for (let j = 0; j < d; j++)
          f[(n * P + p) * d + j] = f[((n - 1) * P + p) * d + j] + 0.02 * (rng.nextDouble() - 0.5)
      }
    }
    return f
  }
  function clusters(d: number, count: number, spread: number, at = 1): Float32Array {
    const centres = Array.from({ length: count }, () =>
      Array.from({ length: d }, () => at * (rng.nextDouble() * 2 - 1)),
    )
    const f = new Float32Array(N * P * d)
    for (let i = 0; i < N * P; i++) {
      const c = centres[Math.floor(rng.nextDouble() * count)]
      for (let j = 0; j < d; j++) f[i * d + j] = c[j] + spread * (rng.nextDouble() - 0.5)
    }
    return f
  }
  const bound = SCREEN_TOLERANCE + SCREEN_SKIP_TOLERANCE + 1e-12
  const job = (d: number, features: Float32Array): KdeInput => ({
    B: 1,
    N,
    P,
    d,
    kernel: 'gaussian',
    poolBandwidthOverBatch: false,
    features,
  })
  function check(input: KdeInput): typeof screenStats {
    Object.assign(screenStats, { positions: 0, gaveWay: 0, exactPairs: 0, screenedPairs: 0 })
    const got = kdeDensities(input)
    const stats = { ...screenStats }
    expect(maxRelError(got.densities, Array.from(definition(input)))).toBeLessThan(bound)
    return stats
  }

  it('screens distinct features, recomputes the near pairs in float64, within its stated bound', () => {
    expect(N).toBeGreaterThanOrEqual(SCREEN_MIN_U)
    const input = job(32, withNearCopies(32))
    const stats = check(input)
    expect(stats.positions).toBe(P)
    // without the screen: the same densities to float64 rounding, and none screened
    Object.assign(screenStats, { positions: 0 })
    const f64 = kdeDensitiesWith(input, 'gram-f64')
    expect(screenStats.positions).toBe(0)
    expect(maxRelError(f64.densities, Array.from(definition(input)))).toBeLessThan(1e-12)
    expect(stats.gaveWay).toBe(0)
    expect(stats.exactPairs).toBeGreaterThan(50)
    expect(stats.exactPairs).toBeLessThan(0.03 * stats.screenedPairs)
  })

  it('handles an odd number of dims (the float64 rows are padded to even)', () => {
    const stats = check(job(7, withNearCopies(7)))
    expect(stats.positions).toBe(P)
  })

  it('gives way to the float64 kernel where most pairs are near (tight clusters)', () => {
    const stats = check(job(32, clusters(32, 3, 0.3)))
    expect(stats.positions).toBe(P)
    expect(stats.gaveWay).toBe(P)
  })

  it('is not used where float32 would overflow (a vector at 1e16)', () => {
    const f = withNearCopies(32)
    for (let j = 0; j < 32; j++) f[(5 * P + 1) * 32 + j] = 1e16
    const stats = check(job(32, f))
    // the position holding it goes the float64 way; the other two are screened
    expect(stats.positions).toBe(P - 1)
  })

  it('sums multiplicities (repeated ids) with the same bound', () => {
    const d = 32
    const V = 4096
    const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)
    const ids = Int32Array.from({ length: 2 * N * P }, () => Math.floor(V * rng.nextDouble() ** 2))
    const input: KdeInput = {
      B: 1,
      N: 2 * N,
      P,
      d,
      kernel: 'gaussian',
      poolBandwidthOverBatch: false,
      ids,
      codebook,
    }
    const stats = check(input)
    expect(stats.positions).toBe(P)
  })
})
