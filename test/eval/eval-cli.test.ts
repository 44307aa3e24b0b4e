import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chartSvg } from '../../src-main/eval/chart'
import { DEFAULT_TEST_IMAGES, readIdxImages } from '../../src-main/eval/reference'
import { applyNoiseVerdicts, evalCsv, type EvalRow, evalMarkdown } from '../../src-main/cli/eval'
import { main } from '../../src-main/cli/main'
import { HostClient } from '../../src-main/host/client'
import { MODEL_DIR } from '../host/model'
import { captureIo } from '../helpers/io'

let tmp: string
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-eval-'))
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

/** A gzipped idx3-ubyte file of `count` 28x28 images (pseudo-random strokes). */
function syntheticIdx(count: number): Buffer {
  const bytes = new Uint8Array(16 + count * 784)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, 0x803)
  view.setUint32(4, count)
  view.setUint32(8, 28)
  view.setUint32(12, 28)
  let s = 12345
  for (let i = 16; i < bytes.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    bytes[i] = (s >> 16) % 3 === 0 ? 255 : 0
  }
  return gzipSync(bytes)
}

const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })

describe('test-set reading', () => {
  it('reads a gzipped IDX file', async () => {
    const file = join(tmp, 'small-idx3-ubyte.gz')
    await writeFile(file, syntheticIdx(3))
    const parsed = await readIdxImages(file)
    expect(parsed).toMatchObject({ count: 3, rows: 28, cols: 28 })
  })

  it('says how to get the data when it is missing', async () => {
    await expect(readIdxImages(join(tmp, 'nope.gz'))).rejects.toThrow(
      /install Debian package dataset-fashion-mnist or pass --data/,
    )
    const c = captureIo()
    const code = await main(
      [
        'eval',
        '--model',
        MODEL_DIR,
        '--data',
        join(tmp, 'nope.gz'),
        '--out',
        join(tmp, 'x'),
        '--device',
        'cpu',
      ],
      c.io,
      { progress: { write: () => undefined }, createClient: client },
    )
    expect(code).toBe(1)
    expect(c.err.join('\n')).toContain('install Debian package dataset-fashion-mnist or pass --data')
  })

  it('rejects a corrupt gzip and a truncated file', async () => {
    const bad = join(tmp, 'bad.gz')
    await writeFile(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3]))
    await expect(readIdxImages(bad)).rejects.toThrow(/not a readable gzip file/)
    const cut = join(tmp, 'cut-idx3-ubyte')
    const full = new Uint8Array(16 + 784)
    new DataView(full.buffer).setUint32(0, 0x803)
    new DataView(full.buffer).setUint32(4, 2)
    new DataView(full.buffer).setUint32(8, 28)
    new DataView(full.buffer).setUint32(12, 28)
    await writeFile(cut, full)
    await expect(readIdxImages(cut)).rejects.toThrow(/truncated: header promises 2 images/)
  })
})

describe('eval outputs', () => {
  it('writes the CSV and the Markdown table with intervals, differences and the verdict', () => {
    const base = {
      label: 'baseline',
      strategy: 'baseline' as const,
      N: null,
      alpha: null,
      dedup: null,
      block: 1,
      n_images: 20,
      class_accuracy: { value: 1, ci: { lo: 0.9, hi: 1 } },
      IS: { value: 7.5, ci: { lo: 7, hi: 8 } },
      FID: { value: 18.25, ci: { lo: 16, hi: 20 } },
      precision: 0.9,
      recall: 0.8,
      verdict: 'reference',
      seconds: 1.5,
      secondsPerImage: 0.075,
      topkShare: null,
      keptMean: null,
      notes: [],
    }
    const search = {
      ...base,
      label: 'var-scaling N=4',
      strategy: 'var-scaling' as const,
      N: 4,
      alpha: 1.6,
      dedup: 0.6,
      FID: { value: 16, ci: { lo: 14, hi: 18 } },
      diff: {
        class_accuracy: { value: 0, ci: { lo: -0.1, hi: 0.1 } },
        IS: { value: -1.5, ci: { lo: -2, hi: -1 } },
        FID: { value: -2.25, ci: { lo: -4, hi: 1 } },
      },
      verdict: 'differs: IS',
      topkShare: 0.35,
      keptMean: 3.5,
    }
    const csv = evalCsv([base, search]).split('\n')
    expect(csv[0]).toMatch(/^label,strategy,N,alpha,dedup,block,n_images,class_accuracy,acc_lo,acc_hi,IS,/)
    expect(csv[1]).toBe(
      'baseline,baseline,,,,1,20,1.0000,0.9000,1.0000,7.5000,7.0000,8.0000,18.2500,16.0000,20.0000,0.9000,0.8000,,,,,,,,,,reference,0.0750,,',
    )
    expect(csv[2]).toContain(',-2.2500,-4.0000,1.0000,differs: IS,0.0750,0.350,3.50')
    const md = evalMarkdown([base, search])
    expect(md).toContain('| var-scaling N=4 | 20 |')
    expect(md).toContain('-2.25 [-4.00, +1.00]')
    expect(md).toContain('35 % / 3.5')
  })

  it('calls a difference beyond noise only past its interval and the seed-block gap', () => {
    const metric = (value: number, lo: number, hi: number) => ({ value, ci: { lo, hi } })
    const row = (label: string, block: number, fid?: [number, number, number]): EvalRow => ({
      label,
      strategy: label.startsWith('baseline') ? 'baseline' : 'var-scaling',
      N: null,
      alpha: null,
      dedup: null,
      block,
      n_images: 2000,
      class_accuracy: { value: 0.95 },
      IS: { value: 6.9 },
      FID: { value: 6 },
      precision: 0.9,
      recall: 0.3,
      ...(fid
        ? {
            diff: {
              class_accuracy: metric(0, -0.01, 0.01),
              IS: metric(0, -0.1, 0.1),
              FID: metric(...fid),
            },
          }
        : {}),
      verdict: '',
      seconds: 1,
      secondsPerImage: 0.001,
      topkShare: null,
      keptMean: null,
      notes: [],
    })
    const judged = applyNoiseVerdicts([
      row('baseline', 1),
      row('inside the gap', 1, [-0.38, -0.67, -0.04]),
      row('past the gap', 1, [-0.6, -0.9, -0.3]),
      row('interval holds 0', 1, [-0.6, -1.2, 0.1]),
      row('baseline (seed block 2)', 2, [-0.49, -0.86, -0.2]),
    ]).map((r) => r.verdict)
    expect(judged).toEqual([
      '',
      'within noise',
      'beyond noise: FID',
      'within noise',
      'noise: the seed-block gap (accuracy 0.000, IS 0.00, FID -0.49)',
    ])
  })

  it('draws both panels, the baseline and a legend', () => {
    const svg = chartSvg(
      [
        { strategy: 'baseline', N: undefined, fid: 18, is: 7 },
        { strategy: 'var-scaling', N: 1, fid: 17, is: 7.1 },
        { strategy: 'var-scaling', N: 4, fid: 16, is: 7.3 },
      ],
      'title',
    )
    expect(svg).toContain('FID (lower is better)')
    expect(svg).toContain('Inception Score (higher is better)')
    expect(svg).toContain('stroke-dasharray')
    expect(svg.match(/<polyline/g)).toHaveLength(2)
  })

  it('rejects an unknown strategy before starting a host', async () => {
    const c = captureIo()
    let started = false
    const code = await main(['eval', '--model', MODEL_DIR, '--strategies', 'baseline,fancy'], c.io, {
      createClient: () => {
        started = true
        return new HostClient()
      },
    })
    expect(code).toBe(1)
    expect(c.err.join('\n')).toContain('--strategies: unknown strategy "fancy"')
    expect(started).toBe(false)
  })

  it('runs a small evaluation end to end with the inference host', async () => {
    const data = existsSync(DEFAULT_TEST_IMAGES) ? DEFAULT_TEST_IMAGES : join(tmp, 'ref-idx3-ubyte.gz')
    if (data !== DEFAULT_TEST_IMAGES) await writeFile(data, syntheticIdx(300))
    const out = join(tmp, 'eval')
    const progress: string[] = []
    const c = captureIo()
    const args = [
      'eval',
      '--model',
      MODEL_DIR,
      '--per-class',
      '2',
      '--N',
      '1,4',
      '--strategies',
      'baseline,var-scaling',
      '--bootstrap',
      '10',
      '--device',
      'cpu',
      '--data',
      data,
      '--cache-dir',
      join(tmp, 'cache'),
      '--out',
      out,
    ]
    const code = await main(args, c.io, {
      progress: { write: (t) => progress.push(t), isTTY: false },
      createClient: client,
    })
    expect(c.err.join('\n')).toBe('')
    expect(code).toBe(0)
    expect((await readdir(out)).sort()).toEqual(['eval-chart.png', 'eval.csv', 'eval.json', 'eval.md'])
    expect(progress.join('')).toContain('FID reference: classifying')

    const lines = (await readFile(join(out, 'eval.csv'), 'utf8')).trim().split('\n')
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 3).join(','))).toEqual([
      'baseline,',
      'var-scaling,1',
      'var-scaling,4',
      'baseline,',
      'real,',
    ])
    const record = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')) as {
      rows: {
        label: string
        block: number
        class_accuracy: { value: number; ci: { lo: number; hi: number } }
        IS: { value: number }
        FID: { value: number; ci: { lo: number; hi: number } }
        diff?: { FID: { value: number; ci: { lo: number; hi: number } } }
        verdict: string
        seconds: number
      }[]
      reference: { featureDim: number }
      searchDefaults: { from: string }
      strategies: { alpha?: number }[]
    }
    expect(record.reference.featureDim).toBe(128)
    // alpha and dedup come from the model's calibration unless given
    expect(record.searchDefaults.from).toBe('calibrated')
    expect(record.strategies[1]?.alpha).toBe(1.599)
    expect(record.rows.map((r) => r.block)).toEqual([1, 1, 1, 2, 0])
    expect(record.rows[4]?.label).toBe('real test images (FID floor at n = 20)')
    for (const row of record.rows.slice(0, 4)) {
      expect(row.class_accuracy.value).toBeGreaterThanOrEqual(0)
      expect(row.class_accuracy.value).toBeLessThanOrEqual(1)
      expect(row.class_accuracy.ci.lo).toBeLessThanOrEqual(row.class_accuracy.value)
      expect(row.IS.value).toBeGreaterThanOrEqual(1)
      expect(row.IS.value).toBeLessThanOrEqual(10)
      expect(row.FID.value).toBeGreaterThan(0)
      expect(row.FID.ci.lo).toBeLessThanOrEqual(row.FID.value)
      expect(row.FID.ci.hi).toBeGreaterThanOrEqual(row.FID.value)
      expect(row.seconds).toBeGreaterThan(0)
    }
    for (const row of record.rows.slice(1, 4)) {
      const d = row.diff?.FID
      expect(d?.ci.lo).toBeLessThanOrEqual(d?.value ?? NaN)
      expect(row.verdict).toMatch(/^(within noise|beyond noise: .+|noise: the seed-block gap .+)$/)
    }
    // The trained model draws recognisable classes.
    if (MODEL_DIR.endsWith('fashion-mnist-var')) {
      expect(record.rows[0]?.class_accuracy.value).toBeGreaterThanOrEqual(0.7)
    }
    const chart = await sharp(join(out, 'eval-chart.png')).metadata()
    expect(chart.format).toBe('png')
    expect(chart.width).toBeGreaterThan(600)

    // A second run reads the cached reference statistics.
    const again: string[] = []
    const code2 = await main(
      [
        ...args.map((a) => (a === 'baseline,var-scaling' ? 'baseline' : a === out ? join(tmp, 'eval2') : a)),
        '--no-noise',
      ],
      captureIo().io,
      { progress: { write: (t) => again.push(t), isTTY: false }, createClient: client },
    )
    expect(code2).toBe(0)
    expect(again.join('')).toContain('FID reference: cached statistics')
  }, 180_000)
})
