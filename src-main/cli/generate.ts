/**
 * `var-studio generate`: resolves classes, seeds and knobs here (so mistakes are reported before any
 * model is loaded), runs the request on the inference host with a progress bar, and writes the PNGs,
 * a labelled grid and run.json.
 */
import { randomInt } from 'node:crypto'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import { SEED_MAX } from '../../src-shared/engine/rng'
import type { ScaleProgress } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { readManifest } from '../storage/model-folder'
import { writeRun } from '../storage/run-output'
import { readBatchFile } from './batch'
import { resolveClass } from './classes'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import { deviceFromFlags, KNOB_OPTIONS, numberFlag, samplingFromFlags, strategyFromFlags } from './knobs'
import { ProgressBar } from './progress'

export const GENERATE_HELP = `Usage: var-studio generate [options]

What to generate (one of):
  --class C              class id or name; repeat or separate with commas
  --all-classes          every class of the model
  --batch FILE           CSV (header: class[,seed][,count]), YAML or JSON rows
  --count N              images per class (default 1)

Seeds:
  --seed S               first seed (default: random)
  --seed-policy P        fixed | increment | random (default: increment with --seed, else random);
                         random seeds are recorded in the PNGs and run.json

Strategy (default var-scaling):
  --strategy S           baseline | var-scaling | topk-only | randomk-only | best-of-n
  --search-scales 1,2    scale indices searched (default 1)
  --N 50  --k 10  --alpha 2.3  --dedup 1.8
  --final-pick density|rank|argmax   --kernel gaussian|exactMatch
  --legacy-progressive-nucleus       --pool-bandwidth

Sampling (defaults from the model): --cfg X  --top-k K  --top-p P
Device: --device auto|cuda|dml|coreml|webgpu|cpu  --device-id I  --fallback
Output: --out DIR (default ./var-studio-out/<time>)  --no-metadata  --batch-size B (default 16)
Model: --model DIR|ID (default: the shipped model)  --models-dir DIR (repeatable)
`

type SeedPolicy = 'fixed' | 'increment' | 'random'

interface Wanted {
  classId: number
  seed?: number
}

function classRefs(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '')
}

function seedPolicy(value: string | undefined, seedGiven: boolean): SeedPolicy {
  const policy = value ?? (seedGiven ? 'increment' : 'random')
  if (policy !== 'fixed' && policy !== 'increment' && policy !== 'random') {
    throw new InvalidRequestError(
      '--seed-policy',
      `--seed-policy: must be fixed, increment or random, got "${policy}"`,
    )
  }
  return policy
}

function assignSeeds(
  wanted: readonly Wanted[],
  policy: SeedPolicy,
  base: number,
): { classId: number; seed: number }[] {
  return wanted.map((w, i) => {
    if (w.seed !== undefined) return { classId: w.classId, seed: w.seed }
    if (policy === 'random') return { classId: w.classId, seed: randomInt(0, 2 ** 32) }
    const seed = policy === 'fixed' ? base : base + i
    if (seed > SEED_MAX) throw new InvalidRequestError('--seed', `--seed: seed ${seed} exceeds ${SEED_MAX}`)
    return { classId: w.classId, seed }
  })
}

async function wantedImages(
  v: { class?: string[]; 'all-classes'?: boolean; batch?: string; count?: string },
  m: VarManifest,
): Promise<Wanted[]> {
  const count = v.count === undefined ? 1 : numberFlag('--count', v.count, true)
  if (count < 1 || count > 10_000)
    throw new InvalidRequestError('--count', `--count: must be in [1, 10000], got ${count}`)
  const sources = [v.class && v.class.length > 0, v['all-classes'], v.batch !== undefined].filter(
    Boolean,
  ).length
  if (sources !== 1) {
    throw new InvalidRequestError('--class', 'give exactly one of --class, --all-classes or --batch')
  }
  if (v.batch !== undefined) {
    const rows = await readBatchFile(v.batch)
    return rows.flatMap((row) => {
      const classId = resolveClass(row.class, m.class_names, `line ${row.line}: class`)
      return Array.from({ length: row.count }, (_, i) =>
        row.seed === undefined ? { classId } : { classId, seed: row.seed + i },
      )
    })
  }
  const ids = v['all-classes']
    ? m.class_names.map((_, i) => i)
    : classRefs(v.class ?? []).map((ref) => resolveClass(ref, m.class_names, '--class'))
  return ids.flatMap((classId) => Array.from({ length: count }, () => ({ classId })))
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
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(GENERATE_HELP)
    return 0
  }
  const dir = await resolveModelDir(v)
  const manifest = await readManifest(dir)
  const [strategy, sampling, device] = allOrErrors(
    () => strategyFromFlags(v, manifest),
    () => samplingFromFlags(v, manifest),
    () => deviceFromFlags(v),
  )
  const wanted = await wantedImages(v, manifest)
  const baseSeed = v.seed === undefined ? 0 : numberFlag('--seed', v.seed, true)
  if (baseSeed < 0 || baseSeed > SEED_MAX) {
    throw new InvalidRequestError('--seed', `--seed: must be in [0, ${SEED_MAX}], got ${baseSeed}`)
  }
  const policy = seedPolicy(v['seed-policy'], v.seed !== undefined)
  const items = assignSeeds(wanted, policy, baseSeed)
  const batchSize = v['batch-size'] === undefined ? 16 : numberFlag('--batch-size', v['batch-size'], true)
  if (batchSize < 1 || batchSize > 256) {
    throw new InvalidRequestError('--batch-size', `--batch-size: must be in [1, 256], got ${batchSize}`)
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
    const result = await client.call(
      'generate',
      { dir, items, device, sampling, strategy, batchSize },
      {
        signal: abort.signal,
        onProgress: (p) => {
          if (p.kind === 'load') {
            bar.update(0, 1, p.message)
            return
          }
          const e: ScaleProgress = p
          const perBatch = e.scales * e.generations
          const done = e.batch * perBatch + e.generation * e.scales + e.si + 1
          const gen = e.generations > 1 ? ` gen ${e.generation + 1}/${e.generations}` : ''
          bar.update(
            done,
            e.batches * perBatch,
            `batch ${e.batch + 1}/${e.batches}${gen} scale ${e.si + 1}/${e.scales}`,
          )
        },
      },
    )
    bar.finish()
    const written = await writeRun(out, result, {
      manifest,
      seedPolicy: v.batch !== undefined ? 'batch' : policy,
      command: ['var-studio', 'generate', ...args],
      version: ctx.version,
      metadata: v['no-metadata'] !== true,
    })
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
