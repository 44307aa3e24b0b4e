import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { textWidth } from '../../src-main/storage/bitmap-font'
import { FONT } from '../../src-main/storage/grid'
import { JSON_KEYWORD, readTextChunks } from '../../src-main/storage/png'
import { hasText } from '../helpers/grid-text'
import { call, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio
let ids: string[]

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('export'))
  studio = await openStudio(home, 'electron')
  // Two classes x two strategies for one seed: the Gallery's comparison.
  const items = [2, 5].map((classId) => ({ classId, seed: 3 }))
  await call(studio, 'queue:add', {
    jobs: [
      { modelId: 'fashion-mnist-var-d4', items, strategy: { kind: 'baseline' }, seedPolicy: 'fixed' },
      {
        modelId: 'fashion-mnist-var-d4',
        items,
        strategy: { kind: 'var-scaling', N: 6, k: 2 },
        seedPolicy: 'fixed',
      },
    ],
  })
  await studio.idle()
  ids = (await call(studio, 'history:list', {})).map((e) => e.id)
  // the host starts and runs the jobs: more than the default 10 s on a loaded machine
}, 120_000)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

describe('grid export', () => {
  it('lays out images by two axes with labels, upscaled, with metadata and a JSON and CSV record', async () => {
    const g = await call(studio, 'export:grid', {
      rows: 'class',
      columns: 'strategy',
      imageIds: ids,
      scale: 5,
    })
    expect([g.rows, g.columns]).toEqual([2, 2])
    const meta = await sharp(g.path).metadata()
    expect([meta.width, meta.height]).toEqual([g.width, g.height])
    // the row headers (class names) and a pad, then 2 columns of (28*5 + 8) and the left pad;
    // the title and the column headers above
    const names = (await call(studio, 'history:list', {})).map((e) => e.className)
    const rowW = Math.max(...names.map((n) => textWidth(n, FONT)))
    expect(g.width).toBe(8 + rowW + 8 + 2 * (28 * 5 + 8))
    expect(g.height).toBeGreaterThan(8 + 2 * (28 * 5 + 8))
    const raw = await sharp(g.path).raw().toBuffer({ resolveWithObject: true })
    const image = {
      data: raw.data,
      width: raw.info.width,
      height: raw.info.height,
      channels: raw.info.channels,
    }
    for (const text of [...new Set(names), 'Baseline', 'VAR-Scaling', 'seed 3']) {
      expect(hasText(image, text), text).toBe(true)
    }
    const png = await readFile(g.path)
    expect(g.dataUrl).toBe(`data:image/png;base64,${png.toString('base64')}`)
    const chunks = readTextChunks(png)
    expect(chunks.parameters).toMatch(/Grid: 2 rows by class, 2 columns by strategy/)
    const record = JSON.parse(chunks[JSON_KEYWORD]) as {
      rows: { values: unknown[] }
      columns: { values: unknown[] }
      cells: { imageId?: string }[]
    }
    expect(record.rows.values).toEqual([2, 5])
    expect(record.columns.values).toEqual(['baseline', 'var-scaling'])
    expect(record.cells.map((c) => c.imageId).sort()).toEqual([...ids].sort())
    expect(JSON.parse(await readFile(g.recordPath, 'utf8'))).toEqual(record)
    const csv = (await readFile(g.path.replace(/\.png$/, '.csv'), 'utf8')).trim().split('\n')
    // headers and values as people read them, the strategy's id kept in its own column
    expect(csv[0]).toBe(
      'Row: Class,Column: Strategy,Image id,Model,Class id,Class,Seed,Strategy,Strategy id,N,File',
    )
    expect(csv).toHaveLength(5)
    // the one strategy order (Baseline before VAR-Scaling), names not ids
    expect(csv.slice(1).map((line) => line.split(',')[1])).toEqual([
      'Baseline',
      'VAR-Scaling',
      'Baseline',
      'VAR-Scaling',
    ])
    expect(csv.slice(1).map((line) => line.split(',').slice(7, 9).join(' '))).toContain(
      'VAR-Scaling var-scaling',
    )
  })

  it('leaves an empty cell blank, prints full seeds, and wraps a long title', async () => {
    const entries = await call(studio, 'history:list', {})
    // three of the four: one (class, strategy) cell has no image; seeds vary along no axis
    const g = await call(studio, 'export:grid', {
      rows: 'class',
      columns: 'strategy',
      imageIds: entries.slice(0, 3).map((e) => e.id),
      scale: 1,
      title: `${'Search beats sampling on Fashion-MNIST, '.repeat(4)}seed 3`,
    })
    const raw = await sharp(g.path).raw().toBuffer({ resolveWithObject: true })
    const image = {
      data: raw.data,
      width: raw.info.width,
      height: raw.info.height,
      channels: raw.info.channels,
    }
    expect(hasText(image, '(none)')).toBe(false)
    expect(hasText(image, 'none')).toBe(false)
    expect(hasText(image, '..')).toBe(false)
    // readable at tile scale 1: the headers keep their size, the columns widen for them
    expect(hasText(image, 'VAR-Scaling')).toBe(true)
    expect(hasText(image, 'Search beats')).toBe(true)
    const record = JSON.parse(await readFile(g.recordPath, 'utf8')) as { cells: { imageId?: string }[] }
    expect(record.cells.filter((c) => c.imageId === undefined)).toHaveLength(1)
  })

  it('leaves metadata out when asked, and names a folder it cannot write', async () => {
    const g = await call(studio, 'export:grid', {
      rows: 'seed',
      columns: 'class',
      imageIds: ids.slice(0, 2),
      scale: 1,
      embedMetadata: false,
      path: join(home, 'plain'),
    })
    expect(g.path).toBe(join(home, 'plain.png'))
    expect(readTextChunks(await readFile(g.path))).toEqual({})
    // A file where the folder should be: the message names the folder and what to do.
    await writeFile(join(home, 'blocker'), 'x')
    await expect(
      call(studio, 'export:grid', {
        rows: 'class',
        columns: 'seed',
        imageIds: ids,
        path: join(home, 'blocker', 'grid.png'),
      }),
    ).rejects.toThrow(
      `The grid was not saved: cannot write into the folder ${join(home, 'blocker')}: a file is in the way of the folder`,
    )
    await expect(
      call(studio, 'export:grid', { rows: 'class', columns: 'class', imageIds: ids }),
    ).rejects.toThrow(/choose two different axes/)
  })

  it('never replaces an earlier grid: two exports in the same second get different names', async () => {
    const spec = { rows: 'class', columns: 'seed', imageIds: ids.slice(0, 2), scale: 1 } as const
    const [a, b] = [await call(studio, 'export:grid', spec), await call(studio, 'export:grid', spec)]
    expect(a.path).not.toBe(b.path)
    expect(a.recordPath).not.toBe(b.recordPath)
    await expect(readFile(a.path)).resolves.toBeInstanceOf(Buffer)
  })
})
