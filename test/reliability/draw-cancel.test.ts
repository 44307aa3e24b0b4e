/**
 * A cancel that arrives during a search scale's candidate draws is read between images, before the
 * KDE: the engine awaits its `betweenDraws` hook after each image's draws and checks the signal.
 */
import { resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generate } from '../../src-shared/engine/loop'
import { localKde, type KdeInput } from '../../src-shared/engine/kde'
import { ModelCache } from '../../src-main/host/model-cache'

const MODEL_DIR = resolve(__dirname, '../../models/fashion-mnist-var')
const cache = new ModelCache({ log: () => undefined })
afterAll(async () => {
  await cache.clear()
})

describe('cancel during candidate draws', () => {
  it('stops between images of a scale, before the KDE', async () => {
    const { model, release } = await cache.acquire(
      MODEL_DIR,
      { provider: 'cpu', fallback: false },
      () => undefined,
    )
    try {
      const signal = { aborted: false }
      let between = 0
      let kdes = 0
      const request = {
        classes: [1, 2, 3, 4],
        seeds: [1, 2, 3, 4],
        sampling: model.manifest.sampling_defaults,
        strategy: { kind: 'var-scaling' as const, N: 64, k: 8, searchScales: [1] },
      }
      const run = generate(model.opened.runner, model.manifest, model.codebook, request, {
        signal,
        kde: (input: KdeInput) => {
          kdes++
          return localKde(input)
        },
        betweenDraws: () => {
          // the cancel arrives while the second image's candidates are drawn
          if (++between === 2) signal.aborted = true
          return Promise.resolve()
        },
      })
      await expect(run).rejects.toThrow(/Generation cancelled/)
      expect(between).toBe(2)
      expect(kdes).toBe(0)

      // without a cancel the hook runs once per image and search scale, and the images are made
      signal.aborted = false
      between = 0
      const out = await generate(model.opened.runner, model.manifest, model.codebook, request, {
        betweenDraws: () => {
          between++
          return Promise.resolve()
        },
      })
      expect(between).toBe(4)
      expect(out.records).toHaveLength(4)
    } finally {
      release()
    }
  }, 60_000)
})
