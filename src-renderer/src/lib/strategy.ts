/**
 * Strategy knobs for the forms. Defaults and checks come from the engine's own schema
 * (src-shared/engine/strategies.ts), so the form can never drift from what the sampler accepts;
 * the host still validates and its message is what the user sees when they disagree.
 */
import {
  STRATEGY_KINDS,
  strategySchema,
  validateForModel,
  type StrategyConfig,
  type StrategyKind,
} from '../../../src-shared/engine/strategies'

import { PAPER_SEARCH } from '../../../src-shared/engine/calibration'

import { STRATEGY_NAMES, STRATEGY_ORDER, strategyName } from '../../../src-shared/strategy-names'

export { STRATEGY_KINDS, STRATEGY_NAMES, STRATEGY_ORDER, type StrategyConfig, type StrategyKind }

/** The choices of a strategy menu: the name, and what it does where the name does not say. */
export const STRATEGY_LABELS = {
  baseline: 'Baseline (no search)',
  'topk-only': 'Top-k only',
  'randomk-only': 'Random-k only',
  'var-scaling': 'VAR-Scaling (hybrid)',
  'best-of-n': 'Best of N',
} as const satisfies Record<StrategyKind, string>

export function isStrategyKind(value: string): value is StrategyKind {
  return (STRATEGY_KINDS as readonly string[]).includes(value)
}

/** A strategy's name as people read it ("Top-k only"), never its id. */
export function shortLabel(kind: string): string {
  return strategyName(kind)
}

/** Every kind with the engine's defaults filled in. */
export function defaultConfigs(): Record<StrategyKind, StrategyConfig> {
  const entries = STRATEGY_KINDS.map((kind) => [kind, strategySchema.parse({ kind })] as const)
  return Object.fromEntries(entries) as Record<StrategyKind, StrategyConfig>
}

/** What a model supplies to the search kinds (its calibrated values, or the paper's). */
export interface SearchDefaultsLike {
  readonly alpha: number
  readonly dedup: number
  readonly searchScales: readonly number[]
}

/** The search knobs of the paper (VAR-d30, ImageNet): one click away in the form. */
export const PAPER_KNOBS: SearchDefaultsLike = {
  alpha: PAPER_SEARCH.alpha,
  dedup: PAPER_SEARCH.dedup,
  searchScales: PAPER_SEARCH.searchScales,
}

/** A config with a model's alpha, dedup and search scales (search kinds only). */
export function withSearchDefaults(
  config: StrategyConfig,
  d: SearchDefaultsLike | undefined,
): StrategyConfig {
  if (!d || !isSearch(config)) return config
  return { ...config, alpha: d.alpha, dedup: d.dedup, searchScales: [...d.searchScales] }
}

/** Every kind with the engine's defaults and the model's search defaults. */
export function modelConfigs(d: SearchDefaultsLike | undefined): Record<StrategyKind, StrategyConfig> {
  const base = defaultConfigs()
  return Object.fromEntries(
    STRATEGY_KINDS.map((kind) => [kind, withSearchDefaults(base[kind], d)]),
  ) as Record<StrategyKind, StrategyConfig>
}

export type SearchConfig = Extract<StrategyConfig, { kind: 'var-scaling' | 'topk-only' | 'randomk-only' }>

export function isSearch(config: StrategyConfig): config is SearchConfig {
  return config.kind === 'var-scaling' || config.kind === 'topk-only' || config.kind === 'randomk-only'
}

/** Field -> message for a config, as the engine would say it; empty when it is valid. */
export function strategyIssues(config: unknown, numScales?: number): Record<string, string> {
  const parsed = strategySchema.safeParse(config)
  if (!parsed.success) {
    const out: Record<string, string> = {}
    for (const issue of parsed.error.issues) out[issue.path.join('.') || 'kind'] ??= issue.message
    return out
  }
  if (numScales === undefined) return {}
  try {
    validateForModel(parsed.data, numScales)
    return {}
  } catch (error) {
    return { searchScales: error instanceof Error ? firstIssue(error.message) : 'out of range' }
  }
}

function firstIssue(message: string): string {
  const line = message.split('\n').find((l) => l.includes(':') && l.startsWith('  '))
  return line ? line.slice(line.indexOf(':') + 1).trim() : message
}

/** The search knobs carried over to another search kind (Compare uses one set of knobs). */
export function withKind(config: StrategyConfig, kind: StrategyKind): StrategyConfig {
  if (kind === 'baseline') return { kind }
  if (kind === 'best-of-n')
    return strategySchema.parse({ kind, N: config.kind === 'best-of-n' ? config.N : 4 })
  if (isSearch(config)) return { ...config, kind }
  return strategySchema.parse({ kind })
}

/** Parses comma- or space-separated scale indices ("1, 2"); NaN entries are left for the schema. */
export function parseScaleList(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter((t) => t.length > 0)
    .map(Number)
}
