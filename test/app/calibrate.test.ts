/**
 * Calibration through the studio service (the Models view's button): a copy of the embedded model,
 * whose shipped calibration no longer matches its rewritten manifest, is listed with the paper's
 * constants and a warning; models:calibrate runs the calibration on the inference host with
 * progress and the list then carries the calibrated values. The shipped model's file is untouched.
 */
import { copyFile, link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IpcEventData } from '../../src-shared/ipc'
import type { Studio } from '../../src-main/app/studio'
import { call, openStudio, tempHome } from './studio-helpers'

const SHIPPED = resolve(__dirname, '../../models/fashion-mnist-var')

let home: string
let cleanup: () => Promise<void>
let studio: Studio

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('calibrate'))
  studio = await openStudio(home)
})
afterAll(async () => {
  await studio.close()
  await cleanup()
})

async function copyModel(dir: string, id: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (const name of await readdir(SHIPPED)) {
    if (name === 'manifest.json') continue
    await link(join(SHIPPED, name), join(dir, name)).catch(() =>
      copyFile(join(SHIPPED, name), join(dir, name)),
    )
  }
  const manifest = JSON.parse(await readFile(join(SHIPPED, 'manifest.json'), 'utf8')) as Record<
    string,
    unknown
  >
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, id, display_name: `Copy ${id}` }))
  return dir
}

describe('models:calibrate', () => {
  it('calibrates a model whose calibration is stale, with progress, and lists the new defaults', async () => {
    const shippedBefore = await readFile(join(SHIPPED, 'calibration.json'), 'utf8')
    const dir = await copyModel(join(home, 'copies', 'cal'), 'fashion-cal')
    await call(studio, 'models:add', { dir })
    const before = (await call(studio, 'models:list', {})).find((m) => m.id === 'fashion-cal')
    expect(before?.searchDefaults).toMatchObject({ from: 'paper', alpha: 2.3, dedup: 1.8 })
    expect(before?.searchDefaults?.warning).toMatch(/was made for another version of this model/)

    const progress: IpcEventData<'models:progress'>[] = []
    const off = studio.on('models:progress', (e) => {
      if (e.phase === 'calibrate') progress.push(e)
    })
    const view = await call(studio, 'models:calibrate', { id: 'fashion-cal' })
    off()
    expect(view.searchDefaults?.from).toBe('calibrated')
    expect(view.searchDefaults?.alpha).toBeLessThan(2.3)
    expect(view.searchDefaults?.dedup).toBeLessThan(1.8)
    expect(view.searchDefaults?.source).toMatch(/calibrated for fashion-cal .* dedup .* keeps/)
    expect(progress.length).toBeGreaterThan(1)
    expect(progress.at(-1)?.fraction).toBe(1)
    const written = JSON.parse(await readFile(join(dir, 'calibration.json'), 'utf8')) as {
      model: { id: string }
      command: string[]
    }
    expect(written.model.id).toBe('fashion-cal')
    expect(written.command).toEqual(['studio', 'models:calibrate', 'fashion-cal'])
    expect(await readFile(join(SHIPPED, 'calibration.json'), 'utf8')).toBe(shippedBefore)

    await expect(call(studio, 'models:calibrate', { id: 'nope' })).rejects.toThrow(/No model "nope"/)
    await expect(call(studio, 'models:calibrate', { id: 'fashion-cal', scale: 9 })).rejects.toThrow(
      /scale 9 is not a scale index of this model/,
    )
  }, 300_000)
})
