import { describe, expect, it } from 'vitest'
import {
  createStrategy,
  parseSampling,
  parseStrategy,
  SettingsError,
  STRATEGY_KINDS,
  validateForModel,
} from '../../src-shared/engine/strategies'

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError)
    const e = error as SettingsError
    expect(e.name).toBe('SettingsError')
    for (const i of e.issues) expect(e.message).toContain(`${i.path}: ${i.message}`)
    return [...e.issues]
  }
  throw new Error('expected a SettingsError')
}

describe('strategy settings', () => {
  it('fills in the documented defaults', () => {
    expect(parseStrategy({ kind: 'var-scaling' })).toEqual({
      kind: 'var-scaling',
      searchScales: [1],
      N: 50,
      k: 10,
      alpha: 2.3,
      dedup: 1.8,
      finalPick: 'density',
      legacyProgressiveNucleus: false,
      poolBandwidthOverBatch: false,
      kernel: 'gaussian',
    })
    expect(parseStrategy({ kind: 'best-of-n' })).toEqual({ kind: 'best-of-n', N: 4 })
    expect(parseStrategy({ kind: 'baseline' })).toEqual({ kind: 'baseline' })
    for (const kind of STRATEGY_KINDS) expect(parseStrategy({ kind }).kind).toBe(kind)
  })

  it('names each bad field with its allowed range', () => {
    expect(issuesOf(() => parseStrategy({ kind: 'var-scaling', N: 0 }))).toContainEqual({
      path: 'N',
      message: 'must be an integer >= 1',
    })
    expect(issuesOf(() => parseStrategy({ kind: 'topk-only', N: 20, k: 21 }))).toEqual([
      { path: 'k', message: 'must be an integer in [1, N] = [1, 20]' },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'randomk-only', k: 0 }))).toEqual([
      { path: 'k', message: 'must be an integer in [1, N]' },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'var-scaling', alpha: 0, dedup: -1 }))).toEqual([
      { path: 'alpha', message: 'must be a number > 0' },
      { path: 'dedup', message: 'must be a number >= 0' },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'var-scaling', searchScales: [1, -2] }))).toEqual([
      { path: 'searchScales[1]', message: 'must be a scale index, an integer >= 0' },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'var-scaling', finalPick: 'best', kernel: 'box' }))).toEqual([
      { path: 'finalPick', message: "must be 'density', 'rank' or 'argmax'" },
      { path: 'kernel', message: "must be 'gaussian' or 'exactMatch'" },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'best-of-n', N: 2.5 }))).toEqual([
      { path: 'N', message: 'must be an integer >= 1' },
    ])
    expect(issuesOf(() => parseStrategy({ kind: 'greedy' }))[0].path).toBe('kind')
    expect(issuesOf(() => parseStrategy({ kind: 'baseline', N: 3 }))).toEqual([
      { path: 'N', message: 'unknown setting' },
    ])
  })

  it('checks search scales against the model', () => {
    const cfg = parseStrategy({ kind: 'var-scaling', searchScales: [1, 6] })
    expect(issuesOf(() => validateForModel(cfg, 6))).toEqual([
      { path: 'searchScales[1]', message: 'must be a scale index in [0, 5] (this model has 6 scales)' },
    ])
    expect(validateForModel(parseStrategy({ kind: 'var-scaling', searchScales: [0, 5] }), 6).kind).toBe(
      'var-scaling',
    )
    expect(validateForModel(parseStrategy({ kind: 'baseline' }), 1).kind).toBe('baseline')
  })

  it('the factory exposes search scales and generations', () => {
    const s = createStrategy({ kind: 'var-scaling', searchScales: [1, 3], N: 8, k: 2 })
    expect([0, 1, 2, 3].map((si) => s.search(si)?.N)).toEqual([undefined, 8, undefined, 8])
    expect(s.generations).toBe(1)
    const best = createStrategy({ kind: 'best-of-n', N: 3 })
    expect(best.generations).toBe(3)
    expect(best.search(1)).toBeUndefined()
    expect(best.best([0.2, 0.7, 0.7])).toBe(1)
    expect(() => createStrategy({ kind: 'var-scaling', N: -1 })).toThrow(SettingsError)
  })
})

describe('sampling settings', () => {
  it('accepts the manifest defaults and names bad fields with their ranges', () => {
    expect(parseSampling({ cfg: 3, top_k: 0, top_p: 0.95 }, 512)).toEqual({ cfg: 3, top_k: 0, top_p: 0.95 })
    expect(parseSampling({ cfg: 0, top_k: 512, top_p: 1 }, 512).top_k).toBe(512)
    expect(issuesOf(() => parseSampling({ cfg: -1, top_k: 1.5, top_p: -0.1 }))).toEqual([
      { path: 'cfg', message: 'must be a number >= 0' },
      { path: 'top_k', message: 'must be an integer >= 0 (0 turns it off)' },
      { path: 'top_p', message: 'must be a number in [0, 1] (0 and 1 turn it off)' },
    ])
    expect(issuesOf(() => parseSampling({ cfg: 1, top_k: 0, top_p: 1.01 }))).toEqual([
      { path: 'top_p', message: 'must be a number in [0, 1] (0 and 1 turn it off)' },
    ])
    // the official sampler's "off" values, and its more_smooth switch
    expect(parseSampling({ cfg: 4, top_k: 0, top_p: 0, more_smooth: true }, 512)).toEqual({
      cfg: 4,
      top_k: 0,
      top_p: 0,
      more_smooth: true,
    })
    expect(issuesOf(() => parseSampling({ cfg: 1, top_k: 0, top_p: 0.9, more_smooth: 'yes' }))).toEqual([
      { path: 'more_smooth', message: 'must be true or false' },
    ])
    expect(issuesOf(() => parseSampling({ cfg: 1, top_k: 513, top_p: 0.9 }, 512))).toEqual([
      { path: 'top_k', message: 'must be an integer in [0, 512] (the vocabulary size; 0 turns it off)' },
    ])
  })
})
