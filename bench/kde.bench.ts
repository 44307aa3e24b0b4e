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
import { KdeWorker } from '../src-main/host/kde-pool'
import { openKdeGraph } from '../src-main/host/ort/kde-graph'
import { kdeDensities, kdeDensitiesWith, type KdeInput } from '../src-shared/engine/kde'
import { screenStats } from '../src-shared/engine/kde-pairs'
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
  Object.assign(screenStats, { positions: 0, gaveWay: 0, exactPairs: 0, screenedPairs: 0 })
  kdeDensitiesWith(oldJob, undefined, methods)
  const { positions, gaveWay, exactPairs, screenedPairs } = screenStats
  const screen = positions
    ? ` (float32 screen on ${positions} of ${oldJob.B * oldJob.P} positions, gave way on ${gaveWay}, ` +
      `${((100 * exactPairs) / Math.max(1, screenedPairs)).toFixed(3)} % of pairs recomputed in float64)`
    : ''
  const diff = maxRel(kdeBefore(oldJob).densities, kdeDensities(oldJob).densities)
  console.log(
    `KDE ${name}: before ${fix(before)} ms (cpu ${beforeCpu.toFixed(0)})` +
      `${factor > 1 ? ` [${oldJob.P} positions x ${factor}]` : ''}, ` +
      `after ${fix(after)} ms (cpu ${afterCpu.toFixed(0)}), ${(before / after).toFixed(1)}x faster by wall, ` +
      `${(beforeCpu / afterCpu).toFixed(1)}x by cpu; ` +
      `max rel diff ${diff.toExponential(1)}; path ${Object.keys(methods).join('+')}${screen}`,
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

/** Best wall time over `runs` of an async function, and the process's CPU time (all threads) in that run. */
async function bestAsync(runs: number, fn: () => Promise<unknown>): Promise<number> {
  let ms = Infinity
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const c = process.cpuUsage()
    await fn()
    const wall = performance.now() - t
    if (wall < ms) {
      ms = wall
      const used = process.cpuUsage(c)
      lastCpu = (used.user + used.system) / 1000
    }
  }
  return ms
}

/**
 * The floor at N = 3000 x 36 x 32 on this machine's two cores, measured rather than quoted: the
 * pairwise distances as one matrix product X·Xᵀ per position (2·N²·d·P = 20.7 GFLOP, the whole
 * square as a GEMM computes it) and N²·P = 324 M exponentials, each timed through onnxruntime's own
 * kernels (MLAS, float32, 2 intra-op threads) on graphs from models/var_tools/kde_graph.py; the
 * row sums in the graphs keep the U² results from being copied out. Rates are per CPU second, so a
 * machine loaded by others still gives the rate of the cores when they run this work; the floor on
 * two free cores is the CPU time over two.
 */
async function floor(): Promise<{ cpu: number; wall: number }> {
  const [N, P, d] = [3000, 36, 32]
  const matmul = await openKdeGraph('matmul', 'f32')
  const exp = await openKdeGraph('exp', 'f32')
  const x = [Float32Array.from({ length: N * d }, (_, i) => Math.sin(i)), [N, d]] as const
  const scale = [Float32Array.from([-0.1]), []] as const
  const all = async (run: () => Promise<unknown>): Promise<void> => {
    for (let p = 0; p < P; p++) await run()
  }
  await bestAsync(1, () => all(() => matmul.run({ x })))
  const mmWall = await bestAsync(3, () => all(() => matmul.run({ x })))
  const mmCpu = lastCpu
  const expWall = await bestAsync(3, () => all(() => exp.run({ x, scale })))
  const expCpu = Math.max(1e-3, lastCpu - mmCpu)
  const flop = 2 * N * N * d * P
  const gflops = flop / (mmCpu * 1e6)
  const exps = (N * N * P) / (expCpu * 1e6)
  const cpu = mmCpu + expCpu
  console.log(
    `KDE floor N=3000 x 36 x 32, onnxruntime f32 on 2 threads: MatMul ${(flop / 1e9).toFixed(1)} GFLOP in ${mmWall.toFixed(0)} ms ` +
      `(cpu ${mmCpu.toFixed(0)}: ${gflops.toFixed(1)} GFLOP/s per core), Exp ${((N * N * P) / 1e6).toFixed(0)} M in ` +
      `${Math.max(0, expWall - mmWall).toFixed(0)} ms more (cpu ${expCpu.toFixed(0)}: ${exps.toFixed(2)} G/s per core); ` +
      `floor ${cpu.toFixed(0)} ms of cpu = ${(cpu / 2).toFixed(0)} ms on 2 free cores`,
  )
  await matmul.release()
  await exp.release()
  return { cpu, wall: cpu / 2 }
}

/**
 * The shipped KDE through the host's worker threads (two, split by positions) at N = 3000 x 36 x 32
 * with distinct float features, against the floor; and the same densities through the ONNX graph
 * (kde_sums_f32/f64: X·Xᵀ, exp and the weighted row sums in onnxruntime) with their error.
 */
async function atScale(limit: { cpu: number; wall: number }): Promise<void> {
  const job = input('float', 3000, 36, 32)
  // the float64 path without the float32 screen: what the screened densities are compared with
  const exact = kdeDensitiesWith(job, 'gram-f64')
  const pool = new KdeWorker({ threads: 2 })
  try {
    await pool.run({ ...job, features: job.features?.slice() })
    const one = new KdeWorker({ threads: 1 })
    try {
      await one.run({ ...job, features: job.features?.slice() })
      const wall1 = await bestAsync(3, () => one.run({ ...job, features: job.features?.slice() }))
      const cpu1 = lastCpu
      const wall2 = await bestAsync(3, () => pool.run({ ...job, features: job.features?.slice() }))
      const cpu2 = lastCpu
      const got = await pool.run({ ...job, features: job.features?.slice() })
      console.log(
        `KDE gaussian float N=3000 x 36 x 32 in the host's worker threads: 1 thread ${wall1.toFixed(0)} ms (cpu ${cpu1.toFixed(0)}), ` +
          `2 threads ${wall2.toFixed(0)} ms (cpu ${cpu2.toFixed(0)}): ${(wall1 / wall2).toFixed(2)}x; ` +
          `the floor's cpu x ${(cpu1 / limit.cpu).toFixed(2)} on 1 thread, x ${(cpu2 / limit.cpu).toFixed(2)} on 2; ` +
          `its wall on 2 free cores x ${(Math.min(wall1, wall2) / limit.wall).toFixed(2)}; ` +
          `max rel diff to the float64 path (gram-f64) ${maxRel(exact.densities, got.densities).toExponential(1)}`,
      )
    } finally {
      await one.close()
    }
  } finally {
    await pool.close()
  }
  const { N, P, d } = job
  const features = job.features ?? new Float32Array(0)
  for (const type of ['f32', 'f64'] as const) {
    const Arr = type === 'f32' ? Float32Array : Float64Array
    const session = await openKdeGraph('sums', type)
    const w = [new Arr(N).fill(1), [N, 1]] as const
    // the positions' centred features, made once (the engine's Gram path centres the same way)
    const xs = Array.from({ length: P }, (_, p) => {
      const x = new Arr(N * d)
      const mean = new Float64Array(d)
      for (let n = 0; n < N; n++) for (let j = 0; j < d; j++) mean[j] += features[(n * P + p) * d + j] / N
      for (let n = 0; n < N; n++)
        for (let j = 0; j < d; j++) x[n * d + j] = features[(n * P + p) * d + j] - mean[j]
      return [x, [N, d]] as const
    })
    const densities = new Float64Array(N)
    const once = async (): Promise<void> => {
      densities.fill(0)
      for (let p = 0; p < P; p++) {
        const bw = exact.bandwidths[p]
        const scale = [Arr.from([-1 / (2 * bw * bw)]), []] as const
        const sums = await session.run({ x: xs[p], w, scale })
        for (let n = 0; n < N; n++) densities[n] += sums[n]
      }
    }
    await once()
    const wall = await bestAsync(2, once)
    console.log(
      `KDE gaussian float N=3000 x 36 x 32 through the ONNX graph kde_sums_${type} (onnxruntime cpu, 2 threads): ` +
        `${wall.toFixed(0)} ms (cpu ${lastCpu.toFixed(0)}), ${(lastCpu / limit.cpu).toFixed(2)}x the floor's cpu; ` +
        `max rel diff ${maxRel(exact.densities, densities).toExponential(1)}`,
    )
    await session.release()
  }
}

export default async function kdeBench(): Promise<void> {
  const quick = process.env.KDE_BENCH_QUICK === '1'
  compare('gaussian ids   N=50   x 4 x 16', input('ids', 50, 4, 16, 512), 200, quick)
  compare('gaussian float N=50   x 4 x 16', input('float', 50, 4, 16), 200, quick)
  compare('gaussian ids   N=3000 x 36 x 32', input('ids', 3000, 36, 32), 3, quick)
  compare('gaussian bits  N=3000 x 36 x 32', input('bits', 3000, 36, 32), 3, quick)
  compare('gaussian float N=3000 x 36 x 32', input('float', 3000, 36, 32), 3, quick)
  gramOnly()
  await atScale(await floor())
  const exact = { ...input('ids', 3000, 36, 32), kernel: 'exactMatch' } as const
  kdeDensities(exact)
  console.log(`KDE exactMatch     N=3000 x 36 x 32: ${best(5, () => kdeDensities(exact)).toFixed(1)} ms`)
}
