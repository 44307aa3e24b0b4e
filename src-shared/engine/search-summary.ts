/**
 * What a search did over a batch, in words: a search that keeps one candidate, or a mode test that
 * never fires, makes VAR-Scaling plain sampling or plain Random-k, and must be said, never silent.
 * The host adds one summary per search scale to every generate result; the CLI prints the notes and
 * writes them to run.json, the studio shows them beside the job's images.
 */
import type { Branch } from './selection'

/** What a summary reads of one row's selection (a SelectionRecord or the studio's SelectionView). */
export interface SearchRow {
  readonly kept: readonly number[]
  readonly ratio: number
  readonly branch: Branch
  readonly densities: ArrayLike<number>
  /** the largest distance between two distinct candidate maps of the row, when measured */
  readonly distanceMax?: number | undefined
}

export interface SearchKnobs {
  readonly kind: 'var-scaling' | 'topk-only' | 'randomk-only'
  readonly N: number
  readonly k: number
  readonly alpha: number
  readonly dedup: number
}

/** The model's defaults, to offer in the notes. */
export interface SearchHint {
  readonly alpha: number
  readonly dedup: number
  readonly from: 'calibrated' | 'paper'
}

export interface SearchSummary {
  readonly si: number
  readonly rows: number
  readonly N: number
  readonly k: number
  readonly alpha: number
  readonly dedup: number
  readonly keptMean: number
  readonly keptMin: number
  readonly keptMax: number
  /** rows that took Top-k */
  readonly topkRows: number
  readonly ratioMax: number
  /** the largest distance between distinct candidates over the rows that measured it */
  readonly distanceMax?: number
  /** plain sentences; empty when the search did what it is meant to */
  readonly notes: readonly string[]
}

/** Below this mean kept count (as a fraction of k) the notes say the search is short of candidates. */
export const KEPT_NOTE_FRACTION = 0.8
/** A mode test that never (or always) fires is reported from this many rows on. */
export const MODE_NOTE_ROWS = 10

const r3 = (x: number): string => String(Math.round(x * 1000) / 1000)

function hintText(hint: SearchHint | undefined, what: 'dedup' | 'alpha', knobs: SearchKnobs): string {
  if (hint?.from === 'calibrated') {
    const value = what === 'dedup' ? hint.dedup : hint.alpha
    if (value === knobs[what]) {
      return `${what} ${r3(value)} is this model's calibrated value, measured at another N, k or cfg: calibrate at these settings (var-studio calibrate --N ${knobs.N} --k ${Math.min(knobs.k, knobs.N)} --cfg ...)`
    }
    return `this model's calibrated ${what} is ${r3(value)}`
  }
  return 'calibrate this model (var-studio calibrate, or Calibrate in Models) to get values that search'
}

/** The summary of one search scale's rows under the strategy's knobs. */
export function summarizeSearch(
  si: number,
  rows: readonly SearchRow[],
  knobs: SearchKnobs,
  hint?: SearchHint,
): SearchSummary {
  const kept = rows.map((r) => r.kept.length)
  const keptMean = kept.reduce((s, x) => s + x, 0) / Math.max(1, rows.length)
  const keptMin = Math.min(...kept)
  const keptMax = Math.max(...kept)
  const topkRows = rows.filter((r) => r.branch === 'top-k').length
  const ratioMax = Math.max(...rows.map((r) => r.ratio))
  const measured = rows.map((r) => r.distanceMax).filter((d): d is number => d !== undefined)
  const distanceMax = measured.length > 0 ? Math.max(...measured) : undefined
  const { N, k, dedup, alpha } = knobs
  const notes: string[] = []
  const k1 = Math.min(k, N)
  if (rows.length > 0 && keptMean < KEPT_NOTE_FRACTION * k1) {
    const why =
      distanceMax !== undefined && dedup > distanceMax
        ? `dedup ${r3(dedup)} is larger than any distance between candidates on this model (largest ${r3(distanceMax)})`
        : `dedup ${r3(dedup)} skips most candidates as near-duplicates${distanceMax !== undefined ? ` (largest distance between candidates ${r3(distanceMax)})` : ''}`
    const what =
      keptMax === 1
        ? `kept 1 of ${N} candidates in every row`
        : `kept ${keptMean.toFixed(1)} of k = ${k1} candidates on average (fewest ${keptMin})`
    const effect =
      keptMax === 1
        ? knobs.kind === 'topk-only'
          ? ': Top-k only is an argmax of the density'
          : ': the search is plain sampling'
        : ''
    notes.push(
      `scale ${si}: the search ${what}${keptMax === 1 ? ` (k = ${k1})` : ''}: ${why}${effect}; ${hintText(hint, 'dedup', knobs)}`,
    )
  }
  if (knobs.kind === 'var-scaling' && rows.length >= MODE_NOTE_ROWS) {
    if (topkRows === 0) {
      notes.push(
        `scale ${si}: the mode test never fired in ${rows.length} rows: max/mean density reached at most ` +
          `${r3(ratioMax)}, below alpha ${r3(alpha)}, so every row took Random-k (VAR-Scaling ran as Random-k only); ` +
          hintText(hint, 'alpha', knobs),
      )
    } else if (topkRows === rows.length) {
      notes.push(
        `scale ${si}: the mode test fired in all ${rows.length} rows (alpha ${r3(alpha)} is below every row's ` +
          `max/mean density), so VAR-Scaling ran as Top-k only; ${hintText(hint, 'alpha', knobs)}`,
      )
    }
  }
  return {
    si,
    rows: rows.length,
    N,
    k: k1,
    alpha,
    dedup,
    keptMean,
    keptMin,
    keptMax,
    topkRows,
    ratioMax,
    ...(distanceMax !== undefined ? { distanceMax } : {}),
    notes,
  }
}

/** Largest distance between two distinct candidate maps [N][l] (codebook rows [V, d]). */
export function largestDistance(
  candidates: ArrayLike<number>,
  N: number,
  l: number,
  codebook: Float32Array,
  d: number,
): number {
  let best = 0
  for (let a = 0; a < N; a++) {
    for (let b = a + 1; b < N; b++) {
      let sum = 0
      for (let p = 0; p < l; p++) {
        const ia = candidates[a * l + p]
        const ib = candidates[b * l + p]
        if (ia === ib) continue
        for (let j = 0; j < d; j++) {
          const x = codebook[ia * d + j] - codebook[ib * d + j]
          sum += x * x
        }
      }
      if (sum > best) best = sum
    }
  }
  return Math.sqrt(best)
}

/** Pairs times work per pair above which `largestDistance` is not worth computing per image. */
export const LARGEST_DISTANCE_WORK = 2e7
