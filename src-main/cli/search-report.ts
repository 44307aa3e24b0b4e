/**
 * Where the search knobs of a CLI run come from (the model's calibration or the paper's constants),
 * and what the search did, printed on stderr beside the run.
 */
import type { SearchDefaults } from '../../src-shared/engine/calibration'
import type { SearchSummary } from '../../src-shared/engine/search-summary'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import type { CliContext } from './context'
import type { KnobValues, SearchKnobDefaults } from './knobs'

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
