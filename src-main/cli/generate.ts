/**
 * `var-studio generate`: resolves classes, seeds and knobs here (so mistakes are reported before any
 * model is loaded), runs the request on the inference host with a progress bar, and writes the PNGs,
 * a labelled grid and run.json.
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
import type { GenerateResult, ScaleProgress } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { readManifest } from '../storage/model-folder'
import { type RunResult, writeRun } from '../storage/run-output'
import { matchNotes, readBatchFile } from './batch'
import { checkBeforeUse } from './model-commands'
import { reportSearch, reportSearchDefaults, resolveRelativeDedup, withSearchDefaults } from './search-report'
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
                         of sneakers" is Sneaker); every match that is not an id or exact name is
                         printed with how it was read
  seed S                 the row's images get seeds S, S+1, ...; rows without one follow --seed
                         and --seed-policy
  count N                images of the row, 1-1000 (default 1); at most 10000 per file
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
        classId,
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

/** The parts' results as one run in the original order; each image keeps its strategy when they differ. */
function mergeParts(
  parts: readonly Part[],
  results: readonly GenerateResult[],
  base: StrategyConfig,
): RunResult {
  const [first, ...rest] = results
  if (rest.length === 0) return first
  const images: RunResult['images'][number][] = []
  for (const [j, part] of parts.entries()) {
    const result = results[j]
    for (const [k, image] of result.images.entries()) {
      images[part.indices[k]] = { ...image, strategy: result.strategy }
    }
  }
  const timings = { ...first.timings }
  for (const r of rest) {
    for (const key of Object.keys(timings) as (keyof typeof timings)[]) timings[key] += r.timings[key]
  }
  const search = results.flatMap((r) => r.search ?? [])
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
  const calibration = await loadCalibration(dir)
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
    const results: GenerateResult[] = []
    let before = 0
    for (const part of parts) {
      // One bar over every part: images done before this part, plus this part's share.
      const label = parts.length > 1 ? `${part.strategy.kind} ` : ''
      const size = part.items.length
      results.push(
        await client.call(
          'generate',
          {
            dir,
            items: part.items,
            device,
            sampling,
            strategy: part.strategy,
            batchSize,
          },
          {
            signal: abort.signal,
            onProgress: (p) => {
              if (p.kind === 'load') {
                bar.update(before, items.length, p.message)
                return
              }
              const e: ScaleProgress = p
              const perBatch = e.scales * e.generations
              const done = e.batch * perBatch + e.generation * e.scales + e.si + 1
              const gen = e.generations > 1 ? ` gen ${e.generation + 1}/${e.generations}` : ''
              bar.update(
                before + (size * done) / (e.batches * perBatch),
                items.length,
                `${label}batch ${e.batch + 1}/${e.batches}${gen} scale ${e.si + 1}/${e.scales}`,
              )
            },
          },
        ),
      )
      before += size
    }
    bar.finish()
    const result = mergeParts(parts, results, strategy)
    const written = await writeRun(out, result, {
      manifest,
      seedPolicy: v.batch !== undefined ? 'batch' : policy,
      command: ['var-studio', 'generate', ...args],
      version: ctx.version,
      metadata: v['no-metadata'] !== true,
      searchDefaults: calibration.defaults,
    })
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
