/**
 * What a generation request holds and returns, the hooks it calls, and its validation. The loop
 * itself is in loop.ts.
 *
 * `generateRequestSchema` is the one schema of a generate request: the renderer's form, Electron
 * main's IPC boundary (`queue:add`), the inference host's protocol (`generate`), the CLI and the
 * engine's loop all check a request with it, with the bounds of limits.ts, and `generateRequestFor`
 * adds what needs the model (class ids, top_k against the vocabulary, search scales, the model's
 * batch bound, candidate ids kept per request).
 */
import { z } from 'zod'
import { formatIssuePath, type VarManifest } from '../manifest'
import type { KdeFn } from './kde'
import type { PreviewProjection } from './preview'
import {
  batchBytesPerImage,
  batchLimit,
  BATCH_BUDGET_BYTES,
  MAX_BATCH_SIZE,
  MAX_CANDIDATE_IDS,
  MAX_ITEMS,
  type ModelShape,
} from './limits'
import { SEED_MAX } from './rng'
import type { SamplingParams } from './sampling'
import type { SelectionRecord } from './selection'
import {
  samplingSchema,
  SettingsError,
  strategySchema,
  type SettingsIssue,
  type StrategyConfig,
  type StrategyConfigInput,
} from './strategies'

/**
 * Previews after every scale. `projection`: every image of the batch through the model's cheap
 * linear map from f_hat to pixels (preview.ts; `GenerateHooks.projection`), and where the model has
 * none, as `first`. `all` and `first` are full partial decodes: each runs the whole VAE decoder, as
 * costly as the final decode (2 s for a 256 px image on two cores), so `first` decodes only the
 * batch's first image, the one the live views follow. The last scale's decode is the result itself
 * and costs nothing extra in any mode.
 */
export const PREVIEW_MODES = ['projection', 'all', 'first', 'off'] as const
export type PreviewMode = (typeof PREVIEW_MODES)[number]

// ---------------------------------------------------------------------------------------------
// The request schema

const seedRange = `must be an integer in [0, ${SEED_MAX}]`
/** Any non-negative safe integer: the engine's PRNG takes them all exactly. */
export const seedSchema = z.number().int(seedRange).min(0, seedRange).max(SEED_MAX, seedRange)

/** A class id; `generateRequestFor` checks it against the model's classes. */
export const classIdSchema = z.number().int('must be an integer').min(0, 'must be >= 0')

export const itemSchema = z.strictObject({ classId: classIdSchema, seed: seedSchema })

/** One entry per image, at most `MAX_ITEMS`. */
export const itemsSchema = z
  .array(itemSchema)
  .min(1, 'must hold at least one image')
  .max(MAX_ITEMS, `must hold at most ${MAX_ITEMS} images (the bound on images per request, see limits.ts)`)

const batchRange = `must be in [1, ${MAX_BATCH_SIZE}] (images per model pass, see limits.ts)`
/** Images per model pass; `generateRequestFor` also applies the model's own bound (`batchLimit`). */
export const batchSizeSchema = z.number().int(batchRange).min(1, batchRange).max(MAX_BATCH_SIZE, batchRange)

/** Overrides of the manifest's sampling_defaults, with the engine's bounds. */
export const samplingOverridesSchema = samplingSchema.partial()
export type SamplingOverrides = z.infer<typeof samplingOverridesSchema>

/** The strategy, var-scaling with its defaults when left out. */
export const requestStrategySchema = strategySchema.prefault({ kind: 'var-scaling' })

/**
 * A generate request as every layer carries it (each adds its envelope: a model id, a folder and a
 * device, a seed policy). `batchSize` and `previews` are the host's and the engine's.
 */
export const generateRequestSchema = z.strictObject({
  items: itemsSchema,
  strategy: requestStrategySchema,
  sampling: samplingOverridesSchema.prefault({}),
  batchSize: batchSizeSchema.optional(),
  previews: z.enum(PREVIEW_MODES, { error: `must be one of ${PREVIEW_MODES.join(', ')}` }).optional(),
})
export type GenerateRequestInput = z.input<typeof generateRequestSchema>
export type GenerateRequestSpec = z.output<typeof generateRequestSchema>

/** What the refinement needs of a model: a manifest has it all, the renderer's model list all but `shape`. */
export interface ModelFacts {
  readonly id: string
  readonly numClasses: number
  readonly vocabSize: number
  readonly patchNums: readonly number[]
  /** for the model's batch bound; without it only `MAX_BATCH_SIZE` applies */
  readonly shape?: ModelShape
}

export function modelFacts(m: VarManifest): ModelFacts {
  return {
    id: m.id,
    numClasses: m.num_classes,
    vocabSize: m.vocab_size,
    patchNums: m.patch_nums,
    shape: m,
  }
}

export interface RequestIssue {
  readonly path: (string | number)[]
  readonly message: string
}

type Checked = Pick<GenerateRequestSpec, 'items' | 'strategy' | 'batchSize'> & {
  readonly sampling: Partial<SamplingParams>
}

/** Candidate token ids the request's images keep for their timelines: images · Σ N·l. */
export function candidateIds(strategy: StrategyConfig, patchNums: readonly number[], images: number): number {
  if (strategy.kind === 'baseline' || strategy.kind === 'best-of-n') return 0
  const perImage = [...new Set(strategy.searchScales)].reduce(
    (sum, si) => sum + strategy.N * (patchNums[si] ?? 0) ** 2,
    0,
  )
  return perImage * images
}

/** What is wrong with a (schema-valid) request for a model; empty when it fits. */
export function requestIssues(req: Checked, model: ModelFacts): RequestIssue[] {
  const issues: RequestIssue[] = []
  const n = model.numClasses
  req.items.forEach((item, i) => {
    if (item.classId >= n) {
      issues.push({
        path: ['items', i, 'classId'],
        message: `must be a class id in [0, ${n - 1}] (${item.classId} is not a class of ${model.id})`,
      })
    }
  })
  const topK = req.sampling.top_k
  if (topK !== undefined && topK > model.vocabSize) {
    issues.push({
      path: ['sampling', 'top_k'],
      message: `must be an integer in [0, ${model.vocabSize}] (the vocabulary size; 0 turns it off)`,
    })
  }
  const S = model.patchNums.length
  const s = req.strategy
  if (s.kind !== 'baseline' && s.kind !== 'best-of-n') {
    s.searchScales.forEach((si, i) => {
      if (si > S - 1) {
        issues.push({
          path: ['strategy', 'searchScales', i],
          message: `must be a scale index in [0, ${S - 1}] (this model has ${S} scales)`,
        })
      }
    })
  }
  if (req.batchSize !== undefined && model.shape) {
    const limit = batchLimit(model.shape)
    const batch = Math.min(req.batchSize, req.items.length)
    if (batch > limit) {
      const gb = (batchBytesPerImage(model.shape) / 1e9).toFixed(2)
      issues.push({
        path: ['batchSize'],
        message:
          `must be at most ${limit} for ${model.id}: a model pass holds ${gb} GB per image (KV cache and ` +
          `logits), and the bound is ${BATCH_BUDGET_BYTES / 1024 ** 3} GiB (see limits.ts)`,
      })
    }
  }
  const ids = candidateIds(s, model.patchNums, req.items.length)
  if (ids > MAX_CANDIDATE_IDS) {
    issues.push({
      path: ['strategy', 'N'],
      message:
        `${req.items.length} images with N = ${(s as { N: number }).N} keep ${ids} candidate token ids for ` +
        `their timelines, more than the bound of ${MAX_CANDIDATE_IDS} per request (see limits.ts): ` +
        'lower N or split the images over several requests',
    })
  }
  return issues
}

/** A request schema (this one, or a layer's envelope around it) refined against a model. */
export function forModel<T extends z.ZodType<Checked>>(schema: T, model: ModelFacts): T {
  return schema.superRefine((value, ctx) => {
    for (const issue of requestIssues(value, model)) {
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: value })
    }
  })
}

/** The request schema refined against a model (see `requestIssues`). */
export function generateRequestFor(model: ModelFacts): typeof generateRequestSchema {
  return forModel(generateRequestSchema, model)
}

/** The engine's batch: the same schema with the full sampling set (defaults already applied). */
const engineRequestSchema = generateRequestSchema.extend({ sampling: samplingSchema })

export interface GenerateRequest {
  /** class id of each of the B images */
  classes: readonly number[]
  /** seed of each image (its own PRNG stream) */
  seeds: readonly number[]
  sampling: SamplingParams
  strategy: StrategyConfigInput | StrategyConfig
  /** previews of f_hat after every scale, passed to `onScale` (default off) */
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
   * The preview with previews on: [B, C, H, W] with `all`, `projection` and at the last scale,
   * [1, C, H, W] (the batch's first image) before it with `first`
   */
  previewImage?: Float32Array
  /** how previewImage was made: the cheap projection, or the VAE decoder (always at the last scale) */
  previewKind?: PreviewKind
}

export type PreviewKind = 'projection' | 'decode'

/** Raw model outputs of one scale, for parity checks and debugging. */
export interface StepOutputs {
  si: number
  generation: number
  /** [2B, l, V] before guidance */
  logits: Float32Array
  /** [B, l, Cvae] the embeddings vq_step got: the token map's codebook rows, or more_smooth's mixtures */
  hTok: Float32Array
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
  /**
   * checked before every scale, after each image's candidate draws at a search scale, and before
   * the decode; aborting throws CancelledError
   */
  signal?: CancelSignal
  /**
   * Awaited after each image's candidate draws at a search scale, before the cancel check there.
   * The draws run without yielding, so a host passes one turn of its event loop here: a cancel that
   * arrived meanwhile is read within the scale, not after it.
   */
  betweenDraws?: () => Promise<void>
  /**
   * KDE to await at search scales (e.g. one that runs in a worker); defaults to the pure function.
   * `ids` of its input is a fresh copy that may be transferred; `codebook` must not be.
   */
  kde?: KdeFn
  /** clock in ms; defaults to performance.now() */
  now?: () => number
  /** the model's cheap preview map, for `previews: 'projection'` (without it, that mode acts as `first`) */
  projection?: PreviewProjection
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
  /**
   * time on previews the result did not need: partial decodes (part of modelMs) and projections
   * (part of jsMs)
   */
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

/** An engine issue's path: the engine's request lists `classes` and `seeds`, not `items`. */
function enginePath(path: readonly PropertyKey[]): string {
  const [head, i, field] = path
  if (head === 'items' && typeof i === 'number') return `${field === 'seed' ? 'seeds' : 'classes'}[${i}]`
  if (head === 'items' || head === 'batchSize') return 'classes'
  return formatIssuePath(path)
}

/**
 * Checks a batch against the model with the request schema (as `B` images in one pass, with the full
 * sampling set), then the codebook size and forced ids; throws a SettingsError naming each problem.
 * Returns the validated sampling and strategy (defaults filled in).
 */
export function checkRequest(
  m: VarManifest,
  codebook: Float32Array,
  req: GenerateRequest,
  k: Constants,
): { sampling: SamplingParams; strategy: StrategyConfig } {
  const B = req.classes.length
  if (req.seeds.length !== B) refuse([{ path: 'seeds', message: `must have one seed per image (${B})` }])
  const parsed = forModel(engineRequestSchema, modelFacts(m)).safeParse({
    items: req.classes.map((classId, i) => ({ classId, seed: req.seeds[i] })),
    strategy: req.strategy,
    sampling: req.sampling,
    batchSize: Math.max(1, B),
    ...(req.previews !== undefined ? { previews: req.previews } : {}),
  })
  const issues: SettingsIssue[] = parsed.success
    ? []
    : parsed.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((key) => ({ path: formatIssuePath([...i.path, key]), message: 'unknown setting' }))
          : [{ path: enginePath(i.path), message: i.message }],
      )
  issues.push(...tokenMapIssues(m, k, codebook, req.forcedIds, B, 'forcedIds', '[B, l]'))
  if (!parsed.success || issues.length > 0) refuse(issues)
  return { sampling: parsed.data.sampling, strategy: parsed.data.strategy }
}
