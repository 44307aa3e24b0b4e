/**
 * Reference statistics for FID: the Fashion-MNIST test set run through the model's classifier once,
 * its 128-d features reduced to a mean and covariance and cached as JSON (keyed by the classifier
 * file and the data file, so a changed model or data set is measured again).
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { StudioError } from '../../src-shared/errors'
import { parseIdxImages, toUnitFloats } from '../../src-shared/metrics/idx'
import { type GaussianStats, gaussianStats } from '../../src-shared/metrics/metrics'
import type { DeviceChoice } from '../../src-shared/protocol'
import type { VarManifest } from '../../src-shared/manifest'
import type { HostClient } from '../host/client'

export const DEFAULT_TEST_IMAGES = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'

const gunzipAsync = promisify(gunzip)

export interface ReferenceStats extends GaussianStats {
  readonly format: 'var-studio-fid-ref/1'
  readonly key: string
  readonly source: string
}

/** Reads an idx3-ubyte file, gunzipping it when it starts with the gzip magic. */
export async function readIdxImages(path: string): Promise<ReturnType<typeof parseIdxImages>> {
  let raw: Buffer
  try {
    raw = await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StudioError(
        `the Fashion-MNIST test images are missing (${path}): install Debian package dataset-fashion-mnist or pass --data`,
      )
    }
    throw error
  }
  let bytes: Uint8Array = raw
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      bytes = await gunzipAsync(raw)
    } catch (error) {
      throw new StudioError(`${path}: not a readable gzip file (${(error as Error).message})`)
    }
  }
  return parseIdxImages(bytes, path)
}

async function fileKey(path: string): Promise<string> {
  const s = await stat(path)
  return `${path}:${s.size}:${Math.round(s.mtimeMs)}`
}

export interface ReferenceOptions {
  readonly client: HostClient
  readonly dir: string
  readonly manifest: VarManifest
  readonly device: DeviceChoice
  readonly data: string
  /** folder of the cached statistics: fid-ref-<model id>.json there */
  readonly cacheDir: string
  readonly log: (line: string) => void
}

/** The cached reference statistics, computed (and cached) when missing or stale. */
export async function referenceStats(o: ReferenceOptions): Promise<ReferenceStats> {
  const classifier = o.manifest.graphs.classifier?.file ?? 'classifier.onnx'
  const cacheFile = join(o.cacheDir, `fid-ref-${o.manifest.id}.json`)
  let dataKey: string
  try {
    dataKey = await fileKey(o.data)
  } catch {
    await readIdxImages(o.data) // throws the clear "missing" error
    throw new StudioError(`cannot read ${o.data}`)
  }
  const key = `${o.manifest.id}|${await fileKey(join(o.dir, classifier))}|${dataKey}`
  try {
    const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as Partial<ReferenceStats>
    if (cached.format === 'var-studio-fid-ref/1' && cached.key === key && Array.isArray(cached.cov)) {
      o.log(`FID reference: cached statistics ${cacheFile}`)
      return cached as ReferenceStats
    }
  } catch {
    // no usable cache: compute below
  }
  const t0 = performance.now()
  const idx = await readIdxImages(o.data)
  const { image_size: S, image_channels: C } = o.manifest
  if (idx.rows !== S || idx.cols !== S || C !== 1) {
    throw new StudioError(
      `${o.data}: ${idx.rows}x${idx.cols} grayscale images do not fit the model's ${C}x${S}x${S} classifier input`,
    )
  }
  o.log(`FID reference: classifying ${idx.count} test images from ${o.data}`)
  const images = toUnitFloats(idx.pixels)
  const out = await o.client.call('classify', {
    dir: o.dir,
    device: o.device,
    images,
    count: idx.count,
    batchSize: 1000,
  })
  if (out.featureDim === 0) throw new StudioError(`${o.manifest.id}: the classifier has no features output`)
  const stats = gaussianStats(out.features, out.count, out.featureDim)
  const ref: ReferenceStats = { format: 'var-studio-fid-ref/1', key, source: o.data, ...stats }
  await mkdir(dirname(cacheFile), { recursive: true })
  await writeFile(cacheFile, JSON.stringify(ref))
  o.log(
    `FID reference: ${idx.count} images, ${out.featureDim}-d features in ${((performance.now() - t0) / 1000).toFixed(1)} s; cached in ${cacheFile}`,
  )
  return ref
}
