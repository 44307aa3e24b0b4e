/**
 * `var-studio generate`: resolves classes, seeds and knobs here (so mistakes are reported before any
 * model is loaded), runs the request on the inference host batch by batch with a progress bar,
 * writes each batch's PNGs and run.json as the batch finishes, then a labelled grid and the full
 * run.json.
 */
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import { MAX_ITEMS } from '../../src-shared/engine/limits'
import { SEED_MAX } from '../../src-shared/engine/rng'
import { DEFAULT_SEED_POLICY, randomSeed } from '../../src-shared/seeds'
import {
  parseStrategy,
  SettingsError,
  type StrategyConfig,
  validateForModel,
} from '../../src-shared/engine/strategies'
import type { GeneratedImage, GenerateResult, ScaleProgress } from '../../src-shared/protocol'
import { type SearchHint, type SearchSummary, summarizeSearch } from '../../src-shared/engine/search-summary'
import type { HostClient } from '../host/client'
import { readManifest } from '../storage/model-folder'
import { type RunImage, type RunResult, RunWriter } from '../storage/run-output'
import { matchNotes, readBatchFile } from './batch'
import { checkBeforeUse } from './model-commands'
import {
  reportSearch,
  reportSearchDefaults,
  requestDefaults,
  resolveRelativeDedup,
  withSearchDefaults,
} from './search-report'
import { loadCalibration } from '../storage/calibration-file'
import { resolveClass } from './classes'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import {
  checkRequestFlags,
  deviceFromFlags,
  KNOB_OPTIONS,
  numberFlag,
  samplingFromFlags,
  type SearchKnobDefaults,
  strategyFromFlags,
} from './knobs'
import { ProgressBar } from './progress'

export const GENERATE_HELP = `Usage: var-studio generate [options]

What to generate (one of):
  --class C              class id or name; repeat or separate with commas
  --all-classes          every class of the model
  --batch FILE           a batch file, read as the studio reads it (see below)
  --count N              images per class (default 1); at most 10000 images in all

Seeds:
  --seed S               first seed (default: random)
  --seed-policy P        fixed | increment | random (default: increment with --seed, else random);
                         random seeds are recorded in the PNGs and run.json

Strategy (default var-scaling):
  --strategy S           baseline | var-scaling | topk-only | randomk-only | best-of-n
  --search-scales 1,2    scale indices searched (default 1)
  --N 50  --k 10  --alpha A  --dedup D      (N <= 4096, k <= N; best-of-n N <= 64); alpha, dedup
                         and the search scale default to the model's calibration (var-studio
                         calibrate), else the paper's 2.3 / 1.8 / 1; stderr says which;
                         --dedup 0.86x is 0.86 times the model's median codebook distance
  --final-pick density|rank|argmax   --kernel gaussian|exactMatch
  --legacy-progressive-nucleus       --pool-bandwidth

Batch files: CSV with a header (class or prompt, then optional seed, strategy, count), a JSON or
YAML list of such rows (or { items: [...] }), or TXT with one class or prompt a line.
  class / prompt         a class id, a class name or a prompt matched to a class name ("a photo
                         of sneakers" is Sneaker), else by WordNet's synonyms and categories
                         ("boots" is Ankle boot); every match that is not an id or exact name is
                         printed with how it was read
  seed S                 the row's images get seeds S, S+1, ...; rows without one follow --seed
                         and --seed-policy
  count N                images of the row, 1-1000 (default 1); at most 10000 per file
  category ask|spread    a prompt naming a category of classes (WordNet: "a big cat", "a puppy"):
                         ask (default) stops at the row, listing the classes; spread gives the
                         row's images the category's classes in turn (count 6 on "big cat": one
                         of each)
  strategy S             runs the row with S: with the strategy flags above when S is --strategy's
                         kind, else with S's defaults; rows without one use --strategy
  Bad rows stop the command before any model loads, each named by file and line.

Sampling (defaults from the model): --cfg X  --top-k K (0: off)  --top-p P (0 or 1: off)
  --more-smooth          the official sampler's Gumbel-softmax smoothing of the token embeddings
  --preset fid|demo      the official release's settings (official exports, vocabulary >= 900):
                         fid  = FID (official README): cfg 1.5, top-k 900, top-p 0.96
                         demo = demo (official notebook): cfg 4, top-k 900, top-p 0.95, more_smooth
                         flags given beside it win
Device: --device auto|cuda|dml|coreml|webgpu|cpu  --device-id I  --fallback
Output: --out DIR (default ./var-studio-out/<time>)  --no-metadata  --batch-size B (default 16;
        at most 256, and what the model's KV cache allows: 16 at VAR-d30, see limits.ts)
Model: --model DIR|ID (default: the shipped model)  --models-dir DIR (repeatable)
       --no-verify            skip the sha256 check of the model's files (cached by size and
                              modification time, as models verify does); says it was skipped
`

type SeedPolicy = 'fixed' | 'increment' | 'random'

interface Wanted {
  classId: number
  seed?: number
  /** a batch row's strategy kind */
  strategy?: string
  /** a batch row's line */
  line?: number
}

type Seeded = Wanted & { seed: number }

function classRefs(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '')
}

function seedPolicy(value: string | undefined, seedGiven: boolean): SeedPolicy {
  const policy = value ?? (seedGiven ? 'increment' : DEFAULT_SEED_POLICY)
  if (policy !== 'fixed' && policy !== 'increment' && policy !== 'random') {
    throw new InvalidRequestError(
      '--seed-policy',
      `--seed-policy: must be fixed, increment or random, got "${policy}"`,
    )
  }
  return policy
}

function assignSeeds(wanted: readonly Wanted[], policy: SeedPolicy, base: number): Seeded[] {
  return wanted.map((w, i) => {
    if (w.seed !== undefined) return { ...w, seed: w.seed }
    if (policy === 'random') return { ...w, seed: randomSeed() }
    const seed = policy === 'fixed' ? base : base + i
    if (seed > SEED_MAX) throw new InvalidRequestError('--seed', `--seed: seed ${seed} exceeds ${SEED_MAX}`)
    return { ...w, seed }
  })
}

async function wantedImages(
  v: { class?: string[]; 'all-classes'?: boolean; batch?: string; count?: string },
  m: VarManifest,
  ctx: CliContext,
): Promise<{ wanted: Wanted[]; file?: string }> {
  const count = v.count === undefined ? 1 : numberFlag('--count', v.count, true)
  if (count < 1 || count > MAX_ITEMS)
    throw new InvalidRequestError(
      '--count',
      `--count: must be in [1, ${MAX_ITEMS}] (the bound on images per request, see limits.ts), got ${count}`,
    )
  const sources = [v.class && v.class.length > 0, v['all-classes'], v.batch !== undefined].filter(
    Boolean,
  ).length
  if (sources !== 1) {
    throw new InvalidRequestError('--class', 'give exactly one of --class, --all-classes or --batch')
  }
  if (v.batch !== undefined) {
    const batch = await readBatchFile(v.batch, m.class_names)
    for (const note of matchNotes(batch)) ctx.io.err(note)
    const wanted = batch.rows.flatMap((row) => {
      const classId = row.classId
      // readBatchFile throws on any row without a class, so this only guards the types
      if (classId === undefined)
        throw new InvalidRequestError('--batch', `${batch.file} line ${row.line}: no class`)
      return Array.from({ length: row.count }, (_, i): Wanted => ({
        // a spread category: the row's images take its classes in turn
        classId: row.classIds?.[i % row.classIds.length] ?? classId,
        line: row.line,
        ...(row.seed !== undefined ? { seed: row.seed + i } : {}),
        ...(row.strategy !== undefined ? { strategy: row.strategy } : {}),
      }))
    })
    return { wanted, file: batch.file }
  }
  const ids = v['all-classes']
    ? m.class_names.map((_, i) => i)
    : classRefs(v.class ?? []).map((ref) => resolveClass(ref, m.class_names, '--class'))
  if (ids.length === 0) throw new InvalidRequestError('--class', '--class: give at least one class')
  return { wanted: ids.flatMap((classId) => Array.from({ length: count }, () => ({ classId }))) }
}

/** The images run with one strategy: one host call each, in the order the kinds first appear. */
interface Part {
  readonly strategy: StrategyConfig
  readonly items: { classId: number; seed: number }[]
  /** positions of the part's images among all images */
  readonly indices: number[]
}

/**
 * Groups the images by strategy, as the studio queues a batch file: a row's strategy runs with the
 * flags' knobs when it is --strategy's kind, else with its own defaults (checked against the model).
 */
function strategyParts(
  wanted: readonly Seeded[],
  base: StrategyConfig,
  m: VarManifest,
  defaults: SearchKnobDefaults,
  file = '',
): Part[] {
  const parts = new Map<string, Part>()
  for (const [i, w] of wanted.entries()) {
    const kind = w.strategy ?? base.kind
    let part = parts.get(kind)
    if (!part) {
      let strategy = base
      if (kind !== base.kind) {
        try {
          strategy = validateForModel(
            parseStrategy(withSearchDefaults({ kind }, defaults)),
            m.patch_nums.length,
          )
        } catch (error) {
          if (!(error instanceof SettingsError)) throw error
          const why = error.issues.map((x) => `${x.path}: ${x.message}`).join('; ')
          throw new InvalidRequestError(
            `${file}:${w.line ?? 0}`,
            `${file} line ${w.line ?? 0}: strategy ${kind} does not fit this model with its defaults (${why})`,
            { cause: error },
          )
        }
      }
      part = { strategy, items: [], indices: [] }
      parts.set(kind, part)
    }
    part.items.push({ classId: w.classId, seed: w.seed })
    part.indices.push(i)
  }
  return [...parts.values()]
}

/** One summary per search scale over every image of a part, as the host makes them for one call. */
function partSearch(
  strategy: StrategyConfig,
  images: readonly GeneratedImage[],
  hint: SearchHint,
): SearchSummary[] {
  if (strategy.kind === 'baseline' || strategy.kind === 'best-of-n') return []
  return [...new Set(strategy.searchScales)].map((si) =>
    summarizeSearch(
      si,
      images.flatMap((img) => img.selections.filter((x) => x.si === si)),
      strategy,
      hint,
    ),
  )
}

/**
 * The batches' results as one run in the original order; each image keeps its strategy when the
 * parts differ. Timings are summed; the search is summarised over each part's images.
 */
function mergeBatches(
  done: readonly { part: number; result: GenerateResult; positions: readonly number[] }[],
  parts: readonly Part[],
  base: StrategyConfig,
  total: number,
  hint: SearchHint,
): RunResult {
  const first = done[0].result
  const images: RunImage[] = new Array<RunImage>(total)
  const timings = { ...first.timings }
  for (const [n, { part, result, positions }] of done.entries()) {
    for (const [k, image] of result.images.entries()) {
      images[positions[k]] = parts.length > 1 ? { ...image, strategy: parts[part].strategy } : image
    }
    if (n === 0) continue
    for (const key of Object.keys(timings) as (keyof typeof timings)[]) timings[key] += result.timings[key]
  }
  const search = parts.flatMap((p, j) =>
    partSearch(
      p.strategy,
      done.filter((d) => d.part === j).flatMap((d) => d.result.images),
      hint,
    ),
  )
  return { ...first, images, strategy: base, timings, ...(search.length > 0 ? { search } : {}) }
}

/** Runs every check and reports all bad flags at once, not just the first. */
function allOrErrors<A, B, C>(a: () => A, b: () => B, c: () => C): [A, B, C] {
  const errors: InvalidRequestError[] = []
  const run = <T>(f: () => T): T | undefined => {
    try {
      return f()
    } catch (error) {
      if (!(error instanceof InvalidRequestError)) throw error
      errors.push(error)
      return undefined
    }
  }
  const out = [run(a), run(b), run(c)] as const
  const first = errors.at(0)
  if (first) throw new InvalidRequestError(first.field, errors.map((e) => e.message).join('\n'))
  return out as [A, B, C]
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
}

export async function generateCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...modelOptions,
      ...KNOB_OPTIONS,
      class: { type: 'string', multiple: true },
      'all-classes': { type: 'boolean' },
      batch: { type: 'string' },
      count: { type: 'string' },
      seed: { type: 'string' },
      'seed-policy': { type: 'string' },
      out: { type: 'string' },
      'no-metadata': { type: 'boolean' },
      'batch-size': { type: 'string' },
      'no-verify': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(GENERATE_HELP)
    return 0
  }
  const dir = await resolveModelDir(v)
  const manifest = await readManifest(dir)
  // the model's calibrated search defaults (or the paper's), used where no flag gives them
  // at the request's cfg and search scale (the nearest calibrated cfg); a bad --cfg is reported below
  const loaded = await loadCalibration(dir)
  const calibration = { ...loaded, defaults: requestDefaults(loaded, v, manifest) }
  // --dedup 0.86x: a multiple of the median codebook distance
  const relative = await resolveRelativeDedup(v, dir, manifest, calibration.record)
  if (relative.line) ctx.io.err(relative.line)
  const [strategy, sampling, device] = allOrErrors(
    () => strategyFromFlags(relative.values, manifest, calibration.defaults),
    () => samplingFromFlags(v, manifest),
    () => deviceFromFlags(v),
  )
  const { wanted, file } = await wantedImages(v, manifest, ctx)
  const baseSeed = v.seed === undefined ? 0 : numberFlag('--seed', v.seed, true)
  if (baseSeed < 0 || baseSeed > SEED_MAX) {
    throw new InvalidRequestError('--seed', `--seed: must be in [0, ${SEED_MAX}], got ${baseSeed}`)
  }
  const policy = seedPolicy(v['seed-policy'], v.seed !== undefined)
  const items = assignSeeds(wanted, policy, baseSeed)
  const parts = strategyParts(items, strategy, manifest, calibration.defaults, file)
  reportSearchDefaults(
    ctx,
    parts.map((p) => p.strategy),
    calibration.defaults,
    v,
  )
  const batchSize = v['batch-size'] === undefined ? 16 : numberFlag('--batch-size', v['batch-size'], true)
  // the request schema with the model's refinement, as the studio and the host check it
  for (const part of parts) {
    checkRequestFlags({ items: part.items, strategy: part.strategy, sampling, batchSize }, manifest)
  }
  const out = resolve(v.out ?? join('var-studio-out', timestamp()))

  const bar = new ProgressBar(ctx.progress, 'generate')
  const abort = new AbortController()
  const stop = (): void => {
    ctx.io.err('\nCancelling (press Ctrl+C again to quit at once)...')
    process.off('SIGINT', stop)
    abort.abort()
  }
  process.on('SIGINT', stop)
  const client: HostClient = ctx.client()
  try {
    // the weights must be the manifest's (as models verify and add require) before they are run
    await checkBeforeUse(ctx, dir, v['no-verify'] === true)
    // One host call per batch, each batch written as it finishes (RunWriter): a crash or Ctrl+C
    // keeps every finished image and a run.json saying how far the run got.
    const writer = new RunWriter(
      out,
      {
        manifest,
        seedPolicy: v.batch !== undefined ? 'batch' : policy,
        command: ['var-studio', 'generate', ...args],
        version: ctx.version,
        metadata: v['no-metadata'] !== true,
        searchDefaults: calibration.defaults,
      },
      items.length,
    )
    const batches = parts.flatMap((part, j) =>
      Array.from({ length: Math.ceil(part.items.length / batchSize) }, (_, b) => ({
        part: j,
        items: part.items.slice(b * batchSize, (b + 1) * batchSize),
        positions: part.indices.slice(b * batchSize, (b + 1) * batchSize),
      })),
    )
    const done: { part: number; result: GenerateResult; positions: readonly number[] }[] = []
    let before = 0
    try {
      for (const [n, batch] of batches.entries()) {
        const part = parts[batch.part]
        // One bar over every batch: images done before this batch, plus this batch's share.
        const label = `${parts.length > 1 ? `${part.strategy.kind} ` : ''}batch ${n + 1}/${batches.length}`
        const size = batch.items.length
        const result = await client.call(
          'generate',
          { dir, items: batch.items, device, sampling, strategy: part.strategy, batchSize },
          {
            signal: abort.signal,
            onProgress: (p) => {
              if (p.kind === 'load') {
                bar.update(before, items.length, p.message)
                return
              }
              const e: ScaleProgress = p
              const perBatch = e.scales * e.generations
              const step = e.generation * e.scales + e.si + 1
              const gen = e.generations > 1 ? ` gen ${e.generation + 1}/${e.generations}` : ''
              bar.update(
                before + (size * step) / perBatch,
                items.length,
                `${label}${gen} scale ${e.si + 1}/${e.scales}`,
              )
            },
          },
        )
        await writer.add(
          parts.length > 1
            ? { ...result, images: result.images.map((image) => ({ ...image, strategy: part.strategy })) }
            : result,
          batch.positions,
        )
        done.push({ part: batch.part, result, positions: batch.positions })
        before += size
      }
    } catch (error) {
      if (writer.written > 0) {
        const cancelled = abort.signal.aborted
        const reason = error instanceof Error ? error.message : String(error)
        await writer.stop(cancelled ? 'cancelled' : 'failed', reason)
        ctx.io.err(
          `${cancelled ? 'Cancelled' : 'Stopped'}: ${writer.written} of ${items.length} images were written to ${out} (run.json says which)`,
        )
      }
      throw error
    }
    bar.finish()
    const result = mergeBatches(done, parts, strategy, items.length, calibration.defaults)
    const written = await writer.finish(result)
    reportSearch(ctx, result.search)
    const p = result.provider
    ctx.io.err(
      `provider: ${p.provider}${p.fallbackNote ? ` (fallback: ${p.requested} could not be used)` : ''}`,
    )
    for (const a of p.attempts.filter((x) => !x.ok)) {
      ctx.io.err(`  ${a.provider} not used: ${(a.reason ?? 'failed').slice(0, 160)}`)
    }
    const t = result.timings
    ctx.io.err(
      `${result.images.length} images in ${(t.totalMs / 1000).toFixed(2)} s (model ${(t.modelMs / 1000).toFixed(2)} s, ` +
        `JavaScript ${(t.jsMs / 1000).toFixed(2)} s, load ${(t.loadMs / 1000).toFixed(2)} s)`,
    )
    for (const file of written.files) ctx.io.out(join(out, file))
    ctx.io.out(join(out, written.grid))
    ctx.io.out(join(out, written.record))
    return 0
  } finally {
    bar.finish()
    process.off('SIGINT', stop)
  }
}
