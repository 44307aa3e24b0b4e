import { describe, expect, it } from 'vitest'
import { featureView, kdeDensities } from '../../src-shared/engine/kde'
import { createRng } from '../../src-shared/engine/rng'
import { descendingOrder, selectInfinity, selectRow } from '../../src-shared/engine/selection'
import { createStrategy } from '../../src-shared/engine/strategies'
import { kdeInput, loadSelectionFixture } from './selection-fixture'

const sets = loadSelectionFixture()

describe('selection against the NumPy reference (same permutation)', () => {
  const cases = sets.flatMap((set) => set.cases.map((c) => [c.name, set, c] as const))

  /**
   * Selection from the reference's own densities must match to 1e-9; from ours (bandwidths in
   * float64 where NumPy's std runs in float32, so D differs by ~1e-8 relative) to 1e-6, with the same
   * branch and kept set.
   */
  it.each(cases)('%s', (_name, set, c) => {
    const input = kdeInput(set, c)
    const ours = kdeDensities(input)
    const view = featureView(input)
    const [B, N, P] = set.shape
    expect(c.rows).toHaveLength(B)
    c.rows.forEach((want, b) => {
      const sources = [
        { densities: c.densities_f64[b], tol: 1e-9 },
        { densities: ours.densities.subarray(b * N, (b + 1) * N), tol: 1e-6 },
      ]
      for (const { densities, tol } of sources) {
        const rec = selectRow(
          {
            densities,
            bandwidths: ours.bandwidths.subarray(b * P, (b + 1) * P),
            features: view,
            row: b,
            alpha: c.alpha,
            k: c.k,
            dedup: c.dedup,
            finalPick: 'density',
            mode: 'hybrid',
            permutation: want.permutation,
          },
          createRng(b),
        )
        expect(rec.branch).toBe(want.branch)
        expect(Math.abs(rec.ratio - want.ratio)).toBeLessThan(tol * want.ratio)
        expect(Array.from(rec.order)).toEqual(want.order)
        expect(rec.kept).toEqual(want.kept)
        expect(rec.probs).toHaveLength(want.probs.length)
        const worst = Math.max(...rec.probs.map((p, i) => Math.abs(p - want.probs[i])))
        expect(worst).toBeLessThan(tol)
        expect(rec.kept).toContain(rec.chosen)
        expect(rec.chosenProb).toBe(rec.probs[rec.kept.indexOf(rec.chosen)])
        expect(rec.densities).toHaveLength(N)
      }
    })
  })
})

describe('selection rules', () => {
  const set = sets[sets.length - 1]
  const c = set.cases.find((x) => x.kernel === 'exactMatch' && x.dedup === 0)!
  const input = kdeInput(set, c)
  const { densities, bandwidths } = kdeDensities(input)
  const view = featureView(input)
  const [, N, P] = set.shape
  const row = (b: number) => ({
    densities: densities.subarray(b * N, (b + 1) * N),
    bandwidths: bandwidths.subarray(b * P, (b + 1) * P),
    features: view,
    row: b,
  })

  it('forces a branch for the ablations and draws the Random-k permutation from the PRNG', () => {
    const base = { ...row(0), alpha: 1e9, k: 5, dedup: 0, finalPick: 'density' as const }
    expect(selectRow({ ...base, mode: 'hybrid' }, createRng(1)).branch).toBe('random-k')
    expect(selectRow({ ...base, mode: 'top-k' }, createRng(1)).branch).toBe('top-k')
    const a = selectRow({ ...base, mode: 'random-k', alpha: 1e-9 }, createRng(7))
    const b = selectRow({ ...base, mode: 'random-k', alpha: 1e-9 }, createRng(7))
    expect(a.branch).toBe('random-k')
    expect(a).toEqual(b)
    expect(Array.from(a.order).sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i))
    const twice = Array.from({ length: N }, (_, i) => Math.min(i, N - 2))
    expect(() => selectRow({ ...base, mode: 'random-k', permutation: twice }, createRng(1))).toThrow(
      `permutation must hold each of 0 .. ${N - 1} once`,
    )
  })

  it('never keeps an exact duplicate and keeps at most k', () => {
    const rec = selectRow(
      { ...row(0), alpha: 1, k: 10, dedup: 0, finalPick: 'density', mode: 'top-k' },
      createRng(2),
    )
    const maps = rec.kept.map((i) => set.ids[0][i].join(','))
    expect(new Set(maps).size).toBe(maps.length)
    expect(rec.kept.length).toBeLessThanOrEqual(10)
  })

  it('rank weights the i-th of K kept by K - i; argmax takes the densest kept', () => {
    const base = { ...row(0), alpha: 1, k: 4, dedup: 0, mode: 'top-k' as const }
    const rank = selectRow({ ...base, finalPick: 'rank' }, createRng(3))
    expect(rank.probs).toEqual([0.4, 0.3, 0.2, 0.1])
    const arg = selectRow({ ...base, finalPick: 'argmax' }, createRng(3))
    expect(arg.chosen).toBe(descendingOrder(base.densities)[0])
    expect(arg.chosenProb).toBe(1)
  })

  it('draws the final pick with probability proportional to D', () => {
    const base = {
      ...row(1),
      alpha: 1e9,
      k: 5,
      dedup: 0,
      finalPick: 'density' as const,
      mode: 'random-k' as const,
    }
    const perm = Array.from({ length: N }, (_, i) => i)
    const first = selectRow({ ...base, permutation: perm }, createRng(0))
    const counts = new Map<number, number>()
    const rng = createRng(11)
    const trials = 4000
    for (let t = 0; t < trials; t++) {
      const rec = selectRow({ ...base, permutation: perm }, rng)
      counts.set(rec.chosen, (counts.get(rec.chosen) ?? 0) + 1)
    }
    first.kept.forEach((cand, i) => {
      expect(Math.abs((counts.get(cand) ?? 0) / trials - first.probs[i])).toBeLessThan(0.03)
    })
  })

  it('the Infinity variant takes the top 100 by D with linear rank weights', () => {
    const D = Float64Array.from({ length: 300 }, (_, i) => (i * 37) % 300)
    const rec = selectInfinity(D, [], createRng(5))
    expect(rec.kept).toHaveLength(100)
    expect(rec.kept.map((i) => D[i])).toEqual(Array.from({ length: 100 }, (_, i) => 299 - i))
    expect(rec.probs[0]).toBeCloseTo(100 / 5050, 15)
    expect(rec.probs[99]).toBeCloseTo(1 / 5050, 15)
    expect(rec.kept).toContain(rec.chosen)
  })

  it('orders ties by the lower index', () => {
    expect(Array.from(descendingOrder([1, 3, 3, 2, 3]))).toEqual([1, 2, 4, 3, 0])
  })

  it('the factory wires the knobs through', () => {
    const s = createStrategy({ kind: 'topk-only', k: 3, dedup: 0, finalPick: 'rank' })
    expect(s.search(1)).toEqual({
      N: 50,
      kernel: 'gaussian',
      poolBandwidthOverBatch: false,
      legacyProgressiveNucleus: false,
    })
    expect(s.search(0)).toBeUndefined()
    const rec = s.select(row(1), createRng(1))
    expect(rec.branch).toBe('top-k')
    expect(rec.probs).toEqual([0.5, 1 / 3, 1 / 6])
  })
})

describe('a row whose N candidates are all the same map', () => {
  it('has D = N·P for every candidate, no mode (ratio 1), and keeps exactly one candidate', () => {
    const [N, P, d, V] = [50, 4, 8, 16]
    const rng = createRng(3)
    const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() - 0.5)
    const ids = Int32Array.from({ length: N * P }, (_, i) => [2, 7, 7, 11][i % P])
    const input = { B: 1, N, P, d, ids, codebook, kernel: 'gaussian', poolBandwidthOverBatch: false } as const
    const { densities, bandwidths } = kdeDensities(input)
    expect(Array.from(densities)).toEqual(new Array<number>(N).fill(N * P))
    for (const alpha of [1, 2.3]) {
      const rec = selectRow(
        {
          densities,
          bandwidths,
          features: featureView(input),
          row: 0,
          alpha,
          k: 10,
          dedup: 0,
          finalPick: 'density',
          mode: 'hybrid',
        },
        createRng(8),
      )
      expect(rec.ratio).toBe(1)
      // the mode test is max >= alpha·mean: a ratio of exactly alpha is a mode
      expect(rec.branch).toBe(alpha === 1 ? 'top-k' : 'random-k')
      expect(rec.kept).toHaveLength(1)
      expect(rec.probs).toEqual([1])
      expect(rec.chosen).toBe(rec.kept[0])
    }
  })
})

describe('the final pick', () => {
  it('takes the first kept candidate whose cumulative D passes u·ΣD, u being the stream’s next double', () => {
    const [N, P, d, V] = [8, 2, 4, 64]
    const rng = createRng(21)
    const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() - 0.5)
    // distinct maps, so every candidate is kept with dedup 0
    const ids = Int32Array.from({ length: N * P }, (_, i) => i)
    const input = { B: 1, N, P, d, ids, codebook, kernel: 'gaussian', poolBandwidthOverBatch: false } as const
    const densities = Float64Array.from([9, 1, 4, 2, 7, 3, 5, 6])
    const picked = new Set<number>()
    for (let seed = 0; seed < 40; seed++) {
      const rec = selectRow(
        {
          densities,
          bandwidths: new Float64Array(P),
          features: featureView(input),
          row: 0,
          alpha: 0, // Top-k: no permutation is drawn, the pick takes the stream's first double
          k: N,
          dedup: 0,
          finalPick: 'density',
          mode: 'hybrid',
        },
        createRng(seed),
      )
      expect(rec.kept).toEqual(Array.from(descendingOrder(densities)))
      const target = createRng(seed).nextDouble() * densities.reduce((a, b) => a + b, 0)
      let acc = 0
      const want = rec.kept.find((c) => (acc += densities[c]) > target)
      expect(rec.chosen, `seed ${seed}`).toBe(want)
      expect(rec.chosenProb).toBeCloseTo(densities[rec.chosen] / 37, 12)
      picked.add(rec.chosen)
    }
    expect(picked.size).toBeGreaterThan(4)
  })
})
