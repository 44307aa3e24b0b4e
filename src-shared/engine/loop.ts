/**
 * The generation loop of DESIGN section 3 over a `StepRunner`: KV cache, guidance ramp, batched rows,
 * per-token filtering and draws, the strategy's candidate search, the residual quantizer update and
 * the final decode; best-of-n repeats it and keeps what the classifier likes best. Order of PRNG
 * draws: see rng.ts. Request and result types: request.ts.
 */
import { StudioError } from '../errors'
import type { VarManifest } from '../manifest'
import { Clock, defaultClock, Engine, type Pass } from './pass'
import {
  checkRequest,
  constants,
  type GenerateHooks,
  type GenerateRequest,
  type GenerateResult,
  type ImageRecord,
} from './request'
import type { StepRunner } from './runner'
import { createStrategy } from './strategies'

export type * from './request'

/** Runs the whole request; see the module comment. Throws CancelledError when `signal` aborts. */
export async function generate(
  runner: StepRunner,
  manifest: VarManifest,
  codebook: Float32Array,
  request: GenerateRequest,
  hooks: GenerateHooks = {},
): Promise<GenerateResult> {
  const clock = new Clock(hooks.now ?? defaultClock())
  const start = clock.now()
  const k = constants(manifest)
  // the request schema with the model's refinement: the same bounds as every other layer
  const checked = checkRequest(manifest, codebook, request, k)
  const sampling = checked.sampling
  const strategy = createStrategy(checked.strategy)
  const B = request.classes.length
  const G = request.forcedIds ? 1 : strategy.generations
  if (G > 1 && !runner.classify) {
    throw new StudioError('best-of-n scores images with the classifier, and this model folder has none')
  }
  const engine = new Engine(runner, manifest, codebook, request, sampling, strategy, hooks, clock)

  let passes: Pass[] = []
  const chosen = new Int32Array(B)
  const scores: number[][] = request.classes.map(() => [])
  for (let g = 0; g < G; g++) {
    const pass = await engine.pass(g, G)
    if (G === 1) {
      passes = [pass]
      break
    }
    const classify = runner.classify?.bind(runner)
    if (!classify) throw new StudioError('no classifier')
    const out = await clock.time('modelMs', () => classify(pass.images, B))
    const nc = out.logits.length / B
    for (let b = 0; b < B; b++) {
      scores[b].push(softmaxAt(out.logits, b * nc, nc, request.classes[b]))
      if (scores[b][g] > scores[b][chosen[b]]) chosen[b] = g
    }
    passes.push(pass)
  }

  const imageSize = manifest.image_channels * manifest.image_size * manifest.image_size
  const images = new Float32Array(B * imageSize)
  const records: ImageRecord[] = request.classes.map((classId, b) => {
    const pass = passes[chosen[b]]
    images.set(pass.images.subarray(b * imageSize, (b + 1) * imageSize), b * imageSize)
    const record: ImageRecord = {
      seed: request.seeds[b],
      classId,
      strategy: strategy.config,
      sampling,
      tokenMaps: pass.tokenMaps.map((map) => {
        const l = map.length / B
        return map.slice(b * l, (b + 1) * l)
      }),
      selections: pass.selections.flatMap((rows, si) => (rows ? [{ si, record: rows[b] }] : [])),
    }
    if (G > 1) record.bestOfN = { scores: scores[b], chosen: chosen[b] }
    return record
  })
  const totalMs = clock.now() - start
  return {
    images,
    shape: [B, manifest.image_channels, manifest.image_size, manifest.image_size],
    records,
    timings: {
      modelMs: clock.modelMs,
      jsMs: totalMs - clock.modelMs - clock.hookMs,
      kdeMs: clock.kdeMs,
      hookMs: clock.hookMs,
      previewMs: clock.previewMs,
      totalMs,
    },
  }
}

function softmaxAt(logits: Float32Array, off: number, n: number, at: number): number {
  let max = -Infinity
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i])
  let sum = 0
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i] - max)
  return Math.exp(logits[off + at] - max) / sum
}
