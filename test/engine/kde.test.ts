import { describe, expect, it } from 'vitest'
import { BANDWIDTH_EPS, featureView, kdeDensities, silvermanFactor } from '../../src-shared/engine/kde'
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
