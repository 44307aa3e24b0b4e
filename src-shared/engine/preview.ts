/**
 * Cheap previews: a map from f_hat (Cvae channels at the latent resolution) to the image's channels,
 * fitted per model by `python -m var_tools.preview` and stored beside it as `preview.json`: `linear`
 * (Cvae x channels multiply-adds per latent pixel) or `conv`, a tiny decoder (conv 3x3 Cvae -> hidden,
 * ReLU, conv 3x3 hidden -> channels, zero padding; 9 x hidden x (Cvae + channels) multiply-adds per
 * latent pixel), shipped where it beats the linear map clearly. Either is followed by a bilinear
 * upsample to the image size (half-pixel centres, edges clamped), against a whole VAE decode for a
 * partial decode.
 * The record is bound to the manifest.json it was fitted on and carries a digest of itself, like
 * calibration.json (src-main/storage/preview-file.ts reads and checks it).
 */
import { z } from 'zod'
import type { VarManifest } from '../manifest'
import { canonicalJson } from './calibration'

export const PREVIEW_FILE = 'preview.json'
export const PREVIEW_FORMAT = 'var-preview/1'

const finite = z.number().refine(Number.isFinite, 'must be a finite number')

export const previewRecordSchema = z.looseObject({
  format: z.literal(PREVIEW_FORMAT),
  kind: z.enum(['linear', 'conv']),
  model: z.looseObject({ id: z.string(), manifestSha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  Cvae: z.number().int().min(1),
  channels: z.number().int().min(1),
  /** [channels][Cvae] */
  weight: z.array(z.array(finite)),
  /** [channels] */
  bias: z.array(finite),
  upsample: z.literal('bilinear'),
  /** the tiny decoder (kind `conv`): w1 [hidden][Cvae][3][3], b1 [hidden], w2 [channels][hidden][3][3], b2 */
  conv: z
    .looseObject({
      hidden: z.number().int().min(1),
      w1: z.array(finite),
      b1: z.array(finite),
      w2: z.array(finite),
      b2: z.array(finite),
    })
    .optional(),
  psnr: z.looseObject({ held_out_db: z.number(), per_scale_db: z.array(z.number()) }).optional(),
  /** sha256 of the record without `digest` (previewDigestText) */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
})
export type PreviewRecord = z.infer<typeof previewRecordSchema>

/** The map as the engine uses it. */
export interface PreviewProjection {
  readonly Cvae: number
  readonly channels: number
  /** [channels, Cvae] row-major */
  readonly weight: Float32Array
  /** [channels] */
  readonly bias: Float32Array
  /** the tiny decoder, used instead of weight and bias when present */
  readonly conv?: TinyDecoder
  /** held-out PSNR per scale at the latent resolution, as the fitter measured it */
  readonly psnrPerScale?: readonly number[]
}

export interface TinyDecoder {
  readonly hidden: number
  /** [hidden, Cvae, 3, 3] */
  readonly w1: Float32Array
  readonly b1: Float32Array
  /** [channels, hidden, 3, 3] */
  readonly w2: Float32Array
  readonly b2: Float32Array
}

/** The text the digest is taken of: JSON with keys sorted at every level (numbers as JSON writes them). */
export function previewDigestText(body: Record<string, unknown>): string {
  return canonicalJson(body)
}

/**
 * The projection of a parsed record, checked against the model: the reason it does not fit
 * otherwise (the caller names the file).
 */
export function projectionOf(record: PreviewRecord, m: VarManifest): PreviewProjection | string {
  if (record.Cvae !== m.Cvae) return `is for ${record.Cvae} latent channels, the model has Cvae = ${m.Cvae}`
  if (record.channels !== m.image_channels) {
    return `maps to ${record.channels} channels, the model's images have ${m.image_channels}`
  }
  if (record.weight.length !== record.channels || record.weight.some((row) => row.length !== record.Cvae)) {
    return `weight is not [${record.channels}][${record.Cvae}] (channels x Cvae)`
  }
  if (record.bias.length !== record.channels)
    return `bias has ${record.bias.length} values, ${record.channels} expected`
  let conv: TinyDecoder | undefined
  if (record.kind === 'conv') {
    const c = record.conv
    if (!c) return 'is of kind conv and has no conv layers'
    const { hidden } = c
    const want = {
      w1: hidden * record.Cvae * 9,
      b1: hidden,
      w2: record.channels * hidden * 9,
      b2: record.channels,
    }
    for (const [name, n] of Object.entries(want)) {
      const got = c[name as keyof typeof want].length
      if (got !== n)
        return `conv.${name} has ${got} values, ${n} expected (hidden ${hidden}, Cvae ${record.Cvae})`
    }
    conv = {
      hidden,
      w1: Float32Array.from(c.w1),
      b1: Float32Array.from(c.b1),
      w2: Float32Array.from(c.w2),
      b2: Float32Array.from(c.b2),
    }
  }
  return {
    Cvae: record.Cvae,
    channels: record.channels,
    weight: Float32Array.from(record.weight.flat()),
    bias: Float32Array.from(record.bias),
    ...(conv ? { conv } : {}),
    ...(record.psnr ? { psnrPerScale: record.psnr.per_scale_db } : {}),
  }
}

interface Taps {
  lo: Int32Array
  hi: Int32Array
  w: Float32Array
}

const tapsCache = new Map<string, Taps>()

/** Bilinear taps from n source samples to N output samples (half-pixel centres, clamped at the edges). */
function taps(n: number, N: number): Taps {
  const key = `${n}:${N}`
  let t = tapsCache.get(key)
  if (!t) {
    t = { lo: new Int32Array(N), hi: new Int32Array(N), w: new Float32Array(N) }
    for (let i = 0; i < N; i++) {
      const s = Math.min(Math.max(((i + 0.5) * n) / N - 0.5, 0), n - 1)
      const lo = Math.floor(s)
      t.lo[i] = lo
      t.hi[i] = Math.min(lo + 1, n - 1)
      t.w[i] = s - lo
    }
    tapsCache.set(key, t)
  }
  return t
}

/**
 * Previews of `rows` images of f_hat [B, Cvae, hw, hw]: [rows, channels, size, size], clamped to
 * [0, 1] like a decode.
 */
export function projectPreview(
  fHat: Float32Array,
  rows: number,
  hw: number,
  size: number,
  p: PreviewProjection,
): Float32Array {
  const { Cvae: C, channels: ch, weight, bias } = p
  const plane = hw * hw
  if (fHat.length < rows * C * plane) {
    throw new Error(`f_hat holds ${fHat.length} values, ${rows} x ${C} x ${hw} x ${hw} expected`)
  }
  const out = new Float32Array(rows * ch * size * size)
  const low = new Float32Array(ch * plane)
  const mid = p.conv ? new Float32Array(p.conv.hidden * plane) : undefined
  const t = taps(hw, size)
  for (let b = 0; b < rows; b++) {
    const base = b * C * plane
    if (p.conv && mid) {
      conv3x3(fHat, base, C, hw, p.conv.w1, p.conv.b1, p.conv.hidden, mid, true)
      conv3x3(mid, 0, p.conv.hidden, hw, p.conv.w2, p.conv.b2, ch, low, false)
    } else {
      for (let o = 0; o < ch; o++) {
        const acc = low.subarray(o * plane, (o + 1) * plane)
        acc.fill(bias[o])
        for (let c = 0; c < C; c++) {
          const w = weight[o * C + c]
          const src = base + c * plane
          for (let i = 0; i < plane; i++) acc[i] += w * fHat[src + i]
        }
      }
    }
    for (let o = 0; o < ch; o++) {
      const src = o * plane
      const dst = (b * ch + o) * size * size
      for (let y = 0; y < size; y++) {
        const r0 = src + t.lo[y] * hw
        const r1 = src + t.hi[y] * hw
        const wy = t.w[y]
        const row = dst + y * size
        for (let x = 0; x < size; x++) {
          const x0 = t.lo[x]
          const x1 = t.hi[x]
          const wx = t.w[x]
          const top = low[r0 + x0] + wx * (low[r0 + x1] - low[r0 + x0])
          const bottom = low[r1 + x0] + wx * (low[r1 + x1] - low[r1 + x0])
          const v = top + wy * (bottom - top)
          out[row + x] = v < 0 ? 0 : v > 1 ? 1 : v
        }
      }
    }
  }
  return out
}

/**
 * out[o] = bias[o] + sum over c, ky, kx of w[o, c, ky, kx] * input[c, y + ky - 1, x + kx - 1] (zero
 * outside), as torch's Conv2d with padding 1; `relu` clamps at 0.
 */
function conv3x3(
  input: Float32Array,
  base: number,
  cin: number,
  hw: number,
  w: Float32Array,
  bias: Float32Array,
  cout: number,
  out: Float32Array,
  relu: boolean,
): void {
  const plane = hw * hw
  for (let o = 0; o < cout; o++) {
    const acc = out.subarray(o * plane, (o + 1) * plane)
    acc.fill(bias[o])
    for (let c = 0; c < cin; c++) {
      const src = base + c * plane
      const wb = (o * cin + c) * 9
      for (let ky = 0; ky < 3; ky++) {
        const dy = ky - 1
        const y0 = Math.max(0, -dy)
        const y1 = Math.min(hw, hw - dy)
        for (let kx = 0; kx < 3; kx++) {
          const dx = kx - 1
          const wk = w[wb + ky * 3 + kx]
          if (wk === 0) continue
          const x0 = Math.max(0, -dx)
          const x1 = Math.min(hw, hw - dx)
          for (let y = y0; y < y1; y++) {
            const row = y * hw
            const srow = src + (y + dy) * hw + dx
            for (let x = x0; x < x1; x++) acc[row + x] += wk * input[srow + x]
          }
        }
      }
    }
    if (relu) for (let i = 0; i < plane; i++) if (acc[i] < 0) acc[i] = 0
  }
}
