import { existsSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { manifestSchema, type VarManifest } from '../../src-shared/manifest'
import { Graph } from '../../src-main/host/ort/session'
import { loadTeacherForced } from '../engine/fixtures'

/**
 * The model shipped in the repository. Its golden values (models/var_tools/fixtures.py) are checked
 * through the shipped runner in test/engine/loop.test.ts and through the host in host-process.test.ts.
 */
const MODEL_DIR = resolve(process.env.VAR_TEST_MODEL ?? 'models/fashion-mnist-var')

function loadManifest(): VarManifest {
  if (!existsSync(join(MODEL_DIR, 'manifest.json'))) {
    throw new Error(`no model at ${MODEL_DIR}: the embedded model must be committed under models/`)
  }
  return manifestSchema.parse(JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')))
}

const ORT_TYPES: Record<string, string> = { float32: 'float32', int64: 'int64' }

describe('embedded model', () => {
  const manifest = loadManifest()

  it('lists every file with its size and sha256', () => {
    for (const [name, info] of Object.entries(manifest.files)) {
      const bytes = readFileSync(join(MODEL_DIR, name))
      expect(bytes.length, name).toBe(info.bytes)
      expect(createHash('sha256').update(bytes).digest('hex'), name).toBe(info.sha256)
    }
    const total = Object.values(manifest.files).reduce((s, f) => s + f.bytes, 0)
    expect(total).toBeLessThanOrEqual(40 * 1024 * 1024)
  })

  for (const [graph, spec] of Object.entries(loadManifest().graphs)) {
    it(`${graph}: names, dtypes and shapes agree with the manifest`, async () => {
      const opened = await Graph.open(join(MODEL_DIR, spec.file), graph, 'cpu', undefined, () => undefined)
      try {
        expect(opened.inputs.map((i) => i.name)).toEqual(spec.inputs.map((i) => i.name))
        expect(opened.outputs.map((o) => o.name)).toEqual(spec.outputs.map((o) => o.name))
        const pairs = [
          ...opened.inputs.map((m, i) => [m, spec.inputs[i]] as const),
          ...opened.outputs.map((m, i) => [m, spec.outputs[i]] as const),
        ]
        for (const [meta, declared] of pairs) {
          expect(meta.type, `${graph}.${meta.name} dtype`).toBe(ORT_TYPES[declared.dtype])
          expect([...meta.shape], `${graph}.${meta.name} shape`).toEqual(declared.shape)
        }
      } finally {
        await opened.release()
      }
    })
  }

  it('is the model the golden fixture was made for', () => {
    const golden = loadTeacherForced()
    expect(golden.model_id).toBe(manifest.id)
    expect(golden.var_step_sha256).toBe(manifest.files[manifest.graphs.var_step.file].sha256)
    expect([golden.vocab_size, golden.Cvae]).toEqual([manifest.vocab_size, manifest.Cvae])
  })
})
