/**
 * The studio's own inference code, driven from Python (ort_node.py) for the parity checks: nothing
 * here talks to onnxruntime-node directly. Model folders run through `openModel(...).runner` and the
 * engine's `generate`, in this process or through the inference host process; a lone graph (the
 * exporter's checks of a single ONNX file) runs through the host's `Graph`.
 *
 *   node --import tsx ort_node.ts request.json
 *
 * Arrays travel as raw little-endian files: each input is `{ dtype, dims, file }`; outputs are
 * written to `outDir` and listed the same way on stdout as one JSON object.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generate, type StepOutputs } from '../../src-shared/engine/loop'
import { createRng } from '../../src-shared/engine/rng'
import type { SamplingParams } from '../../src-shared/engine/sampling'
import { HostClient } from '../../src-main/host/client'
import { openModel } from '../../src-main/host/ort/model'
import { Graph, tensor } from '../../src-main/host/ort/session'
import { readCodebook, readManifest } from '../../src-main/storage/model-folder'

type DType = 'float32' | 'int64' | 'float64' | 'int32'
interface ArrayFile {
  dtype: DType
  dims: number[]
  file: string
}
type Data = Float32Array | BigInt64Array | Float64Array | Int32Array

const quiet = (): void => undefined

function readArray(a: ArrayFile): Float32Array | BigInt64Array {
  const buf = readFileSync(a.file)
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
  if (a.dtype === 'int64') return new BigInt64Array(bytes)
  if (a.dtype === 'float32') return new Float32Array(bytes)
  throw new Error(`inputs are float32 or int64, not ${a.dtype}`)
}

class Outputs {
  readonly spec: Record<string, ArrayFile> = {}
  constructor(private readonly dir: string) {}

  put(name: string, data: Data, dims: number[]): void {
    const file = join(this.dir, `${name}.bin`)
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    const dtype: DType =
      data instanceof Float32Array
        ? 'float32'
        : data instanceof Float64Array
          ? 'float64'
          : data instanceof Int32Array
            ? 'int32'
            : 'int64'
    this.spec[name] = { dtype, dims, file }
  }
}

interface GraphRequest {
  cmd: 'graph'
  model: string
  feeds: Record<string, ArrayFile>
}
interface VarStepRequest {
  cmd: 'var_step'
  dir: string
  feeds: Record<string, ArrayFile>
}
interface TeacherForcedRequest {
  cmd: 'teacher_forced'
  dir: string
  labels: number[]
  /** per scale, [B·l] ids */
  ids: number[][]
}
interface FreeRunningRequest {
  cmd: 'free_running'
  dir: string
  labels: number[]
  seeds: number[]
  sampling: SamplingParams
  /** doubles of each seed's stream to report (what the baseline loop consumes) */
  draws: number
  /** also generate through the inference host process */
  host: boolean
}
type Request = (GraphRequest | VarStepRequest | TeacherForcedRequest | FreeRunningRequest) & {
  outDir: string
}

async function runGraph(req: GraphRequest, out: Outputs): Promise<void> {
  const graph = await Graph.open(req.model, req.model, 'cpu', undefined, quiet)
  try {
    const feeds = Object.fromEntries(
      Object.entries(req.feeds).map(([name, a]) => [name, tensor('graph', name, readArray(a), a.dims)]),
    )
    const fetches = await graph.run(feeds)
    for (const [name, t] of Object.entries(fetches)) {
      if (!t) continue
      const data = t.data
      if (!(data instanceof Float32Array || data instanceof BigInt64Array)) {
        throw new Error(`${name}: ${t.type} outputs are not handled`)
      }
      out.put(name, data, [...t.dims])
    }
  } finally {
    await graph.release()
  }
}

async function open(dir: string) {
  const manifest = await readManifest(dir)
  const codebook = await readCodebook(dir, manifest)
  const model = await openModel(dir, manifest, { provider: 'cpu', fallback: false }, { log: quiet })
  return { manifest, codebook, model }
}

async function varStep(req: VarStepRequest, out: Outputs): Promise<void> {
  const { manifest, model } = await open(req.dir)
  try {
    const f = req.feeds
    const [N, l] = f.x_cvae.dims
    const res = await model.runner.varStep({
      condLabel: readArray(f.cond_label) as BigInt64Array,
      xCvae: readArray(f.x_cvae) as Float32Array,
      pos: readArray(f.pos) as BigInt64Array,
      attnBias: readArray(f.attn_bias) as Float32Array,
      pastK: readArray(f.past_k) as Float32Array,
      pastV: readArray(f.past_v) as Float32Array,
      N,
      l,
      P: f.past_k.dims[3],
    })
    const { depth, num_heads: H, head_dim: hd, vocab_size: V } = manifest
    const T = f.attn_bias.dims[1]
    out.put('logits', res.logits, [N, l, V])
    out.put('present_k', res.presentK, [depth, N, H, T, hd])
    out.put('present_v', res.presentV, [depth, N, H, T, hd])
  } finally {
    await model.release()
  }
}

async function teacherForced(req: TeacherForcedRequest, out: Outputs): Promise<void> {
  const { manifest, codebook, model } = await open(req.dir)
  try {
    const B = req.labels.length
    const steps: StepOutputs[] = []
    const result = await generate(
      model.runner,
      manifest,
      codebook,
      {
        classes: req.labels,
        seeds: req.labels.map(() => 0),
        sampling: manifest.sampling_defaults,
        strategy: { kind: 'baseline' },
        forcedIds: req.ids,
      },
      { onStep: (s) => steps.push({ ...s, logits: s.logits.slice(), fHat: s.fHat.slice() }) },
    )
    const { Cvae: C, latent_hw: hw, vocab_size: V, patch_nums } = manifest
    steps.forEach((s, si) => {
      const l = patch_nums[si] ** 2
      out.put(`logits_${si}`, s.logits, [2 * B, l, V])
      out.put(`f_hat_${si}`, s.fHat, [B, C, hw, hw])
      if (si + 1 < patch_nums.length) {
        out.put(`next_tok_${si}`, s.nextTok, [B, patch_nums[si + 1] ** 2, C])
      }
    })
    out.put('image', result.images, result.shape)
  } finally {
    await model.release()
  }
}

function putTokens(out: Outputs, prefix: string, maps: readonly ArrayLike<number>[][], B: number): void {
  // maps[b][si] -> one [B, l] array per scale
  maps[0].forEach((first, si) => {
    const l = first.length
    const all = new Int32Array(B * l)
    maps.forEach((perImage, b) => {
      all.set(Array.from(perImage[si]), b * l)
    })
    out.put(`${prefix}tokens_${si}`, all, [B, l])
  })
}

async function freeRunning(req: FreeRunningRequest, out: Outputs): Promise<void> {
  const B = req.labels.length
  const draws = new Float64Array(B * req.draws)
  req.seeds.forEach((seed, b) => {
    const rng = createRng(seed)
    for (let i = 0; i < req.draws; i++) draws[b * req.draws + i] = rng.nextDouble()
  })
  out.put('draws', draws, [B, req.draws])

  const { manifest, codebook, model } = await open(req.dir)
  try {
    const result = await generate(model.runner, manifest, codebook, {
      classes: req.labels,
      seeds: req.seeds,
      sampling: req.sampling,
      strategy: { kind: 'baseline' },
    })
    putTokens(
      out,
      '',
      result.records.map((r) => r.tokenMaps),
      B,
    )
    out.put('image', result.images, result.shape)
  } finally {
    await model.release()
  }
  if (!req.host) return
  const client = new HostClient({ onLog: quiet })
  try {
    const remote = await client.call('generate', {
      dir: req.dir,
      items: req.labels.map((classId, b) => ({ classId, seed: req.seeds[b] })),
      device: { provider: 'cpu', fallback: false },
      sampling: req.sampling,
      strategy: { kind: 'baseline' },
      batchSize: B,
    })
    putTokens(
      out,
      'host_',
      remote.images.map((i) => i.record.tokenMaps),
      B,
    )
    const size = remote.images[0].pixels.length
    const images = new Float32Array(B * size)
    remote.images.forEach((image, b) => {
      images.set(image.pixels, b * size)
    })
    out.put('host_image', images, [B, remote.channels, remote.height, remote.width])
  } finally {
    await client.close()
  }
}

async function main(): Promise<void> {
  const req = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Request
  const out = new Outputs(req.outDir)
  if (req.cmd === 'graph') await runGraph(req, out)
  else if (req.cmd === 'var_step') await varStep(req, out)
  else if (req.cmd === 'teacher_forced') await teacherForced(req, out)
  else if (req.cmd === 'free_running') await freeRunning(req, out)
  else throw new Error(`unknown command ${(req as { cmd: string }).cmd}`)
  process.stdout.write(JSON.stringify(out.spec))
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
