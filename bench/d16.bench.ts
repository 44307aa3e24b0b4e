/**
 * VAR-d16 (official shapes, random weights) on CPU, B=1 with guidance at the manifest's sampling
 * defaults: per-image time of our engine (onnxruntime-node + the TypeScript loop) side by side with
 * the PyTorch sampler of `models/` (var_tools.bench_d16) on the very same weights, the share spent in
 * JavaScript, the achieved GFLOP/s of the var_step graphs against the CPU's fp32 peak, and peak memory.
 *
 * The first run writes random checkpoints and their var-onnx/1 export to models/runs/bench-d16/
 * (gitignored, about 3 GB, 2-3 minutes); later runs reuse them. BENCH_D16=0 skips the section.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { openModel } from '../src-main/host/ort/model'
import { Graph, tensor } from '../src-main/host/ort/session'
import { readCodebook, readManifest } from '../src-main/storage/model-folder'
import { loadPreview } from '../src-main/storage/preview-file'
import { generate, type PreviewMode, type Timings } from '../src-shared/engine/loop'
import type { PreviewProjection } from '../src-shared/engine/preview'
import type { StepRunner } from '../src-shared/engine/runner'
import type { VarManifest } from '../src-shared/manifest'

const root = join(import.meta.dirname, '..')
const modelsDir = join(root, 'models')
const workDir = join('runs', 'bench-d16') // relative to models/, where `python -m var_tools...` runs
const modelDir = join(modelsDir, workDir, 'var-d16')
// the same weights exported with --weights int8 (the transformer's linear layers run in int8)
const int8Dir = join(modelsDir, workDir, 'var-d16-int8')
const python = '/usr/bin/python3'
const OURS_REPS = 3
const TORCH_REPS = 2
// images per preview mode in the side-by-side preview comparison
const PREVIEW_REPS = 2
const CLASS = 207 // golden retriever, as in VAR's demo
// VAR's MLP is 4x wide in every official checkpoint; the manifest does not carry the ratio
const MLP_RATIO = 4

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)} %`
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

interface TorchResult {
  torch: string
  threads: number
  runs_ms: number[]
  median_ms: number
  var_step_median_ms: number
  max_rss_mb: number
}

/** Runs `python -m var_tools.bench_d16 ...`; resolves the last JSON line, or a reason it could not. */
function runPython(args: string[], timeoutMs: number): Promise<Record<string, unknown> | string> {
  if (!existsSync(python)) return Promise.resolve(`${python} not found`)
  return new Promise((resolve) => {
    execFile(
      python,
      ['-m', 'var_tools.bench_d16', ...args],
      { cwd: modelsDir, env: { ...process.env, TORCH_THREADS: '2' }, timeout: timeoutMs, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        if (error) {
          const why = /No module named '?(torch|onnx)'?/.exec(stderr)
          resolve(
            why
              ? `${why[1]} is not installed for ${python}`
              : error.killed
                ? `timed out after ${timeoutMs / 1000} s`
                : (stderr.trim().split('\n').pop() ?? error.message),
          )
          return
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>)
        } catch {
          resolve(`unreadable output ${JSON.stringify(stdout.slice(0, 200))}`)
        }
      },
    )
  })
}

/**
 * FLOPs of all var_step calls of one image (N = 2 rows with guidance), counted from the graph:
 * 2 per multiply-add of every linear layer per token, plus q.k^T and attn.v over the cache. AdaLN's
 * linear layers see only the class embedding, so the exporter turns them into per-label tables (no
 * products); LayerNorm, softmax and GELU are left out (elementwise, well under 1 % here).
 */
export function varStepFlops(m: VarManifest, N = 2): number {
  const C = m.embed_dim
  const hidden = MLP_RATIO * C
  let flops = 0
  m.patch_nums.forEach((pn, si) => {
    const l = pn * pn
    const T = m.begin[si] + l
    const tokens = N * l
    // AdaLN's modulation is a per-label table lookup in the exported graph: no products
    const perBlock =
      2 * tokens * (3 * C * C + C * C + 2 * C * hidden) + // qkv, proj, fc1, fc2
      2 * 2 * tokens * T * C // q.k^T and attn.v, all heads together
    flops += m.depth * perBlock
    flops += 2 * tokens * m.Cvae * C // word_embed
    flops += 2 * tokens * C * m.vocab_size // head
  })
  return flops
}

interface Peak {
  gflops: number
  how: string
}

/**
 * fp32 peak = cores x FMA pipes x lanes x 2 x clock, read from /proc/cpuinfo. Assumed: 2 FMA pipes
 * per core; AVX-512 counts 16 lanes except on AMD Zen 4 (family 25), which runs 512-bit FMAs on
 * 256-bit halves (8 lanes per pipe and cycle); the clock is the one the kernel reports (under a
 * hypervisor often the nominal clock; turbo would raise the real peak).
 */
function cpuPeak(): Peak | undefined {
  let info: string
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8')
  } catch {
    return undefined
  }
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim()
  const flags = new Set((field('flags') ?? '').split(/\s+/))
  const mhz = Number(field('cpu MHz'))
  if (!flags.has('fma') || !Number.isFinite(mhz) || mhz <= 0) return undefined
  const zen4 = field('vendor_id') === 'AuthenticAMD' && field('cpu family') === '25'
  const lanes = flags.has('avx512f') && !zen4 ? 16 : 8
  const cores = availableParallelism()
  const gflops = (cores * 2 * lanes * 2 * mhz) / 1000
  const isa = flags.has('avx512f') ? (zen4 ? 'AVX-512 on 256-bit units (Zen 4)' : 'AVX-512') : 'AVX2'
  return {
    gflops,
    how: `${cores} cores x 2 FMA pipes x ${lanes} fp32 lanes x 2 flop x ${(mhz / 1000).toFixed(2)} GHz, ${isa}`,
  }
}

/**
 * What the KV cache outputs cost per image: every scale's var_step run side by side with all outputs
 * and with logits only (the graph computes the same; only present_k/present_v are not handed back).
 * onnxruntime-node returns each output in a new array, so the cache cannot be kept in one buffer
 * across scales (a pre-allocated fetch is written and then copied); this is the price of that.
 */
async function kvHandoverMs(
  dir: string,
  m: VarManifest,
  reps = 2,
): Promise<{ withKv: number; logitsOnly: number }> {
  const graph = await Graph.open(
    join(dir, m.graphs.var_step.file),
    'var_step',
    'cpu',
    undefined,
    () => undefined,
  )
  const { depth, num_heads: H, head_dim: hd, Cvae } = m
  const N = 2
  let withKv = 0
  let logitsOnly = 0
  try {
    for (const [si, pn] of m.patch_nums.entries()) {
      const l = pn * pn
      const P = m.begin[si]
      const T = P + l
      const g = 'var_step'
      const feeds = {
        cond_label: tensor(g, 'cond_label', BigInt64Array.from([BigInt(CLASS), BigInt(m.num_classes)]), [N]),
        x_cvae: tensor(g, 'x_cvae', new Float32Array(N * l * Cvae), [N, l, Cvae]),
        pos: tensor(
          g,
          'pos',
          BigInt64Array.from({ length: l }, (_, i) => BigInt(P + i)),
          [l],
        ),
        attn_bias: tensor(g, 'attn_bias', new Float32Array(l * T), [l, T]),
        past_k: tensor(g, 'past_k', new Float32Array(depth * N * H * P * hd), [depth, N, H, P, hd]),
        past_v: tensor(g, 'past_v', new Float32Array(depth * N * H * P * hd), [depth, N, H, P, hd]),
      }
      const times = { all: [] as number[], logits: [] as number[] }
      for (let r = 0; r <= reps; r++) {
        for (const which of r % 2 ? (['logits', 'all'] as const) : (['all', 'logits'] as const)) {
          const t = performance.now()
          await graph.run(feeds, which === 'all' ? undefined : ['logits'])
          if (r > 0) times[which].push(performance.now() - t) // r = 0 warms this shape up
        }
      }
      withKv += median(times.all)
      logitsOnly += median(times.logits)
    }
  } finally {
    await graph.release()
  }
  return { withKv, logitsOnly }
}

/** Delegates to the real runner and adds up the time spent in var_step. */
function timedRunner(inner: StepRunner): { runner: StepRunner; varStepMs: () => number; reset: () => void } {
  let ms = 0
  const runner: StepRunner = {
    varStep: async (feeds) => {
      const t = performance.now()
      try {
        return await inner.varStep(feeds)
      } finally {
        ms += performance.now() - t
      }
    },
    vqStep: (feeds) => inner.vqStep(feeds),
    decode: (fHat, B) => inner.decode(fHat, B),
  }
  return {
    runner,
    varStepMs: () => ms,
    reset: () => {
      ms = 0
    },
  }
}

type OursRun = { t: Timings; varStepMs: number }

/**
 * Our engine on one model folder: 1 warm-up + `reps` images, B=1, the manifest's sampling; `previews`
 * as the studio's Partial decodes setting (the CLI and the comparison run without).
 */
async function timeOurs(dir: string, reps = OURS_REPS, previews: PreviewMode = 'off'): Promise<OursRun[]> {
  const manifest = await readManifest(dir)
  const codebook = await readCodebook(dir, manifest)
  const model = await openModel(
    dir,
    manifest,
    { provider: 'cpu', fallback: false },
    { ladder: ['cpu'], log: () => undefined },
  )
  const timed = timedRunner(model.runner)
  const runs: OursRun[] = []
  try {
    for (let i = 0; i <= reps; i++) {
      timed.reset()
      const { timings } = await generate(timed.runner, manifest, codebook, {
        classes: [CLASS],
        seeds: [100 + i],
        sampling: { ...manifest.sampling_defaults },
        strategy: { kind: 'baseline' },
        previews,
      })
      if (i > 0) runs.push({ t: timings, varStepMs: timed.varStepMs() }) // run 0 warms ORT up
    }
  } finally {
    await model.release()
  }
  return runs
}

/**
 * Previews side by side on one open model, the modes interleaved image by image (so a busy machine
 * weighs on all alike): none, the cheap preview map at every scale of every image (`projection`,
 * preview.json fitted on this model's own decodes), and full partial decodes of the first image
 * (`first`; with B = 1 the first image is every image).
 */
async function previewsSideBySide(dir: string, reps = PREVIEW_REPS): Promise<void> {
  const manifest = await readManifest(dir)
  const codebook = await readCodebook(dir, manifest)
  const { projection, warning } = await loadPreview(dir, manifest)
  if (!projection) {
    console.log(`previews side by side skipped: ${warning ?? `${dir} has no preview.json`}`)
    return
  }
  const model = await openModel(
    dir,
    manifest,
    { provider: 'cpu', fallback: false },
    { ladder: ['cpu'], log: () => undefined },
  )
  const modes: PreviewMode[] = ['off', 'projection', 'first']
  const times = new Map<PreviewMode, Timings[]>(modes.map((mode) => [mode, []]))
  const one = async (mode: PreviewMode, seed: number, p?: PreviewProjection): Promise<Timings> =>
    (
      await generate(
        model.runner,
        manifest,
        codebook,
        {
          classes: [CLASS],
          seeds: [seed],
          sampling: { ...manifest.sampling_defaults },
          strategy: { kind: 'baseline' },
          previews: mode,
        },
        p ? { projection: p } : {},
      )
    ).timings
  try {
    await one('projection', 99, projection) // warms ORT and the preview code up
    for (let r = 0; r < reps; r++) {
      // rotate the order so that no mode always runs first or last
      for (let i = 0; i < modes.length; i++) {
        const mode = modes[(i + r) % modes.length]
        times.get(mode)?.push(await one(mode, 200 + r, projection))
      }
    }
  } finally {
    await model.release()
  }
  const med = (mode: PreviewMode, f: (t: Timings) => number): number => median((times.get(mode) ?? []).map(f))
  const off = med('off', (t) => t.totalMs)
  const proj = med('projection', (t) => t.totalMs)
  const first = med('first', (t) => t.totalMs)
  const S = manifest.patch_nums.length
  console.log(
    `previews side by side (B=1, median of ${reps} each, interleaved): none ${sec(off)} per image; ` +
      `${projection.conv ? 'tiny-decoder' : 'linear'} projection previews at all ${S - 1} scales before the last ` +
      `${sec(proj)} (${(proj / off).toFixed(3)}x, target <= 1.1x; ${(med('projection', (t) => t.previewMs) / (S - 1)).toFixed(1)} ms ` +
      `per preview); full partial decodes ${sec(first)} (${(first / off).toFixed(2)}x, ` +
      `${sec(med('first', (t) => t.previewMs))} in decodes)`,
  )
}

export default async function d16Bench(): Promise<void> {
  if (process.env.BENCH_D16 === '0') {
    console.log('d16 section skipped (BENCH_D16=0)')
    return
  }
  if (
    !existsSync(join(modelDir, 'manifest.json')) ||
    !existsSync(join(int8Dir, 'manifest.json')) ||
    !existsSync(join(modelDir, 'preview.json'))
  ) {
    console.log(
      `exporting random official-shape d16 weights once to models/${workDir} (3-4 min, about 3.6 GB) ` +
        'and fitting its preview map on its own decodes (a few minutes)...',
    )
    const prep = await runPython(['prepare', '--dir', workDir], 900_000)
    if (typeof prep === 'string') {
      console.log(`d16 section skipped: the d16 model could not be made (${prep})`)
      return
    }
  }
  const manifest = await readManifest(modelDir)
  const sampling = { ...manifest.sampling_defaults }
  const runs = await timeOurs(modelDir)
  const oursMaxRssMb = process.resourceUsage().maxRSS / 1024 // KiB on Linux

  const total = median(runs.map((r) => r.t.totalMs))
  const sum = (f: (r: (typeof runs)[number]) => number): number => runs.reduce((a, r) => a + f(r), 0)
  const jsShare = sum((r) => r.t.jsMs) / sum((r) => r.t.totalMs)
  const varStep = median(runs.map((r) => r.varStepMs))
  const flops = varStepFlops(manifest)
  const gflops = flops / 1e9 / (varStep / 1000)
  const peak = cpuPeak()
  console.log(
    `model ${manifest.id}: depth ${manifest.depth}, C ${manifest.embed_dim}, V ${manifest.vocab_size}, ` +
      `B=1 with guidance, cfg ${sampling.cfg} top_k ${sampling.top_k} top_p ${sampling.top_p}, class ${CLASS}`,
  )
  console.log(
    `ours (onnxruntime-node cpu): ${sec(total)} per image (median of ${runs.length}); var_step ${sec(varStep)}, ` +
      `other graphs ${sec(median(runs.map((r) => r.t.modelMs - r.varStepMs)))}; ` +
      `JavaScript ${(100 * jsShare).toFixed(1)} % (target <= 5 %)`,
  )
  console.log(
    `var_step: ${(flops / 1e9).toFixed(0)} GFLOP per image -> ${gflops.toFixed(1)} GFLOP/s` +
      (peak
        ? ` = ${pct(gflops, peak.gflops)} of an fp32 peak of ${peak.gflops.toFixed(0)} GFLOP/s (${peak.how})`
        : ' (fp32 peak unknown: no /proc/cpuinfo)'),
  )
  console.log(`ours: peak RSS ${oursMaxRssMb.toFixed(0)} MB (process.resourceUsage().maxRSS, whole process)`)
  const int8Runs = await timeOurs(int8Dir)
  const int8Total = median(int8Runs.map((r) => r.t.totalMs))
  const int8VarStep = median(int8Runs.map((r) => r.varStepMs))
  console.log(
    `ours, --weights int8 (same weights, linear layers in int8, approximate): ${sec(int8Total)} per image; ` +
      `var_step ${sec(int8VarStep)} (${(varStep / int8VarStep).toFixed(2)}x the float32 var_step's speed)`,
  )
  await previewsSideBySide(modelDir)
  const kv = await kvHandoverMs(modelDir, manifest)
  console.log(
    `KV cache handover: var_step over all scales ${sec(kv.withKv)} with present_k/v returned, ` +
      `${sec(kv.logitsOnly)} with logits only: ${sec(kv.withKv - kv.logitsOnly)} per image ` +
      `(${pct(kv.withKv - kv.logitsOnly, total)} of the image) for the new arrays onnxruntime-node hands back`,
  )

  const torch = await runPython(['torch', '--dir', workDir, '--reps', String(TORCH_REPS)], 600_000)
  if (typeof torch === 'string') {
    console.log(`PyTorch comparison skipped: ${torch}`)
    return
  }
  const t = torch as unknown as TorchResult
  console.log(
    `PyTorch ${t.torch} (${t.threads} threads, same weights): ${sec(t.median_ms)} per image ` +
      `(median of ${t.runs_ms.length}); var_step ${sec(t.var_step_median_ms)} ` +
      `(${(flops / 1e9 / (t.var_step_median_ms / 1000)).toFixed(1)} GFLOP/s); peak RSS ${t.max_rss_mb.toFixed(0)} MB`,
  )
  console.log(
    `ours / PyTorch time: ${(total / t.median_ms).toFixed(2)} (target <= 0.33); ` +
      `${(t.median_ms / total).toFixed(1)}x faster; with int8 linear layers ${(int8Total / t.median_ms).toFixed(2)}`,
  )
}
