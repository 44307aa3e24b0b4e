import { mkdir, mkdtemp, readFile, rm, truncate, utimes, writeFile, copyFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManifestError, ModelLoadError } from '../../src-shared/errors'
import { HashCache } from '../../src-main/storage/hash-cache'
import {
  assertFilesOk,
  checkModelFiles,
  inspectModelFolder,
  readCodebook,
  readManifest,
} from '../../src-main/storage/model-folder'
import {
  findShippedModel,
  listModels,
  packageRoot,
  resolveModel,
  SHIPPED_MODEL,
  shippedModelCandidates,
} from '../../src-main/storage/model-registry'
import { copyModel, MODEL_DIR, readJsonManifest, writeJsonManifest } from './model'

let copy: { dir: string; cleanup: () => Promise<void> }
beforeEach(async () => {
  copy = await copyModel()
})
afterEach(async () => {
  await copy.cleanup()
})

const problems = async (dir: string, hashes = true): Promise<Record<string, string | undefined>> => {
  const report = await inspectModelFolder(dir, { hashes })
  return Object.fromEntries(report.files.filter((f) => !f.ok).map((f) => [f.name, `${f.kind}: ${f.problem}`]))
}

describe('model folder checks', () => {
  it('accepts an intact copy, with hashes, and reads the codebook', async () => {
    expect(await problems(copy.dir)).toEqual({})
    const m = await readManifest(copy.dir)
    const cb = await readCodebook(copy.dir, m)
    expect(cb.length).toBe(m.vocab_size * m.Cvae)
    const raw = await readFile(join(copy.dir, m.codebook.file))
    expect(cb[3]).toBe(raw.readFloatLE(12))
  })

  it('reports a missing graph, a truncated file and a changed byte, each by name', async () => {
    const m = await readManifest(copy.dir)
    await rm(join(copy.dir, m.graphs.vq_step.file))
    await truncate(join(copy.dir, m.graphs.vae_decode.file), 1000)
    const varStep = join(copy.dir, m.graphs.var_step.file)
    const bytes = await readFile(varStep)
    bytes[bytes.length - 10] ^= 0xff
    await writeFile(varStep, bytes)
    expect(await problems(copy.dir)).toEqual({
      [m.graphs.vq_step.file]: 'missing: missing',
      [m.graphs.vae_decode.file]:
        `size: 1000 bytes, manifest says ${m.files[m.graphs.vae_decode.file].bytes}`,
      [m.graphs.var_step.file]: 'hash: sha256 differs from the manifest',
    })
    // Without hashes the changed byte goes unnoticed, the rest does not.
    expect(Object.keys(await problems(copy.dir, false))).toEqual(
      [m.graphs.vae_decode.file, m.graphs.vq_step.file].sort(
        (a, b) => Object.keys(m.files).indexOf(a) - Object.keys(m.files).indexOf(b),
      ),
    )
    const error = (() => {
      try {
        assertFilesOk({
          dir: copy.dir,
          manifest: m,
          files: [{ name: 'x.onnx', ok: false, kind: 'missing', problem: 'missing' }],
        })
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(ModelLoadError)
    expect((error as Error).message).toContain('  x.onnx: missing')
  })

  it('reports a hash changed in the manifest', async () => {
    const m = await readJsonManifest(copy.dir)
    const name = m.codebook.file
    m.files[name] = { ...m.files[name], sha256: '0'.repeat(64) }
    await writeJsonManifest(copy.dir, m)
    expect(await problems(copy.dir)).toEqual({ [name]: 'hash: sha256 differs from the manifest' })
  })

  it('rejects a manifest that no longer parses, naming the field', async () => {
    const m = await readJsonManifest(copy.dir)
    ;(m as { vocab_size: number }).vocab_size = 0
    await writeJsonManifest(copy.dir, m)
    const error = await readManifest(copy.dir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ManifestError)
    expect((error as ManifestError).issues.map((i) => i.path)).toContain('vocab_size')
  })

  it('hashes once, then answers from the cache until size or mtime change', async () => {
    const file = join(tmpdir(), `var-cache-${process.pid}.json`)
    try {
      const cache = new HashCache(file)
      const m = await readManifest(copy.dir)
      const progress: number[] = []
      const first = await checkModelFiles(copy.dir, m, {
        hashes: true,
        cache,
        onProgress: (p) => progress.push(p.bytesDone),
      })
      expect(first.every((f) => f.ok && f.cached === false)).toBe(true)
      const total = Object.values(m.files).reduce((s, f) => s + f.bytes, 0)
      expect(progress.at(-1)).toBe(total)
      expect(progress).toEqual([...progress].sort((a, b) => a - b))
      await cache.save()

      const reloaded = new HashCache(file)
      const second = await checkModelFiles(copy.dir, m, { hashes: true, cache: reloaded })
      expect(second.every((f) => f.ok && f.cached === true)).toBe(true)

      const codebook = join(copy.dir, m.codebook.file)
      await utimes(codebook, new Date(), new Date(Date.now() + 5000))
      const third = await checkModelFiles(copy.dir, m, { hashes: true, cache: reloaded })
      expect(third.find((f) => f.name === m.codebook.file)?.cached).toBe(false)
      const forced = await checkModelFiles(copy.dir, m, { hashes: true, cache: reloaded, force: true })
      expect(forced.every((f) => f.cached === false)).toBe(true)
    } finally {
      await rm(file, { force: true })
    }
  })
})

describe('model registry', () => {
  it('finds the shipped model in the packaged layout first, then next to the package', async () => {
    const root = await mkdtemp(join(tmpdir(), 'var-layout-'))
    try {
      const resources = join(root, 'resources')
      const pkg = join(root, 'app')
      expect(shippedModelCandidates({ resourcesPath: resources, packageRoot: pkg })).toEqual([
        join(resources, 'models', SHIPPED_MODEL),
        join(pkg, 'models', SHIPPED_MODEL),
      ])
      expect(findShippedModel({ resourcesPath: resources, packageRoot: pkg })).toBeUndefined()
      await mkdir(join(pkg, 'models', SHIPPED_MODEL), { recursive: true })
      await copyFile(join(MODEL_DIR, 'manifest.json'), join(pkg, 'models', SHIPPED_MODEL, 'manifest.json'))
      expect(findShippedModel({ resourcesPath: resources, packageRoot: pkg })).toBe(
        join(pkg, 'models', SHIPPED_MODEL),
      )
      await mkdir(join(resources, 'models', SHIPPED_MODEL), { recursive: true })
      await copyFile(
        join(MODEL_DIR, 'manifest.json'),
        join(resources, 'models', SHIPPED_MODEL, 'manifest.json'),
      )
      expect(findShippedModel({ resourcesPath: resources, packageRoot: pkg })).toBe(
        join(resources, 'models', SHIPPED_MODEL),
      )
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })

  it('knows the package root from any file inside it', () => {
    const root = packageRoot()
    expect(root).toBeDefined()
    expect(packageRoot(join(root!, 'src-main', 'storage', 'x.ts'))).toBe(root)
    expect(packageRoot('/')).toBeUndefined()
  })

  it('lists model folders and folders of models, with broken entries and their errors', async () => {
    const parent = join(copy.dir, '..')
    await mkdir(join(parent, 'broken'))
    await writeFile(join(parent, 'broken', 'manifest.json'), '{ "format": "var-onnx/1" }')
    const none = { resourcesPath: undefined, packageRoot: undefined }
    const models = await listModels({ userDirs: [parent, copy.dir, join(parent, 'nowhere')], shipped: none })
    const m = await readManifest(copy.dir)
    expect(models.map((x) => [x.dir, x.ok])).toEqual([
      [join(parent, 'broken'), false],
      [copy.dir, true],
      [join(parent, 'nowhere'), false],
    ])
    expect(models[1]).toMatchObject({ id: m.id, origin: 'user', numClasses: m.num_classes })
    expect(models[0]?.error?.name).toBe('ManifestError')

    expect(await resolveModel(m.id, { userDirs: [parent], shipped: none })).toBe(copy.dir)
    expect(await resolveModel(copy.dir, { shipped: none })).toBe(copy.dir)
    await expect(resolveModel('no-such-model', { userDirs: [parent], shipped: none })).rejects.toThrow(
      `No model folder or model id "no-such-model" (known ids: ${m.id})`,
    )
    await expect(resolveModel(undefined, { shipped: none })).rejects.toThrow(/shipped model was not found/)
  })
})
