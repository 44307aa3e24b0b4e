/**
 * `var-studio eval`: n images per class for every strategy and every N, scored with the model's
 * classifier (class accuracy, Inception Score, FID against the Fashion-MNIST test set). Writes
 * eval.json, eval.csv and eval-chart.png (FID and IS against N, as in the paper's Figure 4).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import { SEED_MAX } from '../../src-shared/engine/rng'
import type { StrategyConfig, StrategyKind } from '../../src-shared/engine/strategies'
import {
  classAccuracy,
  frechetDistance,
  gaussianStats,
  inceptionScore,
  softmaxRows,
} from '../../src-shared/metrics/metrics'
import { writeChart } from '../eval/chart'
import { DEFAULT_TEST_IMAGES, referenceStats } from '../eval/reference'
import { readManifest } from '../storage/model-folder'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import { deviceFromFlags, numberFlag, samplingFromFlags, strategyFromFlags } from './knobs'
import { ProgressBar } from './progress'

export const EVAL_HELP = `Usage: var-studio eval [options]

  --per-class n          images per class for every strategy and N (default 20)
  --strategies LIST      default baseline,var-scaling,topk-only,randomk-only (best-of-n also works)
  --N LIST               candidates per search scale, e.g. 1,10,25,50 (default); the baseline ignores it
  --k K                  kept candidates (default min(10, N))  --search-scales 1,2 (default 1)
  --alpha A              var-scaling's density threshold (default from the engine, 2.3)
  --cfg X  --top-k K  --top-p P   sampling overrides (defaults from the model)
  --seed S               first seed (default 0); image i of every run uses seed S + i
  --out DIR              output folder (default ./var-studio-out/eval-<time>)
  --data FILE            Fashion-MNIST test images (default ${DEFAULT_TEST_IMAGES})
  --cache-dir DIR        where the test set's feature statistics are cached (default ~/.cache/var-studio)
  --device auto|cuda|dml|coreml|webgpu|cpu  --batch-size B (default 16)
  --model DIR|ID  --models-dir DIR

Writes eval.json, eval.csv (strategy, N, n_images, class_accuracy, IS, FID, seconds) and eval-chart.png.
IS uses one split; FID compares the classifier's feature Gaussians (few images give a biased, higher FID).
`

const DEFAULT_STRATEGIES = ['baseline', 'var-scaling', 'topk-only', 'randomk-only']
const KINDS: readonly StrategyKind[] = ['baseline', 'var-scaling', 'topk-only', 'randomk-only', 'best-of-n']

export interface EvalRow {
  readonly strategy: StrategyKind
  readonly N: number | null
  readonly n_images: number
  readonly class_accuracy: number
  readonly IS: number
  readonly FID: number
  readonly seconds: number
}

function list(flag: string, value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (items.length === 0) throw new InvalidRequestError(flag, `${flag}: must list at least one value`)
  return items
}

function cacheBase(): string {
  return (
    process.env.XDG_CACHE_HOME ??
    (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) ??
    join(homedir(), '.cache')
  )
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
}

const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '')

export function evalCsv(rows: readonly EvalRow[]): string {
  const head = 'strategy,N,n_images,class_accuracy,IS,FID,seconds'
  const lines = rows.map((r) =>
    [
      r.strategy,
      r.N ?? '',
      r.n_images,
      num(r.class_accuracy, 4),
      num(r.IS, 4),
      num(r.FID, 4),
      num(r.seconds, 2),
    ].join(','),
  )
  return `${[head, ...lines].join('\n')}\n`
}

export async function evalCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...modelOptions,
      'per-class': { type: 'string' },
      strategies: { type: 'string' },
      N: { type: 'string' },
      k: { type: 'string' },
      alpha: { type: 'string' },
      'search-scales': { type: 'string' },
      cfg: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      data: { type: 'string' },
      'cache-dir': { type: 'string' },
      device: { type: 'string' },
      'device-id': { type: 'string' },
      fallback: { type: 'boolean' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(EVAL_HELP)
    return 0
  }
  const dir = await resolveModelDir(v)
  const manifest = await readManifest(dir)
  if (!manifest.graphs.classifier) throw new StudioError(`${manifest.id} has no classifier: eval needs one`)
  const perClass = v['per-class'] === undefined ? 20 : numberFlag('--per-class', v['per-class'], true)
  if (perClass < 1 || perClass > 1000) {
    throw new InvalidRequestError('--per-class', `--per-class: must be in [1, 1000], got ${perClass}`)
  }
  const kinds = list('--strategies', v.strategies ?? DEFAULT_STRATEGIES.join(',')).map((s) => {
    if (!(KINDS as readonly string[]).includes(s)) {
      throw new InvalidRequestError(
        '--strategies',
        `--strategies: unknown strategy "${s}"; use ${KINDS.join(', ')}`,
      )
    }
    return s as StrategyKind
  })
  const Ns = [...new Set(list('--N', v.N ?? '1,10,25,50').map((s) => numberFlag('--N', s, true)))]
  for (const n of Ns) if (n < 1) throw new InvalidRequestError('--N', `--N: must be integers >= 1, got ${n}`)
  const baseSeed = v.seed === undefined ? 0 : numberFlag('--seed', v.seed, true)
  const total = perClass * manifest.num_classes
  if (baseSeed < 0 || baseSeed + total > SEED_MAX) {
    throw new InvalidRequestError('--seed', `--seed: must be in [0, ${SEED_MAX - total}], got ${baseSeed}`)
  }
  const batchSize = v['batch-size'] === undefined ? 16 : numberFlag('--batch-size', v['batch-size'], true)
  if (batchSize < 1 || batchSize > 256) {
    throw new InvalidRequestError('--batch-size', `--batch-size: must be in [1, 256], got ${batchSize}`)
  }
  const sampling = samplingFromFlags(v, manifest)
  const device = deviceFromFlags(v)
  // Every (strategy, N) run, validated before anything is generated.
  const runs: { kind: StrategyKind; N: number | null; strategy: StrategyConfig }[] = kinds.flatMap((kind) => {
    const ns: (number | null)[] = kind === 'baseline' ? [null] : Ns
    return ns.map((N) => {
      const flags: Record<string, string> = { strategy: kind }
      if (N !== null) flags.N = String(N)
      if (N !== null && kind !== 'best-of-n') {
        flags.k = v.k ?? String(Math.min(10, N))
        if (v['search-scales'] !== undefined) flags['search-scales'] = v['search-scales']
        if (v.alpha !== undefined) flags.alpha = v.alpha
      }
      return { kind, N, strategy: strategyFromFlags(flags, manifest) }
    })
  })
  const out = resolve(v.out ?? join('var-studio-out', `eval-${timestamp()}`))
  const data = resolve(v.data ?? DEFAULT_TEST_IMAGES)
  const cacheDir = resolve(v['cache-dir'] ?? join(cacheBase(), 'var-studio'))
  const log = (line: string): void => {
    ctx.progress.write(`${line}\n`)
  }

  const classes = manifest.class_names.map((_, i) => i)
  const items = classes.flatMap((classId) => Array.from({ length: perClass }, () => classId))
  const seeded = items.map((classId, i) => ({ classId, seed: baseSeed + i }))
  const client = ctx.client()
  const abort = new AbortController()
  const stop = (): void => {
    ctx.io.err('\nCancelling...')
    process.off('SIGINT', stop)
    abort.abort()
  }
  process.on('SIGINT', stop)
  try {
    const ref = await referenceStats({
      client,
      dir,
      manifest,
      device,
      data,
      cacheFile: join(cacheDir, `fid-ref-${manifest.id}.json`),
      log,
    })
    const rows: EvalRow[] = []
    let provider = ''
    for (const [ri, run] of runs.entries()) {
      const label = `eval ${ri + 1}/${runs.length} ${run.kind}${run.N === null ? '' : ` N=${run.N}`}`
      const bar = new ProgressBar(ctx.progress, label)
      const t0 = performance.now()
      const result = await client.call(
        'generate',
        { dir, items: seeded, device, sampling, strategy: run.strategy, batchSize },
        {
          signal: abort.signal,
          onProgress: (p) => {
            if (p.kind === 'load') return
            const perBatch = p.scales * p.generations
            bar.update(p.batch * perBatch + p.generation * p.scales + p.si + 1, p.batches * perBatch)
          },
        },
      )
      const seconds = (performance.now() - t0) / 1000
      bar.finish()
      provider = result.provider.provider
      const size = result.channels * result.width * result.height
      const pixels = new Float32Array(result.images.length * size)
      result.images.forEach((img, i) => {
        pixels.set(img.pixels, i * size)
      })
      const cls = await client.call(
        'classify',
        { dir, device, images: pixels, count: result.images.length },
        { signal: abort.signal },
      )
      const K = cls.numClasses
      const labels = result.images.map((img) => img.classId)
      const stats = gaussianStats(cls.features, cls.count, cls.featureDim)
      const row: EvalRow = {
        strategy: run.kind,
        N: run.N,
        n_images: cls.count,
        class_accuracy: classAccuracy(cls.logits, labels, K),
        IS: inceptionScore(softmaxRows(cls.logits, cls.count, K), cls.count, K),
        FID: frechetDistance(stats, ref),
        seconds,
      }
      rows.push(row)
      log(
        `${label}: accuracy ${row.class_accuracy.toFixed(3)}, IS ${row.IS.toFixed(3)}, FID ${row.FID.toFixed(3)}, ${seconds.toFixed(1)} s`,
      )
    }
    await mkdir(out, { recursive: true })
    const record = {
      format: 'var-studio-eval/1',
      version: ctx.version,
      command: ['var-studio', 'eval', ...args],
      model: { id: manifest.id, dir },
      provider,
      perClass,
      seeds: { first: baseSeed, last: baseSeed + total - 1 },
      sampling,
      strategies: runs.map((r) => ({ N: r.N, ...r.strategy })),
      reference: { source: ref.source, count: ref.count, featureDim: ref.dim },
      notes: 'IS: one split over all images. FID: Frechet distance between classifier feature Gaussians.',
      rows,
    }
    await writeFile(join(out, 'eval.json'), `${JSON.stringify(record, null, 2)}\n`)
    await writeFile(join(out, 'eval.csv'), evalCsv(rows))
    await writeChart(
      join(out, 'eval-chart.png'),
      rows.map((r) => ({ strategy: r.strategy, N: r.N ?? undefined, fid: r.FID, is: r.IS })),
      `${manifest.id}: ${perClass} images per class, ${total} per point, seeds ${baseSeed}..${baseSeed + total - 1}`,
    )
    for (const f of ['eval.csv', 'eval.json', 'eval-chart.png']) ctx.io.out(join(out, f))
    return 0
  } finally {
    process.off('SIGINT', stop)
  }
}
