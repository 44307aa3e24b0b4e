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
