/**
 * Runs one queued job on the inference host, one batch per host call: pushes `job:scale` for every
 * finished scale (token maps and, with previews on, PNG data URLs), and after each batch writes its
 * images (PNG with parameters unless turned off), their timelines and history records while the host
 * makes the next batch (one batch's writes finish before the next one's start, and before the job
 * ends or fails), so a crash or a cancel loses at most the batch in progress and the one being
 * written. Items already in
 * the history (an earlier run of the job) are skipped: resuming makes the rest with the same seeds.
 */
import { join } from 'node:path'
import type { Settings } from '../../src-shared/ipc'
import type { GenerateResult, ScaleProgress } from '../../src-shared/protocol'
import type { StrategyConfigInput } from '../../src-shared/engine/strategies'
import type { HostClient } from '../host/client'
import { encodePng, pngDataUrl, toRaw } from '../storage/png'
import { parametersText, RUN_FORMAT, slug } from '../storage/run-output'
import type { StudioEvents } from './events'
import type { History, StoredEntry } from './history'
import type { Models, ResolvedModel } from './model-list'
import type { Execute, StoredJob } from './queue'
import { buildTimeline } from './timeline'

export interface RunDeps {
  readonly client: () => HostClient
  readonly models: Models
  readonly history: () => History
  readonly settings: () => Settings
  readonly events: StudioEvents
  readonly version: string
  /** told about every finished job, for diagnostics */
  readonly onResult?: (jobId: string, result: GenerateResult) => void
}

/** The candidates per search scale: the grid's N axis (1 for the baseline). */
function candidatesOf(strategy: GenerateResult['strategy']): number {
  return strategy.kind === 'baseline' ? 1 : strategy.N
}

/** The image id of a job's i-th item: the same in every run of the job, so a resumed job skips it. */
export function imageIdOf(jobId: string, i: number): string {
  return `${jobId}-${String(i).padStart(4, '0')}`
}

export function jobExecutor(deps: RunDeps): Execute {
  return async (job, signal, progress, committed) => {
    const model = await deps.models.resolve(job.modelId)
    const settings = deps.settings()
    const m = model.manifest
    const [C, H, W] = [m.image_channels, m.image_size, m.image_size]
    // Images recorded by an earlier run of this job (cancelled, or stopped by a crash) are not made
    // again: a resumed job makes the rest, each with its own seed.
    const recorded = new Set(deps.history().idsOfJob(job.id))
    const todo = job.items.map((_, i) => i).filter((i) => !recorded.has(imageIdOf(job.id, i)))
    const doneBefore = job.items.length - todo.length
    const size = Math.max(1, settings.batchSize)
    const batches = Math.ceil(todo.length / size)
    // The previous batch's writes run while the host makes this batch (the host waited on them
    // before: the studio made 0.7x the CLI's images per second). A failed write stops the job at the
    // next batch boundary.
    let writing: Promise<void> = Promise.resolve()
    let writeFailed: { error: unknown } | undefined
    for (let batch = 0; batch < batches; batch++) {
      if (writeFailed) throw writeFailed.error
      const indices = todo.slice(batch * size, (batch + 1) * size)
      // previews[generation][item][si]: best-of-n makes several generations and keeps one per image.
      const previews: (string | undefined)[][][] = []
      // previewKinds[si]: how the batch's previews after scale si were made
      const previewKinds: ('projection' | 'decode' | undefined)[] = []
      let chain = Promise.resolve()
      const onScale = (e: ScaleProgress): void => {
        const l = e.pn * e.pn
        // The live views follow the batch's first image: only its map and preview are pushed (all
        // that were decoded go into the saved timelines), so a 16-image batch of previews is not
        // sent 16 times.
        const tokens = [Array.from(e.tokens.subarray(0, l))]
        const last = e.si === e.scales - 1 && e.generation === e.generations - 1
        const view = {
          si: e.si,
          S: e.scales,
          batch,
          batches,
          generation: e.generation,
          generations: e.generations,
          done: doneBefore + batch * size + (last ? e.B : 0),
        }
        progress(view)
        // Encoding is async; the chain keeps events in scale order.
        chain = chain.then(async () => {
          let urls: string[] | undefined
          if (e.preview) {
            const pixels = C * H * W
            const preview = e.preview
            // every image's decode, or (previews `first`, before the last scale) only the first's
            urls = await Promise.all(
              Array.from({ length: preview.length / pixels }, async (_, b) =>
                pngDataUrl(await encodePng(toRaw(preview.subarray(b * pixels, (b + 1) * pixels), C, H, W))),
              ),
            )
            const gen = (previews[e.generation] ??= [])
            urls.forEach((url, b) => ((gen[b] ??= [])[e.si] = url))
            previewKinds[e.si] = e.previewKind
          }
          deps.events.emit('job:scale', {
            jobId: job.id,
            progress: view,
            pn: e.pn,
            itemOffset: indices[0] ?? 0,
            tokens,
            ...(urls ? { previews: urls.slice(0, 1) } : {}),
            ...(urls && e.previewKind ? { previewKind: e.previewKind } : {}),
            ...(e.previewNote ? { previewNote: e.previewNote } : {}),
            ...(e.selection ? { selection: e.selection } : {}),
          })
        })
      }
      // Every preview step must have settled before the batch ends, also when the call fails or is
      // cancelled: a rejected step left behind would be an unhandled rejection.
      let result: GenerateResult
      try {
        result = await deps.client().call(
          'generate',
          {
            dir: model.dir,
            device: settings.device,
            items: indices.map((i) => job.items[i]),
            sampling: job.sampling,
            // checked against the request schema when queued, and again by the host
            strategy: job.strategy as StrategyConfigInput,
            batchSize: indices.length,
            previews: settings.previews,
          },
          {
            signal,
            onProgress: (p) => {
              if (p.kind === 'scale') onScale(p)
            },
          },
        )
      } catch (error) {
        await chain.catch(() => undefined)
        // what the previous batch made is kept before the job stops
        await writing
        throw error
      }
      await chain
      deps.onResult?.(job.id, result)
      const done = result
      writing = writing.then(async () => {
        await committed(
          await saveImages(deps, job, indices, model, done, previews, previewKinds, settings.embedMetadata),
        )
      })
      writing.catch((error: unknown) => {
        writeFailed ??= { error }
      })
    }
    await writing
    const made = new Set(deps.history().idsOfJob(job.id))
    return job.items.map((_, i) => imageIdOf(job.id, i)).filter((id) => made.has(id))
  }
}

async function saveImages(
  deps: RunDeps,
  job: StoredJob,
  indices: readonly number[],
  model: ResolvedModel,
  result: GenerateResult,
  previews: (string | undefined)[][][],
  previewKinds: readonly ('projection' | 'decode' | undefined)[],
  embed: boolean,
): Promise<string[]> {
  const history = deps.history()
  const createdAt = new Date().toISOString()
  const dir = join(history.outputDir, 'images', createdAt.slice(0, 10))
  const ctx = { manifest: model.manifest, seedPolicy: 'batch' as const, command: [], version: deps.version }
  const records = []
  for (const [b, image] of result.images.entries()) {
    const id = imageIdOf(job.id, indices[b])
    const parameters = parametersText(image, result, ctx)
    const json = {
      format: RUN_FORMAT,
      version: deps.version,
      imageId: id,
      jobId: job.id,
      model: { id: result.modelId },
      classId: image.classId,
      className: image.className,
      seed: image.seed,
      seedPolicy: job.seedPolicy,
      sampling: result.sampling,
      strategy: result.strategy,
      provider: result.provider.provider,
    }
    const png = await encodePng(
      toRaw(image.pixels, result.channels, result.height, result.width),
      embed ? { parameters, json } : {},
    )
    const path = join(dir, `${id}-${slug(image.className)}-s${image.seed}.png`)
    // the PNG first: a record is never written for a file that is not there
    await history.writeFile(path, png)
    const entry: StoredEntry = {
      id,
      jobId: job.id,
      modelId: result.modelId,
      classId: image.classId,
      className: image.className,
      seed: image.seed,
      strategyKind: result.strategy.kind,
      strategy: { ...result.strategy },
      sampling: result.sampling,
      N: candidatesOf(result.strategy),
      provider: result.provider.provider,
      createdAt,
      file: history.relative(path),
      width: result.width,
      height: result.height,
      parameters,
    }
    const gen = image.record.bestOfN?.chosen ?? 0
    const timeline = buildTimeline(id, image, result, previews[gen]?.[b] ?? [], previewKinds)
    records.push({ entry, timeline })
  }
  await history.add(records)
  return records.map((r) => r.entry.id)
}
