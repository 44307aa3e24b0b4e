/**
 * The ONNX graph of the KDE's pairwise sums (src-main/host/ort/kde-graph/, written by
 * models/var_tools/kde_graph.py) gives the engine's sums: in float64 to rounding, in float32 to the
 * error docs/perf/kde.txt states for it.
 */
import { describe, expect, it } from 'vitest'
import { PairScratch, pairSums } from '../../src-shared/engine/kde-pairs'
import { openKdeGraph } from '../../src-main/host/ort/kde-graph'

describe('KDE sums as an ONNX graph', () => {
  it('equals the engine: float64 within 1e-12, float32 within 1e-5 relative', async () => {
    const [U, d, bw] = [257, 8, 0.6]
    // clustered vectors with distinct multiplicities: the kernel values span many magnitudes
    const src = Float32Array.from(
      { length: U * d },
      (_, i) => Math.sin(i * 0.37) + (Math.floor(i / d) % 3) * 0.5,
    )
    const offsets = Int32Array.from({ length: U }, (_, u) => u * d)
    const weight = Float64Array.from({ length: U }, (_, u) => 1 + (u % 4))
    const expected = new Float64Array(U)
    pairSums(src, offsets, weight, U, d, bw, expected, new PairScratch(d), 'direct')
    const mean = new Float64Array(d)
    for (let u = 0; u < U; u++) for (let j = 0; j < d; j++) mean[j] += src[u * d + j] / U
    for (const [type, tolerance] of [
      ['f64', 1e-12],
      ['f32', 1e-5],
    ] as const) {
      const Arr = type === 'f32' ? Float32Array : Float64Array
      const graph = await openKdeGraph('sums', type, 1)
      try {
        const x = new Arr(U * d)
        for (let i = 0; i < U * d; i++) x[i] = src[i] - mean[i % d]
        const sums = await graph.run({
          x: [x, [U, d]],
          w: [Arr.from(weight), [U, 1]],
          scale: [Arr.from([-1 / (2 * bw * bw)]), []],
        })
        expect(sums.length).toBe(U)
        let worst = 0
        for (let u = 0; u < U; u++) worst = Math.max(worst, Math.abs(sums[u] - expected[u]) / expected[u])
        expect(worst, type).toBeLessThan(tolerance)
      } finally {
        await graph.release()
      }
    }
  }, 60_000)
})
