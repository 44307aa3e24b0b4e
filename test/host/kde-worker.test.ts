import { afterAll, describe, expect, it } from 'vitest'
import { kdeDensities, type KdeInput } from '../../src-shared/engine/kde'
import { KdeWorker } from '../../src-main/host/kde-pool'

const worker = new KdeWorker()
afterAll(async () => {
  await worker.close()
})

function input(ids: Int32Array): KdeInput {
  const d = 4
  const codebook = Float32Array.from({ length: 32 * d }, (_, i) => Math.sin(i * 0.7))
  return { B: 2, N: 6, P: 3, d, ids, codebook, kernel: 'gaussian', poolBandwidthOverBatch: false }
}

describe('KDE worker', () => {
  it('gives the pure function result and reports a bad input without dying', async () => {
    const ids = Int32Array.from({ length: 2 * 6 * 3 }, (_, i) => (i * 7) % 32)
    const expected = kdeDensities(input(ids.slice()))
    const result = await worker.run(input(ids.slice()))
    expect(Array.from(result.densities)).toEqual(Array.from(expected.densities))
    expect(Array.from(result.bandwidths)).toEqual(Array.from(expected.bandwidths))

    const bad = ids.slice()
    bad[4] = 999
    await expect(worker.run(input(bad))).rejects.toThrow('token id 999 outside [0, 32)')
    const again = await worker.run(input(ids.slice()))
    expect(again.densities.length).toBe(12)

    // explicit features on one thread: copied to the worker, never moved out of the caller's hands
    const features = Float32Array.from({ length: 2 * 6 * 3 * 4 }, (_, i) => Math.cos(i))
    const byFeatures: KdeInput = {
      B: 2,
      N: 6,
      P: 3,
      d: 4,
      features,
      kernel: 'gaussian',
      poolBandwidthOverBatch: false,
    }
    const own = await worker.run(byFeatures)
    expect(features.length).toBe(2 * 6 * 3 * 4)
    expect(Array.from(own.densities)).toEqual(Array.from(kdeDensities(byFeatures).densities))
  }, 60_000)

  it('splits a large Gaussian KDE by positions over two threads and adds their densities', async () => {
    // features with repeats, pooled bandwidths: every part of the input is used by both threads
    const [B, N, P, d] = [2, 120, 7, 6]
    const features = Float32Array.from(
      { length: B * N * P * d },
      (_, i) => Math.round(Math.sin(i * 1.3) * 4) / 4,
    )
    const job: KdeInput = { B, N, P, d, features, kernel: 'gaussian', poolBandwidthOverBatch: true }
    const expected = kdeDensities(job)
    const pool = new KdeWorker({ threads: 2, splitAbove: 0 })
    try {
      const mine = features.slice()
      const result = await pool.run({ ...job, features: mine })
      expect(pool.lastParts).toBe(2)
      // each thread got its own copy of its positions: the caller's features stay where they were
      expect(mine.length).toBe(features.length)
      expect(mine[mine.length - 1]).toBe(features[features.length - 1])
      expect(Array.from(result.bandwidths)).toEqual(Array.from(expected.bandwidths))
      result.densities.forEach((x, i) => {
        expect(Math.abs(x - expected.densities[i]) / expected.densities[i]).toBeLessThan(1e-12)
      })
      // codebook rows of ids split the same way
      const V = 40
      const byId: KdeInput = {
        B,
        N,
        P,
        d,
        ids: Int32Array.from({ length: B * N * P }, (_, i) => (i * 7 + (i >> 3)) % V),
        codebook: Float32Array.from({ length: V * d }, (_, i) => Math.cos(i * 0.7)),
        kernel: 'gaussian',
        poolBandwidthOverBatch: false,
      }
      const want = kdeDensities(byId)
      const got = await pool.run({ ...byId, ids: byId.ids?.slice() })
      expect(pool.lastParts).toBe(2)
      expect(Array.from(got.bandwidths)).toEqual(Array.from(want.bandwidths))
      got.densities.forEach((x, i) => {
        expect(Math.abs(x - want.densities[i]) / want.densities[i]).toBeLessThan(1e-12)
      })
      // a caller's own range of positions is kept, not split
      const some = await pool.run({ ...byId, ids: byId.ids?.slice(), positions: { from: 2, to: 5 } })
      expect(pool.lastParts).toBe(1)
      const someWant = kdeDensities({ ...byId, positions: { from: 2, to: 5 } })
      some.densities.forEach((x, i) => {
        expect(Math.abs(x - someWant.densities[i]) / someWant.densities[i]).toBeLessThan(1e-12)
      })
      // exactMatch is O(N) per position: never split
      const ids = Int32Array.from({ length: B * N * P }, (_, i) => i % 5)
      const codebook = Float32Array.from({ length: 5 * d }, (_, i) => i)
      const exact: KdeInput = {
        B,
        N,
        P,
        d,
        ids,
        codebook,
        kernel: 'exactMatch',
        poolBandwidthOverBatch: false,
      }
      expect(Array.from((await pool.run({ ...exact, ids: ids.slice() })).densities)).toEqual(
        Array.from(kdeDensities(exact).densities),
      )
      expect(pool.lastParts).toBe(1)
    } finally {
      await pool.close()
    }
  }, 60_000)
})
