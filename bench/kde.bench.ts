/**
 * KDE cost of VAR-Scaling's candidate scoring, both kernels, at the paper's two sizes:
 * VAR (N = 50 candidates x 4 positions x 16 dims) and Infinity (N = 3000 x 36 x 32).
 */
import { kdeDensities, type KdeInput } from '../src-shared/engine/kde'
import { createRng } from '../src-shared/engine/rng'

function input(kernel: 'gaussian' | 'exactMatch', N: number, P: number, d: number, V: number): KdeInput {
  const rng = createRng(5)
  const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)
  // a peaked token distribution, like real candidates: a few ids dominate each position
  const ids = Int32Array.from({ length: N * P }, () => Math.floor(V * rng.nextDouble() ** 4))
  return { B: 1, N, P, d, ids, codebook, kernel, poolBandwidthOverBatch: false }
}

function bestOf(runs: number, job: KdeInput): number {
  kdeDensities(job)
  let best = Infinity
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    kdeDensities(job)
    best = Math.min(best, performance.now() - t)
  }
  return best
}

export default async function kdeBench(): Promise<void> {
  const rows: [string, number][] = [
    ['gaussian   N=50   x 4 x 16', bestOf(50, input('gaussian', 50, 4, 16, 512))],
    ['exactMatch N=50   x 4 x 16', bestOf(50, input('exactMatch', 50, 4, 16, 512))],
    ['exactMatch N=3000 x 36 x 32', bestOf(5, input('exactMatch', 3000, 36, 32, 4096))],
    ['gaussian   N=3000 x 36 x 32', bestOf(1, input('gaussian', 3000, 36, 32, 4096))],
  ]
  const base = rows[2]?.[1] ?? 1
  for (const [name, ms] of rows) {
    console.log(`KDE ${name}: ${ms.toFixed(3)} ms (best run; ${(ms / base).toFixed(2)}x exactMatch N=3000)`)
  }
  await Promise.resolve()
}
