import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { JSON_KEYWORD, readTextChunks } from '../../src-main/storage/png'
import { call, job, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('history'))
  studio = await openStudio(home)
  await call(studio, 'queue:add', {
    jobs: [job([7, 9], 5, { kind: 'var-scaling', N: 12, k: 4 }), job([7], 5, { kind: 'baseline' })],
  })
  await studio.idle()
  // the host starts and runs the jobs: more than the default 10 s on a loaded machine
}, 120_000)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

describe('history', () => {
  it('records every finished image with its PNG, parameters and timeline', async () => {
    const all = await call(studio, 'history:list', {})
    expect(all).toHaveLength(3)
    expect(all.map((e) => e.strategyKind).sort()).toEqual(['baseline', 'var-scaling', 'var-scaling'])
    expect(await call(studio, 'history:list', { classId: 7, strategy: 'baseline' })).toHaveLength(1)
    expect(await call(studio, 'history:list', { seed: 5, classId: 7 })).toHaveLength(2)

    const e = all.find((x) => x.strategyKind === 'var-scaling' && x.classId === 7)!
    expect(e).toMatchObject({ className: 'Sneaker', seed: 5, N: 12, width: 28, height: 28 })
    const png = await readFile(e.file)
    const chunks = readTextChunks(png)
    expect(chunks.parameters).toBe(e.parameters)
    expect(chunks.parameters).toMatch(/^Sneaker\nSteps: 6, .*Seed: 5,/)
    expect(JSON.parse(chunks[JSON_KEYWORD])).toMatchObject({
      classId: 7,
      seed: 5,
      strategy: { kind: 'var-scaling', N: 12 },
    })

    const { dataUrl } = await call(studio, 'image:get', { imageId: e.id })
    expect(Buffer.from(dataUrl.replace('data:image/png;base64,', ''), 'base64').equals(png)).toBe(true)
    expect(await call(studio, 'image:params', { imageId: e.id })).toMatchObject({
      modelId: 'fashion-mnist-var-d4',
      classId: 7,
      seed: 5,
      strategy: { kind: 'var-scaling', N: 12, k: 4 },
    })

    const t = await call(studio, 'history:timeline', { imageId: e.id })
    expect(t.scales.map((s) => [s.pn, s.tokens.length])).toEqual([
      [1, 1],
      [2, 4],
      [3, 9],
      [4, 16],
      [5, 25],
      [7, 49],
    ])
    expect(t.scales.every((s) => s.preview?.startsWith('data:image/png;base64,'))).toBe(true)
    expect(t.selections).toHaveLength(1)
    const sel = t.selections[0]
    expect(sel).toMatchObject({ si: 1, pn: 2, N: 12 })
    expect(sel.densities).toHaveLength(12)
    expect(sel.candidates).toHaveLength(12)
    expect(sel.candidates[sel.chosen]).toEqual(t.scales[1].tokens)
    expect(sel.kept).toContain(sel.chosen)
    expect(sel.projection).toHaveLength(12)
    expect(sel.explained[0]).toBeGreaterThan(0)
    expect(['top-k', 'random-k']).toContain(sel.branch)
  })

  it('deletes the file, the record and the timeline', async () => {
    const [e] = await call(studio, 'history:list', { strategy: 'baseline' })
    const timelines = join(studio.outputDir(), 'history', 'timelines')
    expect(existsSync(join(timelines, `${e.id}.json`))).toBe(true)
    expect(await call(studio, 'history:delete', { imageId: e.id })).toEqual({ deleted: true })
    expect(existsSync(e.file)).toBe(false)
    expect(existsSync(join(timelines, `${e.id}.json`))).toBe(false)
    expect(await call(studio, 'history:list', {})).toHaveLength(2)
    await expect(call(studio, 'image:get', { imageId: e.id })).rejects.toThrow(/No image/)
    await expect(call(studio, 'history:delete', { imageId: '../../etc/passwd' })).rejects.toMatchObject({
      name: 'NotFoundError',
    })
  })

  it('survives a restart, and rebuilds a damaged index from the timelines keeping a backup', async () => {
    const before = await call(studio, 'history:list', {})
    await studio.close()
    studio = await openStudio(home)
    expect(await call(studio, 'history:list', {})).toEqual(before)
    await studio.close()

    const dir = join(home, 'outputs', 'history')
    await writeFile(join(dir, 'index.json'), '{"format": "var-studio-history/1", "images": [tru')
    const warnings: string[] = []
    const { createStudio } = await import('../../src-main/app/studio')
    studio = await createStudio({ home, version: '0', hostName: 'web', log: (l) => warnings.push(l) })
    expect(warnings.join('\n')).toMatch(
      /index\.json was damaged: it is not valid JSON.*kept as .*index\.json\.corrupt-.*rebuilt from 2 timeline/s,
    )
    expect((await readdir(dir)).filter((n) => n.startsWith('index.json.corrupt-'))).toHaveLength(1)
    expect((await call(studio, 'history:list', {})).map((e) => e.id).sort()).toEqual(
      before.map((e) => e.id).sort(),
    )
  })

  it('reads parameters from the record when the PNG carries none', async () => {
    await call(studio, 'settings:set', { embedMetadata: false })
    expect((await call(studio, 'settings:get', {})).previews).toBe('projection')
    await call(studio, 'queue:add', { jobs: [job([3], 77)] })
    await studio.idle()
    const [e] = await call(studio, 'history:list', { seed: 77 })
    expect(readTextChunks(await readFile(e.file))).toEqual({})
    expect(await call(studio, 'image:params', { imageId: e.id })).toMatchObject({
      classId: 3,
      seed: 77,
      parameters: e.parameters,
    })
    await call(studio, 'settings:set', { embedMetadata: true })
  })
})
