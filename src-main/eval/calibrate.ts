/**
 * Runs a model's calibration (src-shared/engine/calibration.ts) on the inference host and stores it
 * beside the model (storage/calibration-file.ts). Used by `var-studio calibrate` and the studio's
 * `models:calibrate`.
 *
 * The batch: `images` images (default 20 per class, at most 500), image i of class
 * floor(i · classes / images) with seed `seed + i`; for each search scale and cfg one randomk-only run
 * (N candidates, dedup 0, so every row records its densities, candidates and a random scan order).
 */
import {
  CALIBRATION_FORMAT,
  CALIBRATION_METHOD,
  type CalibrationMeasurement,
  type CalibrationRecord,
  CalibrationSettingsError,
  checkCalibrationSettings,
  codebookDistances,
  DEFAULT_TARGETS,
  measureScale,
} from '../../src-shared/engine/calibration'
import { InvalidRequestError } from '../../src-shared/errors'
import type { DeviceChoice } from '../../src-shared/protocol'
import type { VarManifest } from '../../src-shared/manifest'
import type { HostClient } from '../host/client'
import { manifestSha256, sealCalibration, writeCalibration } from '../storage/calibration-file'
import { readCodebook, readManifest } from '../storage/model-folder'

export interface CalibrateOptions {
  /** search scales to measure; the first is the default search scale (default [1], or the last scale of a one-scale model) */
  readonly scales?: readonly number[]
  /** cfg values to measure; the first gives the defaults (default: the model's sampling default) */
  readonly cfgs?: readonly number[]
  readonly N?: number
  readonly k?: number
  readonly images?: number
  readonly seed?: number
  readonly topkShare?: number
  readonly keptFraction?: number
  readonly batchSize?: number
  readonly device?: Partial<DeviceChoice>
}

export interface CalibrateProgress {
  /** run r of runs (one per scale and cfg) */
  readonly run: number
  readonly runs: number
  readonly si: number
  readonly cfg: number
  /** images finished in this run */
  readonly done: number
  readonly images: number
}

export interface CalibrateHooks {
  readonly onProgress?: (p: CalibrateProgress) => void
  readonly signal?: AbortSignal
  readonly command: readonly string[]
  readonly version: string
  /** write the record beside the model (default true) */
  readonly write?: boolean
}

export interface Calibrated {
  readonly record: CalibrationRecord
  /** where it was written; undefined with write: false */
  readonly path?: string
}

/** The images of the batch: class floor(i · classes / images), seed `seed + i`. */
export function calibrationItems(
  images: number,
  numClasses: number,
  seed: number,
): { classId: number; seed: number }[] {
  return Array.from({ length: images }, (_, i) => ({
    classId: Math.floor((i * numClasses) / images),
    seed: seed + i,
  }))
}

/** A bad setting as the request errors name them (the CLI maps fields to flags). */
function asRequestError(error: unknown): never {
  if (error instanceof CalibrationSettingsError) throw new InvalidRequestError(error.field, error.message)
  throw error
}

/** The settings with their defaults filled in, checked against the model (before anything runs). */
export function resolveCalibration(manifest: VarManifest, options: CalibrateOptions): ResolvedCalibration {
  const S = manifest.patch_nums.length
  const resolved = {
    scales: [...(options.scales ?? [S > 1 ? 1 : 0])],
    cfgs: [...(options.cfgs ?? [manifest.sampling_defaults.cfg])],
    N: options.N ?? 50,
    k: options.k ?? Math.min(10, options.N ?? 50),
    images: options.images ?? Math.min(20 * manifest.num_classes, 500),
    seed: options.seed ?? 0,
    topkShare: options.topkShare ?? DEFAULT_TARGETS.topkShare,
    keptFraction: options.keptFraction ?? DEFAULT_TARGETS.keptFraction,
  }
  try {
    checkCalibrationSettings({ numClasses: manifest.num_classes, numScales: S, ...resolved })
  } catch (error) {
    asRequestError(error)
  }
  return resolved
}

export interface ResolvedCalibration {
  readonly scales: number[]
  readonly cfgs: number[]
  readonly N: number
  readonly k: number
  readonly images: number
  readonly seed: number
  readonly topkShare: number
  readonly keptFraction: number
}

export async function calibrateModel(
  client: HostClient,
  dir: string,
  options: CalibrateOptions,
  hooks: CalibrateHooks,
): Promise<Calibrated> {
  const manifest = await readManifest(dir)
  const { scales, cfgs, N, k, images, seed, topkShare, keptFraction } = resolveCalibration(manifest, options)
  const sha = await manifestSha256(dir)
  const codebook = await readCodebook(dir, manifest)
  const d = manifest.Cvae
  const items = calibrationItems(images, manifest.num_classes, seed)
  const runs = scales.flatMap((si) => cfgs.map((cfg) => ({ si, cfg })))
  const measurements: CalibrationMeasurement[] = []
  for (const [r, run] of runs.entries()) {
    const result = await client.call(
      'generate',
      {
        dir,
        items,
        device: options.device ?? {},
        sampling: { ...manifest.sampling_defaults, cfg: run.cfg },
        strategy: { kind: 'randomk-only', searchScales: [run.si], N, k, dedup: 0 },
        batchSize: options.batchSize ?? 16,
        previews: 'off',
      },
      {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        onProgress: (p) => {
          if (p.kind !== 'scale' || p.si !== p.scales - 1) return
          hooks.onProgress?.({
            run: r,
            runs: runs.length,
            si: run.si,
            cfg: run.cfg,
            done: p.itemOffset + p.B,
            images,
          })
        },
      },
    )
    const rows = result.images.map((img) => {
      const sel = img.selections.find((s) => s.si === run.si)
      if (!sel) throw new InvalidRequestError('scales', `the host returned no selection at scale ${run.si}`)
      return { densities: sel.densities, order: sel.order, candidates: sel.candidates }
    })
    measurements.push(
      measureScale(rows, {
        si: run.si,
        pn: manifest.patch_nums[run.si] ?? 1,
        cfg: run.cfg,
        k,
        codebook,
        d,
        topkShare,
        keptFraction,
      }),
    )
  }
  const cb = codebookDistances(codebook, d)
  const first = measurements.at(0)
  if (!first) throw new InvalidRequestError('scales', 'nothing was measured')
  const record = sealCalibration({
    format: CALIBRATION_FORMAT,
    createdAt: new Date().toISOString(),
    version: hooks.version,
    command: [...hooks.command],
    model: { id: manifest.id, manifestSha256: sha },
    batch: {
      images,
      classes: [...new Set(items.map((i) => i.classId))],
      seeds: { first: seed, last: seed + images - 1 },
      N,
      k,
      top_k: manifest.sampling_defaults.top_k,
      top_p: manifest.sampling_defaults.top_p,
      cfgs,
      scales,
    },
    targets: { topkShare, keptFraction },
    method: CALIBRATION_METHOD,
    codebook: cb,
    measurements,
    defaults: {
      alpha: first.alpha,
      dedup: first.dedup,
      searchScales: [first.si],
      cfg: first.cfg,
      dedupPerCodebookMedian: cb.p50 > 0 ? Math.round((first.dedup / cb.p50) * 1000) / 1000 : 0,
    },
  })
  if (hooks.write === false) return { record }
  return { record, path: await writeCalibration(dir, record) }
}
