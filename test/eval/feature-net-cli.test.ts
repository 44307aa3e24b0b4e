/**
 * `eval --feature-net --reference` end to end on the embedded model with its classifier removed (as an
 * official ImageNet export ships none): the stand-in network of test/fixtures/feature_net.py, a
 * reference batch and a reference folder; the numbers must be the ones numpy/scipy compute from the
 * same sample batch (the script runs the stand-in in torch on the saved arr_0).
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { NpzFile } from '../../src-main/eval/npz'
import { HostClient } from '../../src-main/host/client'
import { captureIo } from '../helpers/io'
import { copyModel, readJsonManifest, writeJsonManifest } from '../host/model'

let tmp: string
let model: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  model = await copyModel()
  tmp = join(model.dir, '..', 'fixtures')
  execFileSync('/usr/bin/python3', ['test/fixtures/feature_net.py', 'make', tmp], { stdio: 'pipe' })
  const manifest = await readJsonManifest(model.dir)
  const graphs = { ...manifest.graphs }
  delete graphs.classifier
  const files = { ...manifest.files }
  delete files['classifier.onnx']
  await writeJsonManifest(model.dir, { ...manifest, graphs, files })
  await rm(join(model.dir, 'classifier.onnx'))
  await rm(join(model.dir, 'calibration.json'), { force: true })
}, 180_000)
afterAll(async () => {
  await model.cleanup()
})

const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })

async function runEval(extra: string[]): Promise<{ code: number; err: string; log: string }> {
  const c = captureIo()
  const progress: string[] = []
  const code = await main(
    ['eval', '--model', model.dir, '--device', 'cpu', '--cache-dir', join(tmp, 'cache'), ...extra],
    c.io,
    { progress: { write: (s: string) => progress.push(s) }, createClient: client },
  )
  return { code, err: c.err.join('\n'), log: progress.join('') }
}

interface Row {
  label: string
  n_images: number
  class_accuracy: { value: number | null }
  IS: { value: number }
  FID: { value: number }
  precision: number
  recall: number
}

const SMALL = ['--strategies', 'baseline', '--per-class', '2', '--no-noise', '--bootstrap', '0']

describe('eval with a feature network and reference statistics', () => {
  it('gives numpy/scipy numbers on a model without a classifier (reference batch .npz)', async () => {
    const out = join(tmp, 'eval-npz')
    const args = ['--feature-net', join(tmp, 'standin.onnx'), '--reference', join(tmp, 'ref.npz')]
    const r = await runEval([...args, ...SMALL, '--save-samples', '--out', out])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.log).toMatch(/16-d features \(features\), 10 logits \(logits\)/)
    const record = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')) as {
      rows: Row[]
      featureNet: { featuresOutput: string; featureDim: number; referenceImages: number }
    }
    expect(record.featureNet).toMatchObject({
      featuresOutput: 'features',
      featureDim: 16,
      referenceImages: 60,
    })
    const row = record.rows.at(0)
    if (!row) throw new Error('no row')
    expect(row.n_images).toBe(20)
    expect(row.class_accuracy.value).toBeNull() // NaN: no classifier
    const samples = await NpzFile.open(join(out, 'samples-1-0.npz'))
    expect(samples.get('arr_0').shape).toEqual([20, 28, 28, 3])
    const numpy = JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        ['test/fixtures/feature_net.py', 'check', tmp, join(out, 'samples-1-0.npz')],
        {
          encoding: 'utf8',
        },
      ),
    ) as { feature_diff: number; fid: number; is: number; precision: number; recall: number; n: number }
    // onnxruntime against torch on the same 8-bit images
    expect(numpy.feature_diff).toBeLessThan(1e-4)
    expect(Math.abs(row.FID.value - numpy.fid)).toBeLessThan(1e-3 * Math.max(1, numpy.fid))
    expect(Math.abs(row.IS.value - numpy.is)).toBeLessThan(1e-4 * numpy.is)
    // a distance that ties within float rounding may flip one image
    expect(Math.abs(row.precision - numpy.precision)).toBeLessThanOrEqual(1 / 20 + 1e-9)
    expect(Math.abs(row.recall - numpy.recall)).toBeLessThanOrEqual(1 / 60 + 1e-9)
    expect(row.FID.value).toBeGreaterThan(0)

    // The same images as a folder of PNGs: the same statistics (measured once, then cached).
    const folder = join(tmp, 'ref-folder')
    await mkdir(folder, { recursive: true })
    const arr = (await NpzFile.open(join(tmp, 'ref.npz'))).get('arr_0').data
    for (let i = 0; i < 60; i++) {
      const png = await sharp(Buffer.from(arr.subarray(i * 28 * 28 * 3, (i + 1) * 28 * 28 * 3)), {
        raw: { width: 28, height: 28, channels: 3 },
      })
        .png()
        .toBuffer()
      await writeFile(join(folder, `ref-${String(i).padStart(3, '0')}.png`), png)
    }
    const outDir = join(tmp, 'eval-dir')
    const viaFolder = ['--feature-net', join(tmp, 'standin.onnx'), '--reference', folder, ...SMALL]
    const d = await runEval([...viaFolder, '--out', outDir])
    expect(d.code).toBe(0)
    expect(d.log).toMatch(/reference .*ref-folder: 60 images/)
    const dRow = (JSON.parse(await readFile(join(outDir, 'eval.json'), 'utf8')) as { rows: Row[] }).rows[0]
    expect(Math.abs(dRow.FID.value - row.FID.value)).toBeLessThan(1e-3 * Math.max(1, row.FID.value))
    expect(dRow.precision).toBe(row.precision)
    expect(dRow.recall).toBe(row.recall)
    const again = await runEval([...viaFolder, '--out', join(tmp, 'eval-dir2')])
    expect(again.code).toBe(0)
    expect(again.log).toMatch(/reference features: cached/)
  }, 600_000)

  it('sharded: two shards merged give the unsharded numbers exactly', async () => {
    const args = ['--feature-net', join(tmp, 'standin.onnx'), '--reference', join(tmp, 'ref.npz'), ...SMALL]
    const whole = join(tmp, 'eval-whole')
    expect((await runEval([...args, '--out', whole])).code).toBe(0)
    const shards = join(tmp, 'shards')
    for (const i of [0, 1]) {
      const r = await runEval([...args, '--shard', `${i}/2`, '--out', shards])
      expect(r.err).toBe('')
      expect(r.code).toBe(0)
    }
    const c = captureIo()
    const merged = join(tmp, 'eval-merged')
    const code = await main(['eval', 'merge', shards, '--out', merged], c.io, {
      progress: { write: () => undefined },
      createClient: client,
    })
    expect(c.err.join('\n')).toBe('')
    expect(code).toBe(0)
    const read = async (d: string): Promise<{ rows: Row[]; featureNet: unknown }> =>
      JSON.parse(await readFile(join(d, 'eval.json'), 'utf8')) as { rows: Row[]; featureNet: unknown }
    const a = await read(whole)
    const b = await read(merged)
    expect(b.featureNet).toEqual(a.featureNet)
    expect(b.rows.map((r) => [r.n_images, r.IS.value, r.FID.value, r.precision, r.recall])).toEqual(
      a.rows.map((r) => [r.n_images, r.IS.value, r.FID.value, r.precision, r.recall]),
    )
  }, 600_000)

  it('refuses a model without a classifier when no feature network is given', async () => {
    const r = await runEval([...SMALL, '--out', join(tmp, 'x')])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/has no classifier: eval needs one, or a feature network and reference statistics/)
    const half = await runEval([
      '--feature-net',
      join(tmp, 'standin.onnx'),
      ...SMALL,
      '--out',
      join(tmp, 'x'),
    ])
    expect(half.code).toBe(1)
    expect(half.err).toMatch(/--feature-net and --reference go together/)
  })

  it('names the file for a network that gives no feature vector and for a reference of the wrong size', async () => {
    const bad = await runEval([
      '--feature-net',
      join(tmp, 'spatial.onnx'),
      '--reference',
      join(tmp, 'ref.npz'),
      ...SMALL,
      '--out',
      join(tmp, 'x'),
    ])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/spatial\.onnx: no pooled feature output: .*its outputs are conv1 float32/)
    const dim = await runEval([
      '--feature-net',
      join(tmp, 'standin.onnx'),
      '--reference',
      join(tmp, 'wrong-dim.npz'),
      ...SMALL,
      '--out',
      join(tmp, 'x'),
    ])
    expect(dim.code).toBe(1)
    expect(dim.err).toMatch(/wrong-dim\.npz: mu is \[8\] but the feature network gives 16-d features/)
    const missing = await runEval([
      '--feature-net',
      join(tmp, 'standin.onnx'),
      '--reference',
      join(tmp, 'nope.npz'),
      ...SMALL,
      '--out',
      join(tmp, 'x'),
    ])
    expect(missing.err).toMatch(/nope\.npz: the reference .* does not exist/)
  }, 300_000)
})
