/**
 * Test-only access to a real `var-onnx/1` model: where it is, its manifest and codebook, and a
 * StepRunner written directly on onnxruntime-node (the app's runner lives in the inference host).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import * as ort from 'onnxruntime-node'
import type {
  ClassifierResult,
  StepRunner,
  VarStepResult,
  VqStepResult,
} from '../../src-shared/engine/runner'
import { parseManifest, type VarManifest } from '../../src-shared/manifest'

const ROOT = resolve(import.meta.dirname, '../..')

function firstExisting(what: string, envName: string, candidates: string[]): string {
  const fromEnv = process.env[envName]
  if (fromEnv) {
    const path = resolve(ROOT, fromEnv)
    if (!existsSync(path)) throw new Error(`${envName}=${fromEnv}: ${path} does not exist`)
    return path
  }
  const found = candidates.map((c) => resolve(ROOT, c)).find((c) => existsSync(c))
  if (!found) {
    throw new Error(`no ${what} found (tried ${candidates.join(', ')}); set ${envName} to one`)
  }
  return found
}

/** The model folder: $VAR_TEST_MODEL, else models/fashion-mnist-var, else /tmp/vt/model. */
export function modelDir(): string {
  return firstExisting('model folder', 'VAR_TEST_MODEL', ['models/fashion-mnist-var', '/tmp/vt/model'])
}

/** The teacher-forced fixture: $VAR_TEST_FIXTURE, else test/fixtures/..., else /tmp/vt/fixtures/... */
export function teacherForcedPath(): string {
  return firstExisting('teacher-forced fixture', 'VAR_TEST_FIXTURE', [
    'test/fixtures/teacher_forced.json',
    '/tmp/vt/fixtures/teacher_forced.json',
  ])
}

export interface LoadedModel {
  dir: string
  manifest: VarManifest
  codebook: Float32Array
  runner: StepRunner
}

function readFloat32(path: string): Float32Array {
  const buf = readFileSync(path)
  const out = new Float32Array(buf.byteLength / 4)
  new Uint8Array(out.buffer).set(buf)
  return out
}

const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims)
const i64 = (data: BigInt64Array, dims: number[]) => new ort.Tensor('int64', data, dims)

function output(result: ort.InferenceSession.ReturnType, name: string): Float32Array {
  const t = result[name]
  if (!(t.data instanceof Float32Array)) throw new Error(`${name} is not float32`)
  return t.data
}

export async function loadModel(dir = modelDir()): Promise<LoadedModel> {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')))
  const codebook = readFloat32(join(dir, manifest.codebook.file))
  const g = manifest.graphs
  const open = (file: string) => ort.InferenceSession.create(join(dir, file), { executionProviders: ['cpu'] })
  const [varStep, vqStep, decode, classifier] = await Promise.all([
    open(g.var_step.file),
    open(g.vq_step.file),
    open(g.vae_decode.file),
    g.classifier ? open(g.classifier.file) : undefined,
  ])
  const names = (spec: { name: string }[]) => spec.map((s) => s.name)
  const [vIn, vOut] = [names(g.var_step.inputs), names(g.var_step.outputs)]
  const [qIn, qOut] = [names(g.vq_step.inputs), names(g.vq_step.outputs)]
  const { depth, num_heads: H, head_dim: hd, Cvae: C, latent_hw: hw, phi_count: K } = manifest

  const runner: StepRunner = {
    async varStep(f): Promise<VarStepResult> {
      const r = await varStep.run({
        [vIn[0]]: i64(f.condLabel, [f.N]),
        [vIn[1]]: f32(f.xCvae, [f.N, f.l, C]),
        [vIn[2]]: i64(f.pos, [f.l]),
        [vIn[3]]: f32(f.attnBias, [f.l, f.P + f.l]),
        [vIn[4]]: f32(f.pastK, [depth, f.N, H, f.P, hd]),
        [vIn[5]]: f32(f.pastV, [depth, f.N, H, f.P, hd]),
      })
      return { logits: output(r, vOut[0]), presentK: output(r, vOut[1]), presentV: output(r, vOut[2]) }
    },
    async vqStep(f): Promise<VqStepResult> {
      const r = await vqStep.run({
        [qIn[0]]: f32(f.fHat, [f.B, C, hw, hw]),
        [qIn[1]]: f32(f.hTok, [f.B, f.pn * f.pn, C]),
        [qIn[2]]: f32(f.up, [hw, f.pn]),
        [qIn[3]]: f32(f.phiSel, [K]),
        [qIn[4]]: f32(f.down, [f.pnNext, hw]),
      })
      return { fHatOut: output(r, qOut[0]), nextTok: output(r, qOut[1]) }
    },
    async decode(fHat, B): Promise<Float32Array> {
      const r = await decode.run({ [g.vae_decode.inputs[0].name]: f32(fHat, [B, C, hw, hw]) })
      return output(r, g.vae_decode.outputs[0].name)
    },
  }
  if (classifier && g.classifier) {
    const spec = g.classifier
    const side = manifest.image_size
    runner.classify = async (images, B): Promise<ClassifierResult> => {
      const r = await classifier.run({
        [spec.inputs[0].name]: f32(images, [B, manifest.image_channels, side, side]),
      })
      const features = output(r, spec.outputs[1].name)
      return { logits: output(r, spec.outputs[0].name), features, featureDim: features.length / B }
    }
  }
  return { dir, manifest, codebook, runner }
}

export interface TeacherForcedScale {
  si: number
  pn: number
  ids: number[]
  logits: number[]
  next_tok: number[] | null
  f_hat: number[]
}

export interface TeacherForcedFixture {
  model_id: string
  var_step_sha256: string
  cond_label: [number, number]
  vocab_size: number
  Cvae: number
  scales: TeacherForcedScale[]
  image: number[]
  image_shape: number[]
  tolerance: { logits: number; f_hat: number; image: number }
}

export function loadTeacherForced(): TeacherForcedFixture {
  return JSON.parse(readFileSync(teacherForcedPath(), 'utf8')) as TeacherForcedFixture
}
