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
  }, 60_000)
})
