/**
 * The host's `generate` method: loads the model (cached per folder and device), checks the request
 * against it, and runs the engine's loop batch by batch with the KDE in a worker thread.
 */
import {
  generate,
  type GenerateRequest,
  type ImageRecord,
  type ScaleEvent,
  type Timings,
} from '../../src-shared/engine/loop'
import { parseSampling, parseStrategy, validateForModel } from '../../src-shared/engine/strategies'
import type { KdeFn } from '../../src-shared/engine/kde'
import { InvalidRequestError } from '../../src-shared/errors'
import type { GeneratedImage, GenerateResult, Params, ScaleProgress } from '../../src-shared/protocol'
import type { JobContext } from './host'
import type { LoadedModel, ModelCache } from './model-cache'

export interface GenerateDeps {
  readonly models: ModelCache
  readonly kde: KdeFn
  readonly warmKde?: () => void
}

/** The single call into the engine's loop; everything around it is plumbing. */
function runLoop(
  model: LoadedModel,
  request: GenerateRequest,
  ctx: JobContext<'generate'>,
  kde: KdeFn,
  onScale: (event: ScaleEvent) => void,
): ReturnType<typeof generate> {
  return generate(model.opened.runner, model.manifest, model.codebook, request, {
    signal: ctx.signal,
    kde,
    onScale,
  })
}

function checkItems(model: LoadedModel, items: Params<'generate'>['items']): void {
  const n = model.manifest.num_classes
  items.forEach((item, i) => {
    if (item.classId >= n) {
      throw new InvalidRequestError(
        `items[${i}].classId`,
        `items[${i}].classId: ${item.classId} is not a class of ${model.manifest.id}; must be in [0, ${n - 1}]`,
      )
    }
  })
}

const addTimings = (a: Timings, b: Timings): Timings => ({
  modelMs: a.modelMs + b.modelMs,
  jsMs: a.jsMs + b.jsMs,
  kdeMs: a.kdeMs + b.kdeMs,
  hookMs: a.hookMs + b.hookMs,
  previewMs: a.previewMs + b.previewMs,
  totalMs: a.totalMs + b.totalMs,
})

export async function handleGenerate(
  params: Params<'generate'>,
  ctx: JobContext<'generate'>,
  deps: GenerateDeps,
): Promise<GenerateResult> {
  // Settings errors are reported before a model is loaded.
  const strategy = parseStrategy(params.strategy ?? { kind: 'var-scaling' })
  if (strategy.kind !== 'baseline' && strategy.kind !== 'best-of-n') deps.warmKde?.()
  const { model, cached, release } = await deps.models.acquire(params.dir, params.device, (message) => {
    ctx.progress({ kind: 'load', message })
  })
  try {
    const m = model.manifest
    checkItems(model, params.items)
    validateForModel(strategy, m.patch_nums.length)
    const sampling = parseSampling({ ...m.sampling_defaults, ...params.sampling }, m.vocab_size)
    const { items, batchSize } = params
    const batches = Math.ceil(items.length / batchSize)
    const size = m.image_channels * m.image_size * m.image_size
    const images: GeneratedImage[] = []
    let timings: Timings = { modelMs: 0, jsMs: 0, kdeMs: 0, hookMs: 0, previewMs: 0, totalMs: 0 }
    for (let batch = 0; batch < batches; batch++) {
      const chunk = items.slice(batch * batchSize, (batch + 1) * batchSize)
      const itemOffset = batch * batchSize
      const request: GenerateRequest = {
        classes: chunk.map((i) => i.classId),
        seeds: chunk.map((i) => i.seed),
        sampling,
        strategy,
        previews: params.previews,
      }
      const out = await runLoop(model, request, ctx, deps.kde, (e) => {
        const event: ScaleProgress = {
          kind: 'scale',
          batch,
          batches,
          itemOffset,
          B: chunk.length,
          si: e.si,
          scales: e.S,
          pn: m.patch_nums[e.si] ?? 0,
          generation: e.generation,
          generations: e.generations,
          tokens: e.tokenMap,
          ...(e.previewImage ? { preview: e.previewImage } : {}),
          ...(e.selection ? { selection: e.selection } : {}),
        }
        ctx.progress(event)
      })
      timings = addTimings(timings, out.timings)
      out.records.forEach((record: ImageRecord, b) => {
        images.push({
          classId: record.classId,
          className: m.class_names[record.classId] ?? String(record.classId),
          seed: record.seed,
          pixels: out.images.slice(b * size, (b + 1) * size),
          record,
        })
      })
    }
    return {
      modelId: m.id,
      modelDir: model.dir,
      width: m.image_size,
      height: m.image_size,
      channels: m.image_channels,
      images,
      provider: model.opened.provider,
      sampling,
      strategy,
      timings: { ...timings, loadMs: cached ? 0 : model.loadMs, batches },
    }
  } finally {
    release()
  }
}
