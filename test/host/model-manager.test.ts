/**
 * The model manager: `var-studio models add | list | show | remove | dir` through the real CLI and
 * inference host, on scratch copies of the embedded model, with the settings file in a temp home.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { HostClient } from '../../src-main/host/client'
import { readManifest } from '../../src-main/storage/model-folder'
import {
  addUserModel,
  defaultHome,
  listUserModels,
  loadUserModels,
  removeUserModel,
  setModelsDir,
  UserModelsError,
  userModelFolders,
} from '../../src-main/storage/user-models'
import { captureIo } from '../helpers/io'
import { copyModel, MODEL_DIR, readJsonManifest, writeJsonManifest } from './model'

let tmp: string
let home: string
let shippedId: string
let graphFile: string
const cleanups: (() => Promise<void>)[] = []
const savedHome = process.env.VAR_STUDIO_HOME

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-models-'))
  home = join(tmp, 'home')
  process.env.VAR_STUDIO_HOME = home
  const m = await readManifest(MODEL_DIR)
  shippedId = m.id
  graphFile = m.graphs.var_step.file
})
afterAll(async () => {
  if (savedHome === undefined) delete process.env.VAR_STUDIO_HOME
  else process.env.VAR_STUDIO_HOME = savedHome
  for (const c of cleanups) await c()
  await rm(tmp, { recursive: true, force: true })
})

/** A copy of the embedded model under its own id (a copy keeping the shipped id is refused). */
async function modelCopy(id: string): Promise<string> {
  const copy = await copyModel()
  cleanups.push(copy.cleanup)
  const m = await readJsonManifest(copy.dir)
  await writeJsonManifest(copy.dir, { ...m, id })
  return copy.dir
}

const sink = { lines: [] as string[], write: (t: string) => void sink.lines.push(t), isTTY: false }
const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo()
  const code = await main(argv, c.io, { progress: sink, createClient: client })
  return { code, out: c.out.join('\n'), err: c.err.join('\n') }
}

describe('user model settings', () => {
  it('resolves the config folder from the environment', () => {
    expect(defaultHome({ VAR_STUDIO_HOME: '/a/b', XDG_CONFIG_HOME: '/x' }, 'linux')).toBe('/a/b')
    expect(defaultHome({ XDG_CONFIG_HOME: '/x' }, 'linux')).toBe(join('/x', 'var-studio'))
    expect(defaultHome({}, 'linux')).toMatch(/\.config[/\\]var-studio$/)
    expect(defaultHome({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32')).toBe(
      join('C:\\Users\\u\\AppData\\Roaming', 'var-studio'),
    )
  })

  it('starts empty, keeps the models dir, and reports a damaged settings file by name', async () => {
    const h = join(tmp, 'settings-only')
    expect(await loadUserModels(h)).toMatchObject({ models: [], modelsDir: undefined })
    const dir = join(tmp, 'chosen', 'models')
    const set = await setModelsDir(h, dir)
    expect(set.modelsDir).toBe(dir)
    expect(existsSync(dir)).toBe(true)
    expect(userModelFolders(await loadUserModels(h))).toEqual([dir])
    // keys written by other parts of the studio survive
    const file = join(h, 'models.json')
    const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
    await writeFile(file, JSON.stringify({ ...json, theme: 'dark' }))
    expect((await setModelsDir(h, undefined)).modelsDir).toBeUndefined()
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ version: 1, models: [], theme: 'dark' })

    await writeFile(file, '{ "models": [')
    const broken = await loadUserModels(h).catch((e: unknown) => e)
    expect(broken).toBeInstanceOf(UserModelsError)
    expect((broken as UserModelsError).problem).toBe('settings')
    expect((broken as Error).message).toMatch(/models\.json is not valid JSON .*delete it/)
    await writeFile(file, JSON.stringify({ models: [{ dir: 3 }] }))
    await expect(loadUserModels(h)).rejects.toThrow(/is not a VAR Studio settings file:\n {2}models\.0\.dir/)
    const asFile = join(tmp, 'a-file')
    await writeFile(asFile, '')
    await expect(setModelsDir(join(tmp, 'h2'), asFile)).rejects.toThrow(/is a file, not a folder/)
  })

  it('adds with the built-in file and hash check when no host is given', async () => {
    const h = join(tmp, 'plain-home')
    const dir = await modelCopy('plain-copy')
    const bytes: number[] = []
    const added = await addUserModel(h, dir, { onProgress: (p) => bytes.push(p.bytesDone) })
    expect(added.model).toMatchObject({ dir, id: 'plain-copy' })
    expect(added.check.files.every((f) => f.ok)).toBe(true)
    expect(bytes.at(-1)).toBe(Object.values(added.manifest.files).reduce((s, f) => s + f.bytes, 0))
    const listed = await listUserModels(await loadUserModels(h))
    expect(listed.map((m) => [m.id, m.ok])).toEqual([['plain-copy', true]])
    const removed = await removeUserModel(h, dir)
    expect(removed).toMatchObject({ id: 'plain-copy', registered: true, deletedFiles: false })
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true)
  })
})

describe('var-studio models', () => {
  it('adds a model after the host checked files, hashes and graphs, and refuses it twice', async () => {
    const dir = await modelCopy('my-copy')
    sink.lines.length = 0
    const add = await cli('models', 'add', dir)
    expect(add.code, add.err).toBe(0)
    expect(add.out).toContain(`Added my-copy (`)
    expect(add.out).toContain(`ok   ${graphFile}: inputs and outputs match the manifest`)
    // the progress bar ran to the end
    expect(sink.lines.join('')).toMatch(/check \[#+\] 100%/)
    const settings = await loadUserModels(home)
    expect(settings.models.map((m) => [m.id, m.dir])).toEqual([['my-copy', dir]])

    const again = await cli('models', 'add', dir)
    expect(again.code).toBe(1)
    expect(again.err).toBe(`${dir} is already registered (as "my-copy")`)

    const twin = await modelCopy('my-copy')
    const sameId = await cli('models', 'add', twin)
    expect(sameId.code).toBe(1)
    expect(sameId.err).toContain(`A model with id "my-copy" is already registered from ${dir}`)
    expect(sameId.err).toContain('var-studio models remove my-copy')

    const shippedCopy = await copyModel()
    cleanups.push(shippedCopy.cleanup)
    const clash = await cli('models', 'add', shippedCopy.dir)
    expect(clash.code).toBe(1)
    expect(clash.err).toContain(`"${shippedId}" is the id of the model that ships with VAR Studio`)
    const shipped = await cli('models', 'add', MODEL_DIR)
    expect(shipped.err).toMatch(/is the model that ships with VAR Studio; it is always available/)

    expect((await loadUserModels(home)).models).toHaveLength(1)
  }, 120_000)

  it('names what is wrong with a bad folder and registers nothing', async () => {
    const missingGraph = await modelCopy('no-graph')
    await rm(join(missingGraph, graphFile))
    const r1 = await cli('models', 'add', missingGraph)
    expect(r1.code).toBe(1)
    expect(r1.err).toContain(`${missingGraph} does not match its manifest, so it was not added:`)
    expect(r1.err).toContain(`  ${graphFile}: missing`)
    // the graph that cannot be opened is not reported a second time
    expect(r1.err.split(graphFile)).toHaveLength(2)

    const corrupt = await modelCopy('corrupt')
    await writeFile(join(corrupt, 'manifest.json'), '{ "format": "var-onnx/1", ')
    const r2 = await cli('models', 'add', corrupt)
    expect(r2.code).toBe(1)
    expect(r2.err).toMatch(/^(?!\w+Error: ).*manifest\.json is not valid JSON/)

    const invalid = await modelCopy('invalid')
    const m = await readJsonManifest(invalid)
    await writeJsonManifest(invalid, { ...m, vocab_size: 0 })
    const r3 = await cli('models', 'add', invalid)
    expect(r3.code).toBe(1)
    expect(r3.err).toMatch(/is not a valid var-onnx\/1 manifest:\n {2}vocab_size/)

    const empty = join(tmp, 'empty-folder')
    await mkdir(empty)
    const r4 = await cli('models', 'add', empty)
    expect(r4.err).toMatch(/Cannot read .*manifest\.json: is this a model folder\?/)
    const r5 = await cli('models', 'add', join(tmp, 'nowhere'))
    expect(r5.err).toBe(`${join(tmp, 'nowhere')} does not exist`)
    const r6 = await cli('models', 'add', join(missingGraph, 'manifest.json'))
    expect(r6.err).toMatch(/is a file; give the model folder/)
    const r7 = await cli('models', 'add')
    expect(r7.code).toBe(2)

    expect((await loadUserModels(home)).models.map((x) => x.id)).toEqual(['my-copy'])
  }, 120_000)

  it('lists, shows and verifies registered models by id', async () => {
    const list = await cli('models', 'list')
    expect(list.code).toBe(0)
    expect(list.out).toMatch(new RegExp(`^${shippedId} .*\\[shipped\\]`, 'm'))
    expect(list.out).toMatch(/^my-copy .*\[registered\]/m)

    const show = await cli('models', 'show', 'my-copy')
    expect(show.code).toBe(0)
    expect(show.out).toMatch(/\(my-copy, var-onnx\/1\) in /)
    expect(show.out).toMatch(/registered: \d{4}-\d\d-\d\dT/)

    const verify = await cli('models', 'verify', 'my-copy', '--no-graphs')
    expect(verify.code).toBe(0)
    expect(verify.out).toContain('my-copy in ')
  }, 120_000)

  it("uses a models directory of the user's choosing, without registering its models", async () => {
    const chosen = join(tmp, 'big-disk', 'var-models')
    const set = await cli('models', 'dir', chosen)
    expect(set.code).toBe(0)
    expect(set.out).toContain(`Models directory: ${chosen}`)
    expect(set.out).toContain('0 model(s) in it')
    expect((await cli('models', 'dir')).out).toBe(chosen)

    const inDir = await modelCopy('in-dir')
    const target = join(chosen, 'in-dir')
    await cp(inDir, target, { recursive: true })
    const list = await cli('models', 'list')
    expect(list.out).toMatch(/^in-dir .*\[models dir\]/m)
    expect((await cli('models', 'show', 'in-dir')).out).toContain(`in the models directory ${chosen}`)

    const add = await cli('models', 'add', target)
    expect(add.err).toContain('is in your models directory')
    const twin = await modelCopy('in-dir')
    expect((await cli('models', 'add', twin)).err).toContain(
      `A model with id "in-dir" is already in your models directory (${target})`,
    )

    const remove = await cli('models', 'remove', 'in-dir')
    expect(remove.code).toBe(1)
    expect(remove.err).toContain(
      '"in-dir" is not registered: it is listed because it is in your models directory',
    )
    const del = await cli('models', 'remove', 'in-dir', '--delete-files')
    expect(del.code).toBe(0)
    expect(existsSync(target)).toBe(false)

    expect((await cli('models', 'dir', '--clear')).code).toBe(0)
    expect((await cli('models', 'dir')).out).toMatch(/^No models directory chosen/)
  }, 120_000)

  it('removes the registration only, and the files only when asked', async () => {
    const unknown = await cli('models', 'remove', 'nope')
    expect(unknown.code).toBe(1)
    expect(unknown.err).toBe('No registered model "nope" (registered: my-copy)')
    const shipped = await cli('models', 'remove', shippedId)
    expect(shipped.err).toContain('ships with VAR Studio; it cannot be removed')

    const dir = (await loadUserModels(home)).models[0].dir
    const remove = await cli('models', 'remove', 'my-copy')
    expect(remove.code).toBe(0)
    expect(remove.out).toContain('Removed my-copy from your models.')
    expect(remove.out).toContain(`Its files are still in ${dir}`)
    expect(existsSync(join(dir, graphFile))).toBe(true)
    expect((await loadUserModels(home)).models).toEqual([])
    expect((await cli('models', 'remove', 'my-copy')).err).toContain(
      'No registered model "my-copy" (none registered yet',
    )

    // by folder, deleting the files
    expect((await cli('models', 'add', dir, '--no-graphs')).code).toBe(0)
    // a registered folder that went away (moved, unmounted) is listed as such, with the way out
    await rename(dir, `${dir}-moved`)
    const gone = await cli('models', 'list')
    expect(gone.out).toMatch(new RegExp(`^\\(invalid\\) {2}\\[registered\\] {2}${dir}: `, 'm'))
    expect(gone.err).toContain('`var-studio models remove my-copy` forgets it')
    await rename(`${dir}-moved`, dir)
    const del = await cli('models', 'remove', dir, '--delete-files')
    expect(del.code).toBe(0)
    expect(del.out).toContain(`Deleted ${dir}.`)
    expect(existsSync(dir)).toBe(false)
    expect((await loadUserModels(home)).models).toEqual([])
  }, 120_000)

  it('still lists and shows folders when the settings file is damaged, but will not change it', async () => {
    const file = join(home, 'models.json')
    const before = await readFile(file, 'utf8')
    try {
      await writeFile(file, 'not json')
      const list = await cli('models', 'list')
      expect(list.code).toBe(0)
      expect(list.err).toMatch(/^Warning: registered models skipped\. .*models\.json is not valid JSON/)
      expect(list.out).toContain('[shipped]')
      expect((await cli('models', 'show', MODEL_DIR)).code).toBe(0)
      const add = await cli('models', 'add', MODEL_DIR)
      expect(add.code).toBe(1)
      expect(add.err).toMatch(/^(?!\w+Error: ).*models\.json is not valid JSON/)
      expect(await readFile(file, 'utf8')).toBe('not json')
    } finally {
      await writeFile(file, before)
    }
  })

  it('keeps the registry in the folder VAR_STUDIO_HOME names, for a separate CLI process too', async () => {
    const dir = await modelCopy('from-process')
    await addUserModel(home, dir)
    const root = join(import.meta.dirname, '..', '..')
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(root, 'bin', 'var-studio.js'), 'models', 'list'],
      {
        cwd: root,
        env: { ...process.env, VAR_STUDIO_HOME: home },
      },
    )
    expect(stdout).toMatch(/^from-process .*\[registered\]/m)
    await removeUserModel(home, 'from-process')
  }, 120_000)
})
