/**
 * Free-running generation against PyTorch: test/fixtures/tiny-var holds a random-weight model and
 * the token maps and image PyTorch generated from it, drawing every token with the uniform doubles
 * the engine's PRNG gives each seed (var_tools.parity tiny-fixture). The engine, on the shipped
 * runner, must draw the same tokens: guidance, top-k, top-p, the inverse CDF, positions, the KV cache
 * and the residual update all take part. (The same through the host process: host-process.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from '../../src-shared/engine/loop'
import { createRng } from '../../src-shared/engine/rng'
import { loadFreeRunning, loadSmooth, maxAbsDiff, openShipped, TINY_DIR, type ShippedModel } from './fixtures'

const fx = loadFreeRunning()
const smooth = loadSmooth()
let model: ShippedModel

beforeAll(async () => {
  model = await openShipped(TINY_DIR)
}, 120_000)
afterAll(async () => {
  await model.release()
})

describe('free-running generation against PyTorch', { timeout: 120_000 }, () => {
  it('the fixture drew with the doubles of each seed’s stream', () => {
    fx.seeds.forEach((seed, b) => {
      const rng = createRng(seed)
      expect(fx.draws[b].map(() => rng.nextDouble())).toEqual(fx.draws[b])
    })
  })

  it('draws PyTorch’s token maps and decodes its image, on the shipped runner', async () => {
    const result = await generate(model.runner, model.manifest, model.codebook, {
      classes: fx.labels,
      seeds: fx.seeds,
      sampling: fx.sampling,
      strategy: { kind: 'baseline' },
    })
    const B = fx.labels.length
    fx.tokens.forEach((want, si) => {
      const l = want.length / B
      const got = result.records.flatMap((r) => Array.from(r.tokenMaps[si]))
      expect(got, `token maps at scale ${si}`).toEqual(want)
      expect(l).toBe(model.manifest.patch_nums[si] ** 2)
    })
    expect(result.shape).toEqual(fx.image_shape)
    expect(maxAbsDiff(result.images, fx.image)).toBeLessThanOrEqual(fx.tolerance.image)
    // the draws matter: the last scale holds many distinct tokens
    expect(new Set(fx.tokens.at(-1)).size).toBeGreaterThan(20)
  })
})

describe(
  'more_smooth against PyTorch (the same doubles for ids and Gumbel noise)',
  { timeout: 120_000 },
  () => {
    it('draws PyTorch’s token maps and decodes its smoothed image; top_p 0 is off', async () => {
      expect(smooth.sampling).toMatchObject({ more_smooth: true, top_p: 0 })
      const result = await generate(model.runner, model.manifest, model.codebook, {
        classes: smooth.labels,
        seeds: smooth.seeds,
        sampling: smooth.sampling,
        strategy: { kind: 'baseline' },
      })
      smooth.tokens.forEach((want, si) => {
        const got = result.records.flatMap((r) => Array.from(r.tokenMaps[si]))
        expect(got, `token maps at scale ${si}`).toEqual(want)
      })
      expect(result.records[0].sampling.more_smooth).toBe(true)
      const diff = maxAbsDiff(result.images, smooth.image)
      expect(diff).toBeLessThanOrEqual(smooth.tolerance.image)
      // smoothing moves the image far more than the tolerance: a run without it cannot pass
      expect(smooth.unsmoothed_image_diff).toBeGreaterThan(100 * smooth.tolerance.image)
      // every surviving id of every token got one double: 40 (top_k) + 1 per token
      const L = model.manifest.L
      expect(smooth.draws_used).toEqual(smooth.labels.map(() => L * 41))
    })
  },
)
