/**
 * The host's `generate` method: loads the model (cached per folder and device), checks the request
 * against it with the request schema's model refinement, runs the engine's loop batch by batch with
 * the KDE in a worker thread, and returns every image with its selections ready to show (the PCA
 * map of the candidates needs the codebook, which only the host holds).
 */
import { generate, type GenerateRequest, type ScaleEvent, type Timings } from '../../src-shared/engine/loop'
import { generateRequestFor, modelFacts } from '../../src-shared/engine/request'
import { parseSampling } from '../../src-shared/engine/strategies'
import type { KdeFn } from '../../src-shared/engine/kde'
import { InvalidRequestError } from '../../src-shared/errors'
import { formatIssuePath } from '../../src-shared/manifest'
import type { GeneratedImage, GenerateResult, Params, ScaleProgress } from '../../src-shared/protocol'
import { type JobContext, throwIfCancelled } from './host'
import type { LoadedModel, ModelCache } from './model-cache'
import { SelectionViews } from './selection-view'
import { type SearchSummary, summarizeSearch } from '../../src-shared/engine/search-summary'
import { loadPreview } from '../storage/preview-file'
import type { PreviewProjection } from '../../src-shared/engine/preview'
import { loadCalibration, searchDefaultsFor } from '../storage/calibration-file'

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
  projection: PreviewProjection | undefined,
): ReturnType<typeof generate> {
  return generate(model.opened.runner, model.manifest, model.codebook, request, {
    signal: ctx.signal,
    kde,
    onScale,
    ...(projection ? { projection } : {}),
    // a cancel that arrives during a scale's candidate draws is read between images
    betweenDraws: () => new Promise<void>((resolve) => setImmediate(resolve)),
  })
}

/** The request schema refined against the loaded model; throws InvalidRequestError naming each field. */
function checkForModel(model: LoadedModel, params: Params<'generate'>): void {
  const { items, strategy, sampling, batchSize } = params
  const parsed = generateRequestFor(modelFacts(model.manifest)).safeParse({
    items,
    strategy,
    sampling,
    batchSize,
  })
  if (parsed.success) return
  const lines = parsed.error.issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`)
  throw new InvalidRequestError(formatIssuePath(parsed.error.issues[0]?.path ?? []), lines.join('\n'))
}

const addTimings = (a: Timings, b: Timings): Timings => ({
  modelMs: a.modelMs + b.modelMs,
  jsMs: a.jsMs + b.jsMs,
  kdeMs: a.kdeMs + b.kdeMs,
  hookMs: a.hookMs + b.hookMs,
  previewMs: a.previewMs + b.previewMs,
  totalMs: a.totalMs + b.totalMs,
})

/** One summary per search scale over every image, with the model's calibrated values as the hint. */
async function searchSummaries(
  dir: string,
  strategy: Params<'generate'>['strategy'],
  images: readonly GeneratedImage[],
  cfg: number,
): Promise<SearchSummary[]> {
  if (strategy.kind === 'baseline' || strategy.kind === 'best-of-n') return []
  // the calibrated values at this request's cfg and first search scale
  const defaults = searchDefaultsFor(await loadCalibration(dir), {
    cfg,
    searchScale: strategy.searchScales[0],
  })
  return [...new Set(strategy.searchScales)].map((si) =>
    summarizeSearch(
      si,
      images.flatMap((img) => img.selections.filter((s) => s.si === si)),
      strategy,
      defaults,
    ),
  )
}

export async function handleGenerate(
  params: Params<'generate'>,
  ctx: JobContext<'generate'>,
  deps: GenerateDeps,
): Promise<GenerateResult> {
  // The protocol's schema checked the request's bounds before a model is loaded.
  const strategy = params.strategy
  if (strategy.kind !== 'baseline' && strategy.kind !== 'best-of-n') deps.warmKde?.()
  const { model, cached, release } = await deps.models.acquire(params.dir, params.device, (message) => {
    ctx.progress({ kind: 'load', message })
  })
  try {
    const m = model.manifest
    checkForModel(model, params)
    // the cheap preview map, read for every job: one fitted while the model stays open applies
    const preview = params.previews === 'projection' ? await loadPreview(model.dir, m) : {}
    const views = new SelectionViews(m.patch_nums, model.codebook, m.Cvae)
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
      const out = await runLoop(
        model,
        request,
        ctx,
        deps.kde,
        (e) => {
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
            ...(e.previewImage ? { preview: e.previewImage, previewKind: e.previewKind ?? 'decode' } : {}),
            ...(preview.warning ? { previewNote: preview.warning } : {}),
            ...(e.selection?.[0] ? { selection: views.of(e.si, e.selection[0]) } : {}),
          }
          ctx.progress(event)
        },
        preview.projection,
      )
      timings = addTimings(timings, out.timings)
      for (const [b, record] of out.records.entries()) {
        // Each image's PCA maps run on this thread: between images the host reads its messages, so a
        // cancel is seen before the next one.
        if (record.selections.length > 0) {
          await new Promise<void>((resolve) => setImmediate(resolve))
          throwIfCancelled(ctx.signal)
        }
        images.push({
          classId: record.classId,
          className: m.class_names[record.classId] ?? String(record.classId),
          seed: record.seed,
          pixels: out.images.slice(b * size, (b + 1) * size),
          record,
          selections: record.selections.map((s) => views.of(s.si, s.record)),
        })
      }
    }
    const search = await searchSummaries(model.dir, strategy, images, sampling.cfg)
    return {
      modelId: m.id,
      modelDir: model.dir,
      width: m.image_size,
      height: m.image_size,
      channels: m.image_channels,
      patchNums: m.patch_nums,
      vocabSize: m.vocab_size,
      images,
      provider: model.opened.provider,
      sampling,
      strategy,
      ...(search.length > 0 ? { search } : {}),
      timings: { ...timings, loadMs: cached ? 0 : model.loadMs, batches },
    }
  } finally {
    release()
  }
}
