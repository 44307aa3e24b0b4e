/**
 * `var-studio calibrate`: measures a model's density ratios and candidate distances on a calibration
 * batch and stores search defaults (alpha, dedup, search scale) in calibration.json beside the model
 * (see src-main/eval/calibrate.ts and src-shared/engine/calibration.ts).
 */
import { parseArgs } from 'node:util'
import { DEFAULT_TARGETS, PAPER_SEARCH, type CalibrationRecord } from '../../src-shared/engine/calibration'
import { InvalidRequestError } from '../../src-shared/errors'
import { calibrateModel, resolveCalibration } from '../eval/calibrate'
import { readManifest } from '../storage/model-folder'
import { checkBeforeUse } from './model-commands'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import { DEVICE_OPTIONS, deviceFromFlags, numberFlag } from './knobs'
import { ProgressBar } from './progress'

export const CALIBRATE_HELP = `Usage: var-studio calibrate [options]

Measures, on a calibration batch, the max/mean density ratio of every row and the distances between
distinct candidate maps (per search scale and cfg), and stores search defaults for the model in
calibration.json in the model's folder. generate, eval and the studio use them whenever --alpha,
--dedup or --search-scales are not given; the paper's constants (VAR-d30, ImageNet: alpha 2.3,
dedup 1.8) apply to a model without calibration.

  --model DIR|ID  --models-dir DIR
  --scales 1,2           search scales to measure; the first is the default scale (default 1)
  --cfg 3,1              cfg values to measure; the first gives the defaults (default: the model's)
  --N 50  --k 10         candidates and kept candidates, as the strategies will use them
  --images n             calibration batch size (default 20 per class, at most 500); image i has
                         class floor(i * classes / n) and seed S + i
  --seed S               first seed (default 0)
  --top-k-share x        alpha: the share of rows that take Top-k, in (0, 1) (default ${DEFAULT_TARGETS.topkShare})
  --kept-fraction x      dedup: the largest threshold that keeps at least x * k on average (default ${DEFAULT_TARGETS.keptFraction})
  --dry-run              measure and print, write nothing
  --device auto|cuda|dml|coreml|webgpu|cpu  --batch-size B (default 16)  --no-verify
`

const FLAG_OF_FIELD: Record<string, string> = {
  scales: '--scales',
  N: '--N',
  k: '--k',
  images: '--images',
  topkShare: '--top-k-share',
  keptFraction: '--kept-fraction',
  model: '--model',
}

function numbers(flag: string, value: string, integer: boolean): number[] {
  const parts = value.split(',').map((s) => s.trim())
  if (parts.some((p) => p === ''))
    throw new InvalidRequestError(flag, `${flag}: must be a comma-separated list`)
  return parts.map((p) => numberFlag(flag, p, integer))
}

const pct = (x: number): string => `${(x * 100).toFixed(0)} %`
const f3 = (x: number): string => x.toFixed(3)

/** The record as the CLI prints it: per scale and cfg, then the defaults. */
export function calibrationSummary(r: CalibrationRecord): string[] {
  const lines = [
    `calibration batch: ${r.batch.images} images, seeds ${r.batch.seeds.first}..${r.batch.seeds.last}, N ${r.batch.N}, k ${r.batch.k}`,
    `codebook distances: p10/p50/p90/max ${f3(r.codebook.p10)}/${f3(r.codebook.p50)}/${f3(r.codebook.p90)}/${f3(r.codebook.max)}`,
  ]
  for (const m of r.measurements) {
    lines.push(
      `scale ${m.si} (${m.pn}x${m.pn}), cfg ${m.cfg}: max/mean density p10/p50/p90/max ` +
        `${f3(m.ratio.p10)}/${f3(m.ratio.p50)}/${f3(m.ratio.p90)}/${f3(m.ratio.max)}; distinct-candidate distances ` +
        `p10/p50/p90/max ${f3(m.distance.p10)}/${f3(m.distance.p50)}/${f3(m.distance.p90)}/${f3(m.distance.max)}`,
      `  alpha ${m.alpha} (Top-k in ${pct(m.topkShare)} of rows), dedup ${m.dedup} (${pct(m.dedupQuantile)} of ` +
        `distances below it; keeps ${m.keptMean.toFixed(1)} of k = ${r.batch.k}); the paper's alpha ` +
        `${PAPER_SEARCH.alpha} / dedup ${PAPER_SEARCH.dedup}: Top-k in ${pct(m.paper.topkShare)}, keeps ${m.paper.keptMean.toFixed(1)}`,
    )
  }
  const d = r.defaults
  lines.push(
    `defaults: alpha ${d.alpha}, dedup ${d.dedup} (${d.dedupPerCodebookMedian} x the median codebook distance), ` +
      `search scale ${d.searchScales.join(',')} (measured at cfg ${d.cfg})`,
  )
  return lines
}

export async function calibrateCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...modelOptions,
      scales: { type: 'string' },
      cfg: { type: 'string' },
      N: { type: 'string' },
      k: { type: 'string' },
      images: { type: 'string' },
      seed: { type: 'string' },
      'top-k-share': { type: 'string' },
      'kept-fraction': { type: 'string' },
      'dry-run': { type: 'boolean' },
      ...DEVICE_OPTIONS,
      'batch-size': { type: 'string' },
      'no-verify': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(CALIBRATE_HELP)
    return 0
  }
  const dir = await resolveModelDir(v)
  const opt = <T>(value: string | undefined, parse: (s: string) => T): T | undefined =>
    value === undefined ? undefined : parse(value)
  const options = {
    scales: opt(v.scales, (s) => numbers('--scales', s, true)),
    cfgs: opt(v.cfg, (s) => numbers('--cfg', s, false)),
    N: opt(v.N, (s) => numberFlag('--N', s, true)),
    k: opt(v.k, (s) => numberFlag('--k', s, true)),
    images: opt(v.images, (s) => numberFlag('--images', s, true)),
    seed: opt(v.seed, (s) => numberFlag('--seed', s, true)),
    topkShare: opt(v['top-k-share'], (s) => numberFlag('--top-k-share', s)),
    keptFraction: opt(v['kept-fraction'], (s) => numberFlag('--kept-fraction', s)),
    batchSize: opt(v['batch-size'], (s) => numberFlag('--batch-size', s, true)),
    device: deviceFromFlags(v),
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, x]) => x !== undefined))
  const bar = new ProgressBar(ctx.progress, 'calibrate')
  const abort = new AbortController()
  const stop = (): void => {
    ctx.io.err('\nCancelling...')
    process.off('SIGINT', stop)
    abort.abort()
  }
  process.on('SIGINT', stop)
  const named = (error: unknown): never => {
    if (error instanceof InvalidRequestError && FLAG_OF_FIELD[error.field]) {
      const flag = FLAG_OF_FIELD[error.field] ?? error.field
      throw new InvalidRequestError(flag, `${flag}: ${error.message}`, { cause: error })
    }
    throw error
  }
  // every setting is checked against the model before the host starts
  try {
    resolveCalibration(await readManifest(dir), defined)
  } catch (error) {
    named(error)
  }
  try {
    await checkBeforeUse(ctx, dir, v['no-verify'] === true)
    const { record, path } = await calibrateModel(ctx.client(), dir, defined, {
      signal: abort.signal,
      command: ['var-studio', 'calibrate', ...args],
      version: ctx.version,
      write: v['dry-run'] !== true,
      onProgress: (p) => {
        bar.update(
          p.run * p.images + p.done,
          p.runs * p.images,
          `scale ${p.si} cfg ${p.cfg} (${p.run + 1}/${p.runs}) ${p.done}/${p.images} images`,
        )
      },
    }).catch(named)
    bar.finish()
    for (const line of calibrationSummary(record)) ctx.io.out(line)
    ctx.io.out(path ?? 'dry run: nothing written')
    return 0
  } finally {
    bar.finish()
    process.off('SIGINT', stop)
  }
}
