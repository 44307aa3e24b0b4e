import { describe, expect, it } from 'vitest'
import { featureView, kdeDensities, silvermanFactor } from '../../src-shared/engine/kde'
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
