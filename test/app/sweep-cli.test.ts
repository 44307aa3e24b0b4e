/**
 * `var-studio sweep` on the embedded model: 2 classes x 2 seeds under strategy {baseline,
 * VAR-Scaling} x N {1, 10}; the files, the grid's headers, the metrics, a rerun that skips every
 * finished cell, and a Ctrl+C that keeps the finished ones.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { readPng } from '../../src-main/app/sweep-output'
import { HostClient } from '../../src-main/host/client'
import { readPngTexts } from '../../src-main/storage/png-info'
import { MODEL_DIR } from '../host/model'
import { hasText } from '../helpers/grid-text'
import { captureIo } from '../helpers/io'

let tmp: string
let client: HostClient
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-sweep-'))
  client = new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })
})
afterAll(async () => {
  await client.close()
  await rm(tmp, { recursive: true, force: true })
})

const ARGS = [
  'sweep',
  '--model',
  MODEL_DIR,
  '--classes',
  'Trouser,Bag',
  '--seeds',
  '2',
  '--seed',
  '11',
  '--x',
  'strategy=baseline,var-scaling',
  '--y',
  'N=1,10',
  '--bootstrap',
  '20',
  '--device',
  'cpu',
  '--cache-dir',
]

async function sweep(
  args: string[],
  progress: (text: string) => void = () => undefined,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const c = captureIo()
  // the host client is shared between runs (a fresh one per run would load the model each time)
  const shared = Object.create(client) as HostClient
  shared.close = () => Promise.resolve()
  const code = await main(args, c.io, { progress: { write: progress }, createClient: () => shared })
  return { code, out: c.out, err: c.err }
}

describe('var-studio sweep', () => {
  it('writes the plan, the cells, a labelled grid and the metrics; a rerun skips every finished cell', async () => {
    const out = join(tmp, 'a')
    const first = await sweep([...ARGS, join(tmp, 'cache'), '--out', out])
    expect(first.err).toEqual([])
    expect(first.code).toBe(0)
    const files = await readdir(out)
    for (const f of [
      'sweep.json',
      'sweep.log',
      'grid-strategy-by-N.png',
      'metrics.csv',
      'metrics.json',
      'metrics-chart.png',
    ])
      expect(files).toContain(f)
    const record = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as {
      status: string
      model: { files: Record<string, string> }
      cells: { hash: string; folder: string; coords: unknown[] }[]
    }
    expect(record.status).toBe('complete')
    expect(Object.keys(record.model.files)).toContain('var_step.onnx')
    expect(record.cells).toHaveLength(4)
    // the baseline is the same images at N = 1 and N = 10: one folder
    expect(record.cells[0]?.folder).toBe(record.cells[2]?.folder)
    const cells = await readdir(join(out, 'cells'))
    expect(cells).toHaveLength(3)
    const cellFiles = (await readdir(join(out, 'cells', cells[0] ?? ''))).filter((f) => f.endsWith('.png'))
    expect(cellFiles.sort()).toEqual([
      '0000-trouser-s11.png',
      '0001-trouser-s12.png',
      '0002-bag-s11.png',
      '0003-bag-s12.png',
    ])
    const png = await readFile(join(out, 'cells', cells[0] ?? '', cellFiles[0] ?? ''))
    const texts = readPngTexts(png, 'cell image')
    expect(texts.texts.map((t) => t.keyword)).toEqual(expect.arrayContaining(['parameters', 'var-studio']))

    const grid = await readPng(join(out, 'grid-strategy-by-N.png'))
    for (const label of ['Baseline', 'VAR-Scaling', 'N = 1', 'N = 10'])
      expect(hasText(grid, label)).toBe(true)

    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
      rows: { n: number; accuracy: { value: number; lo: number; hi: number }; FID: { value: number } }[]
    }
    expect(metrics.rows).toHaveLength(3)
    for (const r of metrics.rows) {
      expect(r.n).toBe(4)
      expect(r.accuracy.value).toBeGreaterThanOrEqual(0)
      expect(r.accuracy.lo).toBeLessThanOrEqual(r.accuracy.value)
      expect(r.accuracy.hi).toBeGreaterThanOrEqual(r.accuracy.value)
      expect(Number.isFinite(r.FID.value)).toBe(true)
    }
    const csv = (await readFile(join(out, 'metrics.csv'), 'utf8')).trim().split('\n')
    expect(csv).toHaveLength(5)
    expect(csv[1]).toMatch(/^0,baseline,1,4,/)

    const before = await Promise.all(cells.map((c) => stat(join(out, 'cells', c, 'cell.json'))))
    const lines: string[] = []
    const again = await sweep([...ARGS, join(tmp, 'cache'), '--out', out], (t) => lines.push(t))
    expect(again.code).toBe(0)
    expect(lines.join('')).toContain('resuming: the same plan')
    expect(lines.join('').match(/finished before \(hash [0-9a-f]{12}\), skipped/g)).toHaveLength(3)
    const after = await Promise.all(cells.map((c) => stat(join(out, 'cells', c, 'cell.json'))))
    expect(after.map((s) => s.mtimeMs)).toEqual(before.map((s) => s.mtimeMs))
  }, 600_000)

  it('keeps the finished cells when cancelled, and the rerun makes only the rest', async () => {
    const out = join(tmp, 'b')
    const args = [...ARGS, join(tmp, 'cache'), '--out', out, '--no-metrics']
    let cancelled = false
    const first = await sweep(args, (text) => {
      // Ctrl+C once the first cell is in place
      if (!cancelled && text.includes(': 4 images in')) {
        cancelled = true
        process.emit('SIGINT')
      }
    })
    expect(first.code).toBe(130)
    expect(first.err.join('\n')).toContain('finished cells are kept')
    const kept = (await readdir(join(out, 'cells'))).filter((c) => !c.endsWith('.partial'))
    expect(kept).toHaveLength(1)
    expect(existsSync(join(out, 'cells', kept[0] ?? '', 'cell.json'))).toBe(true)
    const record = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as { status: string }
    expect(record.status).toBe('cancelled')

    const lines: string[] = []
    const again = await sweep(args, (t) => lines.push(t))
    expect(again.code).toBe(0)
    expect(lines.join('').match(/skipped/g)).toHaveLength(1)
    expect(lines.join('').match(/: 4 images in/g)).toHaveLength(2)
    expect((await readdir(join(out, 'cells'))).filter((c) => !c.endsWith('.partial'))).toHaveLength(3)
  }, 600_000)

  it('refuses bad axes with the flag and the value', async () => {
    const bad = async (...extra: string[]): Promise<string> => {
      const r = await sweep(['sweep', '--model', MODEL_DIR, '--out', join(tmp, 'bad'), ...extra])
      expect(r.code).toBe(1)
      return r.err.join('\n')
    }
    expect(await bad('--x', 'steps=1,2')).toContain('--x: unknown axis "steps"')
    expect(await bad('--x', 'N=1', '--y', 'N=10')).toContain('--y: the axis N is already --x')
    expect(await bad('--x', 'strategy=var-scaling', '--y', 'N=10,5000')).toContain(
      '--y N=5000: must be at most 4096',
    )
    expect(await bad('--x', 'N=1', '--x', 'N=2')).toContain(
      '--x: given twice; a sweep takes at most three axes',
    )
    expect(existsSync(join(tmp, 'bad'))).toBe(false)
  })
})
