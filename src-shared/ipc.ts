/**
 * The one typed contract between the renderer and whichever host serves it: Electron main (over
 * `ipcRenderer.invoke`) or the web host (over a WebSocket on 127.0.0.1). The renderer cannot tell
 * them apart: both implement every channel below and push the same events.
 *
 * - Calls: one channel name per entry, a single argument object validated with zod by the host
 *   (the receiving side), and a result type. Everything is JSON-safe (no typed arrays), so the same
 *   payload crosses structured clone and JSON alike.
 * - Events: pushed by the host, validated with zod by the renderer (the receiving side).
 * - Errors: `{ name, message, field? }`; the renderer shows `message`, which always says what was
 *   wrong and, where it can, what to do.
 */
import { z } from 'zod'
import type { VarManifest } from './manifest'
import type { SearchDefaults } from './engine/calibration'
import {
  batchSizeSchema,
  classIdSchema,
  generateRequestSchema,
  PREVIEW_MODES,
  requestStrategySchema,
  samplingOverridesSchema,
  seedSchema,
} from './engine/request'
import { deviceSchema } from './protocol'
import { sweepSpecSchema, type SweepMetricRow, type SweepPlan, type SweepSpec } from './sweep'

/** A type with every property and array element read-only, for the views derived from schemas. */
export type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T

// ---------------------------------------------------------------------------------------------
// Shared pieces

const id = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters')
const classId = classIdSchema
/** A base64 payload up to 16 MiB decoded (a batch file larger than that is refused by the host). */
const base64 = z.string().max(22_400_000, 'file is larger than 16 MiB')

export const THEMES = ['system', 'dark', 'light'] as const
export const SEED_POLICIES = ['fixed', 'increment', 'random'] as const
export type SeedPolicy = (typeof SEED_POLICIES)[number]

/** Settings kept by the host (electron-store in the app, a JSON file for the web host). */
export const settingsSchema = z.strictObject({
  theme: z.enum(THEMES).default('system'),
  /** where runs, the history database and exports go; empty = the host's default */
  outputDir: z.string().default(''),
  /** embed `parameters` + JSON chunks in every PNG written */
  embedMetadata: z.boolean().default(true),
  /**
   * previews after every scale for the live views and the Timeline: `projection`, every image through
   * the model's cheap preview map (preview.json; as `first` where the model has none), or full
   * partial decodes, each a whole VAE decode, so `first` (the batch's first image, the one the live
   * views show) keeps their cost from growing with the batch
   */
  previews: z.enum(PREVIEW_MODES).default('projection'),
  device: deviceSchema.prefault({}),
  /** images per model pass (the request schema's bound; the host also applies the model's own) */
  batchSize: batchSizeSchema.default(16),
  /** the model the Generate view starts with; empty = the shipped model */
  defaultModel: z.string().default(''),
})
export type Settings = z.output<typeof settingsSchema>
export const settingsPatchSchema = settingsSchema.partial()

/**
 * Settings as stored by earlier versions, where `previews` was on or off: on becomes `first` (what the
 * live views showed), off stays off.
 */
export const storedSettingsSchema = settingsSchema.extend({
  previews: z
    .preprocess((v) => (v === true ? 'first' : v === false ? 'off' : v), z.enum(PREVIEW_MODES))
    .default('projection'),
})
export type SettingsPatch = z.input<typeof settingsPatchSchema>

/**
 * One generation job: B images of one model under one strategy. It is the request schema of
 * engine/request.ts (items, strategy, sampling, with its bounds) in the queue's envelope; main
 * refines it against the model's manifest (`generateRequestFor`) before queueing.
 */
export const jobSpecSchema = generateRequestSchema.omit({ batchSize: true, previews: true }).extend({
  modelId: id,
  seedPolicy: z.enum([...SEED_POLICIES, 'batch']),
  label: z.string().max(200).optional(),
  /** where the job came from (shown in the queue, recorded in the run) */
  source: z
    .strictObject({
      kind: z.enum(['generate', 'compare', 'batch', 'rerun']),
      file: z.string().max(500).optional(),
      line: z.number().int().min(0).optional(),
    })
    .optional(),
})
export type JobSpec = z.input<typeof jobSpecSchema>

/** A dropped or chosen batch file: its bytes (web and Electron) or, in Electron only, a path. */
export const batchSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('content'), name: z.string().min(1).max(500), base64 }),
  z.strictObject({ kind: z.literal('path'), path: z.string().min(1).max(4096) }),
])

/**
 * A PNG to read the parameters of (PNG Info): its bytes, base64 and at most 16 MiB (web and
 * Electron), or in Electron only a path. The host reads it as untrusted input.
 */
export const pngSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('content'), name: z.string().min(1).max(500), base64 }),
  z.strictObject({ kind: z.literal('path'), path: z.string().min(1).max(4096) }),
])

export const batchDefaultsSchema = z.strictObject({
  modelId: id,
  /** strategy for rows that name none */
  strategy: requestStrategySchema,
  sampling: samplingOverridesSchema.prefault({}),
  /** seeds for rows without one: fixed = baseSeed, increment = baseSeed + i, random = drawn now */
  seedPolicy: z.enum(SEED_POLICIES),
  baseSeed: seedSchema.default(0),
})

export const historyFilterSchema = z.strictObject({
  classId: classId.optional(),
  strategy: z.string().max(40).optional(),
  modelId: z.string().max(200).optional(),
  /** only images of this (class, seed) pair, e.g. a comparison */
  seed: seedSchema.optional(),
  limit: z.number().int().min(1).max(10_000).default(500),
})

export const GRID_AXES = ['class', 'seed', 'strategy', 'N'] as const
export type GridAxis = (typeof GRID_AXES)[number]

export const gridSpecSchema = z.strictObject({
  rows: z.enum(GRID_AXES),
  columns: z.enum(GRID_AXES),
  /** the images to lay out (from history); cells with no image stay blank and are labelled */
  imageIds: z.array(id).min(1, 'choose at least one image').max(2000, 'at most 2000 images per grid'),
  title: z.string().max(200).optional(),
  /** integer upscale of each tile (28 px tiles are hard to see) */
  scale: z.number().int().min(1, 'must be in [1, 16]').max(16, 'must be in [1, 16]').default(4),
  /** embed parameters; defaults to the setting */
  embedMetadata: z.boolean().optional(),
  /** a path from the native save dialog (Electron); the web host writes into the output folder */
  path: z.string().min(1).max(4096).optional(),
})
export type GridSpec = z.input<typeof gridSpecSchema>

// ---------------------------------------------------------------------------------------------
// Calls: argument schemas (validated by the host)

const none = z.strictObject({})

export const callSchemas = {
  'app:info': none,
  'settings:get': none,
  'settings:set': settingsPatchSchema,
  'models:list': none,
  /** registers a model folder: validates manifest, files, shapes and hashes (progress: models:progress) */
  'models:add': z.strictObject({ dir: z.string().min(1).max(4096) }),
  'models:remove': z.strictObject({ id }),
  /**
   * The models directory, whose model subfolders are listed without registering: absent `dir` reads
   * it, a path sets it (created when missing), null forgets it (the folders stay on disk)
   */
  'models:dir': z.strictObject({
    dir: z.string().min(1, 'must not be empty').max(4096).nullable().optional(),
  }),
  /** one model's details: its list entry plus the manifest's architecture, files and source */
  'models:show': z.strictObject({ id }),
  /**
   * Calibrates a model's search defaults on the inference host (progress: models:progress, phase
   * `calibrate`) and stores them in calibration.json in its folder; answers the model's new list entry
   */
  'models:calibrate': z.strictObject({
    id,
    /** the default search scale (default 1) */
    scale: z.number().int().min(0).max(63).optional(),
    /** the cfg measured (default: the model's) */
    cfg: z.number().min(0).max(100).optional(),
    /** share of rows that take Top-k, in (0, 1) */
    topkShare: z.number().gt(0, 'must be in (0, 1)').lt(1, 'must be in (0, 1)').optional(),
  }),
  'diagnostics:get': none,
  'queue:get': none,
  'queue:add': z.strictObject({ jobs: z.array(jobSpecSchema).min(1).max(1000) }),
  'queue:cancel': z.strictObject({ jobId: id }),
  /** moves a queued job to the front */
  'queue:runNext': z.strictObject({ jobId: id }),
  /** queues a failed or cancelled job again for the images it did not finish (same seeds) */
  'queue:resume': z.strictObject({ jobId: id }),
  /** pause after the running job finishes / resume */
  'queue:pause': z.strictObject({ paused: z.boolean() }),
  /** removes every queued job and the finished ones from the list; the running job is left alone */
  'queue:clear': none,
  'history:list': historyFilterSchema.prefault({}),
  'history:timeline': z.strictObject({ imageId: id }),
  /** decodes the partial images an image's timeline lacks (from its token maps) and keeps them in it */
  'history:decodeScales': z.strictObject({ imageId: id }),
  /** removes the image file and its record */
  'history:delete': z.strictObject({ imageId: id }),
  /** a PNG as a data URL: the image itself, or one scale's preview from the timeline */
  'image:get': z.strictObject({ imageId: id }),
  /** parameters of a past image, read back from its PNG, to load into the Generate view */
  'image:params': z.strictObject({ imageId: id }),
  /**
   * PNG Info: the parameters a PNG carries (the studio's exact JSON chunk, else A1111-style
   * `parameters` text) and what of them can be loaded into Generate; `modelId` is the model whose
   * class names a prompt is matched to when the PNG names no installed model
   */
  'png:info': z.strictObject({ source: pngSourceSchema, modelId: z.string().max(200).optional() }),
  'batch:parse': z.strictObject({ source: batchSourceSchema, modelId: id }),
  /** parses again on the host (never trusts a parsed table) and queues the valid rows only */
  'batch:queue': z.strictObject({ source: batchSourceSchema, defaults: batchDefaultsSchema }),
  'export:grid': gridSpecSchema,
  /** native save dialog (Electron); the web host answers `{ path: null, cancelled: false }` */
  'dialog:savePath': z.strictObject({ defaultName: z.string().min(1).max(255) }),
  /** native folder chooser (Electron); the web host answers `{ path: null }` */
  'dialog:chooseFolder': z.strictObject({ title: z.string().max(200).optional() }),
  /** opens the output folder, the logs folder or a file's folder in the OS (Electron only) */
  'shell:open': z.strictObject({ what: z.enum(['output', 'logs', 'models']) }),
  /** plans a sweep (src-shared/sweep.ts) and queues one job per distinct cell */
  'experiments:run': sweepSpecSchema,
  'experiments:list': none,
  'experiments:get': z.strictObject({ sweepId: id }),
} as const

export type IpcChannel = keyof typeof callSchemas
export type IpcArgs<C extends IpcChannel> = z.input<(typeof callSchemas)[C]>
export type IpcParsedArgs<C extends IpcChannel> = z.output<(typeof callSchemas)[C]>
export const IPC_CHANNELS = Object.keys(callSchemas) as IpcChannel[]

// ---------------------------------------------------------------------------------------------
// Results

export interface AppInfo {
  readonly name: string
  readonly version: string
  readonly platform: string
  /** 'electron' or 'web': for the About box and diagnostics only; views never branch on it */
  readonly host: 'electron' | 'web'
  readonly versions: { readonly electron?: string; readonly chrome?: string; readonly node: string }
  readonly outputDir: string
  /** the folder this host writes its log files into, when it knows it */
  readonly logsDir?: string
}

export interface ModelView {
  readonly id: string
  readonly displayName: string
  readonly dir: string
  readonly origin: 'shipped' | 'user'
  readonly ok: boolean
  readonly error?: string
  readonly classNames: readonly string[]
  readonly imageSize: number
  readonly imageChannels: number
  readonly patchNums: readonly number[]
  readonly vocabSize: number
  readonly samplingDefaults: { readonly cfg: number; readonly top_k: number; readonly top_p: number }
  readonly bytes: number
  /**
   * alpha, dedup and the search scale strategies use when the form leaves them to the model: its
   * calibration (calibration.json beside it), else the paper's constants; `source` says which
   */
  readonly searchDefaults?: SearchDefaults
}

/** What the manifest says about a model, for the details panel. */
export interface ModelManifestFacts {
  readonly format: string
  readonly depth: number
  readonly embedDim: number
  readonly numHeads: number
  readonly headDim: number
  readonly numClasses: number
  readonly vocabSize: number
  readonly patchNums: readonly number[]
  readonly imageSize: number
  readonly imageChannels: number
  /** how the graphs store their weights (float16 is computed in float32, int8 in int8); absent = float32 */
  readonly weightDtype?: VarManifest['weight_dtype']
  /** where the folder came from: `kind`, the checkpoints it was exported from, and free-form notes */
  readonly source?: {
    readonly kind: string
    readonly files?: readonly { readonly name: string; readonly sha256: string; readonly bytes: number }[]
    readonly notes: Readonly<Record<string, string | number>>
  }
  /** every file the manifest lists, with its size and expected sha256 */
  readonly files: readonly { readonly name: string; readonly bytes: number; readonly sha256: string }[]
}

export interface ModelDetails extends ModelView {
  /** how the model got into the list; only a `registered` one can be removed */
  readonly listedBy: 'shipped' | 'registered' | 'models-dir'
  /** when a registered folder was added */
  readonly addedAt?: string
  /** absent when the manifest cannot be read (then `error` says why) */
  readonly manifest?: ModelManifestFacts
}

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const
export type JobState = (typeof JOB_STATES)[number]

/** A running job's position (scale i of S, 0-based; 1-based display is the renderer's business). */
export type JobProgressView = DeepReadonly<z.infer<typeof progressViewSchema>>

/** A job as the queue shows it. */
export type JobView = DeepReadonly<z.infer<typeof jobViewSchema>>

/** The queue as `queue:get` answers it and `queue:changed` pushes it. */
export type QueueSnapshot = DeepReadonly<z.infer<typeof queueSnapshotSchema>>

/** A recorded image, as `history:list` returns it and `history:changed` pushes it. */
export const imageEntrySchema = z.strictObject({
  id,
  jobId: id,
  modelId: z.string(),
  classId: z.number().int().min(0),
  className: z.string(),
  seed: z.number().int().min(0),
  strategyKind: z.string(),
  /** the full strategy config the engine ran (knobs with defaults filled in) */
  strategy: z.record(z.string(), z.unknown()),
  sampling: z.strictObject({
    cfg: z.number(),
    top_k: z.number(),
    top_p: z.number(),
    more_smooth: z.boolean().optional(),
  }),
  /** candidates per search scale (1 for baseline), the grid's N axis */
  N: z.number().int().min(1),
  provider: z.string(),
  createdAt: z.string(),
  file: z.string(),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  /** A1111-style parameters text as embedded in the PNG */
  parameters: z.string(),
})

/** One recorded image: what the history index keeps and the views list. */
export type ImageEntry = Readonly<z.infer<typeof imageEntrySchema>>

/** One search scale as the studio charts it (made by the inference host, see selectionViewSchema). */
export type SelectionView = DeepReadonly<z.infer<typeof selectionViewSchema>>

export interface TimelineScale {
  readonly si: number
  readonly pn: number
  readonly tokens: readonly number[]
  /** preview of f_hat after this scale (PNG data URL) when previews were on */
  readonly preview?: string
  /** how `preview` was made: the model's cheap projection, or the VAE decoder (left out: decoder) */
  readonly previewKind?: 'projection' | 'decode'
}

export interface Timeline {
  readonly imageId: string
  readonly vocabSize: number
  readonly scales: readonly TimelineScale[]
  readonly selections: readonly SelectionView[]
}

export interface BatchRowView {
  /** 1-based line in the file */
  readonly line: number
  /** 1-based position in a JSON or YAML list, when other rows share its line */
  readonly row?: number
  readonly ok: boolean
  /** what the row said, for the table */
  readonly input: string
  readonly classId?: number
  readonly className?: string
  /** a prompt's category spread over its classes (`category: spread`): the images take them in turn */
  readonly classIds?: readonly number[]
  readonly seed?: number
  readonly count: number
  readonly strategy?: string
  readonly error?: string
  /** how a class name or prompt was read, e.g. `"sneker" read as "Sneaker" (1 edit)` */
  readonly match?: string
}

export interface BatchTable {
  readonly file: string
  readonly format: 'csv' | 'json' | 'yaml' | 'txt'
  readonly rows: readonly BatchRowView[]
  readonly valid: number
  readonly invalid: number
  /** a problem with the whole file (not UTF-8, too large, not a batch file, a YAML bomb) */
  readonly fileError?: string
}

export interface BatchQueued {
  readonly table: BatchTable
  readonly jobIds: readonly string[]
  /** the seed of every queued image, decided before the run */
  readonly seeds: readonly number[]
}

export interface GridExport {
  readonly path: string
  readonly recordPath: string
  readonly width: number
  readonly height: number
  readonly rows: number
  readonly columns: number
  /** the grid as a data URL, so the web host can offer it as a download */
  readonly dataUrl: string
}

export interface Diagnostics {
  readonly platform: string
  readonly arch: string
  readonly versions: Readonly<Record<string, string>>
  readonly ladder: readonly string[]
  readonly backends: readonly { readonly name: string; readonly bundled: boolean }[]
  readonly device: Settings['device']
  /** the last job's provider report and timings */
  readonly lastRun?: {
    readonly jobId: string
    readonly provider: string
    readonly requested: string
    readonly attempts: readonly {
      readonly provider: string
      readonly ok: boolean
      readonly reason?: string
    }[]
    readonly fallbackNote?: string
    readonly timings: Readonly<Record<string, number>>
  }
}

export interface ImageParams {
  readonly modelId: string
  readonly classId: number
  readonly seed: number
  readonly strategy: Readonly<Record<string, unknown>>
  readonly sampling: {
    readonly cfg: number
    readonly top_k: number
    readonly top_p: number
    readonly more_smooth?: boolean
  }
  readonly parameters: string
}

/** What of a PNG's parameters the Generate form can take (only what the PNG says). */
export interface PngLoad {
  /** an installed model the PNG names */
  readonly modelId?: string
  readonly classId?: number
  readonly seed?: number
  readonly strategy?: Readonly<Record<string, unknown>>
  readonly sampling?: {
    readonly cfg?: number
    readonly top_k?: number
    readonly top_p?: number
    readonly more_smooth?: boolean
  }
}

/** A PNG's parameters as PNG Info shows them. */
export interface PngInfo {
  readonly file: string
  readonly width: number
  readonly height: number
  /** `var-studio`: the studio's exact JSON chunk; `parameters`: A1111-style text; `none`: neither */
  readonly from: 'var-studio' | 'parameters' | 'none'
  /** the `parameters` text as written */
  readonly parameters?: string
  /** the parameters read as fields: Prompt, Negative prompt, then each `Key: value` */
  readonly fields: readonly { readonly key: string; readonly value: string }[]
  /** other text chunks (keyword and text, long texts cut) */
  readonly texts: readonly { readonly keyword: string; readonly text: string }[]
  /** what Generate can load; absent when the PNG says nothing it can use */
  readonly load?: PngLoad
  /** how fields were read or why some were left out ("prompt read as ...", "model ... is not installed") */
  readonly notes: readonly string[]
}

export type SweepCellState = JobState | 'reused' | 'missing'

/** A sweep as the Experiments list shows it. */
export interface SweepSummary {
  readonly id: string
  readonly label: string
  readonly modelId: string
  readonly createdAt: string
  /** distinct cells (each one queued job) and how many are finished */
  readonly cells: number
  readonly done: number
  /** running: cells queued or running; done: every cell finished; stopped: a cell failed or was cancelled */
  readonly state: 'running' | 'done' | 'stopped'
}

/** One sweep with its plan, the state of every cell, and once finished its grids and metrics. */
export interface SweepDetail extends SweepSummary {
  readonly spec: SweepSpec
  readonly plan: SweepPlan
  readonly cellList: readonly {
    readonly index: number
    readonly label: string
    readonly hash: string
    readonly jobId: string
    readonly state: SweepCellState
    readonly made: number
    readonly total: number
  }[]
  /** per distinct cell; null until every cell is finished, or for a model without a classifier */
  readonly metrics: readonly SweepMetricRow[] | null
  /** what the metrics are, or why there are none yet */
  readonly metricsNote: string
  readonly grids: readonly { readonly name: string; readonly title: string; readonly dataUrl: string }[]
  /** where the sweep's files are (sweep.json, metrics.*, grids) */
  readonly folder: string
}

export interface IpcResults {
  'app:info': AppInfo
  'settings:get': Settings
  'settings:set': Settings
  'models:list': ModelView[]
  'models:add': ModelView
  'models:remove': { removed: boolean }
  'models:dir': { dir: string | null }
  'models:show': ModelDetails
  'models:calibrate': ModelView
  'diagnostics:get': Diagnostics
  'queue:get': QueueSnapshot
  'queue:add': { jobIds: string[] }
  'queue:cancel': { cancelled: boolean }
  'queue:runNext': { moved: boolean }
  'queue:resume': { resumed: boolean }
  'queue:pause': QueueSnapshot
  'queue:clear': { removed: number }
  'history:list': ImageEntry[]
  'history:timeline': Timeline
  'history:decodeScales': Timeline
  'history:delete': { deleted: boolean }
  'image:get': { dataUrl: string }
  'image:params': ImageParams
  'png:info': PngInfo
  'batch:parse': BatchTable
  'batch:queue': BatchQueued
  'export:grid': GridExport
  /** `cancelled`: the user closed the native dialog (nothing should be written) */
  'dialog:savePath': { path: string | null; cancelled: boolean }
  'dialog:chooseFolder': { path: string | null }
  /** `path`: the folder asked for, to show where a host that cannot open folders keeps it */
  'shell:open': { opened: boolean; path?: string }
  'experiments:run': { sweepId: string; jobIds: string[] }
  'experiments:list': SweepSummary[]
  'experiments:get': SweepDetail
}
export type IpcResult<C extends IpcChannel> = IpcResults[C]

// ---------------------------------------------------------------------------------------------
// Events: pushed by the host, validated by the renderer

export const progressViewSchema = z.strictObject({
  /** scale i of S */
  si: z.number().int().min(0),
  S: z.number().int().min(1),
  batch: z.number().int().min(0),
  batches: z.number().int().min(1),
  generation: z.number().int().min(0),
  generations: z.number().int().min(1),
  /** images finished so far */
  done: z.number().int().min(0),
})

export const jobViewSchema = z.strictObject({
  id,
  state: z.enum(JOB_STATES),
  modelId: z.string(),
  label: z.string(),
  strategyKind: z.string(),
  count: z.number().int().min(0),
  classIds: z.array(z.number().int()),
  seeds: z.array(z.number()),
  seedPolicy: z.string(),
  source: z
    .strictObject({ kind: z.string(), file: z.string().optional(), line: z.number().optional() })
    .optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  progress: progressViewSchema.optional(),
  error: z.string().optional(),
  imageIds: z.array(z.string()),
})

export const queueSnapshotSchema = z.strictObject({
  jobs: z.array(jobViewSchema),
  paused: z.boolean(),
  runningId: z.string().nullable(),
})

/**
 * The numbers of one search scale as the studio charts them: the sampler's densities, branch, scan
 * order, kept set and pick, the candidates' token maps [N][pn*pn], and a 2-D PCA projection of each
 * candidate's embedded features [N][2] with the variance share of each axis. The inference host makes
 * it (it holds the codebook); main stores and forwards it, the renderer checks what it charts.
 */
export const selectionViewSchema = z.strictObject({
  si: z.number().int().min(0),
  pn: z.number().int().min(0),
  N: z.number().int().min(1),
  densities: z.array(z.number()),
  ratio: z.number(),
  alpha: z.number(),
  branch: z.enum(['top-k', 'random-k']),
  order: z.array(z.number().int()),
  kept: z.array(z.number().int()),
  probs: z.array(z.number()),
  chosen: z.number().int(),
  chosenProb: z.number(),
  candidates: z.array(z.array(z.number().int())),
  projection: z.array(z.tuple([z.number(), z.number()])),
  explained: z.tuple([z.number(), z.number()]),
  /** the largest L2 distance between two distinct candidate maps (what dedup is compared with) */
  distanceMax: z.number().optional(),
})

export const eventSchemas = {
  'queue:changed': queueSnapshotSchema,
  /**
   * One finished scale of the running job, for the live views, which follow the batch's first image
   * (at `itemOffset`): its token map, its preview when previews are on, and its selection at a search
   * scale. (Arrays of one, so a later host may send more.)
   */
  'job:scale': z.strictObject({
    jobId: id,
    progress: progressViewSchema,
    pn: z.number().int().min(1),
    /** first image of the batch within the job */
    itemOffset: z.number().int().min(0),
    tokens: z.array(z.array(z.number().int())),
    previews: z.array(z.string()).optional(),
    /** how the previews were made: the model's cheap projection, or the VAE decoder */
    previewKind: z.enum(['projection', 'decode']).optional(),
    /** why the model's preview.json is not used (full partial decodes apply) */
    previewNote: z.string().optional(),
    /** at a search scale: the first image's selection, so the live timeline shows its candidates */
    selection: selectionViewSchema.optional(),
  }),
  /**
   * Images recorded (with their entries, so a view can add them without listing the history again)
   * and removed. Both empty: the output folder changed and the whole list is another one.
   */
  'history:changed': z.strictObject({ added: z.array(imageEntrySchema), removed: z.array(z.string()) }),
  /** history:decodeScales: how many of an image's scales are decoded so far */
  'history:decodeProgress': z.strictObject({
    imageId: id,
    done: z.number().int().min(0),
    scales: z.number().int().min(1),
  }),
  'settings:changed': settingsSchema,
  'models:progress': z.strictObject({
    dir: z.string(),
    phase: z.string(),
    file: z.string(),
    fraction: z.number().min(0).max(1),
  }),
  /** a sweep's cells moved on, or its metrics and grids are ready */
  'experiments:changed': z.strictObject({ sweepId: id }),
  /** menu items and shortcuts of the Electron shell (the web page binds the same keys itself) */
  'menu:command': z.strictObject({ command: z.enum(['generate', 'run-next', 'settings', 'open-batch']) }),
} as const

export type IpcEvent = keyof typeof eventSchemas
export type IpcEventData<E extends IpcEvent> = z.output<(typeof eventSchemas)[E]>

/** What crosses the boundary when a call fails. */
export interface IpcErrorPayload {
  readonly name: string
  readonly message: string
  readonly field?: string
}

// ---------------------------------------------------------------------------------------------
// The API both hosts expose to the renderer, and the web host's wire messages

/** What the renderer gets from `getStudioApi()`, whichever host serves it. */
export interface StudioBridge {
  invoke<C extends IpcChannel>(channel: C, args: IpcArgs<C>): Promise<IpcResult<C>>
  on<E extends IpcEvent>(event: E, listener: (data: IpcEventData<E>) => void): () => void
}

export const wireCallSchema = z.strictObject({
  type: z.literal('call'),
  id: z.number().int().min(0),
  channel: z.string().min(1).max(100),
  args: z.unknown(),
})
export type WireCall = z.infer<typeof wireCallSchema>

export type WireReply =
  | { readonly type: 'result'; readonly id: number; readonly result: unknown }
  | { readonly type: 'error'; readonly id: number; readonly error: IpcErrorPayload }
  | { readonly type: 'event'; readonly event: IpcEvent; readonly data: unknown }

export const wireReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('result'), id: z.number().int(), result: z.unknown() }),
  z.strictObject({
    type: z.literal('error'),
    id: z.number().int(),
    error: z.strictObject({ name: z.string(), message: z.string(), field: z.string().optional() }),
  }),
  z.strictObject({ type: z.literal('event'), event: z.string(), data: z.unknown() }),
])

export function isIpcChannel(value: string): value is IpcChannel {
  return Object.hasOwn(callSchemas, value)
}

export function isIpcEvent(value: string): value is IpcEvent {
  return Object.hasOwn(eventSchemas, value)
}
