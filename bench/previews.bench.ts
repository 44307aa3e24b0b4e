/**
 * Cheap previews on the embedded model (models/fashion-mnist-var, its preview.json): quality and cost.
 * Quality: PSNR of each projection preview against the full decode of the same f_hat, both
 * area-averaged to the latent size (the preview's own resolution), per scale, over IMAGES generated
 * images (baseline, seeds 0..). Cost, side by side on the same images: the engine with no previews,
 * with projection previews at every scale of every image, and with full partial decodes of every
 * image (`all`), interleaved batch by batch. Last, one preview at VAR-d16's shapes (Cvae 32, 16x16
 * latent, 3 x 256 x 256 image) with a linear map and with a tiny decoder of random weights: what
 * either costs per preview there, whichever the d16 fit ships. The d16 figures are in d16.bench.ts.
 */
import { join } from 'node:path'
import { openModel } from '../src-main/host/ort/model'
import { readCodebook, readManifest } from '../src-main/storage/model-folder'
import { loadPreview } from '../src-main/storage/preview-file'
import { generate, type PreviewMode, type Timings } from '../src-shared/engine/loop'
import { projectPreview, type PreviewProjection } from '../src-shared/engine/preview'

const dir = join(import.meta.dirname, '..', 'models', 'fashion-mnist-var')
const IMAGES = 64
const B = 16
const REPS = 3

function areaDown(img: Float32Array, n: number, C: number, H: number, hw: number): Float64Array {
  const f = H / hw
  const out = new Float64Array(n * C * hw * hw)
  for (let p = 0; p < n * C; p++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < H; x++) {
        out[p * hw * hw + Math.floor(y / f) * hw + Math.floor(x / f)] += img[p * H * H + y * H + x] / (f * f)
      }
    }
  }
  return out
}

const psnrOf = (se: number, n: number): number => 10 * Math.log10(1 / Math.max(se / n, 1e-10))

export default async function previewsBench(): Promise<void> {
  const m = await readManifest(dir)
  const codebook = await readCodebook(dir, m)
  const { projection, warning } = await loadPreview(dir, m)
  if (!projection) {
    console.log(`previews bench skipped: ${warning ?? `${dir} has no preview.json`}`)
    return
  }
  const model = await openModel(dir, m, { provider: 'cpu', fallback: false }, { log: () => undefined })
  const { image_channels: C, image_size: H, latent_hw: hw } = m
  const S = m.patch_nums.length
  const se = new Float64Array(S - 1)
  let count = 0
  const request = (b0: number, previews: PreviewMode) => ({
    classes: Array.from({ length: B }, (_, i) => (b0 + i) % m.num_classes),
    seeds: Array.from({ length: B }, (_, i) => b0 + i),
    sampling: { ...m.sampling_defaults },
    strategy: { kind: 'baseline' as const },
    previews,
  })
  try {
    for (let b0 = 0; b0 < IMAGES; b0 += B) {
      const fHats: Float32Array[] = []
      const previews: Float32Array[] = []
      await generate(model.runner, m, codebook, request(b0, 'projection'), {
        projection,
        onStep: (s) => fHats.push(s.fHat.slice()),
        onScale: (e) => {
          if (e.previewImage) previews.push(e.previewImage)
        },
      })
      for (let si = 0; si < S - 1; si++) {
        const full = areaDown(await model.runner.decode(fHats[si], B), B, C, H, hw)
        const approx = areaDown(previews[si], B, C, H, hw)
        for (let i = 0; i < full.length; i++) se[si] += (full[i] - approx[i]) ** 2
      }
      count += B * C * hw * hw
    }
    const perScale = Array.from(se, (v) => psnrOf(v, count))
    const all = psnrOf(
      se.reduce((a, b) => a + b, 0),
      count * (S - 1),
    )
    console.log(
      `embedded model ${m.id}, ${projection.conv ? 'tiny-decoder' : 'linear'} preview map: PSNR against the ` +
        `full decode of the same f_hat at ${hw}x${hw} over ${IMAGES} generated images, per scale ` +
        `${perScale.map((p, si) => `${m.patch_nums[si]}x${m.patch_nums[si]} ${p.toFixed(1)} dB`).join(', ')}; ` +
        `all ${all.toFixed(1)} dB (the last scale is the decode itself); fitter's held-out figures ` +
        `${(projection.psnrPerScale ?? []).join(', ')} dB`,
    )

    const modes: PreviewMode[] = ['off', 'projection', 'all']
    const totals = new Map<PreviewMode, Timings[]>(modes.map((k) => [k, []]))
    await generate(model.runner, m, codebook, request(0, 'all'), { projection }) // warm-up
    for (let r = 0; r < REPS; r++) {
      for (let i = 0; i < modes.length; i++) {
        const mode = modes[(i + r) % modes.length]
        const { timings } = await generate(model.runner, m, codebook, request(100 * r, mode), { projection })
        totals.get(mode)?.push(timings)
      }
    }
    const med = (mode: PreviewMode, f: (t: Timings) => number): number => {
      const xs = (totals.get(mode) ?? []).map(f).sort((a, b) => a - b)
      return xs[xs.length >> 1]
    }
    const off = med('off', (t) => t.totalMs)
    const proj = med('projection', (t) => t.totalMs)
    const all2 = med('all', (t) => t.totalMs)
    const previewsMade = B * (S - 1)
    console.log(
      `embedded model, B=${B}, median of ${REPS} interleaved: no previews ${off.toFixed(0)} ms per batch; ` +
        `projection previews at every scale of every image ${proj.toFixed(0)} ms (${(proj / off).toFixed(2)}x; ` +
        `${((1000 * med('projection', (t) => t.previewMs)) / previewsMade).toFixed(0)} us per preview); ` +
        `full partial decodes of every image ${all2.toFixed(0)} ms (${(all2 / off).toFixed(2)}x; ` +
        `${((1000 * med('all', (t) => t.previewMs)) / previewsMade).toFixed(0)} us per decode)`,
    )
  } finally {
    await model.release()
  }
  console.log(d16Shapes())
}

/** Median ms of one preview at d16's shapes, linear and tiny decoder (random weights, seeded). */
function d16Shapes(reps = 40): string {
  let x = 1
  const rand = (n: number, scale: number): Float32Array =>
    Float32Array.from({ length: n }, () => {
      x = (x * 16807) % 2147483647
      return (x / 2147483647 - 0.5) * scale
    })
  const C = 32
  const hw = 16
  const ch = 3
  const hidden = 16
  const fHat = rand(C * hw * hw, 2)
  const linear: PreviewProjection = { Cvae: C, channels: ch, weight: rand(ch * C, 0.1), bias: rand(ch, 1) }
  const conv: PreviewProjection = {
    ...linear,
    conv: {
      hidden,
      w1: rand(hidden * C * 9, 0.1),
      b1: rand(hidden, 0.1),
      w2: rand(ch * hidden * 9, 0.1),
      b2: rand(ch, 1),
    },
  }
  const time = (p: PreviewProjection): number => {
    const ts: number[] = []
    for (let r = 0; r < reps + 5; r++) {
      const t = performance.now()
      projectPreview(fHat, 1, hw, 256, p)
      if (r >= 5) ts.push(performance.now() - t) // 5 warm-ups
    }
    ts.sort((a, b) => a - b)
    return ts[ts.length >> 1]
  }
  return (
    `one preview at VAR-d16's shapes (Cvae ${C}, ${hw}x${hw} -> 3x256x256, bilinear), median of ${reps}: ` +
    `linear map ${time(linear).toFixed(2)} ms, tiny decoder ${time(conv).toFixed(2)} ms ` +
    `(x 9 scales before the last, per image)`
  )
}
