/**
 * Writes a finished generation to a folder: one PNG per image (parameters embedded unless turned
 * off), a labelled grid, and `run.json` with everything needed to reproduce and chart the run.
 */
import { mkdir, writeFile } from 'node:fs/promises'
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

export async function writeRun(dir: string, result: RunResult, ctx: RunContext): Promise<WrittenRun> {
  await mkdir(dir, { recursive: true })
  const { channels, height, width } = result
  const files: string[] = []
  const tiles = []
  for (const [i, image] of result.images.entries()) {
    const raw = toRaw(image.pixels, channels, height, width)
    const name = `${String(i).padStart(4, '0')}-${slug(image.className)}-s${image.seed}.png`
    const png = await encodePng(
      raw,
      ctx.metadata === false
        ? {}
        : { parameters: parametersText(image, result, ctx), json: imageJson(image, result, ctx) },
    )
    await writeFile(join(dir, name), png)
    files.push(name)
    tiles.push({ image: raw, caption: [image.className, `seed ${image.seed}`] })
  }

  const sameCount = groupSizes(result.images)
  const kinds = [...new Set(result.images.map((image) => (image.strategy ?? result.strategy).kind))]
  const grid = composeGrid(tiles, {
    ...(sameCount ? { columns: sameCount } : {}),
    title: `${ctx.manifest.display_name} | ${kinds.join(' + ')} | cfg ${result.sampling.cfg} | ${result.provider.provider}`,
  })
  const gridPng = await encodePng(grid)
  await writeFile(join(dir, 'grid.png'), gridPng)

  const record = {
    format: RUN_FORMAT,
    version: ctx.version,
    createdAt: new Date().toISOString(),
    command: ctx.command,
    model: {
      id: ctx.manifest.id,
      displayName: ctx.manifest.display_name,
      dir: result.modelDir,
      var_step_sha256: varStepHash(ctx.manifest),
    },
    provider: result.provider,
    sampling: result.sampling,
    strategy: result.strategy,
    ...(ctx.searchDefaults ? { searchDefaults: ctx.searchDefaults } : {}),
    // what each search scale did, with notes in words when it did nothing (search-summary.ts)
    ...(result.search ? { search: result.search } : {}),
    seedPolicy: ctx.seedPolicy,
    timings: result.timings,
    grid: 'grid.png',
    images: result.images.map((image, i) => ({
      file: files[i],
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
    })),
  }
  await writeFile(join(dir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`)
  return { dir, files, grid: 'grid.png', record: 'run.json' }
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
