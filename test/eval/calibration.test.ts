/**
 * Per-model calibration through the shipped code: the choice rules, the calibration run on the
 * embedded model through the inference host, the file beside the model (stale and edited files are
 * ignored with a warning), the CLI's refusals, and the notes a degenerate search gets.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkCalibrationSettings, chooseAlpha, PAPER_SEARCH } from '../../src-shared/engine/calibration'
import { main } from '../../src-main/cli/main'
import { resolveRelativeDedup } from '../../src-main/cli/search-report'
import { calibrateModel, calibrationItems } from '../../src-main/eval/calibrate'
import { HostClient } from '../../src-main/host/client'
import { loadCalibration, manifestSha256 } from '../../src-main/storage/calibration-file'
import { readManifest } from '../../src-main/storage/model-folder'
import { MODEL_DIR } from '../host/model'
import { captureIo } from '../helpers/io'

let tmp: string
let client: HostClient
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-calibration-'))
  client = new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })
})
afterAll(async () => {
  await client.close()
  await rm(tmp, { recursive: true, force: true })
})

const settings = {
  numClasses: 10,
  numScales: 6,
  scales: [1],
  N: 50,
  k: 10,
  topkShare: 0.35,
  keptFraction: 0.9,
  images: 200,
}

describe('choice rules', () => {
  it('puts alpha between the ratios that leave the target share at or above it', () => {
    const ratios = Array.from({ length: 100 }, (_, i) => 1 + i / 100)
    const alpha = chooseAlpha(ratios, 0.3)
    expect(ratios.filter((r) => r >= alpha)).toHaveLength(30)
    expect(alpha).toBeGreaterThan(1.69)
    expect(alpha).toBeLessThanOrEqual(1.7)
  })

  it('refuses a model with one class, a scale past the last, N < 2 and a share outside (0, 1)', () => {
    expect(() => {
      checkCalibrationSettings({ ...settings, numClasses: 1 })
    }).toThrow(/at least 2 classes \(this one has 1\)/)
    expect(() => {
      checkCalibrationSettings({ ...settings, scales: [6] })
    }).toThrow(/scale 6 is not a scale index of this model: use 0 .. 5/)
    expect(() => {
      checkCalibrationSettings({ ...settings, N: 1, k: 1 })
    }).toThrow(/N must be an integer >= 2 \(got 1\)/)
    for (const share of [0, 1, -0.2, 1.5]) {
      expect(() => {
        checkCalibrationSettings({ ...settings, topkShare: share })
      }).toThrow(/target Top-k share must be in \(0, 1\)/)
    }
  })
})

describe('calibration on the embedded model', () => {
  it('ships calibrated, and its defaults search: about k kept and Top-k in the stated share', async () => {
    const loaded = await loadCalibration(MODEL_DIR)
    expect(loaded.defaults.from).toBe('calibrated')
    expect(loaded.defaults.warning).toBeUndefined()
    const m = loaded.record?.measurements[0]
    expect(m?.topkShare).toBeGreaterThan(0.25)
    expect(m?.topkShare).toBeLessThan(0.45)
    expect(m?.keptMean).toBeGreaterThanOrEqual(0.9 * (loaded.record?.batch.k ?? 10))
    // the paper's constants on the same batch: one candidate kept, the mode test never fires
    expect(m?.paper.keptMean).toBeLessThan(1.5)
    expect(m?.paper.topkShare).toBeLessThan(0.05)
    expect(loaded.defaults.alpha).toBeLessThan(PAPER_SEARCH.alpha)
    expect(loaded.defaults.dedup).toBeLessThan(PAPER_SEARCH.dedup)
  })

  it('predicts exactly what VAR-Scaling then does on the calibration seeds', async () => {
    const options = { images: 30, N: 20, k: 5, seed: 100, topkShare: 0.4 }
    const { record, path } = await calibrateModel(client, MODEL_DIR, options, {
      command: ['test'],
      version: 'test',
      write: false,
    })
    expect(path).toBeUndefined()
    const m = record.measurements.at(0)
    if (!m) throw new Error('no measurement')
    expect(record.batch.seeds).toEqual({ first: 100, last: 129 })
    expect(m.ratio.min).toBeGreaterThan(1)
    expect(m.distance.max).toBeGreaterThan(m.distance.p50)
    // the same seeds, the same candidates: the hybrid's rows take the branch and keep what was predicted
    const manifest = await readManifest(MODEL_DIR)
    const result = await client.call('generate', {
      dir: MODEL_DIR,
      items: calibrationItems(30, manifest.num_classes, 100),
      sampling: manifest.sampling_defaults,
      strategy: {
        kind: 'var-scaling',
        N: 20,
        k: 5,
        alpha: record.defaults.alpha,
        dedup: record.defaults.dedup,
        searchScales: record.defaults.searchScales,
      },
      batchSize: 16,
    })
    const sels = result.images.flatMap((img) => img.selections)
    expect(sels).toHaveLength(30)
    const topk = sels.filter((s) => s.branch === 'top-k').length / sels.length
    const kept = sels.reduce((sum, s) => sum + s.kept.length, 0) / sels.length
    expect(topk).toBe(m.topkShare)
    expect(kept).toBeCloseTo(m.keptMean, 10)
    expect(m.keptMean).toBeGreaterThanOrEqual(0.9 * 5)
    expect(result.search?.[0]?.notes).toEqual([])
  }, 120_000)
})

describe('dedup relative to the codebook', () => {
  it('turns 0.86x into 0.86 times the median codebook distance, and refuses a bad factor', async () => {
    const manifest = await readManifest(MODEL_DIR)
    const { record } = await loadCalibration(MODEL_DIR)
    const median = record?.codebook.p50 ?? NaN
    const out = await resolveRelativeDedup({ dedup: '0.86x' }, MODEL_DIR, manifest, record)
    expect(Number(out.values.dedup)).toBeCloseTo(0.86 * median, 5)
    expect(out.line).toMatch(/^dedup 0.86 x the median codebook distance 0\.6\d+ = 0\.5\d+$/)
    // without a calibration, measured from the codebook: the same median
    const measured = await resolveRelativeDedup({ dedup: '1x' }, MODEL_DIR, manifest, undefined)
    expect(Number(measured.values.dedup)).toBeCloseTo(median, 5)
    expect((await resolveRelativeDedup({ dedup: '0.5' }, MODEL_DIR, manifest, record)).values.dedup).toBe(
      '0.5',
    )
    await expect(resolveRelativeDedup({ dedup: '-1x' }, MODEL_DIR, manifest, record)).rejects.toThrow(
      /--dedup: must be a number >= 0, or a multiple of the median codebook distance/,
    )
  })
})

describe('the file beside the model', () => {
  async function copyModelFiles(name: string): Promise<string> {
    const dir = await mkdtemp(join(tmp, name))
    await copyFile(join(MODEL_DIR, 'manifest.json'), join(dir, 'manifest.json'))
    await copyFile(join(MODEL_DIR, 'calibration.json'), join(dir, 'calibration.json'))
    return dir
  }

  it('applies a file that matches the manifest', async () => {
    const dir = await copyModelFiles('ok-')
    const loaded = await loadCalibration(dir)
    expect(loaded.defaults.from).toBe('calibrated')
    expect(loaded.record?.model.manifestSha256).toBe(await manifestSha256(dir))
  })

  it('ignores an edited file, a stale one and one that is not JSON, saying why', async () => {
    const edited = await copyModelFiles('edited-')
    const text = await readFile(join(edited, 'calibration.json'), 'utf8')
    const json = JSON.parse(text) as { defaults: { alpha: number } }
    json.defaults.alpha = 1.1
    await writeFile(join(edited, 'calibration.json'), JSON.stringify(json))
    const a = await loadCalibration(edited)
    expect(a.defaults.from).toBe('paper')
    expect(a.defaults.alpha).toBe(2.3)
    expect(a.defaults.warning).toMatch(/was changed after it was written .* ignored/)

    const stale = await copyModelFiles('stale-')
    const manifest = JSON.parse(await readFile(join(stale, 'manifest.json'), 'utf8')) as {
      display_name: string
    }
    manifest.display_name += ' (retrained)'
    await writeFile(join(stale, 'manifest.json'), JSON.stringify(manifest))
    const b = await loadCalibration(stale)
    expect(b.defaults.from).toBe('paper')
    expect(b.defaults.warning).toMatch(/was made for another version of this model/)

    const junk = await copyModelFiles('junk-')
    await writeFile(join(junk, 'calibration.json'), '{ not json')
    expect((await loadCalibration(junk)).defaults.warning).toMatch(/is not valid JSON/)

    const none = await mkdtemp(join(tmp, 'none-'))
    const c = await loadCalibration(none)
    expect(c.defaults).toMatchObject({ from: 'paper', alpha: 2.3, dedup: 1.8 })
    expect(c.defaults.warning).toBeUndefined()
  })
})

describe('var-studio calibrate and generate', () => {
  it('names the flag of a bad setting before starting the host', async () => {
    let started = false
    const deps = {
      progress: { write: () => undefined },
      createClient: () => {
        started = true
        return new HostClient()
      },
    }
    const cases: [string[], RegExp][] = [
      [['--N', '1'], /--N: N must be an integer >= 2/],
      [['--scales', '9'], /--scales: scale 9 is not a scale index of this model: use 0 .. 5/],
      [['--top-k-share', '1.5'], /--top-k-share: the target Top-k share must be in \(0, 1\)/],
    ]
    for (const [args, message] of cases) {
      const c = captureIo()
      const code = await main(['calibrate', '--model', MODEL_DIR, ...args], c.io, deps)
      expect(code).toBe(1)
      expect(c.err.join('\n')).toMatch(message)
    }
    expect(started).toBe(false)
  })

  it("says where generate's defaults come from, and that the paper's constants keep one candidate", async () => {
    const c = captureIo()
    const code = await main(
      [
        'generate',
        '--model',
        MODEL_DIR,
        '--all-classes',
        '--seed',
        '0',
        '--alpha',
        '2.3',
        '--dedup',
        '1.8',
        '--out',
        join(tmp, 'paper'),
        '--device',
        'cpu',
      ],
      c.io,
      { progress: { write: () => undefined }, createClient: () => client },
    )
    expect(code).toBe(0)
    const err = c.err.join('\n')
    expect(err).toMatch(/search defaults: search scale 1 from calibrated for fashion-mnist-var-d4/)
    expect(err).toMatch(
      /the search kept 1 of 50 candidates in every row \(k = 10\): dedup 1\.8 is larger than any distance between candidates on this model/,
    )
    expect(err).toMatch(/the mode test never fired in 10 rows/)
    const run = JSON.parse(await readFile(join(tmp, 'paper', 'run.json'), 'utf8')) as {
      search: { keptMax: number; topkRows: number; notes: string[] }[]
      searchDefaults: { from: string }
    }
    expect(run.search[0]).toMatchObject({ keptMax: 1, topkRows: 0 })
    expect(run.search[0]?.notes).toHaveLength(2)
    expect(run.searchDefaults.from).toBe('calibrated')
  }, 120_000)
})
