import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { inspectModelFolder } from '../../src-main/storage/model-folder'
import { ManifestError } from '../../src-shared/errors'
import { validManifest } from '../fixtures/manifest'
import { captureIo } from '../helpers/io'

let dir: string

/** Writes a model folder whose files match its manifest (contents are filler bytes). */
async function writeModelFolder(): Promise<void> {
  const m = validManifest()
  for (const name of Object.keys(m.files)) {
    const data = Buffer.alloc(name === 'codebook.f32' ? 512 * 16 * 4 : 64 + name.length, name.length)
    await writeFile(join(dir, name), data)
    m.files[name] = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2))
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'var-model-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('inspectModelFolder', () => {
  it('accepts a folder whose files match sizes and hashes', async () => {
    await writeModelFolder()
    const report = await inspectModelFolder(dir, { hashes: true })
    expect(report.files.every((f) => f.ok)).toBe(true)
    expect(report.files).toHaveLength(4)
  })

  it('reports a missing file, a wrong size and a wrong hash by name', async () => {
    await writeModelFolder()
    await rm(join(dir, 'vq_step.onnx'))
    await writeFile(join(dir, 'vae_decode.onnx'), 'short')
    const varStep = Buffer.alloc(64 + 'var_step.onnx'.length, 1)
    await writeFile(join(dir, 'var_step.onnx'), varStep)
    const report = await inspectModelFolder(dir, { hashes: true })
    const problems = Object.fromEntries(report.files.map((f) => [f.name, f.problem]))
    expect(problems).toEqual({
      'var_step.onnx': 'sha256 differs from the manifest',
      'vq_step.onnx': 'missing',
      'vae_decode.onnx': '5 bytes, manifest says 79',
      'codebook.f32': undefined,
    })
  })

  it('checks external-data files like graphs and names the graph a missing one breaks', async () => {
    await writeModelFolder()
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ReturnType<
      typeof validManifest
    >
    const data = Buffer.alloc(4096, 7)
    await writeFile(join(dir, 'var_step.onnx.data'), data)
    m.graphs.var_step.external_data = ['var_step.onnx.data']
    m.files['var_step.onnx.data'] = {
      sha256: createHash('sha256').update(data).digest('hex'),
      bytes: data.length,
    }
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m))
    const ok = await inspectModelFolder(dir, { hashes: true })
    expect(ok.files.map((f) => [f.name, f.ok])).toContainEqual(['var_step.onnx.data', true])

    await writeFile(join(dir, 'var_step.onnx.data'), data.subarray(0, 100))
    const short = await inspectModelFolder(dir)
    expect(short.files.find((f) => f.name === 'var_step.onnx.data')?.problem).toBe(
      '100 bytes, manifest says 4096 (weights of var_step.onnx)',
    )
    await rm(join(dir, 'var_step.onnx.data'))
    const gone = await inspectModelFolder(dir)
    expect(gone.files.find((f) => f.name === 'var_step.onnx.data')).toMatchObject({
      ok: false,
      kind: 'missing',
      problem: 'missing (weights of var_step.onnx)',
    })
  })

  it('throws ManifestError for a folder without a manifest or with broken JSON', async () => {
    await expect(inspectModelFolder(dir)).rejects.toBeInstanceOf(ManifestError)
    await writeFile(join(dir, 'manifest.json'), '{ "format": ')
    await expect(inspectModelFolder(dir)).rejects.toThrow(/not valid JSON/)
  })
})

describe('var-studio models inspect', () => {
  it('exits 0 on a valid folder and 1 with the field named on an invalid one', async () => {
    await writeModelFolder()
    const ok = captureIo()
    expect(await main(['models', 'inspect', dir], ok.io)).toBe(0)
    expect(ok.out.join('\n')).toContain('fashion-mnist-var-d4')

    const m = validManifest()
    m.null_class = 3
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m))
    const bad = captureIo()
    expect(await main(['models', 'inspect', dir], bad.io)).toBe(1)
    expect(bad.err.join('\n')).toContain('null_class: must equal num_classes (10)')
  })

  it('exits 2 on usage errors', async () => {
    const io = captureIo()
    expect(await main(['models', 'frobnicate'], io.io)).toBe(2)
    expect(await main(['models', 'inspect', '--nope'], io.io)).toBe(2)
  })
})
