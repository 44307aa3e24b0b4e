import { describe, expect, it } from 'vitest'
import { createRng, randomPermutation, rngFromState, seedState } from '../../src-shared/engine/rng'
import reference from '../fixtures/rng-reference.json'

// rng-reference.json is written by test/fixtures/make_rng_reference.py: a separate implementation
// of xoroshiro128+, pure-rand's distributions and the engine's seeding from their definitions
// (checked first against the dice values in pure-rand's README), not by this code.

const draws = (seed: number, n: number, jumps = 0): number[] => {
  const rng = createRng(seed, jumps)
  return Array.from({ length: n }, () => rng.nextDouble())
}

describe('rng', () => {
  it('gives the same doubles for the same seed, different ones for another seed or stream', () => {
    const a = draws(7, 1000)
    expect(draws(7, 1000)).toEqual(a)
    expect(draws(8, 1000)).not.toEqual(a)
    expect(draws(7, 1000, 1)).not.toEqual(a)
    expect(a.every((u) => u >= 0 && u < 1)).toBe(true)
    const mean = a.reduce((s, u) => s + u, 0) / a.length
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05)
  })

  it('matches the independent reference: seeding, doubles and jumps (a change here changes every image)', () => {
    expect(reference.streams.length).toBeGreaterThan(10)
    for (const s of reference.streams) {
      const rng = createRng(s.seed, s.jumps)
      expect(rng.state(), `state of seed ${s.seed}, ${s.jumps} jumps`).toEqual(s.state)
      const got = s.doubles.map(() => rng.nextDouble())
      expect(got, `doubles of seed ${s.seed}, ${s.jumps} jumps`).toEqual(s.doubles)
      expect(rng.state()).toEqual(s.stateAfter)
      if (s.jumps === 0) expect(seedState(s.seed)).toEqual(s.state)
    }
  })

  it('matches the independent reference: integers in a range and permutations', () => {
    for (const c of reference.ints) {
      const rng = createRng(c.seed)
      expect(
        c.values.map(() => rng.nextInt(c.from, c.to)),
        `nextInt(${c.from}, ${c.to}) of seed ${c.seed}`,
      ).toEqual(c.values)
    }
    for (const p of reference.permutations) {
      expect(Array.from(randomPermutation(createRng(p.seed), p.n))).toEqual(p.perm)
    }
  })

  it('spreads the first draw of consecutive seeds over [0, 1)', () => {
    const first = Array.from({ length: 2000 }, (_, seed) => createRng(seed).nextDouble())
    const bins = new Array<number>(10).fill(0)
    for (const u of first) bins[Math.floor(u * 10)]++
    expect(bins).toEqual(reference.firstDoubleBins)
    expect(Math.min(...bins)).toBeGreaterThan(140)
    expect(Math.max(...bins)).toBeLessThan(260)
  })

  it('draws unbiased integers in a closed range', () => {
    const rng = createRng(5)
    const counts = new Array<number>(6).fill(0)
    for (let i = 0; i < 6000; i++) counts[rng.nextInt(1, 6) - 1]++
    expect(Math.min(...counts)).toBeGreaterThan(900)
    expect(Math.max(...counts)).toBeLessThan(1100)
  })

  it('accepts seeds beyond 32 bits and rejects bad ones', () => {
    expect(draws(2 ** 40 + 5, 10)).not.toEqual(draws(5, 10))
    expect(draws(Number.MAX_SAFE_INTEGER, 3)).toEqual(draws(Number.MAX_SAFE_INTEGER, 3))
    expect(() => createRng(-1)).toThrow(/seed must be an integer/)
    expect(() => createRng(1.5)).toThrow(/seed must be an integer/)
  })

  it('resumes from a saved state and clones independently', () => {
    const rng = createRng(3)
    rng.nextDouble()
    const resumed = rngFromState(rng.state())
    const copy = rng.clone()
    const next = [rng.nextDouble(), rng.nextDouble()]
    expect([resumed.nextDouble(), resumed.nextDouble()]).toEqual(next)
    expect([copy.nextDouble(), copy.nextDouble()]).toEqual(next)
  })

  it('draws Fisher-Yates permutations deterministically', () => {
    const p = randomPermutation(createRng(11), 50)
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(randomPermutation(createRng(11), 50)).toEqual(p)
    expect(Array.from(p)).not.toEqual(Array.from({ length: 50 }, (_, i) => i))
  })
})
