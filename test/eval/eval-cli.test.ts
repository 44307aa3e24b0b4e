import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chartSvg } from '../../src-main/eval/chart'
import { DEFAULT_TEST_IMAGES, readIdxImages } from '../../src-main/eval/reference'
import { evalCsv } from '../../src-main/cli/eval'
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
  it('writes the CSV with an empty N for the baseline', () => {
    const csv = evalCsv([
      { strategy: 'baseline', N: null, n_images: 20, class_accuracy: 1, IS: 7.5, FID: 18.25, seconds: 1.5 },
      { strategy: 'var-scaling', N: 4, n_images: 20, class_accuracy: 0.95, IS: 6, FID: 16, seconds: 2 },
    ])
    expect(csv).toBe(
      'strategy,N,n_images,class_accuracy,IS,FID,seconds\n' +
        'baseline,,20,1.0000,7.5000,18.2500,1.50\n' +
        'var-scaling,4,20,0.9500,6.0000,16.0000,2.00\n',
    )
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
    expect((await readdir(out)).sort()).toEqual(['eval-chart.png', 'eval.csv', 'eval.json'])
    expect(progress.join('')).toContain('FID reference: classifying')

    const lines = (await readFile(join(out, 'eval.csv'), 'utf8')).trim().split('\n')
    expect(lines[0]).toBe('strategy,N,n_images,class_accuracy,IS,FID,seconds')
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 3).join(','))).toEqual([
      'baseline,,20',
      'var-scaling,1,20',
      'var-scaling,4,20',
    ])
    const record = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')) as {
      rows: { class_accuracy: number; IS: number; FID: number; seconds: number }[]
      reference: { featureDim: number }
    }
    expect(record.reference.featureDim).toBe(128)
    for (const row of record.rows) {
      expect(row.class_accuracy).toBeGreaterThanOrEqual(0)
      expect(row.class_accuracy).toBeLessThanOrEqual(1)
      expect(row.IS).toBeGreaterThanOrEqual(1)
      expect(row.IS).toBeLessThanOrEqual(10)
      expect(row.FID).toBeGreaterThan(0)
      expect(Number.isFinite(row.FID)).toBe(true)
      expect(row.seconds).toBeGreaterThan(0)
    }
    // The trained model draws recognisable classes.
    if (MODEL_DIR.endsWith('fashion-mnist-var')) {
      expect(record.rows[0]?.class_accuracy).toBeGreaterThanOrEqual(0.7)
    }
    const chart = await sharp(join(out, 'eval-chart.png')).metadata()
    expect(chart.format).toBe('png')
    expect(chart.width).toBeGreaterThan(600)

    // A second run reads the cached reference statistics.
    const again: string[] = []
    const code2 = await main(
      args.map((a) => (a === 'baseline,var-scaling' ? 'baseline' : a === out ? join(tmp, 'eval2') : a)),
      captureIo().io,
      { progress: { write: (t) => again.push(t), isTTY: false }, createClient: client },
    )
    expect(code2).toBe(0)
    expect(again.join('')).toContain('FID reference: cached statistics')
  }, 180_000)
})
