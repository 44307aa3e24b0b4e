/**
 * Writes a generation to a folder as it is made: one PNG per image (parameters embedded unless
 * turned off) as each batch finishes, then a labelled grid and `run.json` with everything needed to
 * reproduce and chart the run (RunWriter).
 */
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageRecord } from '../../src-shared/engine/loop'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import type { VarManifest } from '../../src-shared/manifest'
import type { GeneratedImage, GenerateResult } from '../../src-shared/protocol'
import { composeGrid } from './grid'
import { encodePng, toRaw } from './png'
import type { SearchDefaults } from '../../src-shared/engine/calibration'

export const RUN_FORMAT = 'var-studio-run/1'

export interface RunContext {
  readonly manifest: VarManifest
  readonly seedPolicy: 'fixed' | 'increment' | 'random' | 'batch'
  /** the command line or request that produced the run */
  readonly command: readonly string[]
  readonly version: string
  /** embed parameters in the PNGs (default true) */
  readonly metadata?: boolean
  /** the model's search defaults and where they come from (its calibration or the paper's) */
  readonly searchDefaults?: SearchDefaults
}

/** An image of a run; `strategy` is set when the run mixes strategies (a batch file's rows). */
export type RunImage = GeneratedImage & { readonly strategy?: StrategyConfig }

/**
 * What writeRun writes: one generate result, or several merged into one (the CLI runs a batch file
 * one strategy at a time); then `strategy` is the default and every image carries its own.
 */
export type RunResult = Omit<GenerateResult, 'images'> & { readonly images: readonly RunImage[] }

export interface WrittenRun {
  readonly dir: string
  readonly files: readonly string[]
  readonly grid: string
  readonly record: string
}

function varStepHash(m: VarManifest): string {
  const file = m.graphs.var_step.file
  return Object.hasOwn(m.files, file) ? m.files[file].sha256 : ''
}

/** A class name as a file-name part: `T-shirt/top` -> `t-shirt-top`. */
export const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'class'

/** The selection of one search scale without the per-candidate arrays (those stay in run.json). */
function selectionSummary(record: ImageRecord): unknown[] {
  return record.selections.map(({ si, record: r }) => ({
    si,
    branch: r.branch,
    ratio: r.ratio,
    alpha: r.alpha,
    kept: r.kept,
    chosen: r.chosen,
    chosenProb: r.chosenProb,
  }))
}

function strategyText(strategy: StrategyConfig): string {
  const { kind, ...knobs } = strategy
  const parts = Object.entries(knobs).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`)
  return parts.length > 0 ? `${kind}, Strategy settings: "${parts.join(', ')}"` : kind
}

/** AUTOMATIC1111-style parameters: the prompt (here the class), then `Key: value` pairs. */
export function parametersText(image: RunImage, result: RunResult, ctx: RunContext): string {
  const m = ctx.manifest
  const hash = varStepHash(m).slice(0, 10)
  const pairs = [
    `Steps: ${m.patch_nums.length}`,
    'Sampler: VAR next-scale',
    `CFG scale: ${result.sampling.cfg}`,
    `Seed: ${image.seed}`,
    `Size: ${result.width}x${result.height}`,
    `Model hash: ${hash}`,
    `Model: ${m.id}`,
    `Top-k: ${result.sampling.top_k}`,
    `Top-p: ${result.sampling.top_p}`,
    ...(result.sampling.more_smooth ? ['More smooth: true'] : []),
    `Strategy: ${strategyText(image.strategy ?? result.strategy)}`,
    `Provider: ${result.provider.provider}`,
    `Version: var-studio ${ctx.version}`,
  ]
  return `${image.className}\n${pairs.join(', ')}`
}

function imageJson(image: RunImage, result: RunResult, ctx: RunContext): unknown {
  const m = ctx.manifest
  return {
    format: RUN_FORMAT,
    version: ctx.version,
    model: { id: m.id, var_step_sha256: varStepHash(m) },
    classId: image.classId,
    className: image.className,
    seed: image.seed,
    sampling: result.sampling,
    strategy: image.strategy ?? result.strategy,
    provider: result.provider.provider,
    selections: selectionSummary(image.record),
  }
}

/** How far a run got: `running` while images are being made (also what a killed run leaves). */
export type RunStatus = 'running' | 'complete' | 'cancelled' | 'failed'

/** The file name of the image at `index` among the run's images. */
export const runImageName = (index: number, image: { className: string; seed: number }): string =>
  `${String(index).padStart(4, '0')}-${slug(image.className)}-s${image.seed}.png`

/** Per-image records of a run still being made, one JSON line per image as it finishes. */
export const RUN_IMAGES_LOG = 'run-images.jsonl'

/** Writes `data` next to `path` and renames it over: a reader never sees half a file. */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, data)
  await rename(tmp, path)
}

/** The full record of one image as run.json keeps it. */
function imageRecord(image: RunImage, file: string): Record<string, unknown> {
  return {
    file,
    classId: image.classId,
    className: image.className,
    seed: image.seed,
    ...(image.strategy ? { strategy: image.strategy } : {}),
    tokenMaps: image.record.tokenMaps.map((t) => Array.from(t)),
    selections: image.record.selections.map(({ si, record: r }) => ({
      si,
      branch: r.branch,
      ratio: r.ratio,
      alpha: r.alpha,
      densities: Array.from(r.densities),
      bandwidths: Array.from(r.bandwidths),
      kept: r.kept,
      probs: r.probs,
      chosen: r.chosen,
      chosenProb: r.chosenProb,
    })),
    ...(image.record.bestOfN ? { bestOfN: image.record.bestOfN } : {}),
  }
}

/** What a run's images share (any of its results; the CLI's parts differ only in strategy). */
type RunShared = Omit<RunResult, 'images'>

/**
 * A run written as it is made: each finished batch's PNGs go to disk (each written whole, then
 * renamed into place) and its images' records are appended to `run-images.jsonl` before run.json
 * is rewritten to say how many of how many are done. A run that is killed therefore leaves every
 * image it finished, with a run.json (`status: "running"`, `done`, `total`) naming them; a
 * cancelled or failed run says so in run.json. `finish` writes the grid and the full run.json
 * (every image's token maps and selections, as before) and removes the line log.
 */
export class RunWriter {
  private readonly done = new Map<number, { image: RunImage; file: string }>()
  private started = false
  private shared: RunShared | undefined
  private readonly createdAt = new Date().toISOString()

  constructor(
    readonly dir: string,
    private readonly ctx: RunContext,
    readonly total: number,
  ) {}

  /** images written so far */
  get written(): number {
    return this.done.size
  }

  /** Writes one batch: `images[j]` is the run's image at `positions[j]`. */
  async add(
    result: RunShared & { readonly images: readonly RunImage[] },
    positions: readonly number[],
  ): Promise<string[]> {
    if (!this.started) {
      await mkdir(this.dir, { recursive: true })
      this.started = true
    }
    this.shared ??= result
    const { channels, height, width } = result
    const files: string[] = []
    const lines: string[] = []
    for (const [j, image] of result.images.entries()) {
      const index = positions[j]
      const name = runImageName(index, image)
      const png = await encodePng(
        toRaw(image.pixels, channels, height, width),
        this.ctx.metadata === false
          ? {}
          : { parameters: parametersText(image, result, this.ctx), json: imageJson(image, result, this.ctx) },
      )
      await writeAtomic(join(this.dir, name), png)
      this.done.set(index, { image, file: name })
      files.push(name)
      lines.push(JSON.stringify({ index, ...imageRecord(image, name) }))
    }
    if (lines.length > 0) await appendFile(join(this.dir, RUN_IMAGES_LOG), `${lines.join('\n')}\n`)
    await this.writeRecord('running', {})
    return files
  }

  /** Marks the run as stopped (cancelled or failed), keeping what it finished. */
  async stop(status: 'cancelled' | 'failed', reason: string): Promise<void> {
    if (!this.started) {
      await mkdir(this.dir, { recursive: true })
      this.started = true
    }
    await this.writeRecord(status, { reason })
  }

  /** The finished run: the grid, the full run.json, and the line log removed. */
  async finish(result: RunResult): Promise<WrittenRun> {
    const files = result.images.map((_, i) => this.done.get(i)?.file ?? '')
    const missing = files.findIndex((f) => f === '')
    if (missing >= 0) throw new Error(`image ${missing} of the run was never written`)
    const { channels, height, width } = result
    const tiles = result.images.map((image) => ({
      image: toRaw(image.pixels, channels, height, width),
      caption: [image.className, `seed ${image.seed}`],
    }))
    const sameCount = groupSizes(result.images)
    const kinds = [...new Set(result.images.map((image) => (image.strategy ?? result.strategy).kind))]
    const grid = composeGrid(tiles, {
      ...(sameCount ? { columns: sameCount } : {}),
      title: `${this.ctx.manifest.display_name} | ${kinds.join(' + ')} | cfg ${result.sampling.cfg} | ${result.provider.provider}`,
    })
    await writeAtomic(join(this.dir, 'grid.png'), await encodePng(grid))
    const record = {
      ...this.header(result, 'complete'),
      timings: result.timings,
      grid: 'grid.png',
      images: result.images.map((image, i) => imageRecord(image, files[i])),
    }
    await writeAtomic(join(this.dir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`)
    await rm(join(this.dir, RUN_IMAGES_LOG), { force: true })
    return { dir: this.dir, files, grid: 'grid.png', record: 'run.json' }
  }

  private header(shared: RunShared | undefined, status: RunStatus): Record<string, unknown> {
    const m = this.ctx.manifest
    return {
      format: RUN_FORMAT,
      version: this.ctx.version,
      createdAt: this.createdAt,
      status,
      done: this.done.size,
      total: this.total,
      command: this.ctx.command,
      model: {
        id: m.id,
        displayName: m.display_name,
        ...(shared ? { dir: shared.modelDir } : {}),
        var_step_sha256: varStepHash(m),
      },
      ...(shared
        ? {
            provider: shared.provider,
            sampling: shared.sampling,
            strategy: shared.strategy,
          }
        : {}),
      ...(this.ctx.searchDefaults ? { searchDefaults: this.ctx.searchDefaults } : {}),
      ...(shared?.search ? { search: shared.search } : {}),
      seedPolicy: this.ctx.seedPolicy,
    }
  }

  /** run.json while the run is not complete: how far it got, and the images finished so far. */
  private async writeRecord(status: RunStatus, extra: { reason?: string }): Promise<void> {
    const header = this.header(this.shared, status)
    delete header.search
    const images = [...this.done.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, { image, file }]) => ({
        index,
        file,
        classId: image.classId,
        className: image.className,
        seed: image.seed,
        ...(image.strategy ? { strategy: image.strategy } : {}),
      }))
    const record = {
      ...header,
      ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
      // token maps and selections of these images, one JSON line each, until the run completes
      imageRecords: RUN_IMAGES_LOG,
      images,
    }
    await writeAtomic(join(this.dir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`)
  }
}

/** A finished generation written at once (the images in result order). */
export async function writeRun(dir: string, result: RunResult, ctx: RunContext): Promise<WrittenRun> {
  const writer = new RunWriter(dir, ctx, result.images.length)
  await writer.add(
    result,
    result.images.map((_, i) => i),
  )
  return writer.finish(result)
}

/** When each class appears in one run of the same length (> 1), one row per class. */
function groupSizes(images: readonly GeneratedImage[]): number | undefined {
  const counts = new Map<number, number>()
  let previous: number | undefined
  for (const image of images) {
    if (image.classId !== previous && counts.has(image.classId)) return undefined
    previous = image.classId
    counts.set(image.classId, (counts.get(image.classId) ?? 0) + 1)
  }
  const sizes = [...new Set(counts.values())]
  const size = sizes.at(0)
  return sizes.length === 1 && size !== undefined && size > 1 ? size : undefined
}
