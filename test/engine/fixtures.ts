/**
 * The PyTorch golden fixtures and the shipped inference code they are checked through: model folders
 * open with the host's `openModel` (the runner the studio runs), never with a driver of the tests' own.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { StepRunner } from '../../src-shared/engine/runner'
import type { SamplingParams } from '../../src-shared/engine/sampling'
import type { VarManifest } from '../../src-shared/manifest'
import { openModel } from '../../src-main/host/ort/model'
import { readCodebook, readManifest } from '../../src-main/storage/model-folder'
import { MODEL_DIR } from '../host/model'

const ROOT = resolve(import.meta.dirname, '../..')

/** The teacher-forced fixture: $VAR_TEST_FIXTURE, else test/fixtures/..., else /tmp/vt/fixtures/... */
export function teacherForcedPath(): string {
  const fromEnv = process.env.VAR_TEST_FIXTURE
  const candidates = fromEnv
    ? [resolve(ROOT, fromEnv)]
    : ['test/fixtures/teacher_forced.json', '/tmp/vt/fixtures/teacher_forced.json'].map((c) =>
        resolve(ROOT, c),
      )
  const found = candidates.find((c) => existsSync(c))
  if (!found)
    throw new Error(`no teacher-forced fixture (tried ${candidates.join(', ')}); set VAR_TEST_FIXTURE`)
  return found
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

/** A random-weight model and PyTorch's free-running generation of it (var_tools.parity tiny-fixture). */
export const TINY_DIR = resolve(ROOT, 'test/fixtures/tiny-var/model')

export interface FreeRunningFixture {
  labels: number[]
  seeds: number[]
  sampling: SamplingParams
  /** per image, the uniform doubles PyTorch drew with (one per token, scales in order) */
  draws: number[][]
  /** per scale, [B, l] */
  tokens: number[][]
  image: number[]
  image_shape: number[]
  tolerance: { image: number }
}

/** The same model with more_smooth (free_running_smooth.json): draws are not stored, only how many. */
export interface SmoothFixture extends Omit<FreeRunningFixture, 'draws'> {
  /** per image, the doubles of its stream PyTorch consumed (ids and Gumbel noise) */
  draws_used: number[]
  /** max abs difference between this image and the same draws without smoothing */
  unsmoothed_image_diff: number
}

export function loadSmooth(): SmoothFixture {
  return JSON.parse(
    readFileSync(resolve(ROOT, 'test/fixtures/tiny-var/free_running_smooth.json'), 'utf8'),
  ) as SmoothFixture
}

export function loadFreeRunning(): FreeRunningFixture {
  return JSON.parse(
    readFileSync(resolve(ROOT, 'test/fixtures/tiny-var/free_running.json'), 'utf8'),
  ) as FreeRunningFixture
}

export interface ShippedModel {
  dir: string
  manifest: VarManifest
  codebook: Float32Array
  runner: StepRunner
  release(): Promise<void>
}

/** The model folder (default: the one the host tests use) opened on cpu the way the host opens it. */
export async function openShipped(dir = MODEL_DIR): Promise<ShippedModel> {
  const manifest = await readManifest(dir)
  const codebook = await readCodebook(dir, manifest)
  const model = await openModel(dir, manifest, { provider: 'cpu', fallback: false }, { log: () => undefined })
  return { dir, manifest, codebook, runner: model.runner, release: () => model.release() }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}
