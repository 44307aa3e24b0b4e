/**
 * The model manager through the studio service: the real inference host verifies a copy of the
 * embedded model (files hardlinked, so the copy costs no disk and hashing stays fast).
 */
import { existsSync } from 'node:fs'
import { copyFile, link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IpcEventData } from '../../src-shared/ipc'
import type { Studio } from '../../src-main/app/studio'
import { call, job, MODEL_ID, openStudio, tempHome, STUDIO_HOOK_MS } from './studio-helpers'

const SHIPPED = resolve(__dirname, '../../models/fashion-mnist-var')
const COPY_ID = 'fashion-copy'

let home: string
let cleanup: () => Promise<void>
let studio: Studio

/**
 * A copy of the shipped model under another id (the shipped id is refused for a copy). The graphs
 * and codebook are hardlinked, falling back to a copy across devices; the manifest is rewritten.
 */
async function copyModel(dir: string, id: string, skip: readonly string[] = []): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (const name of await readdir(SHIPPED)) {
    if (name === 'manifest.json' || skip.includes(name)) continue
    await link(join(SHIPPED, name), join(dir, name)).catch(() =>
      copyFile(join(SHIPPED, name), join(dir, name)),
    )
  }
  const manifest = JSON.parse(await readFile(join(SHIPPED, 'manifest.json'), 'utf8')) as Record<
    string,
    unknown
  >
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({ ...manifest, id, display_name: `Copy ${id}`, weight_dtype: 'float32' }),
  )
  return dir
}

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('models'))
  studio = await openStudio(home)
}, STUDIO_HOOK_MS)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

describe('models', () => {
  it('lists the shipped model first', async () => {
    const list = await call(studio, 'models:list', {})
    expect(list[0]).toMatchObject({ id: MODEL_ID, origin: 'shipped', ok: true })
  })

  it('adds a verified folder, with progress events, and lists it', async () => {
    const dir = await copyModel(join(home, 'copies', 'good'), COPY_ID)
    const progress: IpcEventData<'models:progress'>[] = []
    const off = studio.on('models:progress', (p) => progress.push(p))
    const view = await call(studio, 'models:add', { dir })
    off()
    expect(view).toMatchObject({ id: COPY_ID, origin: 'user', ok: true, dir, imageSize: 28 })
    expect(view.classNames).toHaveLength(10)
    // Both phases are reported: the sha256 of every file, then every graph opened.
    expect(progress.some((p) => p.phase === 'hash' && p.dir === dir)).toBe(true)
    expect(progress.some((p) => p.phase === 'graph' && p.file === 'var_step.onnx')).toBe(true)
    expect(progress.at(-1)?.fraction).toBeGreaterThan(0)
    const ids = (await call(studio, 'models:list', {})).map((m) => m.id)
    expect(ids).toEqual([MODEL_ID, COPY_ID])
  })

  it('refuses the same folder again, and another folder with a taken id', async () => {
    const dir = join(home, 'copies', 'good')
    await expect(call(studio, 'models:add', { dir })).rejects.toThrow(
      /already registered \(as "fashion-copy"\)/,
    )
    const other = await copyModel(join(home, 'copies', 'same-id'), COPY_ID)
    const refused = call(studio, 'models:add', { dir: other })
    await expect(refused).rejects.toThrow(/id "fashion-copy" is already registered from .*good/)
    // The CLI's hint (`var-studio models remove`) means nothing in the studio.
    await expect(refused).rejects.not.toThrow(/var-studio/)
  })

  it('refuses a copy that keeps the shipped id', async () => {
    const dir = await copyModel(join(home, 'copies', 'shipped-id'), MODEL_ID)
    await expect(call(studio, 'models:add', { dir })).rejects.toThrow(
      /id of the model that ships with VAR Studio/,
    )
  })

  it('refuses a folder with a missing graph, naming the graph', async () => {
    const dir = await copyModel(join(home, 'copies', 'no-graph'), 'no-graph', ['vq_step.onnx'])
    await expect(call(studio, 'models:add', { dir })).rejects.toThrow(
      /does not match its manifest, so it was not added:\n {2}vq_step\.onnx: missing: the vq_step graph is not in the folder/,
    )
    expect((await call(studio, 'models:list', {})).map((m) => m.id)).not.toContain('no-graph')
  })

  it('refuses a corrupt manifest, a missing folder and a relative path', async () => {
    const dir = join(home, 'copies', 'corrupt')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'manifest.json'), '{"format": "var-onnx/1", "id": ')
    await expect(call(studio, 'models:add', { dir })).rejects.toThrow(/manifest\.json is not valid JSON/)
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 'var-onnx/1', id: 'x' }))
    await expect(call(studio, 'models:add', { dir })).rejects.toThrow(/not a valid var-onnx\/1 manifest/)
    await expect(call(studio, 'models:add', { dir: join(home, 'nope') })).rejects.toThrow(/does not exist/)
    await expect(call(studio, 'models:add', { dir: 'relative/folder' })).rejects.toThrow(/not a full path/)
  })

  it('shows a model: its list entry and the manifest facts', async () => {
    const copy = await call(studio, 'models:show', { id: COPY_ID })
    expect(copy).toMatchObject({ id: COPY_ID, listedBy: 'registered', ok: true })
    expect(copy.addedAt).toMatch(/^\d{4}-/)
    expect(copy.manifest).toMatchObject({
      depth: 4,
      embedDim: 256,
      numHeads: 4,
      vocabSize: 512,
      patchNums: [1, 2, 3, 4, 5, 7],
      weightDtype: 'float32',
      source: { kind: 'trained', notes: { dataset: 'fashion-mnist' } },
    })
    const files = copy.manifest?.files ?? []
    expect(files.map((f) => f.name)).toContain('var_step.onnx')
    expect(files.every((f) => f.bytes > 0 && /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true)
    expect(files.reduce((s, f) => s + f.bytes, 0)).toBe(copy.bytes)
    const shipped = await call(studio, 'models:show', { id: MODEL_ID })
    expect(shipped.listedBy).toBe('shipped')
    expect(shipped.manifest?.weightDtype).toBeUndefined()
    await expect(call(studio, 'models:show', { id: 'nope' })).rejects.toThrow(/No model "nope"/)
  })

  it('refuses to remove the shipped model, and removes a registered one (files stay)', async () => {
    await expect(call(studio, 'models:remove', { id: MODEL_ID })).rejects.toThrow(
      /ships with VAR Studio; it cannot be removed/,
    )
    // an image the copy made: its second image's partial decodes need the model, which is gone
    await call(studio, 'queue:add', { jobs: [{ ...job([2, 4], 900), modelId: COPY_ID }] })
    await studio.idle()
    const [, second] = (await call(studio, 'history:list', {}))
      .filter((e) => e.modelId === COPY_ID)
      .sort((a, b) => a.seed - b.seed)
    expect(await call(studio, 'models:remove', { id: COPY_ID })).toEqual({ removed: true })
    await expect(call(studio, 'history:decodeScales', { imageId: second.id })).rejects.toThrow(
      /The model "fashion-copy" that made this image is not in the model list any more; add its folder under Models/,
    )
    expect((await call(studio, 'models:list', {})).map((m) => m.id)).toEqual([MODEL_ID])
    await expect(readFile(join(home, 'copies', 'good', 'manifest.json'))).resolves.toBeDefined()
    await expect(call(studio, 'models:remove', { id: COPY_ID })).rejects.toThrow(/No registered model/)
  })

  it('reads, sets and clears the models directory; its models are listed, not removable', async () => {
    expect(await call(studio, 'models:dir', {})).toEqual({ dir: null })
    const dir = join(home, 'library')
    // a request does not create folders on this machine: the folder must exist
    await expect(call(studio, 'models:dir', { dir: join(dir, 'a', 'b') })).rejects.toThrow(
      /does not exist; create the folder first/,
    )
    expect(existsSync(dir)).toBe(false)
    await mkdir(dir)
    expect(await call(studio, 'models:dir', { dir })).toEqual({ dir })
    expect(await call(studio, 'models:dir', {})).toEqual({ dir })
    await copyModel(join(dir, 'in-dir'), 'in-dir')
    await copyModel(join(dir, 'lost-graph'), 'lost-graph', ['var_step.onnx'])
    const listed = await call(studio, 'models:list', {})
    expect(listed.map((m) => [m.id, m.ok])).toEqual([
      [MODEL_ID, true],
      ['in-dir', true],
      ['lost-graph', false],
    ])
    // The list checks presence and size (no hashing), so a lost graph shows before a job trips on it.
    expect(listed[2]?.error).toMatch(/var_step\.onnx: missing: the var_step graph is not in the folder/)
    expect((await call(studio, 'models:show', { id: 'in-dir' })).listedBy).toBe('models-dir')
    const refused = call(studio, 'models:remove', { id: 'in-dir' })
    await expect(refused).rejects.toThrow(/listed because it is in your models directory/)
    await expect(refused).rejects.not.toThrow(/--delete-files/)
    expect(await call(studio, 'models:dir', { dir: null })).toEqual({ dir: null })
    expect((await call(studio, 'models:list', {})).map((m) => m.id)).toEqual([MODEL_ID])
    await writeFile(join(home, 'a-file'), 'x')
    await expect(call(studio, 'models:dir', { dir: join(home, 'a-file') })).rejects.toThrow(/is a file/)
    await rm(join(home, 'a-file'))
  })
})
