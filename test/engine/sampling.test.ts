import { describe, expect, it } from 'vitest'
import { createRng, type Rng } from '../../src-shared/engine/rng'
import {
  gumbelFromUniform,
  guidanceScale,
  guideRow,
  kthLargest,
  quickselect,
  smoothRatio,
  smoothTau,
  TokenSampler,
} from '../../src-shared/engine/sampling'

/**
 * The definition, with full sorts: top-k keeps values >= the k-th largest; top-p sorts the
 * survivors ascending by (value, id), takes the cumulative softmax and drops entries whose
 * cumulative mass is <= 1 - top_p, except the largest.
 */
function referenceKeep(z: Float32Array, topK: number, topP: number): boolean[] {
  const V = z.length
  const x = Array.from(z)
  if (topK > 0 && topK < V) {
    const kth = [...x].sort((a, b) => b - a)[topK - 1]
    for (let i = 0; i < V; i++) if (x[i] < kth) x[i] = -Infinity
  }
  const keep = x.map((v) => v !== -Infinity)
  if (topP < 1) {
    const order = x
      .map((v, i) => i)
      .filter((i) => x[i] !== -Infinity)
      .sort((a, b) => x[a] - x[b] || a - b)
    const max = x[order[order.length - 1]]
    const e = x.map((v) => Math.exp(v - max))
    const total = e.reduce((s, v) => s + v, 0)
    let cum = 0
    order.forEach((i, j) => {
      cum += e[i] / total
      if (cum <= 1 - topP && j < order.length - 1) keep[i] = false
    })
  }
  return keep
}

function randomLogits(rng: ReturnType<typeof createRng>, V: number, ties: boolean): Float32Array {
  const z = new Float32Array(V)
  for (let i = 0; i < V; i++) {
    // ties: a handful of distinct values, so many equal logits straddle every cut
    z[i] = ties ? Math.floor(rng.nextDouble() * 6) * 0.5 : (rng.nextDouble() - 0.5) * 12
  }
  return z
}

describe('guidance', () => {
  it('ramps t = cfg·si/(S-1) and mixes the conditional and null rows', () => {
    expect(guidanceScale(3, 0, 6)).toBe(0)
    expect(guidanceScale(3, 5, 6)).toBe(3)
    expect(guidanceScale(3, 0, 1)).toBe(0)
    // B = 2 rows, l = 1, V = 2: conditional rows [1, 2], [3, 4]; null rows [0, 1], [1, 0]
    const logits = Float32Array.from([1, 2, 3, 4, 0, 1, 1, 0])
    const out = new Float32Array(5).fill(7)
    expect(Array.from(guideRow(logits, 2, 1, 2, 0.5, 0, out))).toEqual([1.5, 2.5, 7, 7, 7])
    expect(Array.from(guideRow(logits, 2, 1, 2, 0.5, 1, out).subarray(0, 2))).toEqual([4, 6])
    expect(Array.from(guideRow(logits, 2, 1, 2, 0, 1, out).subarray(0, 2))).toEqual([3, 4])
    expect(() => guideRow(logits, 2, 2, 2, 1, 0, out)).toThrow(/logits has 8 values, 16 expected/)
  })
})

describe('quickselect', () => {
  it('finds every rank of an array with duplicates', () => {
    const rng = createRng(1)
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rng.nextDouble() * 40)
      const a = Float32Array.from({ length: n }, () => Math.floor(rng.nextDouble() * 5))
      const sorted = Array.from(a).sort((x, y) => x - y)
      const r = Math.floor(rng.nextDouble() * n)
      expect(quickselect(Float32Array.from(a), n, r)).toBe(sorted[r])
    }
  })
})

describe('kthLargest (binned selection for top-k)', () => {
  it('finds the k-th largest like a full sort: ties, constant rows, -Infinity, wide and narrow spreads', () => {
    const rng = createRng(7)
    const gauss = () =>
      Math.sqrt(-2 * Math.log(rng.nextDouble() || 1e-12)) * Math.cos(2 * Math.PI * rng.nextDouble())
    const rows: Float32Array[] = [
      Float32Array.from({ length: 4096 }, () => 3 * gauss()),
      Float32Array.from({ length: 4096 }, () => Math.floor(rng.nextDouble() * 7)), // many ties
      new Float32Array(512).fill(2.5), // all equal
      Float32Array.from({ length: 512 }, (_, i) => (i % 3 === 0 ? -Infinity : gauss())), // filtered entries
      Float32Array.from({ length: 1000 }, () => 1e6 * gauss()), // wide
      Float32Array.from({ length: 1000 }, () => 1 + 1e-6 * gauss()), // narrow: float32 steps
      Float32Array.from({ length: 3 }, () => gauss()),
    ]
    for (const row of rows) {
      const V = row.length
      const desc = Array.from(row).sort((x, y) => y - x)
      const max = desc[0]
      const counts = new Int32Array(1024)
      const pool = new Float32Array(V)
      const copy = Float32Array.from(row)
      for (const k of [1, 2, Math.ceil(V / 3), V - 1, V].filter((x) => x >= 1 && x <= V)) {
        expect(kthLargest(row, V, k, max, counts, pool)).toBe(desc[k - 1])
      }
      expect(row).toEqual(copy) // left unchanged
    }
  })
})

describe('top-k / top-p filtering', () => {
  it('equals the full-sort definition on random logits, with and without ties', () => {
    const rng = createRng(2024)
    const V = 257
    const sampler = new TokenSampler(V)
    let checked = 0
    const mismatches: string[] = []
    for (let trial = 0; trial < 600; trial++) {
      const ties = trial % 2 === 1
      const z = randomLogits(rng, V, ties)
      const topK = [0, 1, 5, 64, 200, V][trial % 6]
      const topP = [1, 0.999, 0.95, 0.8, 0.5, 0.1, 0.01][Math.floor(trial / 6) % 7] - rng.nextDouble() * 1e-3
      const want = referenceKeep(z, topK, topP)
      const got = Float32Array.from(z)
      const total = sampler.filter(got, 0, topK, topP)
      let mass = 0
      for (let i = 0; i < V; i++) {
        // kept entries keep their value and weight; dropped ones are -Infinity with weight 0
        const ok = want[i]
          ? got[i] === z[i] && sampler.weights[i] > 0
          : got[i] === -Infinity && sampler.weights[i] === 0
        if (!ok) mismatches.push(`trial ${trial} (top_k ${topK}, top_p ${topP}): token ${i}`)
        mass += sampler.weights[i]
      }
      if (Math.abs(total - mass) > 1e-12 * mass) mismatches.push(`trial ${trial}: kept mass`)
      checked++
    }
    expect(mismatches).toEqual([])
    expect(checked).toBe(600)
  })

  it('equals the definition when logits span more than the weight table (and with -Infinity entries)', () => {
    // the top-p cut first works on estimated weights, with those below exp(-64) counted as 0
    const rng = createRng(77)
    const V = 300
    const sampler = new TokenSampler(V)
    const mismatches: string[] = []
    for (let trial = 0; trial < 300; trial++) {
      const spread = [20, 80, 200][trial % 3]
      const z = Float32Array.from({ length: V }, () => -rng.nextDouble() * spread)
      if (trial % 4 === 0) for (let i = 0; i < V; i += 7) z[i] = -Infinity
      const topP = [0.999999, 0.95, 0.5, 0.05][Math.floor(trial / 3) % 4]
      const want = referenceKeep(z, 0, topP)
      const got = Float32Array.from(z)
      sampler.filter(got, 0, 0, topP)
      for (let i = 0; i < V; i++) {
        const ok = want[i]
          ? got[i] === z[i] && sampler.weights[i] === Math.exp(z[i] - Math.max(...z))
          : got[i] === -Infinity && sampler.weights[i] === 0
        if (!ok) mismatches.push(`trial ${trial} (spread ${spread}, top_p ${topP}): token ${i}`)
      }
    }
    expect(mismatches).toEqual([])
  })

  it('decides a cut that lies exactly on the limit with exact weights', () => {
    // masses 1/8 each: dropping two gives exactly 1 - top_p, so both go (<= is inclusive)
    const sampler = new TokenSampler(8)
    const z = new Float32Array(8)
    sampler.filter(z, 0, 0, 0.75)
    expect(Array.from(z)).toEqual([-Infinity, -Infinity, 0, 0, 0, 0, 0, 0])
  })

  it('breaks ties by token id: the lower id is dropped first', () => {
    const sampler = new TokenSampler(4)
    const z = Float32Array.from([0, 0, 0, 0]) // each 0.25; cumulative 0.25, 0.5, 0.75, 1
    sampler.filter(z, 0, 0, 0.5)
    expect(Array.from(z)).toEqual([-Infinity, -Infinity, 0, 0])
    const k = Float32Array.from([1, 3, 3, 2])
    sampler.filter(k, 0, 1, 1) // top-k keeps every value tied with the k-th largest
    expect(Array.from(k)).toEqual([-Infinity, 3, 3, -Infinity])
  })

  it('always keeps the largest, even when top_p is tiny', () => {
    const sampler = new TokenSampler(3)
    const z = Float32Array.from([0, 5, 0])
    sampler.filter(z, 0, 0, 1e-9)
    expect(Array.from(z)).toEqual([-Infinity, 5, -Infinity])
  })

  it('works at an offset inside a larger buffer and leaves the rest alone', () => {
    const sampler = new TokenSampler(3)
    const buf = Float32Array.from([9, 9, 9, 1, 2, 3, 9, 9])
    sampler.filter(buf, 3, 1, 1)
    expect(Array.from(buf)).toEqual([9, 9, 9, -Infinity, -Infinity, 3, 9, 9])
  })

  it('rejects NaN logits', () => {
    expect(() => new TokenSampler(2).filter(Float32Array.from([NaN, 1]), 0, 0, 0.9)).toThrow(/NaN/)
  })
})

describe('drawing', () => {
  it('draws only kept tokens, with frequencies close to the filtered softmax', () => {
    const V = 8
    const sampler = new TokenSampler(V)
    const base = Float32Array.from([0, 1, 2, 3, 0.5, 2.5, -1, 1.5])
    const keep = referenceKeep(base, 0, 0.8)
    const max = 3
    const w = Array.from(base, (v, i) => (keep[i] ? Math.exp(v - max) : 0))
    const total = w.reduce((s, v) => s + v, 0)
    const counts = new Array<number>(V).fill(0)
    const rng = createRng(99)
    const draws = 20000
    for (let i = 0; i < draws; i++) counts[sampler.sample(Float32Array.from(base), 0, 0, 0.8, rng)]++
    for (let i = 0; i < V; i++) {
      if (!keep[i]) expect(counts[i]).toBe(0)
      else expect(Math.abs(counts[i] / draws - w[i] / total)).toBeLessThan(0.015)
    }
  })

  it('is deterministic: the same seed gives the same maps', () => {
    const V = 300
    const l = 9
    const z = randomLogits(createRng(5), V * l, false)
    const run = (seed: number): Int32Array => {
      const out = new Int32Array(l)
      new TokenSampler(V).sampleMap(Float32Array.from(z), 0, l, 50, 0.9, createRng(seed), out, 0)
      return out
    }
    expect(run(1)).toEqual(run(1))
    expect(run(1)).not.toEqual(run(2))
  })

  it('candidate draws use the same stream order as ordinary draws (candidate-major)', () => {
    const V = 64
    const l = 4
    const N = 5
    const z = randomLogits(createRng(8), V * l, true)
    const sampler = new TokenSampler(V)
    const cands = new Int32Array(N * l)
    sampler.sampleCandidates(Float32Array.from(z), 0, l, N, 10, 0.9, false, createRng(3), cands, 0)
    const rng = createRng(3)
    for (let c = 0; c < N; c++) {
      const map = new Int32Array(l)
      // an ordinary draw on freshly filtered logits: same filter, same doubles, same tokens
      sampler.sampleMap(Float32Array.from(z), 0, l, 10, 0.9, rng, map, 0)
      expect(Array.from(map)).toEqual(Array.from(cands.subarray(c * l, (c + 1) * l)))
    }
  })

  it('legacyProgressiveNucleus re-filters before each candidate: nested, shrinking nuclei', () => {
    const V = 128
    const N = 12
    const z0 = randomLogits(createRng(21), V, false)
    const sampler = new TokenSampler(V)
    const support: number[] = []
    const z = Float32Array.from(z0)
    for (let c = 0; c < N; c++) {
      sampler.filter(z, 0, 0, 0.9)
      support.push(z.filter((v) => v !== -Infinity).length)
    }
    for (let c = 1; c < N; c++) expect(support[c]).toBeLessThanOrEqual(support[c - 1])
    expect(support[N - 1]).toBeLessThan(support[0])

    // the legacy draws: candidate c comes from the nucleus filtered c+1 times
    const cands = new Int32Array(N)
    sampler.sampleCandidates(Float32Array.from(z0), 0, 1, N, 0, 0.9, true, createRng(4), cands, 0)
    const zz = Float32Array.from(z0)
    const rng = createRng(4)
    for (let c = 0; c < N; c++) expect(cands[c]).toBe(sampler.sample(zz, 0, 0, 0.9, rng))
    // the first legacy candidate equals the first ordinary one
    const plain = new Int32Array(N)
    sampler.sampleCandidates(Float32Array.from(z0), 0, 1, N, 0, 0.9, false, createRng(4), plain, 0)
    expect(plain[0]).toBe(cands[0])
  })
})

describe('guidance fused into the sampler', () => {
  /** raw logits [2B, l, V]: conditional rows, then null rows; some tokens tied, some spread wide */
  function rawLogits(seed: number, B: number, l: number, V: number): Float32Array {
    const rng = createRng(seed)
    const z = new Float32Array(2 * B * l * V)
    for (let r = 0; r < 2 * B * l; r++) {
      const kind = r % 3
      for (let i = 0; i < V; i++) {
        const u = rng.nextDouble()
        z[r * V + i] = kind === 0 ? Math.floor(u * 6) * 0.5 : kind === 1 ? (u - 0.5) * 12 : -u * 90
      }
    }
    return z
  }

  const settings = [
    { t: 0, topK: 0, topP: 0.95 },
    { t: 0.6, topK: 0, topP: 0.95 },
    { t: 3, topK: 0, topP: 0.8 },
    { t: 1.5, topK: 40, topP: 0.9 },
    { t: 2, topK: 7, topP: 1 },
    { t: 0.25, topK: 0, topP: 1 },
    { t: 1, topK: 0, topP: 0.999999 },
    { t: 1, topK: 0, topP: 0.01 },
  ]

  it('sampleGuided draws what guideRow then sampleMap draw', () => {
    const B = 3
    const l = 5
    const V = 300
    const sampler = new TokenSampler(V)
    for (const [n, { t, topK, topP }] of settings.entries()) {
      const logits = rawLogits(100 + n, B, l, V)
      const before = Float32Array.from(logits)
      const guided = new Float32Array(l * V)
      for (let b = 0; b < B; b++) {
        const want = new Int32Array(l)
        guideRow(logits, B, l, V, t, b, guided)
        sampler.sampleMap(guided, 0, l, topK, topP, createRng(7 + b), want, 0)
        const got = new Int32Array(l + 2).fill(-1)
        const rng = createRng(7 + b)
        sampler.sampleGuided(logits, B, l, t, b, topK, topP, rng, got, 1)
        expect(Array.from(got.subarray(1, l + 1)), `setting ${n}, row ${b}`).toEqual(Array.from(want))
        expect([got[0], got[l + 1]]).toEqual([-1, -1])
      }
      // the raw logits are only read
      expect(logits).toEqual(before)
    }
  })

  it('sampleGuidedCandidates draws what guideRow then sampleCandidates draw', () => {
    const B = 2
    const l = 4
    const N = 6
    const V = 200
    const sampler = new TokenSampler(V)
    for (const [n, { t, topK, topP }] of settings.entries()) {
      const logits = rawLogits(200 + n, B, l, V)
      const guided = new Float32Array(l * V)
      for (let b = 0; b < B; b++) {
        const want = new Int32Array(N * l)
        guideRow(logits, B, l, V, t, b, guided)
        sampler.sampleCandidates(guided, 0, l, N, topK, topP, false, createRng(30 + b), want, 0)
        const got = new Int32Array(N * l)
        sampler.sampleGuidedCandidates(logits, B, l, t, b, N, topK, topP, createRng(30 + b), got, 0)
        expect(Array.from(got), `setting ${n}, row ${b}`).toEqual(Array.from(want))
      }
    }
  })

  it('keeps exactly the nucleus of the definition when many values sit near the drop bound', () => {
    // values around max + ln((1 - top_p)/(2V)), where the sampler stops listing ids one by one
    const V = 256
    const rng = createRng(404)
    const sampler = new TokenSampler(V)
    const mismatches: string[] = []
    for (let trial = 0; trial < 200; trial++) {
      const topP = [0.95, 0.9, 0.5, 0.999][trial % 4]
      const bound = Math.log((0.5 * (1 - topP)) / V)
      // tight around the bound; across it; half just below it and half up to 3 above it, so that the
      // mass below the bound is a good part of the limit and the cut falls among ids above it
      const kind = trial % 3
      const z = Float32Array.from({ length: V }, (_, i) => {
        const u = rng.nextDouble()
        if (i === 0) return 0
        if (kind === 0) return bound + (u - 0.5) * 1e-3
        if (kind === 1) return bound + (u - 0.5) * 2
        return i % 2 ? bound - 0.3 * u : bound + 3 * u
      })
      // the same logits as a conditional row with t = 0 (the null row is ignored)
      const logits = new Float32Array(2 * V)
      logits.set(z)
      const want = referenceKeep(z, 0, topP)
      const got = new Int32Array(1)
      sampler.sampleGuided(logits, 1, 1, 0, 0, 0, topP, createRng(trial), got, 0)
      if (!want[got[0]]) mismatches.push(`trial ${trial}: drew dropped token ${got[0]}`)
      const filtered = Float32Array.from(z)
      sampler.filter(filtered, 0, 0, topP)
      for (let i = 0; i < V; i++) {
        if (want[i] !== (filtered[i] !== -Infinity)) mismatches.push(`trial ${trial}: token ${i}`)
      }
    }
    expect(mismatches).toEqual([])
  })

  it('checks the logits size and rejects NaN and +Infinity from either row', () => {
    const sampler = new TokenSampler(2)
    const out = new Int32Array(1)
    expect(() => {
      sampler.sampleGuided(new Float32Array(3), 1, 1, 1, 0, 0, 0.9, createRng(1), out, 0)
    }).toThrow(/logits has 3 values, 4 expected/)
    const nan = Float32Array.from([1, 2, 0, NaN])
    expect(() => {
      sampler.sampleGuided(nan, 1, 1, 1, 0, 0, 0.9, createRng(1), out, 0)
    }).toThrow(/NaN/)
    const inf = Float32Array.from([Infinity, 2, 0, 0])
    expect(() => {
      sampler.sampleGuided(inf, 1, 1, 0, 0, 0, 0.9, createRng(1), out, 0)
    }).toThrow(/\+Infinity/)
  })
})

/** An Rng that hands out the given doubles in order (and records how many were taken). */
function listRng(doubles: number[]): Rng & { taken: number } {
  const r = {
    taken: 0,
    nextDouble(): number {
      if (r.taken >= doubles.length) throw new Error('list exhausted')
      return doubles[r.taken++]
    },
    nextInt: () => {
      throw new Error('not used')
    },
    jump: () => undefined,
    clone: () => r,
    state: () => [],
  }
  return r
}

describe('top_p 0 and top_k 0 are off, as in the official sampler', () => {
  it('top_p 0 keeps every entry: the draws of top_p 1, and top_k 0 those of top_k V', () => {
    const V = 64
    const l = 5
    const rng = createRng(21)
    const logits = Float32Array.from({ length: 2 * l * V }, () => (rng.nextDouble() - 0.5) * 10)
    const sampler = new TokenSampler(V)
    const draw = (topK: number, topP: number): number[] => {
      const out = new Int32Array(l * 50)
      const r = createRng(5)
      for (let i = 0; i < 50; i++) sampler.sampleGuided(logits, 1, l, 1.5, 0, topK, topP, r, out, i * l)
      return Array.from(out)
    }
    expect(draw(0, 0)).toEqual(draw(0, 1))
    expect(draw(0, 0)).toEqual(draw(V, 1))
    // and it is not what a small nucleus draws (top_p 0 read as "keep only the largest" would be)
    expect(new Set(draw(0, 0)).size).toBeGreaterThan(new Set(draw(0, 1e-9)).size)
    const z = Float32Array.from(logits.subarray(0, V))
    sampler.filter(z, 0, 0, 0)
    expect(z.every((v) => v > -Infinity)).toBe(true)
  })
})

describe('more_smooth (Gumbel-softmax embeddings)', () => {
  it('uses the official temperature schedule and ratio', () => {
    expect(smoothTau(0)).toBeCloseTo(0.27, 15)
    expect(smoothTau(1)).toBeCloseTo(0.0135, 15)
    expect(smoothTau(0.5)).toBeCloseTo(0.27 * (1 - 0.475), 15)
    expect(smoothRatio(3, 10)).toBeCloseTo(1 / 3, 15)
    expect(smoothRatio(0, 1)).toBe(0)
    // Gumbel noise -ln(-ln(1 - u)); u = 0 read as 2^-54 stays finite
    expect(gumbelFromUniform(0.5)).toBeCloseTo(-Math.log(Math.LN2), 14)
    expect(Number.isFinite(gumbelFromUniform(0))).toBe(true)
  })

  it('mixes the codebook rows with softmax(((1+r)·z + g)/τ) over the surviving ids, after the id draw', () => {
    const V = 6
    const C = 3
    // B = 1, l = 2; guidance t = 0.5 over conditional and null rows
    const logits = Float32Array.from([
      ...[2, 1.5, -1, 0.3, 2.2, -4],
      ...[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
      ...[1, 0, 0, 1, 0, 0],
      ...[0, 0, 0, 0, 0, 0],
    ])
    const codebook = Float32Array.from({ length: V * C }, (_, i) => Math.sin(i + 1))
    const t = 0.5
    const ratio = 0.4
    const topK = 4
    const doubles = Array.from({ length: 40 }, (_, i) => ((i * 0.37) % 1) + 0.01)
    const rng = listRng(doubles)
    const ids = new Int32Array(2)
    const emb = new Float32Array(2 * C + 1).fill(9)
    new TokenSampler(V).sampleGuided(logits, 1, 2, t, 0, topK, 0, rng, ids, 0, {
      ratio,
      codebook,
      C,
      out: emb,
      outOff: 1,
    })
    expect(emb[0]).toBe(9)
    // the definition, token by token: one double for the id, then one per surviving id in id order
    let at = 0
    const tau = 0.27 * (1 - 0.95 * ratio)
    for (let p = 0; p < 2; p++) {
      const z = Array.from({ length: V }, (_, i) =>
        Math.fround((1 + t) * logits[p * V + i] - t * logits[2 * V + p * V + i]),
      )
      const kth = [...z].sort((a, b) => b - a)[topK - 1]
      const kept = z.map((v, i) => i).filter((i) => z[i] >= kth)
      const max = Math.max(...kept.map((i) => z[i]))
      const total = kept.reduce((sum, i) => sum + Math.exp(z[i] - max), 0)
      const u = doubles[at++]
      let cum = 0
      const drawn = kept.find((i) => (cum += Math.exp(z[i] - max)) > u * total)
      expect(ids[p]).toBe(drawn)
      const y = kept.map((i) => ((1 + ratio) * z[i] - Math.log(-Math.log(1 - doubles[at++]))) / tau)
      const yMax = Math.max(...y)
      const w = y.map((v) => Math.exp(v - yMax))
      const W = w.reduce((a, b) => a + b, 0)
      for (let c = 0; c < C; c++) {
        const want = kept.reduce((sum, i, j) => sum + (w[j] / W) * codebook[i * C + c], 0)
        expect(emb[1 + p * C + c]).toBeCloseTo(want, 6)
      }
    }
    expect(rng.taken).toBe(at)
    expect(at).toBe(2 * (1 + topK))
  })

  it('the heaviest id of the mixture follows softmax((1+r)·z) over the nucleus (Gumbel-max)', () => {
    const V = 12
    const C = V // one-hot codebook: the embedding is the weight vector itself
    const codebook = new Float32Array(V * C)
    for (let i = 0; i < V; i++) codebook[i * C + i] = 1
    const z = Float32Array.from([0.5, 1.2, -0.3, 2, 1.9, 0, -2, 0.8, 1.1, -1, 0.2, 1.5])
    const logits = new Float32Array(2 * V)
    logits.set(z)
    const ratio = 0.25
    const topP = 0.9
    const sampler = new TokenSampler(V)
    const kept = new Float32Array(z)
    sampler.filter(kept, 0, 0, topP)
    const n = 20000
    const counts = new Array<number>(V).fill(0)
    const mean = new Float64Array(V)
    const rng = createRng(99)
    const ids = new Int32Array(1)
    const emb = new Float32Array(C)
    for (let k = 0; k < n; k++) {
      sampler.sampleGuided(logits, 1, 1, 0, 0, 0, topP, rng, ids, 0, {
        ratio,
        codebook,
        C,
        out: emb,
        outOff: 0,
      })
      let best = 0
      for (let i = 0; i < V; i++) {
        mean[i] += emb[i] / n
        if (emb[i] > emb[best]) best = i
      }
      counts[best]++
    }
    const e = Array.from(kept, (v) => (v === -Infinity ? 0 : Math.exp((1 + ratio) * v)))
    const total = e.reduce((a, b) => a + b, 0)
    e.forEach((w, i) => {
      const p = w / total
      if (p === 0) {
        expect(counts[i], `filtered id ${i}`).toBe(0)
        expect(mean[i]).toBe(0)
      } else {
        expect(Math.abs(counts[i] / n - p), `id ${i}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n) + 1e-3)
      }
    })
  })

  it('refuses a codebook of the wrong size', () => {
    const sampler = new TokenSampler(4)
    const logits = new Float32Array(8)
    const out = new Float32Array(2)
    expect(() => {
      sampler.sampleGuided(logits, 1, 1, 0, 0, 0, 0, createRng(1), new Int32Array(1), 0, {
        ratio: 0,
        codebook: new Float32Array(7),
        C: 2,
        out,
        outOff: 0,
      })
    }).toThrow(/codebook has 7 values/)
  })
})
