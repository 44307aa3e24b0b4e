/**
 * Sweeps (the Experiments view and `var-studio sweep`): up to three axes over strategy, N, alpha,
 * dedup, cfg, top-p, the search scale and the final pick; every cell generates the same classes and
 * seeds (paired). This module plans a sweep (the product of the axes, each cell's strategy and
 * sampling checked with the request schema of engine/request.ts and the bounds of limits.ts) for the
 * CLI and the studio alike; running, scoring and writing the outputs are src-main/app/experiments.ts.
 *
 * A cell's identity is the settings it runs with, not its coordinates: a value that does not apply to
 * the cell's strategy (N for the baseline) leaves the cell equal to its neighbour, which is made once.
 */
import { z } from 'zod'
import { classIdSchema, generateRequestFor, type ModelFacts, seedSchema } from './engine/request'
import type { SamplingParams } from './engine/sampling'
import { STRATEGY_KINDS, type StrategyConfig, type StrategyKind } from './engine/strategies'
import { InvalidRequestError } from './errors'
import { formatIssuePath } from './manifest'
import { strategyName, strategyRank } from './strategy-names'

export const SWEEP_AXES = [
  'strategy',
  'N',
  'alpha',
  'dedup',
  'cfg',
  'top-p',
  'search-scale',
  'final-pick',
] as const
export type SweepAxis = (typeof SWEEP_AXES)[number]
export const MAX_AXES = 3
/** Cells per sweep: each one is a queued job and a column or row of a grid. */
export const MAX_CELLS = 256
/** Images in one cell (classes x seeds). */
export const MAX_CELL_IMAGES = 5000
const SEARCH_KINDS: readonly StrategyKind[] = ['var-scaling', 'topk-only', 'randomk-only']
const FINAL_PICKS = ['density', 'rank', 'argmax'] as const

/** What a person reads about each axis (the form shows `help` as the one-line explanation). */
export const AXIS_INFO: Readonly<Record<SweepAxis, { readonly label: string; readonly help: string }>> = {
  strategy: {
    label: 'Strategy',
    help: 'How each scale picks its tokens: the baseline, a search, or best of N.',
  },
  N: {
    label: 'N (candidates)',
    help: 'Candidate token maps drawn per search scale (generations for best of N); the baseline ignores it.',
  },
  alpha: {
    label: 'Alpha',
    help: 'Density threshold: a scale whose density ratio passes it keeps the top-k.',
  },
  dedup: {
    label: 'Dedup',
    help: 'Distance under which two candidates count as one before the density is kept.',
  },
  cfg: { label: 'CFG', help: 'Classifier-free guidance strength: higher follows the class more closely.' },
  'top-p': {
    label: 'Top-p',
    help: 'Nucleus sampling: keep the likeliest tokens up to this mass (0 or 1: off).',
  },
  'search-scale': {
    label: 'Search scale',
    help: 'Which scale (index, or several joined by +) the search runs on; later scales cost more.',
  },
  'final-pick': {
    label: 'Final pick',
    help: 'How the kept candidates are narrowed to one: by density, by rank or the likeliest.',
  },
}

export type AxisValue = string | number | readonly number[]

export interface ParsedAxis {
  readonly axis: SweepAxis
  readonly values: readonly AxisValue[]
}

export const sweepAxisSchema = z.strictObject({
  axis: z.enum(SWEEP_AXES, { error: `must be one of ${SWEEP_AXES.join(', ')}` }),
  /** as typed: "baseline", "10", "1+2" */
  values: z
    .array(z.string().min(1).max(40))
    .min(1, 'must list at least one value')
    .max(32, 'at most 32 values'),
})

/** A sweep as the form and the CLI give it: the model, the images of every cell, the axes, the fixed knobs. */
export const sweepSpecSchema = z.strictObject({
  modelId: z.string().min(1).max(200),
  classes: z.array(classIdSchema).min(1, 'choose at least one class').max(1000),
  seeds: z.array(seedSchema).min(1, 'give at least one seed').max(1000),
  axes: z.array(sweepAxisSchema).min(1, 'choose at least one axis').max(MAX_AXES, `at most ${MAX_AXES} axes`),
  /** the fixed strategy knobs (kind and any of N, k, alpha, ...); the axes override them */
  strategy: z.record(z.string(), z.unknown()).default({ kind: 'var-scaling' }),
  /** sampling overrides of the model's defaults; an axis overrides them */
  sampling: z.record(z.string(), z.unknown()).default({}),
  label: z.string().max(200).optional(),
})
export type SweepSpec = z.input<typeof sweepSpecSchema>
export type ParsedSweepSpec = z.output<typeof sweepSpecSchema>

/** Search knobs the model supplies when neither the knobs nor an axis give them (its calibration). */
export interface SweepDefaults {
  readonly alpha: number
  readonly dedup: number
  readonly searchScales: readonly number[]
}

export interface SweepCell {
  /** position in the product: the first axis varies fastest */
  readonly index: number
  /** one value per axis, in the axes' order */
  readonly coords: readonly AxisValue[]
  readonly strategy: StrategyConfig
  readonly sampling: SamplingParams
  /** axes whose value this cell's strategy does not use (N of the baseline) */
  readonly unused: readonly SweepAxis[]
  /** canonical JSON of what the cell runs with: equal identities make equal images */
  readonly identity: string
}

export interface SweepPlan {
  readonly modelId: string
  readonly axes: readonly ParsedAxis[]
  readonly items: readonly { readonly classId: number; readonly seed: number }[]
  readonly cells: readonly SweepCell[]
}

const fail = (field: string, message: string): never => {
  throw new InvalidRequestError(field, message)
}

/** "4" -> four seeds from `first`; "0,7,42" -> those seeds. */
export function parseSeeds(text: string, first = 0, field = 'seeds'): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (parts.length === 0) fail(field, `${field}: give a count ("4") or a list of seeds ("0,7,42")`)
  const nums = parts.map((p) => {
    const n = Number(p)
    if (!Number.isSafeInteger(n) || n < 0) fail(field, `${field}: "${p}" is not a whole number >= 0`)
    return n
  })
  if (nums.length === 1) {
    const count = nums[0] ?? 0
    if (count < 1 || count > 1000) fail(field, `${field}: a count must be in [1, 1000], got ${count}`)
    return Array.from({ length: count }, (_, i) => first + i)
  }
  if (new Set(nums).size !== nums.length) fail(field, `${field}: a seed is listed twice`)
  return nums
}

/** "N=1,10,50" -> { axis: 'N', values: ['1', '10', '50'] } (the CLI's --x, --y, --z). */
export function parseAxisArg(text: string, field: string): z.input<typeof sweepAxisSchema> {
  const at = text.indexOf('=')
  const name = (at < 0 ? text : text.slice(0, at)).trim()
  const axis = axisOf(name, field)
  const values =
    at < 0
      ? []
      : text
          .slice(at + 1)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
  if (values.length === 0)
    fail(field, `${field}: give the values of ${axis}, e.g. ${field} ${axis}=${EXAMPLE[axis]}`)
  return { axis, values }
}

const EXAMPLE: Record<SweepAxis, string> = {
  strategy: 'baseline,var-scaling',
  N: '1,10,50',
  alpha: '1,2.3,4',
  dedup: '0,1.8',
  cfg: '1,3',
  'top-p': '0.9,1',
  'search-scale': '1,2',
  'final-pick': 'density,rank',
}

/** An axis name as people write it (top_p, topp, search_scale, N, n) or a clear error. */
export function axisOf(name: string, field: string): SweepAxis {
  const key = name.toLowerCase().replace(/[_ ]/g, '-')
  const found = SWEEP_AXES.find((a) => a.toLowerCase() === key || a.replace('-', '') === key.replace('-', ''))
  if (!found) fail(field, `${field}: unknown axis "${name}"; use one of ${SWEEP_AXES.join(', ')}`)
  return found as SweepAxis
}

function parseValue(axis: SweepAxis, raw: string, field: string): AxisValue {
  const bad = (what: string): never => fail(field, `${field}: ${axis}=${raw} ${what}`)
  if (axis === 'strategy') {
    const kind = (STRATEGY_KINDS as readonly string[]).find((k) => k === raw.toLowerCase())
    return kind ?? bad(`is not a strategy; use ${STRATEGY_KINDS.join(', ')}`)
  }
  if (axis === 'final-pick') {
    const pick = (FINAL_PICKS as readonly string[]).find((k) => k === raw.toLowerCase())
    return pick ?? bad(`is not a final pick; use ${FINAL_PICKS.join(', ')}`)
  }
  if (axis === 'search-scale') {
    const scales = raw.split('+').map((s) => Number(s.trim()))
    if (scales.some((s) => !Number.isInteger(s) || s < 0))
      bad('must be a scale index, or several joined by +')
    return scales
  }
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n)) bad('is not a number')
  if (axis === 'N' && !Number.isInteger(n)) bad('must be a whole number')
  return n
}

const sameValue = (a: AxisValue, b: AxisValue): boolean => JSON.stringify(a) === JSON.stringify(b)

/** A value as a header shows it: "VAR-Scaling", "N = 10", "scale 1+2". */
export function valueLabel(axis: SweepAxis, v: AxisValue): string {
  if (axis === 'strategy') return strategyName(String(v))
  if (axis === 'search-scale') return `scale ${Array.isArray(v) ? v.join('+') : String(v)}`
  if (axis === 'final-pick') return `pick ${String(v)}`
  const name = { N: 'N', alpha: 'alpha', dedup: 'dedup', cfg: 'cfg', 'top-p': 'top-p' }[axis]
  return `${name} = ${String(v)}`
}

/** Sorted keys, so equal settings give equal text whatever order they were built in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

const STRATEGY_AXIS: Partial<Record<SweepAxis, string>> = {
  N: 'N',
  alpha: 'alpha',
  dedup: 'dedup',
  'search-scale': 'searchScales',
  'final-pick': 'finalPick',
}

/** The strategy of one cell: the fixed knobs, the model's defaults, then the cell's values. */
function cellStrategy(
  base: Readonly<Record<string, unknown>>,
  values: ReadonlyMap<SweepAxis, AxisValue>,
  defaults: SweepDefaults | undefined,
): { raw: Record<string, unknown>; unused: SweepAxis[] } {
  const given = values.get('strategy') ?? base.kind
  const kind = typeof given === 'string' ? given : 'var-scaling'
  const unused: SweepAxis[] = []
  if (kind === 'baseline') {
    for (const axis of values.keys()) if (STRATEGY_AXIS[axis]) unused.push(axis)
    return { raw: { kind }, unused }
  }
  if (kind === 'best-of-n') {
    for (const axis of values.keys()) if (STRATEGY_AXIS[axis] && axis !== 'N') unused.push(axis)
    const N = values.get('N') ?? base.N
    return { raw: { kind, ...(N === undefined ? {} : { N }) }, unused }
  }
  const raw: Record<string, unknown> = { kind }
  if (defaults && SEARCH_KINDS.includes(kind as StrategyKind)) {
    raw.alpha = defaults.alpha
    raw.dedup = defaults.dedup
    raw.searchScales = [...defaults.searchScales]
  }
  for (const [key, v] of Object.entries(base)) if (key !== 'kind') raw[key] = v
  for (const [axis, v] of values) {
    const field = STRATEGY_AXIS[axis]
    if (field) raw[field] = Array.isArray(v) ? [...(v as readonly number[])] : v
  }
  // k defaults to min(10, N) as in eval, so N = 1 is a valid cell; a fixed k is held to the cell's N
  const N = typeof raw.N === 'number' ? raw.N : 50
  const k = typeof raw.k === 'number' ? raw.k : 10
  raw.k = Number.isInteger(N) && N >= 1 ? Math.min(k, N) : k
  return { raw, unused }
}

const SAMPLING_AXIS: Partial<Record<SweepAxis, keyof SamplingParams>> = { cfg: 'cfg', 'top-p': 'top_p' }

/**
 * Every cell of a sweep, checked before anything runs. Errors name the axis and the value
 * (`--y N=5000: must be at most 4096 ...`); `fields` names each axis as the caller shows it
 * (the CLI's --x/--y/--z, the form's "axis 1", ...).
 */
export function planSweep(
  input: SweepSpec,
  model: ModelFacts & { readonly samplingDefaults: SamplingParams; readonly classNames?: readonly string[] },
  defaults?: SweepDefaults,
  fields: readonly string[] = ['axis 1', 'axis 2', 'axis 3'],
): SweepPlan {
  const parsed = sweepSpecSchema.safeParse(input)
  if (!parsed.success) {
    const i = parsed.error.issues[0] as (typeof parsed.error.issues)[number] | undefined
    const path = i ? formatIssuePath(i.path) : 'sweep'
    const at = i?.path[0] === 'axes' && typeof i.path[1] === 'number' ? (fields[i.path[1]] ?? path) : path
    fail(path, `${at}: ${i?.message ?? 'invalid sweep'}`)
  }
  const spec = (parsed as { data: ParsedSweepSpec }).data
  const axes: ParsedAxis[] = []
  spec.axes.forEach((a, i) => {
    const field = fields[i] ?? `axis ${i + 1}`
    const twice = axes.findIndex((p) => p.axis === a.axis)
    if (twice >= 0)
      fail(field, `${field}: the axis ${a.axis} is already ${fields[twice] ?? 'given'}; each axis once`)
    const values: AxisValue[] = []
    for (const raw of a.values) {
      const v = parseValue(a.axis, raw, field)
      if (values.some((x) => sameValue(x, v))) fail(field, `${field}: ${a.axis}=${raw} is listed twice`)
      values.push(v)
    }
    axes.push({ axis: a.axis, values })
  })
  for (const c of spec.classes) {
    if (c >= model.numClasses) {
      fail(
        'classes',
        `classes: ${c} is not a class of ${model.id} (it has classes 0..${model.numClasses - 1})`,
      )
    }
  }
  if (new Set(spec.classes).size !== spec.classes.length) fail('classes', 'classes: a class is listed twice')
  if (new Set(spec.seeds).size !== spec.seeds.length) fail('seeds', 'seeds: a seed is listed twice')
  const items = spec.classes.flatMap((classId) => spec.seeds.map((seed) => ({ classId, seed })))
  if (items.length > MAX_CELL_IMAGES) {
    fail(
      'seeds',
      `seeds: ${spec.classes.length} classes x ${spec.seeds.length} seeds = ${items.length} images per cell; at most ${MAX_CELL_IMAGES}`,
    )
  }
  const total = axes.reduce((n, a) => n * a.values.length, 1)
  if (total > MAX_CELLS) {
    fail(
      fields[0] ?? 'axes',
      `the axes make ${total} cells; at most ${MAX_CELLS} (${axes.map((a) => `${a.axis}: ${a.values.length}`).join(', ')})`,
    )
  }
  const facts = generateRequestFor(model)
  const cells: SweepCell[] = []
  for (let index = 0; index < total; index++) {
    let rest = index
    const coords = axes.map((a) => {
      const v = a.values[rest % a.values.length]
      rest = Math.floor(rest / a.values.length)
      return v
    })
    const values = new Map(axes.map((a, i) => [a.axis, coords[i]]))
    const where = axes.map((a, i) => `${a.axis}=${formatValue(coords[i])}`).join(', ')
    const fieldOf = (axis: SweepAxis | undefined): string => {
      const i = axes.findIndex((a) => a.axis === axis)
      return i >= 0 ? (fields[i] ?? 'axes') : axis === undefined ? 'strategy' : `${axis} (fixed)`
    }
    const { raw, unused } = cellStrategy(spec.strategy, values, defaults)
    const sampling: Record<string, unknown> = { ...model.samplingDefaults, ...spec.sampling }
    for (const [axis, v] of values) {
      const key = SAMPLING_AXIS[axis]
      if (key) sampling[key] = v
    }
    const checked = facts.safeParse({ items, strategy: raw, sampling })
    if (!checked.success) {
      const lines = checked.error.issues.map((i) => {
        const key = i.path[0] === 'strategy' || i.path[0] === 'sampling' ? String(i.path[1] ?? '') : ''
        const axis = (Object.entries({ ...STRATEGY_AXIS, ...SAMPLING_AXIS }).find(
          ([, f]) => f === key,
        )?.[0] ?? (key === 'kind' ? 'strategy' : undefined)) as SweepAxis | undefined
        const inAxes = axis !== undefined && values.has(axis)
        const label = inAxes
          ? `${fieldOf(axis)} ${axis}=${formatValue(values.get(axis) as AxisValue)}`
          : `${formatIssuePath(i.path)} (cell ${where})`
        return { field: inAxes ? fieldOf(axis) : formatIssuePath(i.path), line: `${label}: ${i.message}` }
      })
      throw new InvalidRequestError(lines[0]?.field ?? 'axes', lines.map((l) => l.line).join('\n'))
    }
    const data = (checked as { data: { strategy: StrategyConfig; sampling: Partial<SamplingParams> } }).data
    const strategy = data.strategy
    const full = { ...model.samplingDefaults, ...data.sampling }
    cells.push({
      index,
      coords,
      strategy,
      sampling: full,
      unused,
      identity: canonicalJson({ strategy, sampling: full }),
    })
  }
  return { modelId: model.id, axes, items, cells }
}

export function formatValue(v: AxisValue): string {
  return Array.isArray(v) ? v.join('+') : String(v)
}

/** The order values are drawn in: strategies in the studio's one order, numbers as given. */
export function orderedValues(axis: ParsedAxis): AxisValue[] {
  if (axis.axis !== 'strategy') return [...axis.values]
  return [...axis.values].sort((a, b) => strategyRank(String(a)) - strategyRank(String(b)))
}

/** The cell at some coordinates (one value per axis). */
export function cellAt(plan: SweepPlan, coords: readonly AxisValue[]): SweepCell | undefined {
  return plan.cells.find((c) => c.coords.every((v, i) => sameValue(v, coords[i])))
}

/** The distinct identities in first-cell order: what is actually generated. */
export function uniqueCells(plan: SweepPlan): SweepCell[] {
  const seen = new Set<string>()
  return plan.cells.filter((c) => (seen.has(c.identity) ? false : (seen.add(c.identity), true)))
}

/** Axis pairs for the grids: (0,1), (0,2), (1,2); a single axis gives one grid against the images. */
export function axisPairs(plan: SweepPlan): [number, number][] {
  const n = plan.axes.length
  const pairs: [number, number][] = []
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) pairs.push([a, b])
  return pairs
}

// ---------------------------------------------------------------------------------------------
// Metrics per cell, and the curves the charts draw (the studio's ECharts and the CLI's PNG alike)

export interface SweepMetric {
  readonly value: number
  /** 95 % bootstrap interval */
  readonly lo?: number
  readonly hi?: number
}

export interface SweepMetricRow {
  /** the cell's index in the plan (the first cell of its identity) */
  readonly cell: number
  readonly hash: string
  readonly n: number
  readonly accuracy: SweepMetric
  readonly IS: SweepMetric
  readonly FID: SweepMetric
}

export const SWEEP_METRICS = ['accuracy', 'IS', 'FID'] as const
export type SweepMetricName = (typeof SWEEP_METRICS)[number]
export const METRIC_LABELS: Readonly<Record<SweepMetricName, string>> = {
  accuracy: 'Class accuracy (higher is better)',
  IS: 'Inception Score (higher is better)',
  FID: 'FID (lower is better)',
}

const NUMERIC_AXES: readonly SweepAxis[] = ['N', 'alpha', 'dedup', 'cfg', 'top-p']

export interface CurvePoint {
  readonly x: string
  readonly value: number
  readonly lo: number | undefined
  readonly hi: number | undefined
}

export interface Curves {
  /** the axis along x, and its values as category labels */
  readonly xAxis: SweepAxis
  readonly xLabels: readonly string[]
  /** the axis one line each is drawn for (undefined: one line) */
  readonly lineAxis: SweepAxis | undefined
  /** the other axes, fixed at their first value */
  readonly fixed: readonly string[]
  readonly lines: readonly { readonly name: string; readonly points: readonly CurvePoint[] }[]
}

/**
 * Figure-4 style curves of one metric: along N (else alpha, ... else the first axis), one line per
 * strategy (else per value of another axis), the third axis at its first value.
 */
export function curvesOf(plan: SweepPlan, rows: readonly SweepMetricRow[], metric: SweepMetricName): Curves {
  const axes = plan.axes
  const xi = Math.max(
    0,
    axes.findIndex((a) => NUMERIC_AXES.includes(a.axis) && a.axis === 'N') >= 0
      ? axes.findIndex((a) => a.axis === 'N')
      : axes.findIndex((a) => NUMERIC_AXES.includes(a.axis)),
  )
  const si = axes.findIndex((a) => a.axis === 'strategy')
  const li = si >= 0 && si !== xi ? si : axes.findIndex((_, i) => i !== xi)
  const xAxis = axes[xi]
  const lineAxis = li >= 0 ? axes[li] : undefined
  const byIdentity = new Map<string, SweepMetricRow>()
  for (const r of rows) {
    const c = plan.cells[r.cell] as SweepCell | undefined
    if (c) byIdentity.set(c.identity, r)
  }
  const xs = orderedValues(xAxis)
  const lineValues = lineAxis ? orderedValues(lineAxis) : [undefined]
  const fixed = axes
    .map((a, i) => (i === xi || i === li ? undefined : valueLabel(a.axis, a.values[0])))
    .filter((s): s is string => s !== undefined)
  const lines = lineValues.map((lv) => ({
    name: lineAxis && lv !== undefined ? valueLabel(lineAxis.axis, lv) : AXIS_INFO[xAxis.axis].label,
    points: xs.map((xv) => {
      const coords = axes.map((a, i) => (i === xi ? xv : i === li && lv !== undefined ? lv : a.values[0]))
      const cell = cellAt(plan, coords)
      const row = cell ? byIdentity.get(cell.identity) : undefined
      const m = row?.[metric]
      return { x: formatValue(xv), value: m?.value ?? Number.NaN, lo: m?.lo, hi: m?.hi }
    }),
  }))
  return { xAxis: xAxis.axis, xLabels: xs.map(formatValue), lineAxis: lineAxis?.axis, fixed, lines }
}

const fmt = (v: number | undefined, digits: number): string =>
  v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : ''

/** One line per cell of the plan (a cell equal to an earlier one repeats its numbers). */
export function metricsCsv(plan: SweepPlan, rows: readonly SweepMetricRow[]): string {
  const byIdentity = new Map(rows.map((r) => [plan.cells[r.cell]?.identity, r]))
  const head = [
    'cell',
    ...plan.axes.map((a) => a.axis),
    'images',
    'class_accuracy',
    'accuracy_lo',
    'accuracy_hi',
    'IS',
    'IS_lo',
    'IS_hi',
    'FID',
    'FID_lo',
    'FID_hi',
    'same_as_cell',
    'hash',
  ]
  const lines = plan.cells.map((c) => {
    const r = byIdentity.get(c.identity)
    const cells = (m: SweepMetric | undefined, d: number): string[] => [
      fmt(m?.value, d),
      fmt(m?.lo, d),
      fmt(m?.hi, d),
    ]
    return [
      c.index,
      ...c.coords.map(formatValue),
      r?.n ?? '',
      ...cells(r?.accuracy, 4),
      ...cells(r?.IS, 4),
      ...cells(r?.FID, 4),
      r && r.cell !== c.index ? r.cell : '',
      r?.hash ?? '',
    ].join(',')
  })
  return `${[head.join(','), ...lines].join('\n')}\n`
}
