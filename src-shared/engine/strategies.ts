/**
 * Strategy and sampling settings (zod schemas) and the factory that turns a strategy config into the
 * pure functions the generation loop calls. Error messages name the field and its allowed range.
 */
import { z } from 'zod'
import { StudioError } from '../errors'
import { formatIssuePath } from '../manifest'
import type { KdeKernel } from './kde'
import { MAX_CANDIDATES, MAX_CFG, MAX_GENERATIONS, MAX_KEPT } from './limits'
import type { Rng } from './rng'
import type { SamplingParams } from './sampling'
import {
  selectRow,
  type FinalPick,
  type SelectionMode,
  type SelectionRecord,
  type SelectRowInput,
} from './selection'

/** One bad setting, located by a dotted path such as `N` or `searchScales[1]`. */
export interface SettingsIssue {
  readonly path: string
  readonly message: string
}

/** A strategy or sampling setting is out of range; the message lists every bad field. */
export class SettingsError extends StudioError {
  readonly issues: readonly SettingsIssue[]

  constructor(message: string, issues: readonly SettingsIssue[] = [], options?: ErrorOptions) {
    super(message, options)
    this.name = 'SettingsError'
    this.issues = issues
  }
}

const int = (min: number, what: string) =>
  z
    .number({ error: `must be ${what}` })
    .int({ error: `must be ${what}` })
    .min(min, { error: `must be ${what}` })

/** An integer >= min with a memory bound (limits.ts), named in the message. */
const bounded = (min: number, what: string, max: number, bound: string) =>
  int(min, what).max(max, { error: `must be at most ${max} (${bound}, see limits.ts)` })

const searchKnobs = {
  searchScales: z
    .array(int(0, 'a scale index, an integer >= 0'))
    .min(1, { error: 'must list at least one scale' })
    .default([1]),
  N: bounded(1, 'an integer >= 1', MAX_CANDIDATES, 'the bound on candidates per search scale').default(50),
  k: bounded(1, 'an integer in [1, N]', MAX_KEPT, 'the bound on kept candidates').default(10),
  alpha: z.number({ error: 'must be a number > 0' }).gt(0, { error: 'must be a number > 0' }).default(2.3),
  dedup: z.number({ error: 'must be a number >= 0' }).min(0, { error: 'must be a number >= 0' }).default(1.8),
  finalPick: z
    .enum(['density', 'rank', 'argmax'], { error: "must be 'density', 'rank' or 'argmax'" })
    .default('density'),
  legacyProgressiveNucleus: z.boolean({ error: 'must be true or false' }).default(false),
  poolBandwidthOverBatch: z.boolean({ error: 'must be true or false' }).default(false),
  kernel: z
    .enum(['gaussian', 'exactMatch'], { error: "must be 'gaussian' or 'exactMatch'" })
    .default('gaussian'),
}

function kWithinN(v: { N: number; k: number }, ctx: z.RefinementCtx): void {
  if (Number.isInteger(v.N) && v.N >= 1 && v.k > v.N) {
    ctx.addIssue({ code: 'custom', path: ['k'], message: `must be an integer in [1, N] = [1, ${v.N}]` })
  }
}

const searchStrategy = <K extends string>(kind: K) =>
  z.strictObject({ kind: z.literal(kind), ...searchKnobs }).superRefine(kWithinN)

export const strategySchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('baseline') }),
    searchStrategy('var-scaling'),
    searchStrategy('topk-only'),
    searchStrategy('randomk-only'),
    z.strictObject({
      kind: z.literal('best-of-n'),
      N: bounded(1, 'an integer >= 1', MAX_GENERATIONS, 'the bound on best-of-n generations').default(4),
    }),
  ],
  { error: "must be 'baseline', 'var-scaling', 'topk-only', 'randomk-only' or 'best-of-n'" },
)

/** A config as written by people (defaults may be left out). */
export type StrategyConfigInput = z.input<typeof strategySchema>
/** A config with every default filled in. */
export type StrategyConfig = z.output<typeof strategySchema>
export type StrategyKind = StrategyConfig['kind']
export type SearchStrategyConfig = Extract<
  StrategyConfig,
  { kind: 'var-scaling' | 'topk-only' | 'randomk-only' }
>

export const STRATEGY_KINDS = [
  'baseline',
  'var-scaling',
  'topk-only',
  'randomk-only',
  'best-of-n',
] as const satisfies readonly StrategyKind[]

const TOP_P_RANGE = 'must be a number in [0, 1] (0 and 1 turn it off)'

/**
 * Sampling settings. top_k 0 and top_p 0 mean "off" as in the official sampler (top_p 1 keeps every
 * entry too); more_smooth is VAR's Gumbel-softmax smoothing of the token embeddings (sampling.ts).
 */
export const samplingSchema = z.strictObject({
  cfg: z
    .number({ error: 'must be a number >= 0' })
    .min(0, { error: 'must be a number >= 0' })
    .max(MAX_CFG, { error: `must be a number in [0, ${MAX_CFG}]` }),
  top_k: int(0, 'an integer >= 0 (0 turns it off)'),
  top_p: z.number({ error: TOP_P_RANGE }).min(0, { error: TOP_P_RANGE }).max(1, { error: TOP_P_RANGE }),
  more_smooth: z.boolean({ error: 'must be true or false' }).optional(),
})

function toError(what: string, issues: z.core.$ZodIssue[]): SettingsError {
  const list: SettingsIssue[] = issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: formatIssuePath([...i.path, key]), message: 'unknown setting' }))
      : [{ path: formatIssuePath(i.path), message: i.message }],
  )
  const lines = list.map((i) => `  ${i.path}: ${i.message}`).join('\n')
  return new SettingsError(`invalid ${what}:\n${lines}`, list)
}

/** Validates a strategy config and fills in defaults; throws a SettingsError naming each bad field. */
export function parseStrategy(input: unknown): StrategyConfig {
  const result = strategySchema.safeParse(input)
  if (!result.success) throw toError('strategy settings', result.error.issues)
  return result.data
}

/** Validates sampling settings; with a vocabulary size, top_k must also be <= V. */
export function parseSampling(input: unknown, vocabSize?: number): SamplingParams {
  const result = samplingSchema.safeParse(input)
  if (!result.success) throw toError('sampling settings', result.error.issues)
  if (vocabSize !== undefined && result.data.top_k > vocabSize) {
    throw toError('sampling settings', [
      {
        code: 'custom',
        path: ['top_k'],
        message: `must be an integer in [0, ${vocabSize}] (the vocabulary size; 0 turns it off)`,
        input: result.data.top_k,
      },
    ])
  }
  return result.data
}

/** Checks what needs the model: search scales must lie within [0, S-1]. Returns the config. */
export function validateForModel(cfg: StrategyConfig, numScales: number): StrategyConfig {
  if (cfg.kind === 'baseline' || cfg.kind === 'best-of-n') return cfg
  const bad: SettingsIssue[] = []
  cfg.searchScales.forEach((si, i) => {
    if (si > numScales - 1) {
      bad.push({
        path: `searchScales[${i}]`,
        message: `must be a scale index in [0, ${numScales - 1}] (this model has ${numScales} scales)`,
      })
    }
  })
  if (bad.length > 0) {
    throw new SettingsError(
      `invalid strategy settings:\n${bad.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      bad,
    )
  }
  return cfg
}

/** What the loop does at a search scale. */
export interface SearchSpec {
  N: number
  kernel: KdeKernel
  poolBandwidthOverBatch: boolean
  legacyProgressiveNucleus: boolean
}

/** The row-selection input without the knobs the strategy supplies. */
export type RowCandidates = Pick<
  SelectRowInput,
  'densities' | 'bandwidths' | 'features' | 'row' | 'permutation'
>

export interface Strategy {
  readonly config: StrategyConfig
  /** Full generations per image: N for best-of-n, 1 otherwise. */
  readonly generations: number
  /** The candidate search at scale si, or undefined for an ordinary scale. */
  search(si: number): SearchSpec | undefined
  /** Selects one candidate of one row; consumes `rng` as documented in rng.ts. */
  select(row: RowCandidates, rng?: Rng): SelectionRecord
  /** Index of the best generation by score (first on ties); best-of-n only. */
  best(scores: readonly number[]): number
}

const MODES: Record<SearchStrategyConfig['kind'], SelectionMode> = {
  'var-scaling': 'hybrid',
  'topk-only': 'top-k',
  'randomk-only': 'random-k',
}

function firstMax(scores: readonly number[]): number {
  let best = 0
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i
  return best
}

function noSelection(): never {
  throw new RangeError('this strategy selects no candidates')
}

/** The strategy's pure functions for a config (validated with `parseStrategy`). */
export function createStrategy(input: StrategyConfigInput | StrategyConfig): Strategy {
  const config = parseStrategy(input)
  if (config.kind === 'baseline' || config.kind === 'best-of-n') {
    return {
      config,
      generations: config.kind === 'best-of-n' ? config.N : 1,
      search: () => undefined,
      select: noSelection,
      best: firstMax,
    }
  }
  const scales = new Set(config.searchScales)
  const spec: SearchSpec = {
    N: config.N,
    kernel: config.kernel,
    poolBandwidthOverBatch: config.poolBandwidthOverBatch,
    legacyProgressiveNucleus: config.legacyProgressiveNucleus,
  }
  const knobs = {
    alpha: config.alpha,
    k: config.k,
    dedup: config.dedup,
    finalPick: config.finalPick satisfies FinalPick,
    mode: MODES[config.kind],
  }
  return {
    config,
    generations: 1,
    search: (si) => (scales.has(si) ? spec : undefined),
    select: (row, rng) => selectRow({ ...row, ...knobs }, rng),
    best: firstMax,
  }
}
