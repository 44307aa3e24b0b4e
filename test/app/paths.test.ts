/**
 * Everything the studio reads, writes or deletes under its folders stays inside them: links in the
 * output folder are not followed out, records naming files elsewhere are not trusted, settings
 * paths are checked, and a request does not create folders. Grid CSV records escape formula cells.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStudio, type Studio } from '../../src-main/app/studio'
import { csvCell, csvText } from '../../src-main/storage/csv'
import { call, job, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio
let outside: string
let out: string

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('paths'))
  outside = await mkdtemp(join(tmpdir(), 'var-outside-'))
  studio = await openStudio(home)
  await call(studio, 'queue:add', { jobs: [job([1, 2, 3, 4], 9)] })
  await studio.idle()
  out = studio.outputDir()
  // the host starts and runs the jobs: more than the default 10 s on a loaded machine
}, 120_000)
afterAll(async () => {
  await studio.close()
  await cleanup()
  await rm(outside, { recursive: true, force: true })
})

/** Rewrites the history index while the studio is closed, then opens it again. */
async function editIndex(edit: (images: Record<string, unknown>[]) => void): Promise<void> {
  await studio.close()
  const path = join(out, 'history', 'index.json')
  const index = JSON.parse(await readFile(path, 'utf8')) as { images: Record<string, unknown>[] }
  edit(index.images)
  await writeFile(path, JSON.stringify(index))
  studio = await openStudio(home)
}

describe('contained paths', () => {
  it('does not read an image through a link out of the output folder', async () => {
    const secret = join(outside, 'secret.png')
    await writeFile(secret, 'not for the page')
    const [e] = await call(studio, 'history:list', {})
    await unlink(e.file)
    await symlink(secret, e.file)
    await expect(call(studio, 'image:get', { imageId: e.id })).rejects.toThrow(
      /is a link; VAR Studio does not follow links/,
    )
    // its parameters come from the record instead of the linked file
    expect((await call(studio, 'image:params', { imageId: e.id })).seed).toBe(e.seed)
    // deleting removes the link, not the file it points at
    expect(await call(studio, 'history:delete', { imageId: e.id })).toEqual({ deleted: true })
    expect(existsSync(e.file)).toBe(false)
    expect(await readFile(secret, 'utf8')).toBe('not for the page')
  })

  it('does not read or delete a file that a record names outside the output folder', async () => {
    const victim = join(outside, 'victim.png')
    await writeFile(victim, 'keep me')
    const [first, second] = await call(studio, 'history:list', {})
    await editIndex((images) => {
      for (const image of images) {
        if (image.id === first.id) image.file = victim
        if (image.id === second.id) image.file = '../../../../../../../../../' + victim
      }
    })
    for (const e of [first, second]) {
      await expect(call(studio, 'image:get', { imageId: e.id })).rejects.toThrow(
        /is outside .*; VAR Studio does not touch it/,
      )
      expect(await call(studio, 'history:delete', { imageId: e.id })).toEqual({ deleted: true })
    }
    expect(await readFile(victim, 'utf8')).toBe('keep me')
    expect((await call(studio, 'history:list', {})).map((e) => e.id)).not.toContain(first.id)
  })

  it('keeps the names in the index relative to the output folder', async () => {
    const [e] = await call(studio, 'history:list', {})
    await editIndex((images) => {
      for (const image of images) if (image.id === e.id) image.file = join(out, String(image.file))
    })
    const index = JSON.parse(await readFile(join(out, 'history', 'index.json'), 'utf8')) as {
      images: { file: string }[]
    }
    for (const image of index.images) expect(image.file).toMatch(/^images[\\/]/)
    expect((await call(studio, 'image:get', { imageId: e.id })).dataUrl).toMatch(/^data:image\/png;base64,/)
  })

  it('does not write grids through an exports folder that links out', async () => {
    const ids = (await call(studio, 'history:list', {})).map((e) => e.id)
    await rm(join(out, 'exports'), { recursive: true, force: true })
    await symlink(outside, join(out, 'exports'))
    await expect(
      call(studio, 'export:grid', { imageIds: ids, rows: 'class', columns: 'seed', scale: 1 }),
    ).rejects.toThrow(/The grid was not saved: .*leads outside .* through a link/)
    expect((await readdir(outside)).filter((n) => n.startsWith('grid-'))).toEqual([])
    await unlink(join(out, 'exports'))
  })

  it('writes the grid CSV with formula-leading class names escaped', async () => {
    await editIndex((images) => {
      images.forEach((image, i) => (image.className = ['=HYPERLINK("x")', '+1', '-cmd', '@SUM(A1)'][i % 4]))
    })
    const ids = (await call(studio, 'history:list', {})).map((e) => e.id)
    const grid = await call(studio, 'export:grid', {
      imageIds: ids,
      rows: 'class',
      columns: 'seed',
      scale: 1,
    })
    const csv = await readFile(grid.recordPath.replace(/\.json$/, '.csv'), 'utf8')
    expect(csv).not.toMatch(/(^|,)[=+\-@]/m)
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`)
    expect(csvCell('\tx')).toBe(`"'\tx"`)
    expect(csvCell('\rx')).toBe(`"'\rx"`)
    expect(csvCell(-3)).toBe('-3')
    expect(csvCell('plain')).toBe('plain')
    expect(csvText([['a,b', 'say "hi"']])).toBe('"a,b","say ""hi"""\n')
  })

  it('does not write through a link planted at the name of a file being written', async () => {
    const target = join(outside, 'planted.txt')
    await writeFile(target, 'untouched')
    // the model list's file is written aside under a name of this process, then renamed
    await symlink(target, join(home, `models.json.${process.pid}.tmp`))
    await mkdir(join(home, 'library'))
    expect(await call(studio, 'models:dir', { dir: join(home, 'library') })).toEqual({
      dir: join(home, 'library'),
    })
    expect(await readFile(target, 'utf8')).toBe('untouched')
    expect(JSON.parse(await readFile(join(home, 'models.json'), 'utf8'))).toMatchObject({
      modelsDir: join(home, 'library'),
    })
  })

  it('checks the output folder from settings: full path, not a system folder, writable, no folder trees', async () => {
    const refused = async (dir: string, why: RegExp): Promise<void> => {
      await expect(call(studio, 'settings:set', { outputDir: dir })).rejects.toThrow(why)
    }
    await refused('relative/out', /"relative\/out" is not a full path/)
    await refused('/etc', /\/etc is a system folder/)
    await refused('/usr/share/var-out', /is a system folder/)
    await refused('/', /is a system folder/)
    const link = join(home, 'to-etc')
    await symlink('/etc', link)
    await refused(link, /is a system folder/)
    await refused(join(home, 'no', 'such', 'tree'), /does not exist; choose a folder that does/)
    expect(existsSync(join(home, 'no'))).toBe(false)
    await writeFile(join(home, 'plain-file'), 'x')
    await refused(join(home, 'plain-file'), /is a file; choose a folder/)
    const fresh = join(home, 'new-out')
    expect((await call(studio, 'settings:set', { outputDir: fresh })).outputDir).toBe(fresh)
    expect(existsSync(fresh)).toBe(true)
    expect((await call(studio, 'settings:get', {})).outputDir).toBe(fresh)

    // a saved folder that is a system folder (an older version's settings) is not used at start
    await studio.close()
    const path = join(home, 'studio-settings.json')
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    await writeFile(path, JSON.stringify({ ...saved, outputDir: '/etc' }))
    const logs: string[] = []
    studio = await createStudio({ home, version: '0.0.0-test', hostName: 'web', log: (l) => logs.push(l) })
    expect(studio.outputDir()).toBe(join(home, 'outputs'))
    expect(logs.join('\n')).toMatch(
      /\/etc is a system folder; choose a folder of your own; using .*outputs until another/,
    )
    expect(existsSync('/etc/history')).toBe(false)
  })
})
