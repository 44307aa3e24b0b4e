/**
 * KDE cost of VAR-Scaling's candidate scoring at the paper's two sizes, VAR (N = 50 candidates x
 * 4 positions x 16 dims) and Infinity (N = 3000 x 36 x 32), with three kinds of features: codebook
 * rows of peaked ids (many repeats), distinct float features, and ±1 bit features (Infinity's bit
 * labels). Each line times the implementation before the Gram and popcount paths
 * (bench/baseline/kde-v1.ts) and today's, on the same input in the same run, and prints the ratio
 * and the largest relative difference of the densities.
 *
 * `KDE_BENCH_QUICK=1` times the old implementation at N = 3000 on 4 of the 36 positions only (the
 * positions are independent, so its cost is linear in them) and scales it up.
 */
import { kdeDensities as kdeBefore } from './baseline/kde-v1'
import { kdeDensities, kdeDensitiesWith, type KdeInput } from '../src-shared/engine/kde'
import { wasmGram } from '../src-shared/engine/kde-wasm'
import { createRng } from '../src-shared/engine/rng'

type Kind = 'ids' | 'float' | 'bits'

function input(kind: Kind, N: number, P: number, d: number, V = 4096): KdeInput {
  const rng = createRng(5)
  const base = { B: 1, N, P, d, kernel: 'gaussian', poolBandwidthOverBatch: false } as const
  if (kind === 'ids') {
    const codebook = Float32Array.from({ length: V * d }, () => rng.nextDouble() * 2 - 1)
    // a peaked token distribution, like real candidates: a few ids dominate each position
    const ids = Int32Array.from({ length: N * P }, () => Math.floor(V * rng.nextDouble() ** 4))
    return { ...base, ids, codebook }
  }
  const features = Float32Array.from({ length: N * P * d }, () =>
    kind === 'bits' ? (rng.nextDouble() < 0.5 ? -1 : 1) : rng.nextDouble() * 2 - 1,
  )
  return { ...base, features }
}

/** Best wall time over `runs`, and the CPU time of this thread in that run (the machine is shared). */
function best(runs: number, fn: () => unknown): number {
  let ms = Infinity
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const c = process.cpuUsage()
    fn()
    const wall = performance.now() - t
    if (wall < ms) {
      ms = wall
      const used = process.cpuUsage(c)
      lastCpu = (used.user + used.system) / 1000
    }
  }
  return ms
}
let lastCpu = 0

/** 3 significant decimals for small times */
const fix = (ms: number): string => ms.toFixed(ms < 10 ? 3 : 1)

function maxRel(a: Float64Array, b: Float64Array): number {
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(a[i]))
  return worst
}

function compare(name: string, job: KdeInput, runs: number, quick: boolean): void {
  const oldJob = quick && job.P > 4 ? { ...job, P: 4, ...slicePositions(job, 4) } : job
  const factor = job.P / oldJob.P
  kdeDensities(job)
  kdeBefore(oldJob)
  const oldRuns = job.N > 1000 ? 1 : runs
  const before = best(oldRuns, () => kdeBefore(oldJob)) * factor
  const beforeCpu = lastCpu * factor
  const after = best(runs, () => kdeDensities(job))
  const afterCpu = lastCpu
  const methods: Record<string, number> = {}
  kdeDensitiesWith(oldJob, undefined, methods)
  const diff = maxRel(kdeBefore(oldJob).densities, kdeDensities(oldJob).densities)
  console.log(
    `KDE ${name}: before ${fix(before)} ms (cpu ${beforeCpu.toFixed(0)})` +
      `${factor > 1 ? ` [${oldJob.P} positions x ${factor}]` : ''}, ` +
      `after ${fix(after)} ms (cpu ${afterCpu.toFixed(0)}), ${(before / after).toFixed(1)}x faster by wall, ` +
      `${(beforeCpu / afterCpu).toFixed(1)}x by cpu; ` +
      `max rel diff ${diff.toExponential(1)}; path ${Object.keys(methods).join('+')}`,
  )
}

/** The first `keep` positions of every candidate map (features or ids). */
function slicePositions(job: KdeInput, keep: number): Partial<KdeInput> {
  const { B, N, P, d } = job
  const rows = B * N
  if (job.features) {
    const f = new Float32Array(rows * keep * d)
    for (let r = 0; r < rows; r++) f.set(job.features.subarray(r * P * d, (r * P + keep) * d), r * keep * d)
    return { features: f }
  }
  const ids = job.ids ?? new Int32Array(0)
  const out = new Int32Array(rows * keep)
  for (let r = 0; r < rows; r++) out.set(ids.subarray(r * P, r * P + keep), r * keep)
  return { ids: out }
}

/**
 * The arithmetic alone at N = 3000 x 36 x 32: the upper triangle of X·Xᵀ per position (10.4 GFLOP
 * counting a multiply and an add per dim and pair) through the WebAssembly kernel, with no exp and
 * no sums. What the Gram path costs above this is the pass over the exponents.
 */
function gramOnly(): void {
  const kernel = wasmGram()
  if (!kernel) return
  const [N, P, d] = [3000, 36, 32]
  const at = kernel.reserve(d, N)
  const f = kernel.f64
  for (let i = 0; i < d * N; i++) f[at.xt / 8 + i] = Math.sin(i)
  const once = (): void => {
    for (let p = 0; p < P; p++) {
      for (let u = 0; u < N; u += 4) kernel.tile(at.xt, N, d, u, u, N, at.norms, -0.5, at.out)
    }
  }
  once()
  const ms = best(3, once)
  const flop = N * N * d * P // N²/2 pairs x d dims x 2 flop
  console.log(
    `KDE floor, Gram product only (wasm f64x2 tiles) N=3000 x 36 x 32: ${ms.toFixed(1)} ms (cpu ${lastCpu.toFixed(0)}), ` +
      `${(flop / (lastCpu * 1e6)).toFixed(1)} GFLOP/s of cpu time`,
  )
}

export default async function kdeBench(): Promise<void> {
  const quick = process.env.KDE_BENCH_QUICK === '1'
  compare('gaussian ids   N=50   x 4 x 16', input('ids', 50, 4, 16, 512), 200, quick)
  compare('gaussian float N=50   x 4 x 16', input('float', 50, 4, 16), 200, quick)
  compare('gaussian ids   N=3000 x 36 x 32', input('ids', 3000, 36, 32), 3, quick)
  compare('gaussian bits  N=3000 x 36 x 32', input('bits', 3000, 36, 32), 3, quick)
  compare('gaussian float N=3000 x 36 x 32', input('float', 3000, 36, 32), 3, quick)
  gramOnly()
  const exact = { ...input('ids', 3000, 36, 32), kernel: 'exactMatch' } as const
  kdeDensities(exact)
  console.log(`KDE exactMatch     N=3000 x 36 x 32: ${best(5, () => kdeDensities(exact)).toFixed(1)} ms`)
  await Promise.resolve()
}
