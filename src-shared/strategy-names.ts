/**
 * What a person reads for each strategy, and the one order every view, export and comparison lists
 * them in: the paper's figures (the baseline, the two ablations, then VAR-Scaling), best-of-N last.
 * The ids (`topk-only`, ...) stay in files and requests; these names are for people.
 */
import type { StrategyKind } from './engine/strategies'

export const STRATEGY_ORDER = [
  'baseline',
  'topk-only',
  'randomk-only',
  'var-scaling',
  'best-of-n',
] as const satisfies readonly StrategyKind[]

export const STRATEGY_NAMES = {
  baseline: 'Baseline',
  'topk-only': 'Top-k only',
  'randomk-only': 'Random-k only',
  'var-scaling': 'VAR-Scaling',
  'best-of-n': 'Best of N',
} as const satisfies Record<StrategyKind, string>

/** The name of a strategy id; an unknown id (a newer file) is shown as it is. */
export function strategyName(kind: string): string {
  return Object.hasOwn(STRATEGY_NAMES, kind) ? STRATEGY_NAMES[kind as StrategyKind] : kind
}

/** Position in STRATEGY_ORDER; unknown ids after every known one. */
export function strategyRank(kind: string): number {
  const i = (STRATEGY_ORDER as readonly string[]).indexOf(kind)
  return i === -1 ? STRATEGY_ORDER.length : i
}
