import { describe, expect, it } from 'vitest'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import { type SearchRow, summarizeSearch } from '../../src-shared/engine/search-summary'
import { joinSummaries } from '../../src-main/eval/merge'

const knobs = { kind: 'var-scaling' as const, N: 3, k: 3, alpha: 1.6, dedup: 0.6 }
const strategy = { ...knobs, searchScales: [1] } as unknown as StrategyConfig
const hint = { alpha: 1.6, dedup: 0.6, from: 'calibrated' as const }

function rows(kept: number[], topk: boolean[]): SearchRow[] {
  return kept.map((k, i) => ({
    kept: Array.from({ length: k }, (_, j) => j),
    ratio: 1 + ((i * 7) % 5) / 10,
    branch: topk[i] ? 'top-k' : 'random-k',
    densities: [],
    distanceMax: 0.5 + ((i * 3) % 4) / 20,
  }))
}

describe('search summaries of shards', () => {
  it('joins the parts of a run into the summary of all its rows, numbers and notes', () => {
    const a = rows([1, 3, 2, 2], [true, false, false, true])
    const b = rows([2, 2, 3, 1, 1, 3], [false, false, false, false, true, false])
    const parts = [[summarizeSearch(1, a, knobs, hint)], [summarizeSearch(1, b, knobs, hint)]]
    expect(joinSummaries(parts, strategy, hint)).toEqual([summarizeSearch(1, [...a, ...b], knobs, hint)])
  })

  it('writes a note only the joined rows earn (a mode test that never fired in 10 rows)', () => {
    const a = rows([3, 3, 2, 3], [false, false, false, false])
    const b = rows([3, 2, 3, 3, 3, 3], [false, false, false, false, false, false])
    const parts = [[summarizeSearch(1, a, knobs, hint)], [summarizeSearch(1, b, knobs, hint)]]
    expect(parts.flat().flatMap((s) => s.notes)).toEqual([])
    const joined = joinSummaries(parts, strategy, hint)
    expect(joined).toEqual([summarizeSearch(1, [...a, ...b], knobs, hint)])
    expect(joined[0]?.notes.join(' ')).toContain('the mode test never fired in 10 rows')
  })
})
