import type { SelectionView } from '../../../src-shared/ipc'
import { num } from './format'

export interface KeptNote {
  /** one line: how many were kept of k, and why not more */
  readonly text: string
  /** the skipped candidates in scan order ("#3, #5"), for a detail line */
  readonly skipped: readonly number[]
  /** `short`: fewer than k were kept; `info`: k were kept, but some were skipped on the way */
  readonly kind: 'short' | 'info'
}

const candidates = (n: number): string => `${n} ${n === 1 ? 'candidate' : 'candidates'}`

/**
 * Why a search scale kept the candidates it did, from the record alone. Both branches run the same
 * scan (src-shared/engine/selection.ts, dedupScan): walk the scan order — descending density for
 * Top-k, a random permutation for Random-k — and keep a candidate unless its distance to one already
 * kept is below `dedup` or exactly 0, stopping once k are kept. So fewer than k kept means the whole
 * order was walked and every candidate not kept was skipped as a near-duplicate; with k kept, the
 * skipped ones are those before the last kept one in the order. Undefined when there is nothing to
 * explain, or when the record does not fit that reading (no k in the strategy, an order that is not
 * all N candidates), rather than guessing.
 */
export function keptNote(
  sel: Pick<SelectionView, 'N' | 'order' | 'kept' | 'branch'>,
  strategy: Readonly<Record<string, unknown>>,
): KeptNote | undefined {
  const { k, dedup } = strategy
  if (typeof k !== 'number' || typeof dedup !== 'number') return undefined
  if (sel.order.length !== sel.N || sel.kept.length === 0) return undefined
  const kept = new Set(sel.kept)
  const lastKept = Math.max(...sel.kept.map((c) => sel.order.indexOf(c)))
  if (lastKept < 0 || sel.kept.some((c) => !sel.order.includes(c))) return undefined
  const short = sel.kept.length < k
  // Short of k: the scan went to the end. Otherwise it stopped at the k-th kept candidate.
  const walked = short ? sel.order : sel.order.slice(0, lastKept + 1)
  const skipped = walked.filter((c) => !kept.has(c))
  if (skipped.length === 0) return undefined
  const scan = sel.branch === 'top-k' ? 'by descending density' : 'in a random order'
  const why =
    dedup === 0
      ? 'identical to a candidate already kept (distance 0; dedup is 0)'
      : `near-duplicates (distance to a candidate already kept below the dedup distance ${num(dedup)}, or 0)`
  const text = short
    ? `Kept ${sel.kept.length} of k = ${k}: the scan ${scan} went through all ${candidates(sel.N)} and ` +
      `skipped ${skipped.length} as ${why}.`
    : `Kept k = ${k}; on the way the scan ${scan} skipped ${skipped.length} as ${why}.`
  return { text, skipped, kind: short ? 'short' : 'info' }
}

/** The model's search defaults as the note offers them (a ModelView's `searchDefaults`). */
export interface DefaultsHint {
  readonly alpha: number
  readonly dedup: number
  readonly from: 'calibrated' | 'paper'
  /** the largest max/mean density of the model's calibration batch */
  readonly ratioMax?: number
}

/**
 * A search that did nothing, in words: one candidate kept (dedup larger than any distance between the
 * candidates: plain sampling), or an alpha above every ratio the model's calibration batch showed (the
 * mode test never fires: VAR-Scaling is Random-k only). Undefined when the search did its work.
 */
export function degeneracyNote(
  sel: Pick<SelectionView, 'N' | 'kept' | 'ratio' | 'alpha' | 'distanceMax'>,
  strategy: Readonly<Record<string, unknown>>,
  defaults?: DefaultsHint,
): string | undefined {
  const { k, dedup, kind } = strategy
  if (typeof k !== 'number' || typeof dedup !== 'number') return undefined
  const calibrated = defaults?.from === 'calibrated'
  const hint = calibrated
    ? `This model's calibrated values: α ${num(defaults.alpha)}, dedup ${num(defaults.dedup)} (Generate › Calibrated values).`
    : 'Calibrate the model (Models › Calibrate) for values that search.'
  const parts: string[] = []
  if (sel.kept.length === 1 && sel.N > 1 && k > 1) {
    const d = sel.distanceMax
    parts.push(
      d !== undefined && dedup > d
        ? `The search kept 1 of ${candidates(sel.N)}: dedup ${num(dedup)} is larger than any distance between this image's candidates (largest ${num(d)}), so the search was plain sampling.`
        : `The search kept 1 of ${candidates(sel.N)}: every other one was within dedup ${num(dedup)} of it.`,
    )
  }
  const ratioMax = defaults?.ratioMax
  if (kind === 'var-scaling' && ratioMax !== undefined && sel.alpha > ratioMax) {
    parts.push(
      `α ${num(sel.alpha)} is above every max/mean density of this model's calibration batch (largest ${num(ratioMax)}): the mode test never fires, so VAR-Scaling runs as Random-k only.`,
    )
  }
  if (parts.length === 0) return undefined
  if (calibrated && defaults.dedup === dedup && defaults.alpha === sel.alpha) {
    return `${parts.join(' ')} These are the model's calibrated values, measured at other settings: calibrate again at this N and cfg.`
  }
  return `${parts.join(' ')} ${hint}`
}
