/**
 * The ONNX graphs of the Gaussian KDE's pairwise sums (kde-graph/*.onnx, written by
 * models/var_tools/kde_graph.py): `sums` gives Σ_v w_v·exp(scale·|x_u - x_v|²) for one position's
 * centred vectors through X·Xᵀ, `matmul` and `exp` time onnxruntime's own kernels for the floor the
 * KDE bench states. The engine's KDE does not run them (its WebAssembly path, float64 behind a float32
 * screen, is faster on our CPUs and within 1.01e-7 of float64 by construction, see bench/kde.bench.ts);
 * they are the route for a GPU provider.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'

export type KdeGraphName = 'sums' | 'matmul' | 'exp'
export type KdeGraphType = 'f32' | 'f64'

type Data<T extends KdeGraphType> = T extends 'f32' ? Float32Array : Float64Array

export interface KdeGraph<T extends KdeGraphType> {
  /** runs the graph on [data, dims] feeds; returns its one output's data */
  run(feeds: Record<string, readonly [Data<T>, readonly number[]]>): Promise<Data<T>>
  release(): Promise<void>
}

export const KDE_GRAPH_DIR = join(dirname(fileURLToPath(import.meta.url)), 'kde-graph')

export async function openKdeGraph<T extends KdeGraphType>(
  name: KdeGraphName,
  type: T,
  threads = 2,
): Promise<KdeGraph<T>> {
  const path = join(KDE_GRAPH_DIR, `kde_${name}_${type}.onnx`)
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  })
  const tensorType = type === 'f32' ? 'float32' : 'float64'
  const output = session.outputNames[0]
  return {
    async run(feeds) {
      const tensors: Record<string, ort.Tensor> = {}
      for (const [key, [data, dims]] of Object.entries(feeds))
        tensors[key] = new ort.Tensor(tensorType, data, dims)
      const out = await session.run(tensors)
      return out[output].data as Data<T>
    },
    release: () => session.release(),
  }
}
