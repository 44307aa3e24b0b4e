import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GraphContractError, InferenceError, ModelLoadError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import { graphIssues } from '../../src-main/host/ort/contract'
import { checkGraphs, openModel, type OpenedModel, platformLadder } from '../../src-main/host/ort/model'
import { Graph, tensor } from '../../src-main/host/ort/session'
import { readCodebook, readManifest } from '../../src-main/storage/model-folder'
import { copyModel, MODEL_DIR, readJsonManifest, writeJsonManifest } from './model'

let manifest: VarManifest
let model: OpenedModel
let codebook: Float32Array

beforeAll(async () => {
  manifest = await readManifest(MODEL_DIR)
  codebook = await readCodebook(MODEL_DIR, manifest)
  model = await openModel(MODEL_DIR, manifest, { provider: 'cpu', fallback: false })
}, 120_000)
afterAll(async () => {
  await model.release()
})

describe('ORT adapter on cpu', () => {
  it('records the provider that ran', () => {
    expect(model.provider).toEqual({
      provider: 'cpu',
      requested: 'cpu',
      attempts: [{ provider: 'cpu', ok: true }],
    })
  })

  it('runs var_step at scale 0 with zero-length past, then scale 1 with the cache', async () => {
    const { depth, num_heads: H, head_dim: hd, Cvae, vocab_size: V, patch_nums } = manifest
    const N = 4
    const condLabel = BigInt64Array.from([1n, 2n, BigInt(manifest.null_class), BigInt(manifest.null_class)])
    const s0 = await model.runner.varStep({
      condLabel,
      xCvae: new Float32Array(N * Cvae),
      pos: BigInt64Array.from([0n]),
      attnBias: new Float32Array(1),
      pastK: new Float32Array(0),
      pastV: new Float32Array(0),
      N,
      l: 1,
      P: 0,
    })
    expect(s0.logits).toBeInstanceOf(Float32Array)
    expect(s0.logits.length).toBe(N * V)
    expect(s0.presentK.length).toBe(depth * N * H * 1 * hd)
    expect(s0.logits.every(Number.isFinite)).toBe(true)

    const l = (patch_nums[1] ?? 0) ** 2
    const s1 = await model.runner.varStep({
      condLabel,
      xCvae: new Float32Array(N * l * Cvae).fill(0.1),
      pos: BigInt64Array.from({ length: l }, (_, i) => BigInt(1 + i)),
      attnBias: new Float32Array(l * (1 + l)),
      pastK: s0.presentK,
      pastV: s0.presentV,
      N,
      l,
      P: 1,
    })
    expect(s1.logits.length).toBe(N * l * V)
    expect(s1.presentV.length).toBe(depth * N * H * (1 + l) * hd)
  })

  it('runs vq_step, decode and the classifier with the manifest shapes', async () => {
    const { Cvae, latent_hw: hw, patch_nums, image_channels: C, image_size: S } = manifest
    const B = 2
    const pn = patch_nums[0] ?? 1
    const pnNext = patch_nums[1] ?? hw
    const hTok = new Float32Array(B * pn * pn * Cvae)
    hTok.set(codebook.subarray(0, Cvae))
    hTok.set(codebook.subarray(5 * Cvae, 6 * Cvae), Cvae)
    const phiSel = new Float32Array(manifest.phi_count)
    phiSel[manifest.phi_index[0] ?? 0] = 1
    const vq = await model.runner.vqStep({
      fHat: new Float32Array(B * Cvae * hw * hw),
      hTok,
      up: Float32Array.from(manifest.up[0] ?? []),
      phiSel,
      down: Float32Array.from(manifest.down[0] ?? []),
      B,
      pn,
      pnNext,
    })
    expect(vq.fHatOut.length).toBe(B * Cvae * hw * hw)
    expect(vq.nextTok.length).toBe(B * pnNext * pnNext * Cvae)

    const image = await model.runner.decode(vq.fHatOut, B)
    expect(image.length).toBe(B * C * S * S)
    expect(Math.min(...image)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...image)).toBeLessThanOrEqual(1)

    if (manifest.graphs.classifier) {
      const out = await model.runner.classify?.(image, B)
      expect(out?.logits.length).toBe(B * manifest.num_classes)
      expect(out?.featureDim).toBeGreaterThan(0)
      expect(out?.features.length).toBe(B * (out?.featureDim ?? 0))
    } else {
      expect('classify' in model.runner && model.runner.classify !== undefined).toBe(false)
    }
  })

  it('names an input whose length does not fit its dims', async () => {
    const { Cvae } = manifest
    await expect(model.runner.decode(new Float32Array(Cvae), 1)).rejects.toThrow(
      /vae_decode input f_hat: 16 values for dims \[1, 16, \d+, \d+\]|vae_decode input f_hat/,
    )
  })

  it('walks the real ladder of this platform and ends on a provider that works', async () => {
    const opened = await openModel(MODEL_DIR, manifest, { provider: 'auto', fallback: false })
    try {
      const { attempts, provider } = opened.provider
      expect(attempts.at(-1)).toEqual({ provider, ok: true })
      expect(attempts.map((a) => a.provider)).toEqual(platformLadder().slice(0, attempts.length))
      for (const failed of attempts.slice(0, -1)) expect(failed.reason).toMatch(/\S/)
    } finally {
      await opened.release()
    }
  }, 120_000)
})

describe('Graph', () => {
  it('names missing and unknown feeds, and lists every input when a run fails', async () => {
    const spec = manifest.graphs.vq_step
    const logs: string[] = []
    const g = await Graph.open(join(MODEL_DIR, spec.file), 'vq_step', 'cpu', undefined, (l) => logs.push(l))
    try {
      const fHat = tensor('vq_step', 'f_hat', new Float32Array(manifest.Cvae * 49), [1, manifest.Cvae, 7, 7])
      await expect(g.run({ f_hat: fHat, bogus: fHat })).rejects.toThrow(
        'vq_step: missing input(s) h_tok, up, phi_sel, down; unknown input(s) bogus (the graph takes f_hat, h_tok, up, phi_sel, down)',
      )
      const hw = manifest.latent_hw
      const feeds = {
        f_hat: tensor('vq_step', 'f_hat', new Float32Array(manifest.Cvae * hw * hw), [
          1,
          manifest.Cvae,
          hw,
          hw,
        ]),
        h_tok: tensor('vq_step', 'h_tok', new Float32Array(3), [1, 1, 3]),
        up: tensor('vq_step', 'up', new Float32Array(hw), [hw, 1]),
        phi_sel: tensor('vq_step', 'phi_sel', new Float32Array(manifest.phi_count), [manifest.phi_count]),
        down: tensor('vq_step', 'down', new Float32Array(4 * hw), [4, hw]),
      }
      const error = await g.run(feeds).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InferenceError)
      expect((error as Error).message).toMatch(/^vq_step failed: /)
      expect((error as Error).message).toContain('h_tok: float32 [1, 1, 3]')
      expect(logs.join('\n')).toContain(`f_hat: float32 [1, ${manifest.Cvae}, ${hw}, ${hw}]`)
    } finally {
      await g.release()
    }
  })
})

describe('graph contract', () => {
  it('every graph of the test model agrees with its manifest', async () => {
    const checks = await checkGraphs(MODEL_DIR, manifest)
    expect(checks.map((c) => c.graph)).toEqual(
      Object.keys(manifest.graphs).sort((a, b) => order(a) - order(b)),
    )
    for (const c of checks) {
      expect(c.issues, c.graph).toEqual([])
      const spec = manifest.graphs[c.graph]
      expect(c.inputs.map((i) => i.name)).toEqual(spec?.inputs.map((i) => i.name))
      expect(c.inputs.map((i) => i.type)).toEqual(spec?.inputs.map((i) => i.dtype))
    }
  }, 60_000)

  it('reports names, dtypes, ranks and dims that disagree, by path', async () => {
    const g = await Graph.open(join(MODEL_DIR, manifest.graphs.var_step.file), 'var_step', 'cpu')
    try {
      const lying = structuredClone(manifest)
      const inputs = lying.graphs.var_step.inputs
      inputs[1] = { ...inputs[1], shape: ['N', 'l', manifest.Cvae * 2] }
      inputs[2] = { ...inputs[2], dtype: 'float32' }
      inputs[3] = { ...inputs[3], shape: ['l'] }
      inputs[0] = { ...inputs[0], name: 'label' }
      lying.graphs.var_step.outputs[0] = {
        ...lying.graphs.var_step.outputs[0],
        shape: [2, 'l', manifest.vocab_size],
      }
      const issues = graphIssues(lying, 'var_step', g)
      const paths = issues.map((i) => i.path)
      expect(paths).toContain('graphs.var_step.inputs[1].shape[2]')
      expect(paths).toContain('graphs.var_step.inputs[2].dtype')
      expect(paths).toContain('graphs.var_step.inputs[3].shape')
      expect(paths).toContain('graphs.var_step.inputs[0].name')
      expect(paths).toContain('graphs.var_step.inputs') // cond_label is not listed
      expect(issues.find((i) => i.path === 'graphs.var_step.inputs[1].shape[2]')?.message).toBe(
        `manifest says ${manifest.Cvae * 2}, ${manifest.graphs.var_step.file} has ${manifest.Cvae}`,
      )
      expect(issues.find((i) => i.path === 'graphs.var_step.inputs[2].dtype')?.message).toBe(
        `manifest says float32, ${manifest.graphs.var_step.file} has int64`,
      )

      const wrongDims = { ...structuredClone(manifest), vocab_size: manifest.vocab_size + 1 }
      expect(graphIssues(wrongDims, 'var_step', g)).toContainEqual({
        path: 'vocab_size',
        message: `${manifest.graphs.var_step.file} output logits has ${manifest.vocab_size} at dim 2, but the manifest's vocab_size is ${manifest.vocab_size + 1}`,
      })
    } finally {
      await g.release()
    }
  })

  it('refuses to open a model whose manifest lies about a shape, naming graph and field', async () => {
    const copy = await copyModel()
    try {
      const m = await readJsonManifest(copy.dir)
      const spec = m.graphs.vae_decode
      spec.outputs[0] = { ...spec.outputs[0], shape: ['B', manifest.image_channels, 32, 32] }
      await writeJsonManifest(copy.dir, m)
      const error = await openModel(copy.dir, await readManifest(copy.dir), {
        provider: 'auto',
        fallback: false,
      }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(GraphContractError)
      expect((error as Error).message).toContain(`${spec.file} (vae_decode) disagrees with manifest.json`)
      expect((error as GraphContractError).issues).toContainEqual({
        path: 'graphs.vae_decode.outputs[0].shape[2]',
        message: `manifest says 32, ${spec.file} has ${manifest.image_size}`,
      })
    } finally {
      await copy.cleanup()
    }
  }, 60_000)

  it('says which graph file is damaged instead of blaming the provider', async () => {
    const copy = await copyModel()
    try {
      await writeFile(join(copy.dir, manifest.graphs.vq_step.file), 'not an onnx file')
      const error = await openModel(copy.dir, manifest, { provider: 'auto', fallback: false }).catch(
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(ModelLoadError)
      expect((error as Error).message).toMatch(
        /^vq_step \(vq_step\.onnx\) could not be loaded: .*damaged or truncated/,
      )
    } finally {
      await copy.cleanup()
    }
  }, 60_000)
})

function order(graph: string): number {
  return ['var_step', 'vq_step', 'vae_decode', 'classifier'].indexOf(graph)
}
