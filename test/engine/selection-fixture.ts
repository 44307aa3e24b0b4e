/** The VAR-Scaling reference values written by models/var_tools/fixtures.py (selection.json). */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { KdeInput, KdeKernel } from '../../src-shared/engine/kde'

export interface FixtureRow {
  permutation: number[]
  ratio: number
  branch: 'top-k' | 'random-k'
  order: number[]
  kept: number[]
  probs: number[]
}

export interface FixtureCase {
  name: string
  kernel: KdeKernel
  poolBandwidthOverBatch: boolean
  alpha: number
  k: number
  dedup: number
  densities_f64: number[][]
  bandwidth: number[][]
  rows: FixtureRow[]
}

export interface FixtureSet {
  name: string
  /** [B][N][P] */
  ids: number[][][]
  /** per row, [N·P·d] */
  features: number[][]
  shape: [number, number, number, number]
  cases: FixtureCase[]
}

export function loadSelectionFixture(): FixtureSet[] {
  const path = resolve(import.meta.dirname, '../fixtures/selection.json')
  return (JSON.parse(readFileSync(path, 'utf8')) as { sets: FixtureSet[] }).sets
}

/** A KDE input with the set's explicit features (and ids unless left out). */
export function kdeInput(set: FixtureSet, c: FixtureCase, withIds = true): KdeInput {
  const [B, N, P, d] = set.shape
  return {
    B,
    N,
    P,
    d,
    features: Float32Array.from(set.features.flat()),
    ids: withIds ? Int32Array.from(set.ids.flat(2)) : undefined,
    kernel: c.kernel,
    poolBandwidthOverBatch: c.poolBandwidthOverBatch,
  }
}
