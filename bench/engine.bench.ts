/**
 * The embedded model end to end on onnxruntime-node (cpu): per-image time at B=1 and B=16 with the
 * baseline strategy and its split between ORT and JavaScript (sampling, KDE, bookkeeping), VAR-Scaling
 * N=50 at B=16, and our engine against the PyTorch sampler of `models/` (var_tools.bench_torch) on the
 * same model size, batch, cfg and top_p; and the time per image of each strategy (baseline and the
 * three searches at N=50, k=10 with the model's calibrated values), measured side by side: the
 * strategies take turns within each round, so a busy machine slows them alike, and the ratios to the
 * baseline are what to quote. Figures are medians of several runs, printed as ratios.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { openModel } from '../src-main/host/ort/model'
import { loadCalibration } from '../src-main/storage/calibration-file'
import { readCodebook, readManifest } from '../src-main/storage/model-folder'
import { generate, type GenerateRequest, type Timings } from '../src-shared/engine/loop'
import type { StrategyConfigInput } from '../src-shared/engine/strategies'

const root = join(import.meta.dirname, '..')
const modelsDir = join(root, 'models')
const modelDir = join(modelsDir, 'fashion-mnist-var')
const python = '/usr/bin/python3'
const TORCH_BATCH = 16
const TORCH_REPS = 5

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)} %`

interface Row {
  label: string
  B: number
  runs: Timings[]
}

interface TorchResult {
  torch: string
  threads: number
  weights: string
  runs_ms: number[]
  median_ms: number
  images_per_s: number
}

function runTorch(args: string[]): Promise<TorchResult | string> {
  if (!existsSync(python)) return Promise.resolve(`${python} not found: PyTorch comparison skipped`)
  return new Promise((resolve) => {
    execFile(
      python,
      ['-m', 'var_tools.bench_torch', ...args],
      { cwd: modelsDir, env: { ...process.env, TORCH_THREADS: '2' }, timeout: 180_000 },
      (error, stdout, stderr) => {
        if (error) {
          const why = /No module named '?torch'?/.test(stderr)
            ? 'torch is not installed for /usr/bin/python3'
            : (stderr.trim().split('\n').pop() ?? error.message)
          resolve(`PyTorch comparison skipped: ${why}`)
          return
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as TorchResult)
        } catch {
          resolve(`PyTorch comparison skipped: unreadable output ${JSON.stringify(stdout.slice(0, 200))}`)
        }
      },
    )
  })
}

export default async function engineBench(): Promise<void> {
  const manifest = await readManifest(modelDir)
  const codebook = await readCodebook(modelDir, manifest)
  const model = await openModel(
    modelDir,
    manifest,
    { provider: 'cpu', fallback: false },
    { ladder: ['cpu'], log: () => undefined },
  )
  const sampling = { ...manifest.sampling_defaults }
  let seed = 1000
  const request = (B: number, strategy: StrategyConfigInput): GenerateRequest => ({
    classes: Array.from({ length: B }, (_, b) => b % manifest.num_classes),
    seeds: Array.from({ length: B }, () => seed++),
    sampling,
    strategy,
  })
  const measure = async (label: string, B: number, strategy: StrategyConfigInput, reps: number) => {
    await generate(model.runner, manifest, codebook, request(B, strategy)) // warm-up
    const runs: Timings[] = []
    for (let i = 0; i < reps; i++) {
      runs.push((await generate(model.runner, manifest, codebook, request(B, strategy))).timings)
    }
    return { label, B, runs }
  }

  /** Time per image of each strategy, in turns (one batch of each per round), with the ratio to baseline. */
  const strategiesSideBySide = async (): Promise<void> => {
    const { defaults } = await loadCalibration(modelDir)
    const knobs = { N: 50, k: 10, alpha: defaults.alpha, dedup: defaults.dedup }
    const kinds: [string, StrategyConfigInput][] = [
      ['baseline', { kind: 'baseline' }],
      ['var-scaling', { kind: 'var-scaling', ...knobs }],
      ['topk-only', { kind: 'topk-only', ...knobs }],
      ['randomk-only', { kind: 'randomk-only', ...knobs }],
    ]
    const B = 16
    const ROUNDS = 5
    const ms = new Map<string, number[]>(kinds.map(([label]) => [label, []]))
    for (const [, strategy] of kinds) await generate(model.runner, manifest, codebook, request(B, strategy))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, strategy] of kinds) {
        const t = (await generate(model.runner, manifest, codebook, request(B, strategy))).timings
        ms.get(label)?.push(t.totalMs / B)
      }
    }
    const base = median(ms.get('baseline') ?? [])
    console.log(
      `strategies side by side (B=${B}, N=50 k=10, alpha ${defaults.alpha} dedup ${defaults.dedup} from ` +
        `${defaults.from === 'calibrated' ? 'the calibration' : "the paper's constants"}, ${ROUNDS} rounds in turns, cfg ${sampling.cfg}):`,
    )
    for (const [label] of kinds) {
      const m = median(ms.get(label) ?? [])
      console.log(
        `  ${label.padEnd(12)} ${(m / 1000).toFixed(4)} s per image (${m.toFixed(1)} ms), ` +
          `${(m / base).toFixed(2)}x baseline`,
      )
    }
  }

  try {
    console.log(
      `model ${manifest.id} (depth ${manifest.depth}, C ${manifest.embed_dim}, V ${manifest.vocab_size}), ` +
        `ORT ${model.provider.provider}, cfg ${sampling.cfg} top_k ${sampling.top_k} top_p ${sampling.top_p}`,
    )
    const rows: Row[] = [
      await measure('baseline      B=1 ', 1, { kind: 'baseline' }, 15),
      await measure('baseline      B=16', 16, { kind: 'baseline' }, 9),
      await measure('var-scaling N=50 B=16', 16, { kind: 'var-scaling', N: 50 }, 5),
    ]
    const perImage = (row: Row): number => median(row.runs.map((t) => t.totalMs)) / row.B
    for (const row of rows) {
      const total = row.runs.reduce((a, t) => a + t.totalMs, 0)
      const ort = row.runs.reduce((a, t) => a + t.modelMs, 0)
      const js = row.runs.reduce((a, t) => a + t.jsMs, 0)
      const kde = row.runs.reduce((a, t) => a + t.kdeMs, 0)
      console.log(
        `${row.label}: ${perImage(row).toFixed(2)} ms/image (median of ${row.runs.length}, ` +
          `${median(row.runs.map((t) => t.totalMs)).toFixed(1)} ms/batch); ORT ${pct(ort, total)}, ` +
          `JavaScript ${pct(js, total)} (of which KDE ${pct(kde, total)}; target JS <= 5 %)`,
      )
    }
    const [b1, b16, vs] = rows
    console.log(
      `B=16 vs B=1 per image: ${(perImage(b1) / perImage(b16)).toFixed(2)}x faster; ` +
        `var-scaling N=50 vs baseline at B=16: ${(perImage(vs) / perImage(b16)).toFixed(2)}x the time`,
    )

    await strategiesSideBySide()

    const runDir = join(modelsDir, 'runs', 'fashion')
    const torchArgs = [
      ...['--manifest', join('fashion-mnist-var', 'manifest.json'), '--batch', String(TORCH_BATCH)],
      ...[
        '--cfg',
        String(sampling.cfg),
        '--top-k',
        String(sampling.top_k),
        '--top-p',
        String(sampling.top_p),
      ],
      ...['--reps', String(TORCH_REPS)],
      ...(existsSync(join(runDir, 'var', 'var.pt')) ? ['--run', join('runs', 'fashion')] : []),
    ]
    const torch = await runTorch(torchArgs)
    if (typeof torch === 'string') {
      console.log(torch)
      return
    }
    const ours = TORCH_BATCH / (median(b16.runs.map((t) => t.totalMs)) / 1000)
    console.log(
      `PyTorch ${torch.torch} (${torch.threads} threads, ${torch.weights}): ` +
        `${torch.images_per_s.toFixed(1)} images/s at B=${TORCH_BATCH} (median of ${torch.runs_ms.length})`,
    )
    console.log(
      `ours (onnxruntime-node): ${ours.toFixed(1)} images/s at B=${TORCH_BATCH}; ` +
        `ratio ours/PyTorch ${(ours / torch.images_per_s).toFixed(2)}x (target >= 2x)`,
    )
  } finally {
    await model.release()
  }
}
