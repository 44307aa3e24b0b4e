/**
 * The time estimate for the paper's protocol on the official checkpoints (README, "ImageNet-grade
 * metrics"): the measured VAR-d16 WebGPU per-image times on an H200 (docs/gpu/d16-webgpu-h200*.txt)
 * scaled to d20..d30 by the var_step FLOPs of one image (bench/d16.bench.ts, varStepFlops), then
 * times 50 000 images per point. An estimate: it assumes time grows with FLOPs, which the d16 step
 * timing supports (linear in the rows). `npx tsx bench/paper-protocol-estimate.ts`
 */
import type { VarManifest } from '../src-shared/manifest'
import { varStepFlops } from './d16.bench'

const PATCH_NUMS = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
/** ms per image, webgpu, H200: run 1 and run 2, B = 1 and B = 8 (docs/gpu/d16-webgpu-h200*.txt) */
const D16_MS = { 'run 1 B=1': 883.52, 'run 1 B=8': 935.07, 'run 2 B=1': 986.06, 'run 2 B=8': 1010.75 }
const IMAGES = 50 * 1000

function shapes(depth: number): VarManifest {
  const begin: number[] = []
  let at = 0
  for (const pn of PATCH_NUMS) {
    begin.push(at)
    at += pn * pn
  }
  // VAR's official configs: width 64 per block, Cvae 32, a 4096-entry codebook
  return {
    depth,
    embed_dim: 64 * depth,
    patch_nums: PATCH_NUMS,
    begin,
    Cvae: 32,
    vocab_size: 4096,
  } as unknown as VarManifest
}

const d16 = varStepFlops(shapes(16))
const lo = Math.min(...Object.values(D16_MS))
const hi = Math.max(...Object.values(D16_MS))
console.log(`var_step GFLOP per image with guidance (N = 2 rows): d16 ${(d16 / 1e9).toFixed(1)}`)
for (const depth of [16, 20, 24, 30]) {
  const ratio = varStepFlops(shapes(depth)) / d16
  const perImage = [lo * ratio, hi * ratio].map((ms) => ms / 1000)
  const hours = perImage.map((s) => (s * IMAGES) / 3600)
  console.log(
    `d${depth}: ${(varStepFlops(shapes(depth)) / 1e9).toFixed(1)} GFLOP per image, ${ratio.toFixed(2)}x d16; ` +
      `${perImage[0]?.toFixed(2)}-${perImage[1]?.toFixed(2)} s per image; ` +
      `${hours[0]?.toFixed(0)}-${hours[1]?.toFixed(0)} GPU-hours per point of ${IMAGES} images`,
  )
}
