/**
 * The generation loop on a real exported model through the shipped runner (the host's `openModel`):
 * teacher-forced parity with the PyTorch reference, determinism, candidate search, best-of-n, previews and cancellation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CancelledError } from '../../src-shared/errors'
import { kdeDensities, type KdeInput } from '../../src-shared/engine/kde'
import {
  generate,
  type GenerateRequest,
  type ScaleEvent,
  type StepOutputs,
} from '../../src-shared/engine/loop'
import { decodeScales } from '../../src-shared/engine/residual'
import type { StepRunner } from '../../src-shared/engine/runner'
import { SettingsError } from '../../src-shared/engine/strategies'
import { loadTeacherForced, openShipped, type ShippedModel } from './fixtures'

let model: ShippedModel

// Each generation is a handful of ONNX runs: quick alone, slow on a CPU shared with other work.
const timeout = 180_000

beforeAll(async () => {
  model = await openShipped()
}, timeout)
afterAll(async () => {
  await model.release()
})

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}

function request(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    classes: [3, 7],
    seeds: [11, 12],
    sampling: model.manifest.sampling_defaults,
    strategy: { kind: 'baseline' },
    ...over,
  }
}

/** The runner's methods (bound: the shipped runner is a class) with some replaced. */
function wrap(inner: StepRunner, over: Partial<StepRunner>): StepRunner {
  return {
    varStep: (f) => inner.varStep(f),
    vqStep: (f) => inner.vqStep(f),
    decode: (fHat, B) => inner.decode(fHat, B),
    ...(inner.classify ? { classify: inner.classify.bind(inner) } : {}),
    ...over,
  }
}

/** Counts runner calls, to see where a cancelled run stopped. */
function counting(runner: StepRunner): { runner: StepRunner; varSteps: () => number } {
  let n = 0
  return {
    runner: wrap(runner, {
      varStep: (f) => {
        n++
        return runner.varStep(f)
      },
    }),
    varSteps: () => n,
  }
}

/** Records the batch size of every decode call. */
function countingDecodes(inner: StepRunner): { runner: StepRunner; decodes: number[] } {
  const decodes: number[] = []
  return {
    runner: wrap(inner, {
      decode: (fHat, B) => {
        decodes.push(B)
        return inner.decode(fHat, B)
      },
    }),
    decodes,
  }
}

describe('teacher-forced parity with the PyTorch reference', { timeout }, () => {
  it('matches logits of every scale, f_hat, next-scale inputs and the image', async () => {
    const fx = loadTeacherForced()
    const { manifest } = model
    if (fx.var_step_sha256 !== manifest.files[manifest.graphs.var_step.file].sha256) {
      throw new Error(
        `the teacher-forced fixture was made for another model (${fx.model_id}) than ${model.dir}`,
      )
    }
    const steps: StepOutputs[] = []
    const result = await generate(
      model.runner,
      manifest,
      model.codebook,
      {
        classes: [fx.cond_label[0]],
        seeds: [0],
        sampling: manifest.sampling_defaults,
        strategy: { kind: 'var-scaling' }, // forced ids bypass sampling and selection
        forcedIds: fx.scales.map((s) => s.ids),
      },
      { onStep: (s) => steps.push({ ...s, logits: s.logits.slice(), fHat: s.fHat.slice() }) },
    )
    expect(steps).toHaveLength(fx.scales.length)
    for (const [si, want] of fx.scales.entries()) {
      expect(maxAbsDiff(steps[si].logits, want.logits), `logits at scale ${si}`).toBeLessThanOrEqual(
        fx.tolerance.logits,
      )
      expect(maxAbsDiff(steps[si].fHat, want.f_hat), `f_hat at scale ${si}`).toBeLessThanOrEqual(
        fx.tolerance.f_hat,
      )
      if (want.next_tok) {
        expect(maxAbsDiff(steps[si].nextTok, want.next_tok), `next_tok at scale ${si}`).toBeLessThanOrEqual(
          fx.tolerance.f_hat,
        )
      }
      expect(Array.from(result.records[0].tokenMaps[si])).toEqual(want.ids)
    }
    expect(result.shape).toEqual(fx.image_shape)
    expect(maxAbsDiff(result.images, fx.image)).toBeLessThanOrEqual(fx.tolerance.image)
    expect(result.records[0].selections).toEqual([])
  })
})

describe('generation', { timeout }, () => {
  it('is deterministic: same seed and settings give a bit-identical image', async () => {
    const a = await generate(model.runner, model.manifest, model.codebook, request())
    const b = await generate(model.runner, model.manifest, model.codebook, request())
    expect(b.images).toEqual(a.images)
    expect(b.records.map((r) => r.tokenMaps)).toEqual(a.records.map((r) => r.tokenMaps))
    const { image_channels: C, image_size: H } = model.manifest
    expect(a.shape).toEqual([2, C, H, H])
    expect(a.images.every((v) => v >= 0 && v <= 1)).toBe(true)
    const c = await generate(model.runner, model.manifest, model.codebook, request({ seeds: [13, 14] }))
    expect(c.records.map((r) => r.tokenMaps)).not.toEqual(a.records.map((r) => r.tokenMaps))
    expect(a.records[0]).toMatchObject({ seed: 11, classId: 3, strategy: { kind: 'baseline' } })
    expect(a.timings.modelMs).toBeGreaterThan(0)
    expect(a.timings.jsMs).toBeGreaterThanOrEqual(0)
    expect(a.timings.totalMs).toBeGreaterThanOrEqual(a.timings.modelMs)
  })

  it('var-scaling selects one of N candidates at its search scale', async () => {
    const N = 12
    const kdeCalls: KdeInput[] = []
    const events: ScaleEvent[] = []
    const result = await generate(
      model.runner,
      model.manifest,
      model.codebook,
      request({ strategy: { kind: 'var-scaling', searchScales: [1, 2], N, k: 4, dedup: 0.5 } }),
      {
        kde: (input) => {
          kdeCalls.push(input)
          return Promise.resolve(kdeDensities(input))
        },
        onScale: (e) => {
          events.push(e)
        },
      },
    )
    expect(kdeCalls.map((c) => [c.B, c.N, c.P])).toEqual([
      [2, N, 4],
      [2, N, 9],
    ])
    expect(events.map((e) => e.selection?.length)).toEqual([undefined, 2, 2, undefined, undefined, undefined])
    for (const [b, record] of result.records.entries()) {
      expect(record.selections.map((s) => s.si)).toEqual([1, 2])
      for (const { si, record: sel } of record.selections) {
        const l = model.manifest.patch_nums[si] ** 2
        expect(sel.densities).toHaveLength(N)
        expect(sel.bandwidths).toHaveLength(l)
        expect(sel.candidates).toHaveLength(N * l)
        expect(sel.kept.length).toBeGreaterThanOrEqual(1)
        expect(sel.kept.length).toBeLessThanOrEqual(4)
        expect(sel.kept).toContain(sel.chosen)
        expect(sel.branch === 'top-k').toBe(sel.ratio >= sel.alpha)
        const chosenMap = Array.from(sel.candidates!.subarray(sel.chosen * l, (sel.chosen + 1) * l))
        expect(Array.from(record.tokenMaps[si])).toEqual(chosenMap)
        expect(Array.from(events[si].tokenMap.subarray(b * l, (b + 1) * l))).toEqual(chosenMap)
      }
    }
    // the same request again gives the same choice
    const again = await generate(
      model.runner,
      model.manifest,
      model.codebook,
      request({ strategy: { kind: 'var-scaling', searchScales: [1, 2], N, k: 4, dedup: 0.5 } }),
    )
    expect(again.images).toEqual(result.images)
    expect(again.records[1].selections[0].record.chosen).toBe(result.records[1].selections[0].record.chosen)
  })

  it('more_smooth: ordinary scales feed mixtures to vq_step; a search scale’s chosen map and forced maps their codebook rows', async () => {
    const { codebook, manifest } = model
    const C = manifest.Cvae
    const rows = (map: ArrayLike<number>): number[] =>
      Array.from(map).flatMap((id) => Array.from(codebook.subarray(id * C, (id + 1) * C)))
    const run = async (over: Partial<GenerateRequest>) => {
      const steps: { hTok: number[]; ids: number[] }[] = []
      const events: ScaleEvent[] = []
      const result = await generate(
        model.runner,
        manifest,
        codebook,
        request({ sampling: { ...manifest.sampling_defaults, more_smooth: true }, ...over }),
        {
          onStep: (s) => steps.push({ hTok: Array.from(s.hTok), ids: [] }),
          onScale: (e) => {
            events.push(e)
          },
        },
      )
      steps.forEach((s, si) => (s.ids = Array.from(events[si].tokenMap)))
      return { result, steps }
    }
    const search = await run({ strategy: { kind: 'var-scaling', searchScales: [1], N: 8, k: 4, dedup: 0.5 } })
    search.steps.forEach((s, si) => {
      const hard = rows(s.ids)
      if (si === 1) expect(s.hTok, `search scale ${si}`).toEqual(hard)
      else expect(maxAbsDiff(s.hTok, hard), `scale ${si}`).toBeGreaterThan(1e-3)
    })
    const plain = await generate(model.runner, manifest, codebook, request())
    const smooth = await run({})
    // the same seeds draw the same first-scale ids; the smoothed image differs from the plain one
    expect(Array.from(smooth.result.records[0].tokenMaps[0])).toEqual(
      Array.from(plain.records[0].tokenMaps[0]),
    )
    expect(maxAbsDiff(smooth.result.images, plain.images)).toBeGreaterThan(1e-2)
    const forced = await run({
      forcedIds: plain.records[0].tokenMaps.map((m, si) => [...m, ...plain.records[1].tokenMaps[si]]),
    })
    forced.steps.forEach((s, si) => {
      expect(s.hTok, `forced scale ${si}`).toEqual(rows(s.ids))
    })
    expect(maxAbsDiff(forced.result.images, plain.images)).toBeLessThan(1e-5)
  })

  it('runs the ablations, the legacy nucleus and the exactMatch kernel', async () => {
    for (const strategy of [
      { kind: 'topk-only', N: 6, k: 3 },
      { kind: 'randomk-only', N: 6, k: 3, finalPick: 'rank' },
      {
        kind: 'var-scaling',
        N: 6,
        k: 6,
        legacyProgressiveNucleus: true,
        kernel: 'exactMatch',
        poolBandwidthOverBatch: true,
      },
    ] as const) {
      const result = await generate(model.runner, model.manifest, model.codebook, request({ strategy }))
      const sel = result.records[0].selections[0].record
      if (strategy.kind === 'topk-only') expect(sel.branch).toBe('top-k')
      if (strategy.kind === 'randomk-only') expect(sel.branch).toBe('random-k')
      expect(sel.densities).toHaveLength(6)
    }
  })

  it('best-of-n keeps the generation the classifier likes best; generation 0 is the baseline', async () => {
    if (!model.runner.classify) throw new Error(`${model.dir} has no classifier.onnx`)
    const firstGeneration: Int32Array[] = []
    const best = await generate(
      model.runner,
      model.manifest,
      model.codebook,
      request({ strategy: { kind: 'best-of-n', N: 2 } }),
      {
        onScale: (e) => {
          if (e.generation === 0) firstGeneration.push(e.tokenMap)
        },
      },
    )
    const baseline = await generate(model.runner, model.manifest, model.codebook, request())
    const imageSize = best.images.length / 2
    for (const [b, record] of best.records.entries()) {
      const info = record.bestOfN!
      expect(info.scores).toHaveLength(2)
      expect(info.scores[info.chosen]).toBe(Math.max(...info.scores))
      const l = (si: number) => model.manifest.patch_nums[si] ** 2
      expect(firstGeneration.map((map, si) => map.slice(b * l(si), (b + 1) * l(si)))).toEqual(
        baseline.records[b].tokenMaps,
      )
      if (info.chosen === 0) {
        expect(record.tokenMaps).toEqual(baseline.records[b].tokenMaps)
        expect(best.images.subarray(b * imageSize, (b + 1) * imageSize)).toEqual(
          baseline.images.subarray(b * imageSize, (b + 1) * imageSize),
        )
      }
    }
  })

  it('previews `all`: every image decoded after every scale; the last decode is the result', async () => {
    const previews: Float32Array[] = []
    const { runner, decodes } = countingDecodes(model.runner)
    const result = await generate(runner, model.manifest, model.codebook, request({ previews: 'all' }), {
      onScale: (e) => {
        previews.push(e.previewImage!)
      },
    })
    const S = model.manifest.patch_nums.length
    expect(previews).toHaveLength(S)
    expect(previews.every((p) => p.length === result.images.length)).toBe(true)
    expect(previews[S - 1]).toEqual(result.images)
    // S decodes of both images: the last is the result, not one more decode
    expect(decodes).toEqual(new Array<number>(S).fill(2))
    expect(result.timings.previewMs).toBeGreaterThan(0)
    expect(result.timings.previewMs).toBeLessThanOrEqual(result.timings.modelMs)
  })

  it('previews `first`: only the first image until the last scale, with the same images and maps', async () => {
    const S = model.manifest.patch_nums.length
    const all: Float32Array[] = []
    const first: Float32Array[] = []
    const { runner, decodes } = countingDecodes(model.runner)
    const full = await generate(model.runner, model.manifest, model.codebook, request({ previews: 'all' }), {
      onScale: (e) => {
        all.push(e.previewImage!)
      },
    })
    const result = await generate(runner, model.manifest, model.codebook, request({ previews: 'first' }), {
      onScale: (e) => {
        first.push(e.previewImage!)
      },
    })
    const size = result.images.length / 2
    expect(decodes).toEqual([...new Array<number>(S - 1).fill(1), 2])
    for (let si = 0; si < S - 1; si++) {
      expect(first[si]).toHaveLength(size)
      // the first image's partial decode does not depend on decoding the second beside it
      expect(maxAbsDiff(first[si], all[si].subarray(0, size))).toBeLessThan(1e-5)
    }
    expect(first[S - 1]).toEqual(result.images)
    expect(result.images).toEqual(full.images)
    expect(result.records.map((r) => r.tokenMaps)).toEqual(full.records.map((r) => r.tokenMaps))
  })

  it('previews `off` (the default): no partial decode, one decode at the end', async () => {
    const { runner, decodes } = countingDecodes(model.runner)
    const seen: (Float32Array | undefined)[] = []
    const result = await generate(runner, model.manifest, model.codebook, request(), {
      onScale: (e) => {
        seen.push(e.previewImage)
      },
    })
    expect(seen.every((p) => p === undefined)).toBe(true)
    expect(decodes).toEqual([2])
    expect(result.timings.previewMs).toBe(0)
  })

  it('decodeScales replays saved token maps into the same partial decodes, with no var_step', async () => {
    const previews: Float32Array[] = []
    const result = await generate(
      model.runner,
      model.manifest,
      model.codebook,
      request({ previews: 'all' }),
      {
        onScale: (e) => {
          previews.push(e.previewImage!)
        },
      },
    )
    const size = result.images.length / 2
    const counted = counting(model.runner)
    const seen: number[] = []
    const images = await decodeScales(
      counted.runner,
      model.manifest,
      model.codebook,
      result.records[1].tokenMaps,
      {
        onScale: (si) => {
          seen.push(si)
        },
      },
    )
    expect(counted.varSteps()).toBe(0)
    expect(seen).toEqual(model.manifest.patch_nums.map((_, si) => si))
    images.forEach((image, si) => {
      expect(image).toHaveLength(size)
      expect(maxAbsDiff(image, previews[si].subarray(size, 2 * size)), `scale ${si}`).toBeLessThan(1e-5)
    })
  })

  it('decodeScales names what is wrong with the token maps', async () => {
    const maps = model.manifest.patch_nums.map((pn) => new Array<number>(pn * pn).fill(0))
    const decode = (m: number[][]) => decodeScales(model.runner, model.manifest, model.codebook, m)
    await expect(decode(maps.slice(1))).rejects.toThrow(/tokenMaps: must have one map per scale \(6\)/)
    await expect(decode(maps.map((m, si) => (si === 2 ? m.slice(1) : m)))).rejects.toThrow(
      /tokenMaps\[2\]: must hold pn² = 9 ids/,
    )
    const V = model.manifest.vocab_size
    await expect(decode(maps.map((m, si) => (si === 3 ? [...m.slice(1), V] : m)))).rejects.toThrow(
      new RegExp(`tokenMaps\\[3\\]\\[15\\]: must be a token id in \\[0, ${V - 1}\\]`),
    )
  })

  it('refuses an unknown preview mode', async () => {
    await expect(
      generate(model.runner, model.manifest, model.codebook, {
        ...request(),
        previews: true as unknown as 'all',
      }),
    ).rejects.toThrow(/previews: must be one of projection, all, first, off/)
  })

  it('stops between scales when cancelled', async () => {
    const signal = { aborted: false }
    const counted = counting(model.runner)
    const run = generate(counted.runner, model.manifest, model.codebook, request(), {
      signal,
      onScale: (e) => {
        if (e.si === 2) signal.aborted = true
      },
    })
    await expect(run).rejects.toBeInstanceOf(CancelledError)
    expect(counted.varSteps()).toBe(3)
  })

  it('rejects bad requests with the field and its range', async () => {
    const bad = [
      [request({ classes: [3, 10] }), /classes\[1\]: must be a class id in \[0, 9\]/],
      [request({ seeds: [1] }), /seeds: must have one seed per image \(2\)/],
      [request({ sampling: { cfg: 1, top_k: 9999, top_p: 0.9 } }), /top_k: must be an integer in \[0, 512\]/],
      [
        request({ strategy: { kind: 'var-scaling', searchScales: [9] } }),
        /searchScales\[0\]: must be a scale index in \[0, 5\]/,
      ],
      [
        request({ strategy: { kind: 'var-scaling', N: 5, k: 6 } }),
        /k: must be an integer in \[1, N\] = \[1, 5\]/,
      ],
    ] as const
    for (const [req, message] of bad) {
      const run = generate(model.runner, model.manifest, model.codebook, req)
      await expect(run).rejects.toBeInstanceOf(SettingsError)
      await expect(run).rejects.toThrow(message)
    }
  })
})
