/**
 * What a generation request holds and returns, the hooks it calls, and its validation against a
 * model. The loop itself is in loop.ts.
 */
import type { VarManifest } from '../manifest'
import type { KdeFn } from './kde'
import type { SamplingParams } from './sampling'
import type { SelectionRecord } from './selection'
import {
  SettingsError,
  type SettingsIssue,
  type StrategyConfig,
  type StrategyConfigInput,
} from './strategies'

/**
 * Which images get a partial decode after every scale: each one runs the whole VAE decoder, as costly
 * as the final decode (2 s for a 256 px image on two cores), so `first` decodes only the batch's first
 * image, the one the live views follow. The last scale's decode is the result itself and costs nothing
 * extra in either mode.
 */
export const PREVIEW_MODES = ['all', 'first', 'off'] as const
export type PreviewMode = (typeof PREVIEW_MODES)[number]

export interface GenerateRequest {
  /** class id of each of the B images */
  classes: readonly number[]
  /** seed of each image (its own PRNG stream) */
  seeds: readonly number[]
  sampling: SamplingParams
  strategy: StrategyConfigInput | StrategyConfig
  /** partial decodes of f_hat after every scale, passed to `onScale` (default off) */
  previews?: PreviewMode
  /** teacher forcing: per scale, ids [B, l] used instead of drawing (no draws, no selection) */
  forcedIds?: readonly ArrayLike<number>[]
}

export interface ScaleEvent {
  si: number
  S: number
  /** 0 .. generations-1 (best-of-n runs several full generations) */
  generation: number
  generations: number
  /** [B, l] */
  tokenMap: Int32Array
  /** one record per row at a search scale */
  selection?: SelectionRecord[]
  /**
   * The partial decode with previews on: [B, C, H, W] with `all` and at the last scale, [1, C, H, W]
   * (the batch's first image) before it with `first`
   */
  previewImage?: Float32Array
}

/** Raw model outputs of one scale, for parity checks and debugging. */
export interface StepOutputs {
  si: number
  generation: number
  /** [2B, l, V] before guidance */
  logits: Float32Array
  /** [B, Cvae, HW, HW] after this scale */
  fHat: Float32Array
  /** [B, pn_next², Cvae] */
  nextTok: Float32Array
}

export interface CancelSignal {
  readonly aborted: boolean
}

export interface GenerateHooks {
  onScale?: (event: ScaleEvent) => void | Promise<void>
  onStep?: (outputs: StepOutputs) => void
  /** checked before every scale and before the decode; aborting throws CancelledError */
  signal?: CancelSignal
  /**
   * KDE to await at search scales (e.g. one that runs in a worker); defaults to the pure function.
   * `ids` of its input is a fresh copy that may be transferred; `codebook` must not be.
   */
  kde?: KdeFn
  /** clock in ms; defaults to performance.now() */
  now?: () => number
}

export interface ScaleSelection {
  si: number
  record: SelectionRecord
}

export interface ImageRecord {
  seed: number
  classId: number
  strategy: StrategyConfig
  sampling: SamplingParams
  /** per scale, the l ids of this image */
  tokenMaps: Int32Array[]
  selections: ScaleSelection[]
  /** best-of-n: the classifier's probability of the class for each generation, and the winner */
  bestOfN?: { scores: number[]; chosen: number }
}

export interface Timings {
  /** awaiting the runner (var_step, vq_step, decode, classifier) */
  modelMs: number
  /** everything else but hooks: guidance, filtering, draws, KDE, selection, bookkeeping */
  jsMs: number
  /** the part of jsMs spent awaiting the KDE */
  kdeMs: number
  /** awaiting onScale/onStep hooks */
  hookMs: number
  /** the part of modelMs spent on partial decodes the result did not need (previews) */
  previewMs: number
  totalMs: number
}

export interface GenerateResult {
  /** [B, C, H, W] in [0, 1] */
  images: Float32Array
  shape: [number, number, number, number]
  records: ImageRecord[]
  timings: Timings
}

/** Per-model constants of the loop, made once per manifest object. */
export interface Constants {
  S: number
  V: number
  C: number
  hw: number
  ups: Float32Array[]
  downs: Float32Array[]
  phiSel: Float32Array[]
}

const constantsCache = new WeakMap<VarManifest, Constants>()

export function constants(m: VarManifest): Constants {
  let c = constantsCache.get(m)
  if (!c) {
    const S = m.patch_nums.length
    c = {
      S,
      V: m.vocab_size,
      C: m.Cvae,
      hw: m.latent_hw,
      ups: m.up.map((a) => Float32Array.from(a)),
      downs: m.down.map((a) => Float32Array.from(a)),
      phiSel: m.phi_index.map((k) => {
        const sel = new Float32Array(m.phi_count)
        sel[k] = 1
        return sel
      }),
    }
    constantsCache.set(m, c)
  }
  return c
}

/** Throws a SettingsError listing every issue under `what`. */
export function refuse(issues: SettingsIssue[], what = 'invalid request'): never {
  throw new SettingsError(`${what}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, issues)
}

/**
 * Issues of the codebook and of per-scale token maps of B images (`path`[si] holds B * pn² ids, which
 * `size` names in the message).
 */
export function tokenMapIssues(
  m: VarManifest,
  k: Constants,
  codebook: Float32Array,
  maps: readonly ArrayLike<number>[] | undefined,
  B: number,
  path: string,
  size: string,
): SettingsIssue[] {
  const issues: SettingsIssue[] = []
  if (codebook.length !== k.V * k.C) {
    issues.push({ path: 'codebook', message: `must hold [vocab_size, Cvae] = ${k.V * k.C} values` })
  }
  if (!maps) return issues
  if (maps.length !== k.S) issues.push({ path, message: `must have one map per scale (${k.S})` })
  maps.forEach((ids, si) => {
    const l = (m.patch_nums[si] ?? 0) ** 2
    if (ids.length !== B * l)
      issues.push({ path: `${path}[${si}]`, message: `must hold ${size} = ${B * l} ids` })
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      if (!Number.isInteger(id) || id < 0 || id >= k.V) {
        issues.push({ path: `${path}[${si}][${i}]`, message: `must be a token id in [0, ${k.V - 1}]` })
        break
      }
    }
  })
  return issues
}

/** Checks classes, seeds, the codebook size and forced ids; throws a SettingsError naming each. */
export function checkRequest(
  m: VarManifest,
  codebook: Float32Array,
  req: GenerateRequest,
  k: Constants,
): void {
  const issues: SettingsIssue[] = []
  const B = req.classes.length
  if (B < 1) issues.push({ path: 'classes', message: 'must list at least one class' })
  req.classes.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= m.num_classes) {
      issues.push({ path: `classes[${i}]`, message: `must be a class id in [0, ${m.num_classes - 1}]` })
    }
  })
  if (req.seeds.length !== B) issues.push({ path: 'seeds', message: `must have one seed per image (${B})` })
  req.seeds.forEach((s, i) => {
    if (!Number.isSafeInteger(s) || s < 0) {
      issues.push({ path: `seeds[${i}]`, message: `must be an integer in [0, ${Number.MAX_SAFE_INTEGER}]` })
    }
  })
  if (req.previews !== undefined && !(PREVIEW_MODES as readonly unknown[]).includes(req.previews)) {
    issues.push({ path: 'previews', message: `must be one of ${PREVIEW_MODES.join(', ')}` })
  }
  issues.push(...tokenMapIssues(m, k, codebook, req.forcedIds, B, 'forcedIds', '[B, l]'))
  if (issues.length > 0) refuse(issues)
}
