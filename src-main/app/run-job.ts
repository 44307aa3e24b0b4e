/**
 * Runs one queued job on the inference host: pushes `job:scale` for every finished scale (token maps
 * and, with previews on, PNG data URLs), then writes every image (PNG with parameters unless turned
 * off), its timeline and its history record.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Settings } from '../../src-shared/ipc'
import type { GenerateResult, ScaleProgress } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { encodePng, pngDataUrl, toRaw } from '../storage/png'
import { parametersText, RUN_FORMAT, slug } from '../storage/run-output'
import { fsProblem, StorageError } from './errors'
import type { StudioEvents } from './events'
import type { History, StoredEntry } from './history'
import type { Models, ResolvedModel } from './model-list'
import type { Execute, StoredJob } from './queue'
import { buildTimeline, selectionView } from './timeline'

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

export function jobExecutor(deps: RunDeps): Execute {
  return async (job, signal, progress) => {
    const model = await deps.models.resolve(job.modelId)
    const settings = deps.settings()
    const m = model.manifest
    const [C, H, W] = [m.image_channels, m.image_size, m.image_size]
    const codebook = await deps.models.codebook(model)
    // previews[generation][item][si]: best-of-n makes several generations and keeps one per image.
    const previews: (string | undefined)[][][] = []
    let chain = Promise.resolve()
    const onScale = (e: ScaleProgress): void => {
      const l = e.pn * e.pn
      // The live views follow the batch's first image: only its map and preview are pushed (all that
      // were decoded go into the saved timelines), so a 16-image batch of previews is not sent 16 times.
      const tokens = [Array.from(e.tokens.subarray(0, l))]
      const last = e.si === e.scales - 1 && e.generation === e.generations - 1
      const view = {
        si: e.si,
        S: e.scales,
        batch: e.batch,
        batches: e.batches,
        generation: e.generation,
        generations: e.generations,
        done: e.itemOffset + (last ? e.B : 0),
      }
      progress(view)
      // Encoding is async; the chain keeps events in scale order.
      chain = chain.then(async () => {
        let urls: string[] | undefined
        if (e.preview) {
          const size = C * H * W
          const preview = e.preview
          // every image's decode, or (previews `first`, before the last scale) only the first's
          urls = await Promise.all(
            Array.from({ length: preview.length / size }, async (_, b) =>
              pngDataUrl(await encodePng(toRaw(preview.subarray(b * size, (b + 1) * size), C, H, W))),
            ),
          )
          const gen = (previews[e.generation] ??= [])
          urls.forEach((url, b) => ((gen[e.itemOffset + b] ??= [])[e.si] = url))
        }
        const first = e.selection?.[0]
        deps.events.emit('job:scale', {
          jobId: job.id,
          progress: view,
          pn: e.pn,
          itemOffset: e.itemOffset,
          tokens,
          ...(urls ? { previews: urls.slice(0, 1) } : {}),
          ...(first ? { selection: selectionView({ si: e.si, record: first }, m, codebook) } : {}),
        })
      })
    }
    // Every preview step must have settled before the job ends, also when the call fails or is
    // cancelled: a rejected step left behind would be an unhandled rejection.
    let result: GenerateResult
    try {
      result = await deps.client().call(
        'generate',
        {
          dir: model.dir,
          device: settings.device,
          items: job.items,
          sampling: job.sampling,
          strategy: job.strategy,
          batchSize: settings.batchSize,
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
      throw error
    }
    await chain
    deps.onResult?.(job.id, result)
    return saveImages(deps, job, model, result, previews, settings.embedMetadata)
  }
}

async function saveImages(
  deps: RunDeps,
  job: StoredJob,
  model: ResolvedModel,
  result: GenerateResult,
  previews: (string | undefined)[][][],
  embed: boolean,
): Promise<string[]> {
  const history = deps.history()
  const createdAt = new Date().toISOString()
  const dir = join(history.outputDir, 'images', createdAt.slice(0, 10))
  try {
    await mkdir(dir, { recursive: true })
  } catch (error) {
    throw new StorageError(fsProblem('create the image folder', dir, error), { cause: error })
  }
  const codebook = await deps.models.codebook(model)
  const ctx = { manifest: model.manifest, seedPolicy: 'batch' as const, command: [], version: deps.version }
  const records = []
  for (const [i, image] of result.images.entries()) {
    const id = `${job.id}-${String(i).padStart(4, '0')}`
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
    try {
      await writeFile(path, png)
    } catch (error) {
      throw new StorageError(fsProblem('write', path, error), { cause: error })
    }
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
    const timeline = buildTimeline(id, image.record, model.manifest, codebook, previews[gen]?.[i] ?? [])
    records.push({ entry, timeline })
  }
  await history.add(records)
  return records.map((r) => r.entry.id)
}
