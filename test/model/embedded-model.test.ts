import { existsSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { manifestSchema, type VarManifest } from '../../src-shared/manifest'

/** The model shipped in the repository and the golden values written for it by models/var_tools/fixtures.py. */
const MODEL_DIR = resolve(process.env.VAR_TEST_MODEL ?? 'models/fashion-mnist-var')
const FIXTURE = resolve('test/fixtures/teacher_forced.json')

interface TeacherForced {
  model_id: string
  var_step_sha256: string
  cond_label: number[]
  vocab_size: number
  Cvae: number
  scales: { si: number; pn: number; ids: number[]; logits: number[]; next_tok: number[] | null }[]
}

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
      const session = await ort.InferenceSession.create(join(MODEL_DIR, spec.file))
      try {
        expect([...session.inputNames]).toEqual(spec.inputs.map((i) => i.name))
        expect([...session.outputNames]).toEqual(spec.outputs.map((o) => o.name))
        const pairs = [
          ...session.inputMetadata.map((m, i) => [m, spec.inputs[i]] as const),
          ...session.outputMetadata.map((m, i) => [m, spec.outputs[i]] as const),
        ]
        for (const [meta, declared] of pairs) {
          if (!meta.isTensor) throw new Error(`${graph}: ${meta.name} is not a tensor`)
          expect(meta.type, `${graph}.${meta.name} dtype`).toBe(ORT_TYPES[declared.dtype])
          expect([...meta.shape], `${graph}.${meta.name} shape`).toEqual(declared.shape)
        }
      } finally {
        await session.release()
      }
    })
  }

  it('a teacher-forced var_step reproduces the golden logits of every scale', async () => {
    const golden = JSON.parse(readFileSync(FIXTURE, 'utf8')) as TeacherForced
    expect(golden.model_id).toBe(manifest.id)
    expect(golden.var_step_sha256).toBe(manifest.files[manifest.graphs.var_step.file].sha256)
    const session = await ort.InferenceSession.create(join(MODEL_DIR, manifest.graphs.var_step.file))
    const { depth, num_heads: H, head_dim: hd, Cvae, vocab_size: V } = manifest
    const N = 2
    let pastK: ort.Tensor = new ort.Tensor('float32', new Float32Array(0), [depth, N, H, 0, hd])
    let pastV: ort.Tensor = new ort.Tensor('float32', new Float32Array(0), [depth, N, H, 0, hd])
    let x = new Float32Array(N * manifest.first_l * Cvae)
    try {
      for (const scale of golden.scales) {
        const l = scale.pn * scale.pn
        const begin = manifest.begin[scale.si] ?? 0
        const out = await session.run({
          cond_label: new ort.Tensor('int64', BigInt64Array.from(golden.cond_label.map(BigInt)), [N]),
          x_cvae: new ort.Tensor('float32', x, [N, l, Cvae]),
          pos: new ort.Tensor(
            'int64',
            BigInt64Array.from({ length: l }, (_, i) => BigInt(begin + i)),
            [l],
          ),
          attn_bias: new ort.Tensor('float32', new Float32Array(l * (begin + l)), [l, begin + l]),
          past_k: pastK,
          past_v: pastV,
        })
        const logits = out.logits.data as Float32Array
        expect(logits.length).toBe(N * l * V)
        let worst = 0
        for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(logits[i] - scale.logits[i]))
        expect(worst, `max |logits - golden| at scale ${scale.si}`).toBeLessThanOrEqual(1e-4)
        pastK = out.present_k
        pastV = out.present_v
        if (scale.next_tok) {
          const next = Float32Array.from(scale.next_tok)
          x = new Float32Array(N * next.length)
          x.set(next, 0)
          x.set(next, next.length)
        }
      }
    } finally {
      await session.release()
    }
  })
})
