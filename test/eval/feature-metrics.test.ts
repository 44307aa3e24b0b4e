/**
 * ImageNet-grade metrics against numpy/scipy: the .npz reader (np.savez and np.savez_compressed),
 * FID / split IS / k = 3 precision and recall on the same features as test/fixtures/feature_net.py,
 * the bilinear resize against torch, the feature-network checks and every broken-input message.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { referenceStatsFromNpz } from '../../src-main/eval/feature-scorer'
import { NpzFile } from '../../src-main/eval/npz'
import { FeatureNet } from '../../src-main/host/ort/feature-net'
import {
  manifoldPrecisionRecall,
  manifoldRadii,
  splitInceptionScore,
} from '../../src-shared/metrics/imagenet'
import { frechetDistance, gaussianStats } from '../../src-shared/metrics/metrics'
import { resizeBilinear } from '../../src-shared/metrics/resize'

interface Golden {
  fid: number
  fid_stats: number
  is_split: number
  is_one: number
  precision: number
  recall: number
  radii: number[]
  resize_up: number[]
  resize_down: number[]
}

let dir: string
let golden: Golden
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'var-featnet-'))
  execFileSync('/usr/bin/python3', ['test/fixtures/feature_net.py', 'make', dir], { stdio: 'pipe' })
  golden = JSON.parse(await readFile(join(dir, 'golden.json'), 'utf8')) as Golden
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const close = (a: number, b: number, rel: number): void => {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b)))
}

describe('.npz reader', () => {
  it('reads np.savez and np.savez_compressed archives alike', async () => {
    const plain = await NpzFile.open(join(dir, 'metrics.npz'))
    const packed = await NpzFile.open(join(dir, 'metrics-compressed.npz'))
    expect(plain.names.sort()).toEqual(['mu', 'probs', 'reference', 'samples', 'sigma', 'small'])
    for (const name of plain.names) {
      const a = plain.get(name)
      const b = packed.get(name)
      expect(b.shape).toEqual(a.shape)
      expect(b.dtype).toBe(a.dtype)
      expect(Array.from(b.data)).toEqual(Array.from(a.data))
    }
    expect(plain.get('samples')).toMatchObject({ shape: [300, 16], dtype: 'float32' })
    expect(plain.get('small')).toMatchObject({ shape: [2, 3, 5, 7], dtype: 'float64' })
    const ref = await NpzFile.open(join(dir, 'ref.npz'))
    expect(ref.get('arr_0')).toMatchObject({ shape: [60, 28, 28, 3], dtype: 'uint8' })
  })

  it('names the file and the problem for every broken archive', async () => {
    const stats = async (name: string, dim = 16): Promise<unknown> =>
      referenceStatsFromNpz(await NpzFile.open(join(dir, name)), dim)
    await expect(stats('not-a-zip.npz')).rejects.toThrow(
      /not-a-zip\.npz: not an \.npz file \(not a zip archive\)/,
    )
    await expect(stats('truncated.npz')).rejects.toThrow(/truncated\.npz: truncated/)
    await expect(stats('no-mu.npz')).rejects.toThrow(
      /no-mu\.npz: no mu\/sigma reference statistics \(it holds features\)/,
    )
    await expect(stats('fortran.npz')).rejects.toThrow(/fortran\.npz: sigma: stored in Fortran order/)
    await expect(stats('int.npz')).rejects.toThrow(/int\.npz: mu: dtype <i8 is not supported/)
    await expect(stats('big-endian.npz')).rejects.toThrow(/big-endian\.npz: mu: dtype >f8 is not supported/)
    await expect(stats('wrong-dim.npz')).rejects.toThrow(
      /wrong-dim\.npz: mu is \[8\] but the feature network gives 16-d features/,
    )
    await expect(stats('ref-stats-only.npz', 2048)).rejects.toThrow(/gives 2048-d features/)
    const ok = (await stats('ref-stats-only.npz')) as { dim: number; cov: number[][] }
    expect(ok.dim).toBe(16)
    expect(ok.cov).toHaveLength(16)
  })
})

describe('metrics against numpy / scipy on the same features', () => {
  it('FID (scipy sqrtm of sigma1 sigma2), split IS, k = 3 precision and recall', async () => {
    const npz = await NpzFile.open(join(dir, 'metrics.npz'))
    const samples = npz.get('samples').data
    const reference = npz.get('reference').data
    const ref = referenceStatsFromNpz(npz, 16)
    // FID: relative 1e-6 (eigendecomposition here, sqrtm there)
    close(frechetDistance(gaussianStats(samples, 300, 16), ref), golden.fid, 1e-6)
    // IS: splits of 5000 (5000, 5000, 2000), relative 1e-9; one split gives another value
    const probs = npz.get('probs').data
    close(splitInceptionScore(probs, 12000, 10), golden.is_split, 1e-9)
    close(splitInceptionScore(probs, 12000, 10, 12000), golden.is_one, 1e-9)
    expect(Math.abs(golden.is_split - golden.is_one)).toBeGreaterThan(1e-3)
    // precision / recall: the same shares exactly; radii to relative 1e-6
    const radii = manifoldRadii(reference, 200, 16)
    golden.radii.forEach((r, i) => {
      close(radii[i] ?? 0, r, 1e-6)
    })
    const pr = manifoldPrecisionRecall(reference, 200, samples, 300, 16)
    expect(pr.precision).toBeCloseTo(golden.precision, 12)
    expect(pr.recall).toBeCloseTo(golden.recall, 12)
  })

  it('resizes like torch interpolate (bilinear, align_corners=False), up and down', async () => {
    const small = Float32Array.from((await NpzFile.open(join(dir, 'metrics.npz'))).get('small').data)
    const up = resizeBilinear(small, 2, 3, 5, 7, 9, 11)
    const down = resizeBilinear(small, 2, 3, 5, 7, 3, 4)
    expect(up).toHaveLength(golden.resize_up.length)
    golden.resize_up.forEach((v, i) => {
      expect(up[i]).toBeCloseTo(v, 5)
    })
    golden.resize_down.forEach((v, i) => {
      expect(down[i]).toBeCloseTo(v, 5)
    })
  })
})

describe('feature network checks', () => {
  const open = (name: string): Promise<FeatureNet> =>
    FeatureNet.open(join(dir, name), { provider: 'cpu', fallback: false }, () => undefined, ['cpu'])

  it('finds the pooled features and the logits by name, and the input size', async () => {
    const free = await open('standin.onnx')
    expect(free.info).toMatchObject({
      input: 'image',
      inputShape: [3, 0, 0],
      featuresOutput: 'features',
      logitsOutput: 'logits',
    })
    const grey = new Float32Array(2 * 28 * 28).fill(0.5)
    const out = await free.run(grey, 2, 1, 28, 28)
    expect(out).toMatchObject({ featureDim: 16, numClasses: 10 })
    const fixed = await open('standin-fixed.onnx')
    expect(fixed.info.inputShape).toEqual([3, 32, 32])
    // the fixed-size network gets the 28x28 images resized to 32x32: the same features as the free one
    // given the resized images itself
    const rgb = new Float32Array(3 * 28 * 28).map((_, i) => (i % 29) / 29)
    const viaFixed = await fixed.run(rgb, 1, 3, 28, 28)
    const viaFree = await free.run(resizeBilinear(rgb, 1, 3, 28, 28, 32, 32), 1, 3, 32, 32)
    Array.from(viaFixed.features).forEach((v, i) => {
      expect(v).toBeCloseTo(viaFree.features[i] ?? Number.NaN, 5)
    })
    await free.release()
    await fixed.release()
  })

  it('refuses a network whose outputs are not a feature vector, naming the file and its outputs', async () => {
    await expect(open('spatial.onnx')).rejects.toThrow(
      /spatial\.onnx: no pooled feature output: .*its outputs are conv1 float32 \[batch, 8, .*\]; conv2 float32 \[batch, 16, .*\]/,
    )
    await expect(open('rank3.onnx')).rejects.toThrow(
      /rank3\.onnx: output features is \[batch, \w+, \w+\], not a pooled vector.*its outputs are features float32/,
    )
  })
})
