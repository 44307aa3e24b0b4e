/**
 * Per-model calibration of VAR-Scaling's search knobs (DESIGN section 4). The paper's alpha 2.3 and
 * dedup 1.8 are the authors' values for VAR-d30 (V = 4096, Cvae = 32); on another model the mode test
 * may never fire and the dedup scan may keep one candidate, so the search does nothing. A calibration
 * batch measures, per search scale and cfg, the max/mean density ratio of every row and the distances
 * between its distinct candidate maps, and chooses:
 *
 * - alpha so that a target share of rows takes the Top-k branch (the share of the batch's ratios that
 *   are >= alpha, alpha halfway between two neighbouring ratios);
 * - dedup as the largest threshold at which the scan keeps, on average over the batch's rows, at least
 *   a target fraction of k (the scan is the shipped `dedupScan`, in the order the hybrid would take:
 *   descending density where the ratio is >= alpha, the row's recorded random order elsewhere).
 *
 * Pure: the caller runs the batch (src-main/calibrate) and stores the record beside the model.
 */
import { z } from 'zod'
import { featureView } from './kde'
import { descendingOrder, dedupScan } from './selection'

export const CALIBRATION_FORMAT = 'var-studio-calibration/1'
export const CALIBRATION_FILE = 'calibration.json'

/** The authors' constants for VAR-d30 on ImageNet: what a model without calibration gets. */
export const PAPER_SEARCH = {
  alpha: 2.3,
  dedup: 1.8,
  searchScales: [1],
  label: 'paper (VAR-d30, ImageNet): alpha 2.3, dedup 1.8',
} as const

export const DEFAULT_TARGETS = {
  /** share of rows that take the Top-k branch */
  topkShare: 0.35,
  /** mean kept candidates as a fraction of k */
  keptFraction: 0.9,
} as const

/** The search defaults a model gets, and where they come from (shown beside every search). */
export interface SearchDefaults {
  readonly alpha: number
  readonly dedup: number
  readonly searchScales: readonly number[]
  readonly from: 'calibrated' | 'paper'
  /** one line: where the values come from and how they were chosen */
  readonly source: string
  /** a calibration file that was found but not applied, and why */
  readonly warning?: string
  /** the calibrated row the values are taken from (search scale and cfg), for a calibrated model */
  readonly calibratedAt?: { readonly si: number; readonly cfg: number }
  /** the cfg of the request the values were chosen for (the nearest calibrated cfg applies) */
  readonly requestCfg?: number
  /**
   * Without a request (a model's list entry): the defaults of each calibrated cfg at the default
   * search scale, so a form can follow its cfg (searchDefaultsAtCfg)
   */
  readonly byCfg?: readonly SearchDefaults[]
  /** from the calibration batch at the default scale: the largest ratio and candidate distance seen */
  readonly ratioMax?: number
  readonly distanceMax?: number
  /** the calibration's Top-k share and mean kept count at its own values */
  readonly topkShare?: number
  readonly keptMean?: number
  readonly k?: number
}

export const quantilesSchema = z.strictObject({
  n: z.number().int().min(0),
  min: z.number(),
  p01: z.number(),
  p10: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  max: z.number(),
})
export type Quantiles = z.infer<typeof quantilesSchema>

const measurementSchema = z.strictObject({
  si: z.number().int().min(0),
  pn: z.number().int().min(1),
  cfg: z.number().min(0),
  rows: z.number().int().min(1),
  /** max/mean density of each row */
  ratio: quantilesSchema,
  /** L2 distances between distinct candidate maps of a row (flattened codebook embeddings) */
  distance: quantilesSchema,
  /** share of candidate pairs that are the same map */
  duplicatePairs: z.number().min(0).max(1),
  /** distinct candidate maps per row */
  distinctMaps: quantilesSchema,
  /** what the choice rule gave at this scale and cfg */
  alpha: z.number().positive(),
  dedup: z.number().min(0),
  topkShare: z.number().min(0).max(1),
  keptMean: z.number().min(0),
  /** share of distinct-candidate distances below dedup */
  dedupQuantile: z.number().min(0).max(1),
  /** mean kept count against the dedup threshold, under the chosen alpha's orders */
  keptByDedup: z.array(z.tuple([z.number(), z.number()])),
  /** Top-k share against alpha */
  topkShareByAlpha: z.array(z.tuple([z.number(), z.number()])),
  /** the paper's constants on this batch */
  paper: z.strictObject({ topkShare: z.number(), keptMean: z.number() }),
})
export type CalibrationMeasurement = z.infer<typeof measurementSchema>

export const calibrationSchema = z.strictObject({
  format: z.literal(CALIBRATION_FORMAT),
  createdAt: z.string(),
  version: z.string(),
  command: z.array(z.string()),
  /** the model it belongs to: the sha256 of manifest.json (which holds every file's sha256) */
  model: z.strictObject({ id: z.string(), manifestSha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  batch: z.strictObject({
    images: z.number().int().min(1),
    classes: z.array(z.number().int().min(0)),
    seeds: z.strictObject({ first: z.number().int().min(0), last: z.number().int().min(0) }),
    N: z.number().int().min(2),
    k: z.number().int().min(1),
    top_k: z.number().int().min(0),
    top_p: z.number(),
    cfgs: z.array(z.number()),
    scales: z.array(z.number().int().min(0)),
  }),
  targets: z.strictObject({ topkShare: z.number().gt(0).lt(1), keptFraction: z.number().gt(0).max(1) }),
  method: z.string(),
  /** distances between codebook entries (one token; a candidate map spans pn² of them) */
  codebook: quantilesSchema,
  measurements: z.array(measurementSchema).min(1),
  /** what strategies use when alpha, dedup or the search scales are not given */
  defaults: z.strictObject({
    alpha: z.number().positive(),
    dedup: z.number().min(0),
    searchScales: z.array(z.number().int().min(0)).min(1),
    cfg: z.number(),
    /** dedup as a multiple of the median codebook distance */
    dedupPerCodebookMedian: z.number().min(0),
  }),
  /** sha256 of this record without `digest` (digestText): an edited file is detected */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
})
export type CalibrationRecord = z.infer<typeof calibrationSchema>
export type CalibrationBody = Omit<CalibrationRecord, 'digest'>

/**
 * JSON with keys sorted at every level (numbers as JSON writes them): the text a record's digest is
 * taken of, for calibration.json and preview.json alike.
 */
export function canonicalJson(body: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((key) => [key, canon((v as Record<string, unknown>)[key])]),
          )
        : v
  return JSON.stringify(canon(body))
}

/** The text the digest is taken of: JSON with keys sorted at every level. */
export function digestText(body: CalibrationBody): string {
  return canonicalJson(body)
}

/** Linear-interpolation quantile of ascending values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const pos = Math.min(1, Math.max(0, q)) * (n - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(n - 1, lo + 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

export function quantiles(values: ArrayLike<number>): Quantiles {
  const sorted = Float64Array.from(values).sort()
  const n = sorted.length
  const at = (q: number): number => (n === 0 ? 0 : quantile(sorted, q))
  return {
    n,
    min: at(0),
    p01: at(0.01),
    p10: at(0.1),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: at(1),
  }
}

/** Bad calibration settings, named by field. */
export class CalibrationSettingsError extends RangeError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message)
    this.name = 'CalibrationSettingsError'
  }
}

export interface CalibrationSettings {
  readonly numClasses: number
  readonly numScales: number
  readonly scales: readonly number[]
  readonly N: number
  readonly k: number
  readonly topkShare: number
  readonly keptFraction: number
  readonly images: number
}

/** Throws CalibrationSettingsError for settings a calibration cannot use. */
export function checkCalibrationSettings(s: CalibrationSettings): void {
  if (s.numClasses < 2) {
    throw new CalibrationSettingsError(
      'model',
      `a calibration needs a model with at least 2 classes (this one has ${s.numClasses}): the batch is drawn over classes`,
    )
  }
  if (s.scales.length === 0) throw new CalibrationSettingsError('scales', 'must list at least one scale')
  for (const si of s.scales) {
    if (!Number.isInteger(si) || si < 0 || si > s.numScales - 1) {
      throw new CalibrationSettingsError(
        'scales',
        `scale ${si} is not a scale index of this model: use 0 .. ${s.numScales - 1} (it has ${s.numScales} scales)`,
      )
    }
  }
  if (!Number.isInteger(s.N) || s.N < 2) {
    throw new CalibrationSettingsError(
      'N',
      `N must be an integer >= 2 (got ${s.N}): one candidate has no density ratio or distances`,
    )
  }
  if (!Number.isInteger(s.k) || s.k < 1 || s.k > s.N) {
    throw new CalibrationSettingsError('k', `k must be an integer in [1, N] = [1, ${s.N}] (got ${s.k})`)
  }
  if (!(s.topkShare > 0 && s.topkShare < 1)) {
    throw new CalibrationSettingsError(
      'topkShare',
      `the target Top-k share must be in (0, 1) (got ${s.topkShare})`,
    )
  }
  if (!(s.keptFraction > 0 && s.keptFraction <= 1)) {
    throw new CalibrationSettingsError(
      'keptFraction',
      `the target kept fraction must be in (0, 1] (got ${s.keptFraction})`,
    )
  }
  if (!Number.isInteger(s.images) || s.images < 2) {
    throw new CalibrationSettingsError(
      'images',
      `a calibration batch needs at least 2 images (got ${s.images})`,
    )
  }
}

/** One row of a calibration batch at one search scale: what the host's selection view holds. */
export interface CalibrationRow {
  readonly densities: ArrayLike<number>
  /** the row's random scan order (a randomk-only run records one) */
  readonly order: ArrayLike<number>
  /** [N][pn²] token ids */
  readonly candidates: readonly (readonly number[])[]
}

interface PreparedRow {
  readonly ratio: number
  readonly byDensity: Int32Array
  readonly random: Int32Array
  readonly view: ReturnType<typeof featureView>
  /** distances between distinct maps (upper triangle) */
  readonly distances: number[]
  readonly pairs: number
  readonly distinct: number
}

function prepare(row: CalibrationRow, codebook: Float32Array, d: number): PreparedRow {
  const N = row.candidates.length
  const P = row.candidates[0]?.length ?? 0
  const ids = new Int32Array(N * P)
  row.candidates.forEach((c, n) => {
    ids.set(c, n * P)
  })
  const view = featureView({
    B: 1,
    N,
    P,
    d,
    ids,
    codebook,
    kernel: 'gaussian',
    poolBandwidthOverBatch: false,
  })
  const distances: number[] = []
  const keys = new Set<string>()
  for (let a = 0; a < N; a++) {
    keys.add(row.candidates[a]?.join(',') ?? '')
    for (let b = a + 1; b < N; b++) {
      let sum = 0
      for (let p = 0; p < P; p++) {
        const oa = view.offsets[a * P + p]
        const ob = view.offsets[b * P + p]
        if (oa === ob) continue
        for (let j = 0; j < d; j++) {
          const x = codebook[oa + j] - codebook[ob + j]
          sum += x * x
        }
      }
      if (sum > 0) distances.push(Math.sqrt(sum))
    }
  }
  let max = -Infinity
  let mean = 0
  for (let i = 0; i < N; i++) {
    const v = row.densities[i]
    mean += v / N
    if (v > max) max = v
  }
  return {
    ratio: max / mean,
    byDensity: descendingOrder(row.densities),
    random: Int32Array.from(row.order),
    view,
    distances,
    pairs: (N * (N - 1)) / 2,
    distinct: keys.size,
  }
}

/** Mean kept count over rows with the shipped dedup scan, in the orders the hybrid takes at `alpha`. */
function meanKept(rows: readonly PreparedRow[], alpha: number, k: number, dedup: number): number {
  let sum = 0
  for (const r of rows)
    sum += dedupScan(r.view, 0, r.ratio >= alpha ? r.byDensity : r.random, k, dedup).length
  return sum / rows.length
}

const share = (ratios: readonly number[], alpha: number): number =>
  ratios.filter((r) => r >= alpha).length / ratios.length

/** Round down to 3 significant decimals (a shown value that still keeps the rule's side). */
const down3 = (x: number): number => Math.floor(x * 1000) / 1000

/**
 * alpha so that about `target` of the rows have ratio >= alpha: m = round(target · n) rows (at least
 * one, at most n - 1), alpha halfway between the m-th largest ratio and the next smaller one.
 */
export function chooseAlpha(ratios: readonly number[], target: number): number {
  const sorted = [...ratios].sort((a, b) => b - a)
  const n = sorted.length
  const m = Math.min(n - 1, Math.max(1, Math.round(target * n)))
  const hi = sorted[m - 1] ?? 1
  const lo = sorted[m] ?? hi
  const mid = (hi + lo) / 2
  // the shortest decimal in (lo, hi]: exactly m rows stay at or above it
  for (let digits = 2; digits <= 8; digits++) {
    const r = Math.round(mid * 10 ** digits) / 10 ** digits
    if (r > lo && r <= hi) return r
  }
  return Math.max(mid, 1e-3)
}

/**
 * Measures one (scale, cfg) batch and applies the choice rules. `rows` are the batch's selections at
 * scale `si` from a randomk-only run (so each row's order is a random permutation).
 */
export function measureScale(
  rows: readonly CalibrationRow[],
  opts: {
    si: number
    pn: number
    cfg: number
    k: number
    codebook: Float32Array
    d: number
    topkShare: number
    keptFraction: number
  },
): CalibrationMeasurement {
  if (rows.length === 0) throw new CalibrationSettingsError('images', 'the calibration batch has no rows')
  const prepared = rows.map((r) => prepare(r, opts.codebook, opts.d))
  const ratios = prepared.map((r) => r.ratio)
  const alpha = chooseAlpha(ratios, opts.topkShare)
  const allDistances = prepared.flatMap((r) => r.distances)
  const distance = quantiles(allDistances)
  const sortedDist = Float64Array.from(allDistances).sort()
  const pairs = prepared.reduce((s, r) => s + r.pairs, 0)
  const target = opts.keptFraction * opts.k
  // thresholds: distinct-distance quantiles 0, 0.25 %, ..., 50 %, plus 0
  const grid = [0, ...Array.from({ length: 201 }, (_, i) => quantile(sortedDist, i / 400))]
    .filter((t) => Number.isFinite(t))
    .map((t) => down3(t))
  const thresholds = [...new Set(grid)].sort((a, b) => a - b)
  let dedup = 0
  let keptMean = meanKept(prepared, alpha, opts.k, 0)
  for (const t of thresholds) {
    const kept = meanKept(prepared, alpha, opts.k, t)
    if (kept >= target) {
      dedup = t
      keptMean = kept
    }
  }
  const below = allDistances.filter((x) => x < dedup).length
  const table = [0.25, 0.5, 0.75, 1, 1.4, 1.8].map((t): [number, number] => [
    t,
    meanKept(prepared, alpha, opts.k, t),
  ])
  const keptByDedup = [...table, [dedup, keptMean] as [number, number]].sort((a, b) => a[0] - b[0])
  const alphas = [1.2, 1.4, 1.5, 1.6, 1.7, 1.8, 2, 2.3, alpha].sort((a, b) => a - b)
  return {
    si: opts.si,
    pn: opts.pn,
    cfg: opts.cfg,
    rows: rows.length,
    ratio: quantiles(ratios),
    distance,
    duplicatePairs: pairs > 0 ? 1 - allDistances.length / pairs : 0,
    distinctMaps: quantiles(prepared.map((r) => r.distinct)),
    alpha,
    dedup,
    topkShare: share(ratios, alpha),
    keptMean,
    dedupQuantile: allDistances.length > 0 ? below / allDistances.length : 0,
    keptByDedup,
    topkShareByAlpha: alphas.map((a): [number, number] => [a, share(ratios, a)]),
    paper: {
      topkShare: share(ratios, PAPER_SEARCH.alpha),
      keptMean: meanKept(prepared, PAPER_SEARCH.alpha, opts.k, PAPER_SEARCH.dedup),
    },
  }
}

/** Quantiles of the distances between all pairs of codebook entries [V, d]. */
export function codebookDistances(codebook: Float32Array, d: number): Quantiles {
  const V = Math.floor(codebook.length / d)
  const out = new Float32Array((V * (V - 1)) / 2)
  let i = 0
  for (let a = 0; a < V; a++) {
    for (let b = a + 1; b < V; b++) {
      let sum = 0
      for (let j = 0; j < d; j++) {
        const x = codebook[a * d + j] - codebook[b * d + j]
        sum += x * x
      }
      out[i++] = Math.sqrt(sum)
    }
  }
  return quantiles(out)
}

export const CALIBRATION_METHOD =
  'alpha: halfway between the two batch ratios (max/mean density) that leave the target share of rows ' +
  'at or above it; dedup: the largest threshold at which the shipped dedup scan keeps, on average over ' +
  "the batch's rows, at least the target fraction of k (scan by descending density where the ratio is " +
  ">= alpha, in the row's random order elsewhere). Measured on a randomk-only run with dedup 0."

const pct = (x: number): string => `${Math.round(x * 100)} %`

/** What a request asks for that the calibrated values depend on. */
export interface SearchRequest {
  /** the request's cfg (its sampling, after the model's defaults) */
  readonly cfg?: number
  /** the request's first search scale, when it names search scales */
  readonly searchScale?: number
}

/**
 * The calibration's measurement for a request: at the request's search scale (else the default
 * scale), the one whose cfg is nearest the request's (ties: the earlier in the record, so the default
 * cfg first). Nearest, not interpolated: each measured row carries the Top-k share and kept count its
 * own values gave, and an interpolated alpha would have neither.
 */
export function measurementFor(
  c: CalibrationRecord,
  req: SearchRequest = {},
): { m: CalibrationMeasurement | undefined; scaleCalibrated: boolean } {
  const d = c.defaults
  const wanted = req.searchScale ?? d.searchScales[0]
  const atWanted = c.measurements.filter((x) => x.si === wanted)
  const scaleCalibrated = atWanted.length > 0
  const rows = scaleCalibrated ? atWanted : c.measurements.filter((x) => x.si === d.searchScales[0])
  const cfg = req.cfg ?? d.cfg
  let best: CalibrationMeasurement | undefined
  for (const x of rows) if (!best || Math.abs(x.cfg - cfg) < Math.abs(best.cfg - cfg)) best = x
  return { m: best, scaleCalibrated }
}

const cfgsAt = (c: CalibrationRecord, si: number): string =>
  c.measurements
    .filter((x) => x.si === si)
    .map((x) => x.cfg)
    .join(', ')

/**
 * The defaults a calibration record gives a request, with the line that says where they come from:
 * the measured row at the request's search scale and nearest cfg (measurementFor). Without a request,
 * the record's own defaults (its first scale and cfg).
 */
export function defaultsOfCalibration(c: CalibrationRecord, req: SearchRequest = {}): SearchDefaults {
  const d = c.defaults
  const { m, scaleCalibrated } = measurementFor(c, req)
  const isDefaultRow = !m || (m.si === d.searchScales[0] && m.cfg === d.cfg)
  const alpha = isDefaultRow ? d.alpha : m.alpha
  const dedup = isDefaultRow ? d.dedup : m.dedup
  const si = m?.si ?? d.searchScales[0]
  const cfg = m?.cfg ?? d.cfg
  const notes: string[] = []
  if (req.searchScale !== undefined && !scaleCalibrated) {
    notes.push(
      `search scale ${req.searchScale} is not calibrated (calibrated: ${[...new Set(c.measurements.map((x) => x.si))].join(', ')}): ` +
        `the values of scale ${si} apply; calibrate with --scales ${req.searchScale}`,
    )
  }
  if (req.cfg !== undefined && req.cfg !== cfg) {
    notes.push(
      `cfg ${req.cfg} asked: the nearest calibrated cfg, ${cfg}, applies (calibrated at scale ${si}: cfg ${cfgsAt(c, si)}; ` +
        `calibrate with --cfg ${req.cfg} for its own values)`,
    )
  }
  return {
    alpha,
    dedup,
    searchScales: d.searchScales,
    from: 'calibrated',
    source:
      `calibrated for ${c.model.id} (${c.createdAt.slice(0, 10)}, ${c.batch.images} images, scale ` +
      `${si}, cfg ${cfg}, N ${c.batch.N}): alpha ${alpha} sends ` +
      `${m ? pct(m.topkShare) : '?'} of rows to Top-k (target ${pct(c.targets.topkShare)}), dedup ${dedup} ` +
      `keeps ${m ? m.keptMean.toFixed(1) : '?'} of k = ${c.batch.k} (target ${pct(c.targets.keptFraction)} of k)` +
      (notes.length > 0 ? `; ${notes.join('; ')}` : ''),
    calibratedAt: { si, cfg },
    ...(req.cfg !== undefined ? { requestCfg: req.cfg } : {}),
    ...(req.cfg === undefined && req.searchScale === undefined
      ? {
          byCfg: c.measurements
            .filter((x) => x.si === si)
            .map((x) => defaultsOfCalibration(c, { cfg: x.cfg })),
        }
      : {}),
    ...(m
      ? {
          ratioMax: m.ratio.max,
          distanceMax: m.distance.max,
          topkShare: m.topkShare,
          keptMean: m.keptMean,
          k: c.batch.k,
        }
      : {}),
  }
}

/**
 * A model's defaults (a list entry's, with `byCfg`) at a form's cfg: the nearest calibrated cfg's
 * (ties: the default cfg), with the line naming it; the entry itself where it has no rows per cfg.
 */
export function searchDefaultsAtCfg(d: SearchDefaults, cfg: number): SearchDefaults {
  const rows = d.byCfg ?? []
  let best: SearchDefaults | undefined
  const gap = (x: SearchDefaults): number => Math.abs((x.calibratedAt?.cfg ?? cfg) - cfg)
  for (const x of rows) if (!best || gap(x) < gap(best)) best = x
  if (!best) return d
  const at = best.calibratedAt?.cfg
  if (at === undefined || at === cfg) return { ...best, byCfg: rows }
  return {
    ...best,
    byCfg: rows,
    requestCfg: cfg,
    source:
      `${best.source}; cfg ${cfg} asked: the nearest calibrated cfg, ${at}, applies (calibrated: cfg ` +
      `${rows.map((x) => x.calibratedAt?.cfg).join(', ')})`,
  }
}

/** The paper's constants, with why they apply (no calibration, or one that was ignored). */
export function paperDefaults(warning?: string): SearchDefaults {
  return {
    alpha: PAPER_SEARCH.alpha,
    dedup: PAPER_SEARCH.dedup,
    searchScales: PAPER_SEARCH.searchScales,
    from: 'paper',
    source: `${PAPER_SEARCH.label}: this model has no calibration (var-studio calibrate)`,
    ...(warning ? { warning } : {}),
  }
}
