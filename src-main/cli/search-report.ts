/**
 * Where the search knobs of a CLI run come from (the model's calibration or the paper's constants),
 * and what the search did, printed on stderr beside the run.
 */
import {
  type CalibrationRecord,
  codebookDistances,
  type SearchDefaults,
} from '../../src-shared/engine/calibration'
import { InvalidRequestError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import { firstSearchScale, type LoadedCalibration, searchDefaultsFor } from '../storage/calibration-file'
import { readCodebook } from '../storage/model-folder'
import type { SearchSummary } from '../../src-shared/engine/search-summary'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import type { CliContext } from './context'
import { type KnobValues, samplingFromFlags, type SearchKnobDefaults } from './knobs'

const SEARCH_KINDS = new Set(['var-scaling', 'topk-only', 'randomk-only'])

/** A strategy input with the model's alpha, dedup and search scales where it gives none. */
export function withSearchDefaults(
  raw: Record<string, unknown>,
  defaults: SearchKnobDefaults,
): Record<string, unknown> {
  if (typeof raw.kind !== 'string' || !SEARCH_KINDS.has(raw.kind)) return raw
  return {
    alpha: defaults.alpha,
    dedup: defaults.dedup,
    searchScales: [...defaults.searchScales],
    ...raw,
  }
}

/**
 * The CLI's defaults for its flags: the sampling's cfg (the flags over the model's sampling defaults)
 * and the first of --search-scales. Flags that do not parse leave the record's own defaults; the
 * command reports them.
 */
export function requestDefaults(
  loaded: LoadedCalibration,
  v: KnobValues,
  manifest: VarManifest,
): SearchDefaults {
  let cfg: number | undefined
  try {
    cfg = samplingFromFlags(v, manifest).cfg
  } catch {
    cfg = undefined
  }
  const searchScale = firstSearchScale(v['search-scales'])
  return searchDefaultsFor(loaded, {
    ...(cfg !== undefined ? { cfg } : {}),
    ...(searchScale !== undefined ? { searchScale } : {}),
  })
}

/** One line naming the defaults a search run took and their source, plus an ignored file's warning. */
export function reportSearchDefaults(
  ctx: CliContext,
  strategies: readonly StrategyConfig[],
  defaults: SearchDefaults,
  flags: KnobValues,
): void {
  if (defaults.warning) ctx.io.err(`warning: ${defaults.warning}`)
  if (!strategies.some((s) => SEARCH_KINDS.has(s.kind))) return
  const taken = [
    flags.alpha === undefined ? `alpha ${defaults.alpha}` : undefined,
    flags.dedup === undefined ? `dedup ${defaults.dedup}` : undefined,
    flags['search-scales'] === undefined ? `search scale ${defaults.searchScales.join(',')}` : undefined,
  ].filter((x): x is string => x !== undefined)
  if (taken.length === 0) return
  ctx.io.err(`search defaults: ${taken.join(', ')} from ${defaults.source}`)
}

/** The notes of a run's search summaries (empty when every search did its work). */
export function reportSearch(ctx: CliContext, summaries: readonly SearchSummary[] | undefined): void {
  for (const s of summaries ?? []) for (const note of s.notes) ctx.io.err(`note: ${note}`)
}

/**
 * `--dedup 0.86x`: dedup as a multiple of the model's median codebook distance (from its calibration
 * when it has one, else measured from the codebook). Returns the flags with the absolute value, and
 * the line that says how it was made; other values pass through.
 */
export async function resolveRelativeDedup<V extends KnobValues>(
  v: V,
  dir: string,
  manifest: VarManifest,
  record: CalibrationRecord | undefined,
): Promise<{ values: V; line?: string }> {
  const raw = v.dedup
  if (typeof raw !== 'string' || !/x\s*$/i.test(raw)) return { values: v }
  const factor = Number(raw.trim().slice(0, -1))
  if (raw.trim().length < 2 || !Number.isFinite(factor) || factor < 0) {
    throw new InvalidRequestError(
      '--dedup',
      `--dedup: must be a number >= 0, or a multiple of the median codebook distance such as 0.86x (got "${raw}")`,
    )
  }
  const median =
    record?.codebook.p50 ?? codebookDistances(await readCodebook(dir, manifest), manifest.Cvae).p50
  const dedup = Math.round(factor * median * 1e6) / 1e6
  return {
    values: { ...v, dedup: String(dedup) },
    line: `dedup ${factor} x the median codebook distance ${median.toFixed(4)} = ${dedup}`,
  }
}
