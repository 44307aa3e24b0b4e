/**
 * Candidate selection of VAR-Scaling (DESIGN section 4, steps 4-6) for one row, and the Infinity
 * variant. Everything the studio charts is in the returned record, computed by the same code that
 * made the choice.
 */
import type { FeatureView } from './kde'
import { randomPermutation, type Rng } from './rng'

export type Branch = 'top-k' | 'random-k'
/** `hybrid` runs the mode test; the others force one branch (the paper's ablations). */
export type SelectionMode = 'hybrid' | Branch
export type FinalPick = 'density' | 'rank' | 'argmax'

export interface SelectionRecord {
  /** D of every candidate [N] */
  densities: Float64Array
  /** bandwidth per position [P] */
  bandwidths: Float64Array
  /** max(D) / mean(D) */
  ratio: number
  alpha: number
  branch: Branch
  /** the scan order (candidate indices) */
  order: Int32Array
  /** kept candidates, in scan order */
  kept: number[]
  /** pick probability of each kept candidate */
  probs: number[]
  /** index of the chosen candidate (0 .. N-1) */
  chosen: number
  chosenProb: number
  /** candidate token maps [N, P], filled in by the loop */
  candidates?: Int32Array
}

export interface SelectRowInput {
  /** D of the row's N candidates */
  densities: ArrayLike<number>
  /** bandwidths of the row's positions [P] (only recorded) */
  bandwidths: ArrayLike<number>
  /** features of all rows; `row` picks this one */
  features: FeatureView
  row: number
  alpha: number
  k: number
  dedup: number
  finalPick: FinalPick
  mode: SelectionMode
  /** scan order for the Random-k branch; drawn from `rng` when absent */
  permutation?: ArrayLike<number>
}

/** Ratio max(D)/mean(D) of the mode test. */
export function modeRatio(densities: ArrayLike<number>): number {
  let max = -Infinity
  let sum = 0
  for (let i = 0; i < densities.length; i++) {
    const v = densities[i]
    sum += v
    if (v > max) max = v
  }
  return max / (sum / densities.length)
}

/** Candidate indices by descending D, ties by the lower index. */
export function descendingOrder(densities: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: densities.length }, (_, i) => i)
  return order.sort((a, b) => densities[b] - densities[a] || a - b)
}

/** Squared L2 distance between two candidates' flattened embeddings (all positions × dims). */
function distance2(view: FeatureView, row: number, a: number, b: number): number {
  const { src, offsets, N, P, d } = view
  const ra = (row * N + a) * P
  const rb = (row * N + b) * P
  let sum = 0
  for (let p = 0; p < P; p++) {
    const oa = offsets[ra + p]
    const ob = offsets[rb + p]
    if (oa === ob) continue // same token: contributes exactly 0
    for (let j = 0; j < d; j++) {
      const x = src[oa + j] - src[ob + j]
      sum += x * x
    }
  }
  return sum
}

/** Scans `order` and keeps up to k candidates at least `dedup` (L2) from every kept one, never at 0. */
export function dedupScan(
  view: FeatureView,
  row: number,
  order: ArrayLike<number>,
  k: number,
  dedup: number,
): number[] {
  const kept: number[] = []
  for (let i = 0; i < order.length && kept.length < k; i++) {
    const c = order[i]
    let ok = true
    for (const j of kept) {
      const dist = Math.sqrt(distance2(view, row, c, j))
      if (dist === 0 || dist < dedup) {
        ok = false
        break
      }
    }
    if (ok) kept.push(c)
  }
  return kept
}

/** Draws index i of `weights` with probability weights[i] / Σ (one uniform double). */
function drawIndex(weights: readonly number[], total: number, u: number): number {
  const target = u * total
  let acc = 0
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]
    if (weights[i] > 0 && (acc > target || acc >= total)) return i
  }
  return weights.length - 1
}

function normalise(weights: readonly number[]): { probs: number[]; total: number } {
  let total = 0
  for (const w of weights) total += w
  return { probs: weights.map((w) => w / total), total }
}

function pick(
  kept: number[],
  densities: ArrayLike<number>,
  finalPick: FinalPick,
  rng: Rng | undefined,
): { probs: number[]; chosen: number; chosenProb: number } {
  const K = kept.length
  const weights = finalPick === 'rank' ? kept.map((_, i) => K - i) : kept.map((c) => densities[c])
  const { probs, total } = normalise(weights)
  if (!rng) throw new RangeError('selection needs a PRNG for its final pick')
  const u = rng.nextDouble() // drawn for every rule, see rng.ts
  if (finalPick === 'argmax') {
    let best = 0
    for (let i = 1; i < K; i++) {
      const a = densities[kept[i]]
      const b = densities[kept[best]]
      if (a > b || (a === b && kept[i] < kept[best])) best = i
    }
    return { probs: kept.map((_, i) => (i === best ? 1 : 0)), chosen: kept[best], chosenProb: 1 }
  }
  const at = drawIndex(weights, total, u)
  return { probs, chosen: kept[at], chosenProb: probs[at] }
}

/**
 * One row: mode test (or the forced branch), scan order, dedup-limited kept set, final pick.
 * `rng` is consumed as documented in rng.ts: a permutation only for Random-k without one given,
 * then one double for the pick.
 */
export function selectRow(input: SelectRowInput, rng?: Rng): SelectionRecord {
  const { densities, alpha, k, dedup, mode } = input
  const N = densities.length
  if (N !== input.features.N) throw new RangeError(`densities has ${N} values, N is ${input.features.N}`)
  const ratio = modeRatio(densities)
  const branch: Branch = mode === 'hybrid' ? (ratio >= alpha ? 'top-k' : 'random-k') : mode
  let order: Int32Array
  if (branch === 'top-k') {
    order = descendingOrder(densities)
  } else if (input.permutation) {
    order = Int32Array.from(input.permutation)
    const seen = new Uint8Array(N)
    for (const i of order) {
      if (order.length !== N || !(i >= 0 && i < N) || seen[i]) {
        throw new RangeError(`permutation must hold each of 0 .. ${N - 1} once`)
      }
      seen[i] = 1
    }
  } else {
    if (!rng) throw new RangeError('the Random-k branch needs a PRNG or a permutation')
    order = randomPermutation(rng, N)
  }
  const kept = dedupScan(input.features, input.row, order, k, dedup)
  const { probs, chosen, chosenProb } = pick(kept, densities, input.finalPick, rng)
  return {
    densities: Float64Array.from(densities),
    bandwidths: Float64Array.from(input.bandwidths),
    ratio,
    alpha,
    branch,
    order,
    kept,
    probs,
    chosen,
    chosenProb,
  }
}

/**
 * The Infinity variant: the `top` highest densities (ties by lower index), picked with linear rank
 * weights (the i-th of K gets K - i); no mode test, no dedup. One double from `rng`.
 */
export function selectInfinity(
  densities: ArrayLike<number>,
  bandwidths: ArrayLike<number>,
  rng: Rng,
  top = 100,
): SelectionRecord {
  const order = descendingOrder(densities)
  const kept = Array.from(order.subarray(0, Math.min(top, order.length)))
  const { probs, chosen, chosenProb } = pick(kept, densities, 'rank', rng)
  return {
    densities: Float64Array.from(densities),
    bandwidths: Float64Array.from(bandwidths),
    ratio: modeRatio(densities),
    alpha: 0,
    branch: 'top-k',
    order,
    kept,
    probs,
    chosen,
    chosenProb,
  }
}
