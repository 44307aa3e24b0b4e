/**
 * `var-studio eval`: n images per class for every strategy (and every N and alpha), scored with the
 * model's classifier: class accuracy, Inception Score, FID against the Fashion-MNIST test set,
 * precision and recall (k-NN manifolds on the classifier features). Every strategy runs on the same
 * classes and seeds (so the same candidate draws: paired); bootstrap resamples of the image indices
 * give 95 % intervals for each metric and for the paired difference to the baseline. Beside every
 * difference stand two noise floors: the baseline on a second seed block, and the FID of n real test
 * images at the same n. Writes eval.json, eval.csv, eval.md and eval-chart.png.
 *
 * The strategy knobs come from the same option table as `generate` (knobs.ts); --strategy, --N and
 * --alpha take lists here.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import { SEED_MAX } from '../../src-shared/engine/rng'
import type { SearchSummary } from '../../src-shared/engine/search-summary'
import type { StrategyKind } from '../../src-shared/engine/strategies'
import {
  bootstrapIndices,
  gatherRows,
  type Interval,
  centredInterval,
} from '../../src-shared/metrics/bootstrap'
import { toUnitFloats } from '../../src-shared/metrics/idx'
import {
  frechetDistance,
  gaussianStats,
  type GaussianStats,
  softmaxRows,
} from '../../src-shared/metrics/metrics'
import { IS_SPLIT_SIZE, manifoldPrecisionRecall } from '../../src-shared/metrics/imagenet'
import { metricValues, type MetricValues } from '../../src-shared/metrics/values'
import type { VarManifest } from '../../src-shared/manifest'
import type { DeviceChoice } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { loadCalibration, searchDefaultsFor } from '../storage/calibration-file'
import { writeChart } from '../eval/chart'
import { type FeatureScorer, openFeatureScorer } from '../eval/feature-scorer'
import { writeNpz } from '../eval/npz'
import { evalProvenance, joinRuns, type LoadedShard, loadShards, shardCode } from '../eval/merge'
import { codeProvenance, modelProvenance } from '../eval/provenance'
import {
  type EvalRunSpec,
  generateParts,
  layoutOf,
  parseShard,
  SHARD_FORMAT,
  type ShardData,
  shardFileName,
  shardUnits,
  writeShard,
} from '../eval/shard'
import { rejectSlurmFlags, SLURM_OPTIONS, slurmSettings, writeSlurmJobs } from '../eval/slurm'
import { DEFAULT_TEST_IMAGES, readIdxImages, referenceStats } from '../eval/reference'
import { readManifest } from '../storage/model-folder'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import {
  deviceFromFlags,
  KNOB_OPTIONS,
  type KnobValues,
  numberFlag,
  samplingFromFlags,
  strategyFromFlags,
} from './knobs'
import { ProgressBar } from './progress'
import { requestDefaults, resolveRelativeDedup } from './search-report'

export const EVAL_HELP = `Usage: var-studio eval [options]

  --per-class n          images per class for every strategy, N and alpha (default 20)
  --strategy LIST        default baseline,var-scaling,topk-only,randomk-only (best-of-n also works;
                         --strategies is the same); the baseline always runs
  --N LIST               candidates per search scale, e.g. 1,10,25,50 (default 50); best-of-n's N too
  --alpha LIST           density thresholds, one run each (default: the model's calibrated alpha)
  --k K (default min(10, N))  --dedup D (or 0.86x: times the median codebook distance)
  --search-scales 1  --final-pick ...  --kernel ...
  --legacy-progressive-nucleus  --pool-bandwidth   as for generate; alpha, dedup and the search
                         scales default to the model's calibration (var-studio calibrate), else the paper's
  --cfg X  --top-k K  --top-p P   sampling overrides (defaults from the model)
  --seed S               first seed (default 0); image i of every run uses seed S + i, the second
                         baseline block S + n + i
  --bootstrap B          bootstrap resamples for the 95 % intervals (default 100; 0 turns them off)
  --no-noise             skip the noise floors (second baseline block, real test images)
  --merge A.json,B.json  print one table of eval.json files of the same seeds and sampling (the
                         search rows of B beside A's, judged against A's noise floors)
  --out DIR              output folder (default ./var-studio-out/eval-<time>)
  --shard i/n            evaluate only shard i (0..n-1) of the work (whole generation batches of every
                         run) and write DIR/shard-i-of-n.json; join the n shards with
                         var-studio eval merge DIR (same numbers as the unsharded run)
  --slurm --shards n --slurm-partition P --slurm-time T --slurm-cpus C --slurm-mem M [--slurm-gpus G]
                         [--submit]   write a Slurm array job (one shard per task) and a merge job into
                         DIR/slurm; --submit queues both with sbatch (the merge after every task)
  --data FILE            Fashion-MNIST test images (default ${DEFAULT_TEST_IMAGES})
  --cache-dir DIR        where the test set's feature statistics are cached (default ~/.cache/var-studio)
  --feature-net FILE.onnx  ImageNet-grade metrics: score with this feature network (an Inception-v3
                         exported to ONNX: float32 [batch, 3, H, W] RGB in [0, 1] in; a pooled [batch, D]
                         output and optional [batch, 1000|1008] logits out) instead of the model's
                         classifier (no accuracy then); works for models without one. Needs --reference
  --reference FILE.npz|DIR  the evaluators' reference batch (mu, sigma; arr_0 images give precision and
                         recall) or a folder of PNG/JPEG images (measured once, cached in --cache-dir)
  --save-samples         with --feature-net: also write samples-<run>-<first image>.npz per generation
                         call: arr_0 (uint8 [n, H, W, 3], the evaluators' sample batch), features, logits
  --device auto|cuda|dml|coreml|webgpu|cpu  --batch-size B (default 16)
  --model DIR|ID  --models-dir DIR

Writes eval.json, eval.csv, eval.md (the table with intervals) and eval-chart.png. IS uses one split;
FID compares the classifier's feature Gaussians (few images give a biased, higher FID: compare with the
real-image floor at the same n). A difference whose interval holds 0 is reported "within noise".
`

const DEFAULT_STRATEGIES = ['baseline', 'var-scaling', 'topk-only', 'randomk-only']
const KINDS: readonly StrategyKind[] = ['baseline', 'var-scaling', 'topk-only', 'randomk-only', 'best-of-n']
const SEARCH = new Set<StrategyKind>(['var-scaling', 'topk-only', 'randomk-only'])
/** Knob flags a search strategy takes as given (single values); N and alpha are the lists. */
const SEARCH_FLAGS = [
  'dedup',
  'search-scales',
  'final-pick',
  'kernel',
  'legacy-progressive-nucleus',
  'pool-bandwidth',
] as const

export interface Metric {
  readonly value: number
  readonly ci?: Interval
}

export interface EvalRow {
  readonly label: string
  readonly strategy: StrategyKind | 'real'
  readonly N: number | null
  readonly alpha: number | null
  readonly dedup: number | null
  /** 1: seeds S.., 2: the baseline's second block S + n.., 0: real test images */
  readonly block: number
  readonly n_images: number
  readonly class_accuracy: Metric
  readonly IS: Metric
  readonly FID: Metric
  readonly precision: number
  readonly recall: number
  /** paired difference to the baseline (row minus baseline); absent for the baseline itself */
  readonly diff?: { readonly class_accuracy: Metric; readonly IS: Metric; readonly FID: Metric }
  /** "within noise" or the metrics whose interval excludes 0 */
  readonly verdict: string
  readonly seconds: number
  readonly secondsPerImage: number
  readonly topkShare: number | null
  readonly keptMean: number | null
  readonly notes: readonly string[]
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

const num = (v: number | null | undefined, digits: number): string =>
  v !== null && v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : ''

const CSV_HEAD = [
  'label',
  'strategy',
  'N',
  'alpha',
  'dedup',
  'block',
  'n_images',
  'class_accuracy',
  'acc_lo',
  'acc_hi',
  'IS',
  'IS_lo',
  'IS_hi',
  'FID',
  'FID_lo',
  'FID_hi',
  'precision',
  'recall',
  'd_acc',
  'd_acc_lo',
  'd_acc_hi',
  'd_IS',
  'd_IS_lo',
  'd_IS_hi',
  'd_FID',
  'd_FID_lo',
  'd_FID_hi',
  'verdict',
  'seconds_per_image',
  'topk_share',
  'kept_mean',
]

const cells = (m: Metric | undefined, digits: number): string[] => [
  num(m?.value, digits),
  num(m?.ci?.lo, digits),
  num(m?.ci?.hi, digits),
]

export function evalCsv(rows: readonly EvalRow[]): string {
  const lines = rows.map((r) =>
    [
      r.label,
      r.strategy,
      r.N ?? '',
      r.alpha ?? '',
      r.dedup ?? '',
      r.block,
      r.n_images,
      ...cells(r.class_accuracy, 4),
      ...cells(r.IS, 4),
      ...cells(r.FID, 4),
      num(r.precision, 4),
      num(r.recall, 4),
      ...cells(r.diff?.class_accuracy, 4),
      ...cells(r.diff?.IS, 4),
      ...cells(r.diff?.FID, 4),
      r.verdict,
      num(r.secondsPerImage, 4),
      num(r.topkShare, 3),
      num(r.keptMean, 2),
    ].join(','),
  )
  return `${[CSV_HEAD.join(','), ...lines].join('\n')}\n`
}

const show = (m: Metric | undefined, digits: number, signed = false): string => {
  if (!m || !Number.isFinite(m.value)) return ''
  const f = (x: number): string => (signed && x > 0 ? '+' : '') + x.toFixed(digits)
  return m.ci && Number.isFinite(m.ci.lo) ? `${f(m.value)} [${f(m.ci.lo)}, ${f(m.ci.hi)}]` : f(m.value)
}

/** The table as Markdown, intervals in brackets (95 % bootstrap). */
export function evalMarkdown(rows: readonly EvalRow[]): string {
  const head =
    '| run | n | accuracy | IS | FID | precision / recall | Δ accuracy | Δ IS | Δ FID | vs baseline | Top-k / kept | s per image |'
  const rule = '|---|---|---|---|---|---|---|---|---|---|---|---|'
  const lines = rows.map((r) =>
    [
      r.label,
      r.n_images,
      show(r.class_accuracy, 3),
      show(r.IS, 2),
      show(r.FID, 2),
      r.strategy === 'real' || !Number.isFinite(r.precision)
        ? ''
        : `${num(r.precision, 3)} / ${num(r.recall, 3)}`,
      show(r.diff?.class_accuracy, 3, true),
      show(r.diff?.IS, 2, true),
      show(r.diff?.FID, 2, true),
      r.verdict,
      r.topkShare === null ? '' : `${Math.round(r.topkShare * 100)} % / ${num(r.keptMean, 1)}`,
      r.strategy === 'real' ? '' : num(r.secondsPerImage, 3),
    ].join(' | '),
  )
  return `${[head, rule, ...lines.map((l) => `| ${l} |`)].join('\n')}\n`
}

const METRICS = ['class_accuracy', 'IS', 'FID'] as const
const METRIC_NAMES = { class_accuracy: 'accuracy', IS: 'IS', FID: 'FID' } as const

/**
 * The verdict of every difference to the baseline. A difference is beyond noise only when its paired
 * interval excludes 0 AND it is larger than the gap between the two baseline seed blocks for that
 * metric (the bootstrap resamples images of one seed block; it does not see how much a metric moves
 * with the seeds, which the second block measures). Without a second block only the interval counts.
 */
export function applyNoiseVerdicts(rows: readonly EvalRow[], intervals = true): EvalRow[] {
  const block2 = rows.find((r) => r.strategy === 'baseline' && r.block === 2)
  const gap = (m: (typeof METRICS)[number]): number => Math.abs(block2?.diff?.[m].value ?? 0)
  return rows.map((r) => {
    if (!r.diff || !intervals) return r
    if (r === block2) {
      const gaps = METRICS.map(
        (m) => `${METRIC_NAMES[m]} ${r.diff?.[m].value.toFixed(m === 'class_accuracy' ? 3 : 2)}`,
      )
      return { ...r, verdict: `noise: the seed-block gap (${gaps.join(', ')})` }
    }
    const beyond = METRICS.filter((m) => {
      const d = r.diff?.[m]
      const ci = d?.ci
      return d !== undefined && ci !== undefined && (ci.lo > 0 || ci.hi < 0) && Math.abs(d.value) > gap(m)
    })
    return {
      ...r,
      verdict:
        beyond.length === 0
          ? 'within noise'
          : `beyond noise: ${beyond.map((m) => METRIC_NAMES[m]).join(', ')}`,
    }
  })
}

interface EvalRecord {
  readonly format: string
  readonly seeds: { readonly first: number; readonly last: number }
  readonly sampling: unknown
  readonly rows: EvalRow[]
}

/**
 * One table of several eval.json files of the same seeds and sampling (the baseline is then the same
 * images in each): every row of the first, and the search rows of the others, judged together.
 */
export async function mergedTable(files: readonly string[]): Promise<string> {
  const records: EvalRecord[] = []
  for (const f of files) {
    const json = JSON.parse(await readFile(f, 'utf8')) as EvalRecord
    if (json.format !== 'var-studio-eval/2') throw new StudioError(`${f}: not an eval.json of this version`)
    records.push(json)
  }
  const first = records.at(0)
  const rest = records.slice(1)
  if (!first) throw new InvalidRequestError('--merge', '--merge: list at least one eval.json')
  const key = (r: EvalRecord): string => JSON.stringify([r.seeds.first, r.seeds.last, r.sampling])
  const rows = [...first.rows]
  for (const [i, r] of rest.entries()) {
    if (key(r) !== key(first)) {
      throw new InvalidRequestError(
        '--merge',
        `--merge: ${files[i + 1] ?? ''} has other seeds or sampling than ${files[0] ?? ''}`,
      )
    }
    const at = rows.findIndex((x) => x.block !== 1)
    rows.splice(
      at < 0 ? rows.length : at,
      0,
      ...r.rows.filter((x) => x.block === 1 && x.strategy !== 'baseline'),
    )
  }
  return evalMarkdown(applyNoiseVerdicts(rows))
}

type Run = EvalRunSpec

interface Scored {
  readonly run: Run
  /** false when a feature network scored the images (no classifier: accuracy is not measured) */
  readonly hasAccuracy: boolean
  /** IS over splits of 5000 as the ImageNet evaluators compute it (feature network), else one split */
  readonly splitIs: boolean
  readonly n: number
  readonly K: number
  readonly dim: number
  readonly features: Float32Array
  readonly probs: Float64Array
  /** 1 where the classifier's argmax is the image's class */
  readonly correct: Uint8Array
  readonly seconds: number
  readonly search: readonly SearchSummary[]
}

/** [n, C, H, W] floats in [0, 1] to [n, H, W, 3] bytes (grey repeated), as the evaluators store samples. */
function toNhwc8(pixels: Float32Array, n: number, C: number, H: number, W: number): Uint8Array {
  const out = new Uint8Array(n * H * W * 3)
  for (let i = 0; i < n; i++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++) {
          const v = pixels[((i * C + (C === 1 ? 0 : c)) * H + y) * W + x] ?? 0
          out[((i * H + y) * W + x) * 3 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255)
        }
  return out
}

function strategyLabel(run: Omit<Run, 'label'>): string {
  const s = run.strategy
  if (s.kind === 'baseline') return run.block === 2 ? 'baseline (seed block 2)' : 'baseline'
  if (s.kind === 'best-of-n') return `best-of-n N=${s.N}`
  return `${s.kind} N=${s.N} k=${s.k} alpha=${s.alpha} dedup=${s.dedup}`
}

/** Every run, validated before anything is generated. */
function planRuns(
  v: KnobValues & { strategies?: string },
  manifest: VarManifest,
  defaults: Parameters<typeof strategyFromFlags>[2],
  noNoise: boolean,
): Run[] {
  const asked = v.strategies ?? (typeof v.strategy === 'string' ? v.strategy : DEFAULT_STRATEGIES.join(','))
  const kinds = list('--strategy', asked).map((s) => {
    if (!(KINDS as readonly string[]).includes(s)) {
      throw new InvalidRequestError(
        '--strategies',
        `--strategies: unknown strategy "${s}"; use ${KINDS.join(', ')}`,
      )
    }
    return s as StrategyKind
  })
  if (!kinds.includes('baseline')) kinds.unshift('baseline')
  const Ns = [
    ...new Set(list('--N', typeof v.N === 'string' ? v.N : '50').map((s) => numberFlag('--N', s, true))),
  ]
  for (const n of Ns) if (n < 1) throw new InvalidRequestError('--N', `--N: must be integers >= 1, got ${n}`)
  const alphas: (string | undefined)[] = typeof v.alpha === 'string' ? list('--alpha', v.alpha) : [undefined]
  const runs: Run[] = []
  const add = (r: Omit<Run, 'label'>): void => {
    runs.push({ ...r, label: strategyLabel(r) })
  }
  for (const kind of [...new Set(kinds)]) {
    if (kind === 'baseline') {
      add({ kind, N: null, strategy: strategyFromFlags({ strategy: kind }, manifest), block: 1 })
      continue
    }
    for (const N of Ns) {
      if (kind === 'best-of-n') {
        add({ kind, N, strategy: strategyFromFlags({ strategy: kind, N: String(N) }, manifest), block: 1 })
        continue
      }
      for (const alpha of kind === 'var-scaling' ? alphas : [alphas[0]]) {
        const flags: KnobValues = {
          strategy: kind,
          N: String(N),
          k: typeof v.k === 'string' ? v.k : String(Math.min(10, N)),
        }
        if (alpha !== undefined) flags.alpha = alpha
        for (const f of SEARCH_FLAGS) if (v[f] !== undefined) flags[f] = v[f]
        add({ kind, N, strategy: strategyFromFlags(flags, manifest, defaults), block: 1 })
      }
    }
  }
  if (!noNoise) {
    add({
      kind: 'baseline',
      N: null,
      strategy: strategyFromFlags({ strategy: 'baseline' }, manifest),
      block: 2,
    })
  }
  return runs
}

interface RealSet {
  readonly features: Float32Array
  readonly count: number
  readonly dim: number
}

/** n real test images (a seeded choice), through the classifier. */
async function realImages(
  client: HostClient,
  dir: string,
  device: DeviceChoice,
  data: string,
  n: number,
  seed: number,
  signal: AbortSignal,
): Promise<RealSet> {
  const idx = await readIdxImages(data)
  const pick = bootstrapIndices(idx.count, 1, seed + 7919)[0] ?? new Int32Array(0)
  // without replacement: the first n distinct indices of a seeded stream
  const chosen: number[] = []
  const seen = new Set<number>()
  for (const i of pick) {
    if (!seen.has(i)) {
      seen.add(i)
      chosen.push(i)
      if (chosen.length === n) break
    }
  }
  for (let i = 0; chosen.length < n && i < idx.count; i++) if (!seen.has(i)) chosen.push(i)
  const size = idx.rows * idx.cols
  const all = toUnitFloats(idx.pixels)
  const images = new Float32Array(chosen.length * size)
  chosen.forEach((src, i) => {
    images.set(all.subarray(src * size, (src + 1) * size), i * size)
  })
  const out = await client.call('classify', { dir, device, images, count: chosen.length }, { signal })
  return { features: out.features, count: out.count, dim: out.featureDim }
}

const EVAL_OPTIONS = {
  ...modelOptions,
  ...KNOB_OPTIONS,
  ...SLURM_OPTIONS,
  strategies: { type: 'string' },
  'per-class': { type: 'string' },
  seed: { type: 'string' },
  bootstrap: { type: 'string' },
  'no-noise': { type: 'boolean' },
  merge: { type: 'string' },
  shard: { type: 'string' },
  out: { type: 'string' },
  data: { type: 'string' },
  'cache-dir': { type: 'string' },
  'batch-size': { type: 'string' },
  'feature-net': { type: 'string' },
  reference: { type: 'string' },
  'save-samples': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function evalCommand(args: string[], ctx: CliContext): Promise<number> {
  if (args[0] === 'merge') return evalMergeCommand(args.slice(1), ctx)
  const { values: v } = parseArgs({ args, options: EVAL_OPTIONS })
  if (v.help) {
    ctx.io.out(EVAL_HELP)
    return 0
  }
  if (v.merge !== undefined) {
    ctx.io.out(await mergedTable(list('--merge', v.merge)))
    return 0
  }
  const shard = v.shard === undefined ? { index: 0, count: 1 } : parseShard(v.shard)
  const slurm = v.slurm === true ? slurmSettings(v) : undefined
  if (!slurm) rejectSlurmFlags(v)
  if (slurm && v.shard !== undefined) {
    throw new InvalidRequestError(
      '--shard',
      "--shard: the Slurm array sets each task's shard; use --shards n",
    )
  }
  if ((v.shard !== undefined || slurm) && v.out === undefined) {
    throw new InvalidRequestError(
      '--out',
      `${slurm ? '--slurm' : '--shard'}: give --out DIR, the folder that collects the shards and the result`,
    )
  }
  const dir = await resolveModelDir(v)
  const manifest = await readManifest(dir)
  const featureNet = v['feature-net']
  const referenceArg = v.reference
  if ((featureNet === undefined) !== (referenceArg === undefined)) {
    throw new InvalidRequestError(
      featureNet === undefined ? '--reference' : '--feature-net',
      '--feature-net and --reference go together (the network and the reference statistics it is compared with)',
    )
  }
  if (!manifest.graphs.classifier && featureNet === undefined) {
    throw new StudioError(
      `${manifest.id} has no classifier: eval needs one, or a feature network and reference statistics (--feature-net FILE.onnx --reference FILE.npz|DIR)`,
    )
  }
  const perClass = v['per-class'] === undefined ? 20 : numberFlag('--per-class', v['per-class'], true)
  if (perClass < 1 || perClass > 1000) {
    throw new InvalidRequestError('--per-class', `--per-class: must be in [1, 1000], got ${perClass}`)
  }
  const noNoise = v['no-noise'] === true
  const loaded = await loadCalibration(dir)
  // the calibrated row at the request's cfg and search scale (the nearest calibrated cfg)
  const calibration = { ...loaded, defaults: requestDefaults(loaded, v, manifest) }
  if (calibration.defaults.warning) ctx.io.err(`warning: ${calibration.defaults.warning}`)
  const relative = await resolveRelativeDedup(v, dir, manifest, calibration.record)
  if (relative.line) ctx.progress.write(`${relative.line}\n`)
  const runs = planRuns(relative.values, manifest, calibration.defaults, noNoise)
  const total = perClass * manifest.num_classes
  const baseSeed = v.seed === undefined ? 0 : numberFlag('--seed', v.seed, true)
  if (baseSeed < 0 || baseSeed + 2 * total > SEED_MAX) {
    throw new InvalidRequestError(
      '--seed',
      `--seed: must be in [0, ${SEED_MAX - 2 * total}], got ${baseSeed}`,
    )
  }
  const B = v.bootstrap === undefined ? 100 : numberFlag('--bootstrap', v.bootstrap, true)
  if (B < 0 || B > 10_000)
    throw new InvalidRequestError('--bootstrap', `--bootstrap: must be in [0, 10000], got ${B}`)
  const batchSize = v['batch-size'] === undefined ? 16 : numberFlag('--batch-size', v['batch-size'], true)
  if (batchSize < 1 || batchSize > 256) {
    throw new InvalidRequestError('--batch-size', `--batch-size: must be in [1, 256], got ${batchSize}`)
  }
  const sampling = samplingFromFlags(v, manifest)
  const device = deviceFromFlags(v)
  const out = resolve(v.out ?? join('var-studio-out', `eval-${timestamp()}`))
  const data = resolve(v.data ?? DEFAULT_TEST_IMAGES)
  const cacheDir = resolve(v['cache-dir'] ?? join(cacheBase(), 'var-studio'))
  const log = (line: string): void => {
    ctx.progress.write(`${line}\n`)
  }
  const layout = layoutOf(runs.length, total, batchSize, slurm ? slurm.shards : shard.count)
  if (layout.shards > layout.units) {
    throw new InvalidRequestError(
      slurm ? '--shards' : '--shard',
      `${slurm ? '--shards' : '--shard'}: ${layout.shards} shards for ${layout.units} work units ` +
        `(${runs.length} runs x ${layout.units / runs.length} batches of ${batchSize}); use at most ${layout.units} shards or a smaller --batch-size`,
    )
  }
  if (slurm) {
    return writeSlurmJobs(
      { args, options: EVAL_OPTIONS, settings: slurm, out, modelDir: dir, data, cacheDir },
      ctx.io,
    )
  }
  if (runs.some((r) => SEARCH.has(r.kind))) log(`search defaults: ${calibration.defaults.source}`)

  const classes = manifest.class_names.map((_, i) => i)
  const classOf = classes.flatMap((classId) => Array.from({ length: perClass }, () => classId))
  const client = ctx.client()
  const abort = new AbortController()
  const stop = (): void => {
    ctx.io.err('\nCancelling...')
    process.off('SIGINT', stop)
    abort.abort()
  }
  process.on('SIGINT', stop)
  try {
    const lead = shard.index === 0
    const scorer: FeatureScorer | undefined =
      featureNet === undefined || referenceArg === undefined
        ? undefined
        : await openFeatureScorer({
            client,
            featureNet,
            reference: referenceArg,
            device,
            imageSize: manifest.image_size,
            cacheDir,
            // passes of the generation batch, as the classifier's, so every shard layout sees the same passes
            batchSize,
            log,
            signal: abort.signal,
            withReference: lead,
          })
    const scoredRef = scorer?.reference
    const ref = scorer
      ? scoredRef && { ...scoredRef.stats, count: scoredRef.count, source: scoredRef.source }
      : lead
        ? await referenceStats({
            client,
            dir,
            manifest,
            device,
            data,
            cacheDir,
            log,
          })
        : undefined
    const { parts, provider } = await generateParts(shardUnits(layout, shard.index), {
      client,
      dir,
      device,
      sampling,
      batchSize,
      runs,
      classOf,
      seedOf: (run, i) => baseSeed + (run.block === 2 ? total : 0) + i,
      hintOf: (run) => {
        const s = run.strategy
        if (s.kind === 'baseline' || s.kind === 'best-of-n') return undefined
        const h = searchDefaultsFor(calibration, { cfg: sampling.cfg, searchScale: s.searchScales[0] })
        return { alpha: h.alpha, dedup: h.dedup, from: h.from }
      },
      signal: abort.signal,
      progress: (label) => new ProgressBar(ctx.progress, label),
      log,
      ...(scorer
        ? {
            score: async (pixels, count, { C, H, W }, unit) => {
              const s = await scorer.score(pixels, count, C, H, W)
              if (v['save-samples'] === true) {
                const file = join(out, `samples-${unit.run + 1}-${unit.start}.npz`)
                await mkdir(out, { recursive: true })
                await writeNpz(file, {
                  arr_0: { shape: [count, H, W, 3], dtype: 'uint8', data: toNhwc8(pixels, count, C, H, W) },
                  features: { shape: [count, s.featureDim], dtype: 'float32', data: s.features },
                  logits: { shape: [count, s.numClasses], dtype: 'float32', data: s.logits },
                })
                log(`samples: ${file}`)
              }
              return s
            },
          }
        : {}),
    })
    const real = scorer
      ? scoredRef?.features && {
          count: scoredRef.count,
          dim: scorer.featureDim,
          features: scoredRef.features,
        }
      : lead && !noNoise
        ? await realImages(client, dir, device, data, total, baseSeed, abort.signal)
        : undefined
    const record: ShardData = {
      format: SHARD_FORMAT,
      shard,
      model: await modelProvenance(dir, manifest),
      code: codeProvenance(ctx.version),
      settings: {
        perClass,
        numClasses: manifest.num_classes,
        sampling,
        searchDefaults: calibration.defaults,
        runs,
        bootstrap: { resamples: B, level: 0.95, seed: baseSeed + 1 },
        noNoise,
        ...(scorer
          ? {
              scoring: {
                kind: 'feature-net' as const,
                network: basename(scorer.network.file),
                networkBytes: scorer.networkBytes,
                featuresOutput: scorer.network.featuresOutput,
                logitsOutput: scorer.network.logitsOutput,
                featureDim: scorer.featureDim,
                numClasses: scorer.numClasses,
                reference: basename(resolve(referenceArg ?? '')),
              },
            }
          : {}),
      },
      seeds: { first: baseSeed, last: baseSeed + total - 1, secondBlock: noNoise ? null : baseSeed + total },
      layout,
      provider,
      command: ['var-studio', 'eval', ...args],
      paths: { modelDir: dir, data },
      parts,
      ...(ref
        ? { reference: { source: ref.source, count: ref.count, dim: ref.dim, mean: ref.mean, cov: ref.cov } }
        : {}),
      ...(real ? { real } : {}),
    }
    await mkdir(out, { recursive: true })
    if (v.shard !== undefined) {
      const file = join(out, shardFileName(shard))
      await writeShard(file, record)
      ctx.io.out(file)
      return 0
    }
    await writeEvaluation([{ file: '', data: record }], out, ctx, log)
    return 0
  } finally {
    process.off('SIGINT', stop)
  }
}

export const EVAL_MERGE_HELP = `Usage: var-studio eval merge DIR|FILE... [--out DIR]

Joins the shard records written by eval --shard i/n (shard-i-of-n.json, from folders or files) and
scores them: the same eval.json, eval.csv, eval.md and eval-chart.png as the unsharded run, bootstrap
included. Refuses a missing, duplicated, truncated or foreign shard (other model hashes, settings,
seeds or layout) by name. --out defaults to the folder above the first shard folder (or the
folder of the first shard file).
`

async function evalMergeCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (v.help) {
    ctx.io.out(EVAL_MERGE_HELP)
    return 0
  }
  const shards = await loadShards(positionals)
  // the folder above a shard folder (or beside a shard file)
  const out = resolve(v.out ?? dirname(resolve(positionals.at(0) ?? '.')))
  const versions = shardCode(shards.map((s) => s.data))
  if (versions.length > 1) {
    ctx.io.err(
      `warning: the shards ran on ${versions.length} code versions: ${versions.map((c) => `${c.version} ${c.commit}`).join(', ')}`,
    )
  }
  await mkdir(out, { recursive: true })
  await writeEvaluation(
    shards,
    out,
    ctx,
    (line) => {
      ctx.progress.write(`${line}\n`)
    },
    ['var-studio', 'eval', 'merge', ...args],
  )
  return 0
}

/** Scores the joined shards (one for an unsharded run) and writes eval.json, .csv, .md and the chart. */
async function writeEvaluation(
  shards: readonly LoadedShard[],
  out: string,
  ctx: CliContext,
  log: (line: string) => void,
  mergeCommand?: readonly string[],
): Promise<void> {
  const lead = shards.at(0)?.data
  if (!lead) throw new StudioError('no shards to score')
  const { settings, seeds, layout } = lead
  const B = settings.bootstrap.resamples
  const baseSeed = seeds.first
  const total = layout.imagesPerRun
  const refPart = lead.reference
  if (!refPart) throw new StudioError(`${shards.at(0)?.file ?? 'shard 0'}: carries no reference statistics`)
  const ref: GaussianStats = refPart
  const real = lead.real
  const scoring = settings.scoring
  const joined = joinRuns(shards.map((s) => s.data))
  const scored: Scored[] = settings.runs.map((run, ri) => {
    const j = joined.at(ri)
    if (!j) throw new StudioError(`run ${run.label} is missing from the shards`)
    const K = j.numClasses
    const probs = softmaxRows(j.logits, j.n, K)
    const correct = new Uint8Array(j.n)
    j.labels.forEach((label, i) => {
      let best = 0
      for (let c = 1; c < K; c++) if ((probs[i * K + c] ?? 0) > (probs[i * K + best] ?? 0)) best = c
      correct[i] = best === label ? 1 : 0
    })
    return {
      run,
      hasAccuracy: !scoring,
      splitIs: scoring !== undefined,
      n: j.n,
      K,
      dim: j.featureDim,
      features: j.features,
      probs,
      correct,
      seconds: j.seconds,
      search: j.search,
    }
  })
  const providers = [...new Set(shards.map((s) => s.data.provider))]
  // Bootstrap: the same resamples of image index i for every run (paired by seed and class).
  log(`bootstrap: ${B} resamples of ${total} images per run`)
  const resamples = bootstrapIndices(total, B, baseSeed + 1)
  const baseline = scored.find((s) => s.run.kind === 'baseline' && s.run.block === 1)
  if (!baseline) throw new StudioError('the baseline did not run')
  const perResample = (s: Scored): MetricValues[] => resamples.map((idx) => metricValues(s, ref, idx))
  const baseValues = perResample(baseline)
  // with a feature network `real` holds the reference images' features (precision / recall only)
  const realScored: Scored | undefined =
    real && !scoring
      ? {
          run: {
            label: 'real test images',
            kind: 'baseline',
            N: null,
            strategy: baseline.run.strategy,
            block: 0,
          },
          hasAccuracy: false,
          splitIs: false,
          n: real.count,
          K: 0,
          dim: real.dim,
          features: real.features,
          probs: new Float64Array(0),
          correct: new Uint8Array(0),
          seconds: 0,
          search: [],
        }
      : undefined
  const rows: EvalRow[] = []
  const interval = (point: number, xs: number[]): Interval | undefined =>
    B > 0 ? centredInterval(point, xs) : undefined
  // the baseline's point estimate once: at ImageNet sizes each FID costs minutes
  const basePoint = metricValues(baseline, ref, undefined)
  for (const s of scored) {
    const isBase = s === baseline
    const point = isBase ? basePoint : metricValues(s, ref, undefined)
    const values = isBase ? baseValues : perResample(s)
    const paired = (key: keyof MetricValues): Metric => {
      const value = point[key] - basePoint[key]
      const ci = interval(
        value,
        values.map((x, b) => x[key] - (baseValues[b]?.[key] ?? 0)),
      )
      return { value, ...(ci ? { ci } : {}) }
    }
    const diff = isBase
      ? undefined
      : { class_accuracy: paired('accuracy'), IS: paired('IS'), FID: paired('FID') }
    const differs = diff
      ? (['class_accuracy', 'IS', 'FID'] as const).filter((m) => {
          const ci = diff[m].ci
          return ci !== undefined && (ci.lo > 0 || ci.hi < 0)
        })
      : []
    const pr = !real
      ? { precision: Number.NaN, recall: Number.NaN }
      : manifoldPrecisionRecall(real.features, real.count, s.features, s.n, s.dim)
    const search = s.search.at(0)
    const strategy = s.run.strategy
    const accCi = interval(
      point.accuracy,
      values.map((x) => x.accuracy),
    )
    const isCi = interval(
      point.IS,
      values.map((x) => x.IS),
    )
    const fidCi = interval(
      point.FID,
      values.map((x) => x.FID),
    )
    rows.push({
      label: s.run.label,
      strategy: s.run.kind,
      N: s.run.N,
      alpha: 'alpha' in strategy ? strategy.alpha : null,
      dedup: 'dedup' in strategy ? strategy.dedup : null,
      block: s.run.block,
      n_images: s.n,
      class_accuracy: {
        value: point.accuracy,
        ...(accCi ? { ci: { lo: Math.max(0, accCi.lo), hi: Math.min(1, accCi.hi) } } : {}),
      },
      IS: { value: point.IS, ...(isCi ? { ci: isCi } : {}) },
      FID: { value: point.FID, ...(fidCi ? { ci: fidCi } : {}) },
      precision: pr.precision,
      recall: pr.recall,
      ...(diff ? { diff } : {}),
      verdict: isBase
        ? 'reference'
        : B === 0
          ? ''
          : differs.length === 0
            ? 'within noise'
            : `differs: ${differs.map((m) => (m === 'class_accuracy' ? 'accuracy' : m)).join(', ')}`,
      seconds: s.seconds,
      secondsPerImage: s.seconds / s.n,
      topkShare: search ? search.topkRows / search.rows : null,
      keptMean: search ? search.keptMean : null,
      notes: s.search.flatMap((x) => x.notes),
    })
  }
  if (realScored) {
    const fids = resamples.map((idx) =>
      frechetDistance(
        gaussianStats(gatherRows(realScored.features, realScored.dim, idx), idx.length, realScored.dim),
        ref,
      ),
    )
    const fid = frechetDistance(gaussianStats(realScored.features, realScored.n, realScored.dim), ref)
    const ci = interval(fid, fids)
    rows.push({
      label: `real test images (FID floor at n = ${realScored.n})`,
      strategy: 'real',
      N: null,
      alpha: null,
      dedup: null,
      block: 0,
      n_images: realScored.n,
      class_accuracy: { value: Number.NaN },
      IS: { value: Number.NaN },
      FID: { value: fid, ...(ci ? { ci } : {}) },
      precision: Number.NaN,
      recall: Number.NaN,
      verdict: 'noise floor',
      seconds: 0,
      secondsPerImage: 0,
      topkShare: null,
      keptMean: null,
      notes: [],
    })
  }
  const judged = applyNoiseVerdicts(rows, B > 0)
  rows.splice(0, rows.length, ...judged)
  for (const r of rows) {
    log(
      `${r.label}: accuracy ${show(r.class_accuracy, 3)}, IS ${show(r.IS, 3)}, FID ${show(r.FID, 3)}` +
        (r.diff
          ? `; vs baseline: ΔFID ${show(r.diff.FID, 3, true)}, ΔIS ${show(r.diff.IS, 3, true)} (${r.verdict})`
          : ''),
    )
  }
  const record = {
    format: 'var-studio-eval/2',
    version: ctx.version,
    command: mergeCommand ?? lead.command,
    model: { id: lead.model.id, dir: lead.paths.modelDir },
    provider: providers.join(', '),
    perClass: settings.perClass,
    seeds,
    sampling: settings.sampling,
    searchDefaults: settings.searchDefaults,
    strategies: settings.runs.map((r) => ({ label: r.label, block: r.block, ...r.strategy })),
    reference: { source: refPart.source, count: ref.count, featureDim: ref.dim },
    ...(scoring ? { featureNet: { ...scoring, referenceImages: real?.count ?? 0 } } : {}),
    bootstrap: settings.bootstrap,
    provenance: evalProvenance(shards, codeProvenance(ctx.version)),
    notes: scoring
      ? `Feature network ${scoring.network}: images quantised to 8 bits, then IS over splits of ${IS_SPLIT_SIZE} ` +
        '(mean of the splits), FID against the reference mu/sigma, precision/recall with k = 3 manifolds ' +
        'against the reference images (arr_0 or the folder), as the ImageNet evaluators compute them; no ' +
        'class accuracy. Intervals: 95 % bootstrap percentiles over resampled image indices, paired across runs.'
      : 'IS: one split over all images. FID: Frechet distance between classifier feature Gaussians. ' +
        'Intervals: 95 % bootstrap percentiles over resampled image indices, the same resamples for every ' +
        'run, so differences are paired by seed and class. Precision/recall: k-NN (k = 3) manifolds on the ' +
        'classifier features against the real test images of the floor row.',
    rows,
  }
  await writeFile(join(out, 'eval.json'), `${JSON.stringify(record, null, 2)}\n`)
  await writeFile(join(out, 'eval.csv'), evalCsv(rows))
  await writeFile(join(out, 'eval.md'), evalMarkdown(rows))
  await writeChart(
    join(out, 'eval-chart.png'),
    rows
      .filter((r) => r.strategy !== 'real' && r.block === 1)
      .map((r) => ({
        strategy: r.strategy,
        N: r.strategy === 'baseline' ? undefined : (r.N ?? undefined),
        fid: r.FID.value,
        is: r.IS.value,
        ...(r.FID.ci ? { fidCi: r.FID.ci } : {}),
        ...(r.IS.ci ? { isCi: r.IS.ci } : {}),
      })),
    `${lead.model.id}: ${settings.perClass} images per class, ${total} per point, seeds ${baseSeed}..${baseSeed + total - 1}, 95 % bootstrap intervals`,
  )
  for (const f of ['eval.csv', 'eval.json', 'eval.md', 'eval-chart.png']) ctx.io.out(join(out, f))
}
