/**
 * ImageNet-grade scoring for `eval --feature-net FILE.onnx --reference FILE.npz|DIR`: the user's
 * feature network (run by the inference host's `features` method) and reference statistics, either a
 * standard evaluator's reference batch (`mu`, `sigma`, optionally `arr_0` images for precision and
 * recall) or a folder of PNG/JPEG images measured once and cached as `.npz`. Generated images are
 * quantised to 8 bits first, as the evaluators see saved samples.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, stat } from 'node:fs/promises'
import { extname, join, resolve } from 'node:path'
import sharp from 'sharp'
import { StudioError } from '../../src-shared/errors'
import { type GaussianStats, gaussianStats } from '../../src-shared/metrics/metrics'
import type { DeviceChoice, FeatureNetInfo } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { NpzError, NpzFile, type NpyArray, writeNpz } from './npz'

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg'])
/** Images per `features` call (and per decode chunk of a reference). */
const CHUNK = 500

export interface ScoredImages {
  readonly features: Float32Array
  readonly featureDim: number
  /** the network's logits, [n, numClasses]; numClasses = 0 without a logits output */
  readonly logits: Float32Array
  readonly numClasses: number
}

export interface FeatureReference {
  readonly source: string
  readonly stats: GaussianStats
  /** reference feature vectors for precision / recall (arr_0 or the folder's images); absent: none */
  readonly features?: Float32Array
  readonly count: number
}

export interface FeatureScorer {
  readonly network: FeatureNetInfo
  readonly featureDim: number
  readonly numClasses: number
  /** absent when opened without the reference (shards other than the first) */
  readonly reference?: FeatureReference
  /** the network file's size, for the record */
  readonly networkBytes: number
  /** `count` images [C, H, W] in [0, 1] through the network (quantised to 8 bits first). */
  score(images: Float32Array, count: number, C: number, H: number, W: number): Promise<ScoredImages>
}

export interface ScorerOptions {
  readonly client: HostClient
  readonly featureNet: string
  readonly reference: string
  readonly device: DeviceChoice
  /** the generated images' size; a reference folder's images are resized (cover crop) to it */
  readonly imageSize: number
  readonly cacheDir: string
  /** images per network pass */
  readonly batchSize: number
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
  /** load (or measure) the reference too; shards other than the first need only the network */
  readonly withReference: boolean
}

/** Rounds [0, 1] floats to the 8-bit levels a saved PNG holds. */
export function quantise(images: Float32Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(images.length)
  for (let i = 0; i < images.length; i++)
    out[i] = Math.round(Math.min(1, Math.max(0, images[i] ?? 0)) * 255) / 255
  return out
}

/** NHWC uint8 images to NCHW floats in [0, 1]. */
function nhwcToChw(
  bytes: Uint8Array,
  count: number,
  H: number,
  W: number,
  C: number,
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(count * C * H * W)
  for (let i = 0; i < count; i++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < C; c++)
          out[((i * C + c) * H + y) * W + x] = (bytes[((i * H + y) * W + x) * C + c] ?? 0) / 255
  return out
}

async function fileKey(path: string): Promise<string> {
  const s = await stat(path)
  return `${resolve(path)}:${s.size}:${Math.round(s.mtimeMs)}`
}

const toArray = (a: NpyArray): number[] => Array.from(a.data)

/** The reference batch's mu and sigma, checked against the feature network's dimension. */
export function referenceStatsFromNpz(npz: NpzFile, featureDim: number): GaussianStats {
  const f = npz.file
  if (!npz.has('mu') || !npz.has('sigma')) {
    throw new NpzError(
      `${f}: no mu/sigma reference statistics (it holds ${npz.names.join(', ') || 'nothing'}); a reference batch has mu [D] and sigma [D, D]`,
    )
  }
  const mu = npz.get('mu')
  const sigma = npz.get('sigma')
  if (mu.dtype === 'uint8' || sigma.dtype === 'uint8')
    throw new NpzError(`${f}: mu and sigma must be float32 or float64`)
  const D = mu.shape.length === 1 ? (mu.shape[0] ?? 0) : -1
  if (D !== featureDim) {
    throw new NpzError(
      `${f}: mu is [${mu.shape.join(', ')}] but the feature network gives ${featureDim}-d features (wrong dimension: a reference for another network?)`,
    )
  }
  if (sigma.shape.length !== 2 || sigma.shape[0] !== D || sigma.shape[1] !== D) {
    throw new NpzError(`${f}: sigma is [${sigma.shape.join(', ')}], [${D}, ${D}] expected`)
  }
  const flat = toArray(sigma)
  const cov = Array.from({ length: D }, (_, a) => flat.slice(a * D, (a + 1) * D))
  return { dim: D, count: 0, mean: toArray(mu), cov }
}

/** Opens the feature network (a one-image probe checks its outputs) and the reference. */
export async function openFeatureScorer(o: ScorerOptions): Promise<FeatureScorer> {
  const featureNet = resolve(o.featureNet)
  const call = async (images: Float32Array<ArrayBuffer>, count: number, C: number, H: number, W: number) =>
    o.client.call(
      'features',
      {
        file: featureNet,
        device: o.device,
        images,
        count,
        channels: C,
        height: H,
        width: W,
        batchSize: o.batchSize,
      },
      o.signal ? { signal: o.signal } : {},
    )
  const S = o.imageSize
  const probe = await call(new Float32Array(3 * S * S), 1, 3, S, S)
  const { featureDim, numClasses, network } = probe
  o.log(
    `feature network ${featureNet}: ${featureDim}-d features (${network.featuresOutput})` +
      (network.logitsOutput
        ? `, ${numClasses} logits (${network.logitsOutput})`
        : ', no logits: IS is not computed') +
      ` on ${probe.provider.provider}`,
  )
  const score = async (
    images: Float32Array,
    count: number,
    C: number,
    H: number,
    W: number,
  ): Promise<ScoredImages> => {
    const q = quantise(images)
    const size = C * H * W
    const features = new Float32Array(count * featureDim)
    const logits = new Float32Array(count * numClasses)
    // whole passes of batchSize per call, so a block is cut into the same passes wherever it starts
    const chunk = Math.max(1, Math.floor(CHUNK / o.batchSize)) * o.batchSize
    for (let start = 0; start < count; start += chunk) {
      const B = Math.min(chunk, count - start)
      const out = await call(q.subarray(start * size, (start + B) * size), B, C, H, W)
      features.set(out.features, start * featureDim)
      logits.set(out.logits, start * numClasses)
    }
    return { features, featureDim, logits, numClasses }
  }
  const networkBytes = (await stat(featureNet)).size
  if (!o.withReference) return { network, featureDim, numClasses, networkBytes, score }
  const reference = await loadReference(o, featureNet, featureDim, score)
  return { network, featureDim, numClasses, networkBytes, reference, score }
}

type Score = (
  images: Float32Array<ArrayBuffer>,
  count: number,
  C: number,
  H: number,
  W: number,
) => Promise<ScoredImages>

async function cached(
  o: ScorerOptions,
  key: string,
  compute: () => Promise<{ features: Float32Array; count: number }>,
  featureDim: number,
): Promise<{ features: Float32Array; count: number }> {
  const file = join(o.cacheDir, `features-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.npz`)
  try {
    const npz = await NpzFile.open(file)
    const f = npz.get('features')
    if (f.dtype === 'float32' && f.shape[1] === featureDim) {
      o.log(`reference features: cached ${file}`)
      return { features: f.data as Float32Array, count: f.shape[0] ?? 0 }
    }
  } catch {
    // no usable cache: compute
  }
  const t0 = performance.now()
  const out = await compute()
  await mkdir(o.cacheDir, { recursive: true })
  await writeNpz(file, { features: { shape: [out.count, featureDim], dtype: 'float32', data: out.features } })
  o.log(
    `reference features: ${out.count} images in ${((performance.now() - t0) / 1000).toFixed(1)} s; cached in ${file}`,
  )
  return out
}

async function loadReference(
  o: ScorerOptions,
  featureNet: string,
  featureDim: number,
  score: Score,
): Promise<FeatureReference> {
  const path = resolve(o.reference)
  let isDir: boolean
  try {
    isDir = (await stat(path)).isDirectory()
  } catch {
    throw new StudioError(
      `${path}: the reference (an .npz reference batch or a folder of images) does not exist`,
    )
  }
  const netKey = await fileKey(featureNet)
  if (!isDir) {
    const npz = await NpzFile.open(path)
    const stats = referenceStatsFromNpz(npz, featureDim)
    if (!npz.has('arr_0')) {
      o.log(`reference ${path}: mu/sigma only (no arr_0 images): precision and recall are not computed`)
      return { source: path, stats, count: 0 }
    }
    const { features, count } = await cached(
      o,
      `npz|${await fileKey(path)}|${netKey}`,
      async () => {
        const arr = npz.get('arr_0')
        const [n = 0, H = 0, W = 0, C = 0] = arr.shape
        if (arr.dtype !== 'uint8' || arr.shape.length !== 4 || (C !== 3 && C !== 1)) {
          throw new NpzError(
            `${path}: arr_0 is ${arr.dtype} [${arr.shape.join(', ')}]; uint8 [N, H, W, 3] images expected`,
          )
        }
        o.log(`reference ${path}: ${n} images ${W}x${H} through the feature network`)
        const bytes = arr.data as Uint8Array
        const feats = new Float32Array(n * featureDim)
        for (let start = 0; start < n; start += CHUNK) {
          const B = Math.min(CHUNK, n - start)
          const chunk = nhwcToChw(bytes.subarray(start * H * W * C, (start + B) * H * W * C), B, H, W, C)
          feats.set((await score(chunk, B, C, H, W)).features, start * featureDim)
        }
        return { features: feats, count: n }
      },
      featureDim,
    )
    return { source: path, stats, features, count }
  }
  const names = (await readdir(path)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort()
  if (names.length < 2) {
    throw new StudioError(
      `${path}: a reference folder needs at least two PNG or JPEG images, found ${names.length}`,
    )
  }
  const keys = await Promise.all(names.map((n) => fileKey(join(path, n))))
  const S = o.imageSize
  const { features, count } = await cached(
    o,
    `dir|${S}|${keys.join('|')}|${netKey}`,
    async () => {
      o.log(`reference ${path}: ${names.length} images, resized to ${S}x${S}, through the feature network`)
      const feats = new Float32Array(names.length * featureDim)
      for (let start = 0; start < names.length; start += CHUNK) {
        const part = names.slice(start, start + CHUNK)
        const bytes = new Uint8Array(part.length * S * S * 3)
        await Promise.all(
          part.map(async (name, i) => {
            const file = join(path, name)
            try {
              const data = await sharp(file)
                .removeAlpha()
                .toColourspace('srgb')
                .resize(S, S, { fit: 'cover', kernel: 'lanczos3' })
                .raw()
                .toBuffer()
              bytes.set(data.subarray(0, S * S * 3), i * S * S * 3)
            } catch (cause) {
              throw new StudioError(`${file}: not a readable image (${(cause as Error).message})`, { cause })
            }
          }),
        )
        const chunk = nhwcToChw(bytes, part.length, S, S, 3)
        feats.set((await score(chunk, part.length, 3, S, S)).features, start * featureDim)
      }
      return { features: feats, count: names.length }
    },
    featureDim,
  )
  return { source: path, stats: gaussianStats(features, count, featureDim), features, count }
}
