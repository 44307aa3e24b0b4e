/**
 * The request protocol between a client (CLI, web host, Electron main) and the inference host.
 * Every call has an id; cancel is its own message; progress arrives as events carrying the call's id;
 * errors cross as `{ name, message, stack }` and are rebuilt as the named classes of ./errors.
 *
 *   client -> host   { id, method, params }
 *   host -> client   { id, result } | { id, error } | { id, event: 'progress', data } | { event: 'ready', data }
 *
 * The host validates every request with the schemas below; the client checks the envelope of
 * every message it receives. Tensors travel as typed arrays (structured clone), never as JSON lists.
 */
import { z } from 'zod'
import {
  CancelledError,
  GraphContractError,
  HostCrashedError,
  InferenceError,
  InvalidRequestError,
  ManifestError,
  type ManifestIssue,
  ModelLoadError,
  type ProviderAttempt,
  ProviderError,
  ProtocolError,
  StudioError,
} from './errors'
import type { ImageRecord, Timings } from './engine/loop'
import { batchSizeSchema, generateRequestSchema, PREVIEW_MODES, type PreviewKind } from './engine/request'
import type { SamplingParams as EngineSampling } from './engine/sampling'
import { SettingsError, type StrategyConfig } from './engine/strategies'
import type { SelectionView } from './ipc'
import type { SearchSummary } from './engine/search-summary'
import type { GraphName, VarManifest } from './manifest'

export const requestIdSchema = z.string().min(1).max(200)

/** Execution providers onnxruntime-node 1.30 ships (CUDA only on Linux x64, DirectML only on Windows). */
export const PROVIDER_NAMES = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const
export type ProviderName = (typeof PROVIDER_NAMES)[number]

export const deviceSchema = z.strictObject({
  /** `auto` walks the platform's ladder; a named provider overrides it. */
  provider: z.enum(['auto', ...PROVIDER_NAMES]).default('auto'),
  /** GPU index for cuda and dml. */
  deviceId: z.number().int().min(0).max(63).optional(),
  /** With an explicit provider: fall back to cpu when it fails (and say so) instead of failing. */
  fallback: z.boolean().default(false),
})
export type DeviceChoice = z.infer<typeof deviceSchema>

export { seedSchema, samplingOverridesSchema, type SamplingOverrides } from './engine/request'

const dirSchema = z.string().min(1, 'must name a model folder')

export const paramSchemas = {
  'host.info': z.strictObject({}),
  'models.list': z.strictObject({
    /** User folders: each is a model folder or a folder of model folders. */
    dirs: z.array(z.string().min(1)).default([]),
    includeShipped: z.boolean().default(true),
  }),
  'models.inspect': z.strictObject({ dir: dirSchema }),
  'models.verify': z.strictObject({
    dir: dirSchema,
    hashes: z.boolean().default(true),
    /** Open every graph (on cpu) and check its inputs and outputs against the manifest. */
    graphs: z.boolean().default(true),
    /** Ignore cached hashes. */
    force: z.boolean().default(false),
  }),
  /**
   * The request schema of engine/request.ts in the host's envelope; the host refines it against the
   * model it loads (`generateRequestFor`), as every other layer does.
   */
  generate: generateRequestSchema.extend({
    dir: dirSchema,
    device: deviceSchema.prefault({}),
    /** Images per model pass. */
    batchSize: batchSizeSchema.default(16),
    /** Previews after every scale, sent with the progress events (see PreviewMode). */
    previews: z.enum(PREVIEW_MODES).default('off'),
  }),
  /** Runs the model's classifier on images [count, C, H, W] in [0, 1] (evaluation metrics). */
  classify: z.strictObject({
    dir: dirSchema,
    device: deviceSchema.prefault({}),
    images: z.instanceof(Float32Array, { error: 'must be a Float32Array' }),
    count: z.number().int().min(1, 'must be in [1, 100000]').max(100_000, 'must be in [1, 100000]'),
    /** Images per classifier pass. */
    batchSize: z.number().int().min(1, 'must be in [1, 4096]').max(4096, 'must be in [1, 4096]').default(500),
  }),
  /**
   * Runs a user-supplied feature network (an Inception-v3 exported to ONNX, for FID, IS, precision and
   * recall) on images [count, channels, height, width] in [0, 1]; see src-main/host/ort/feature-net.ts.
   */
  features: z.strictObject({
    file: z.string().min(1, 'must name an .onnx file'),
    device: deviceSchema.prefault({}),
    images: z.instanceof(Float32Array, { error: 'must be a Float32Array' }),
    count: z.number().int().min(1, 'must be in [1, 100000]').max(100_000, 'must be in [1, 100000]'),
    channels: z.number().int().min(1, 'must be 1 or 3').max(3, 'must be 1 or 3'),
    height: z.number().int().min(1, 'must be in [1, 4096]').max(4096, 'must be in [1, 4096]'),
    width: z.number().int().min(1, 'must be in [1, 4096]').max(4096, 'must be in [1, 4096]'),
    /** Images per network pass. */
    batchSize: z.number().int().min(1, 'must be in [1, 1024]').max(1024, 'must be in [1, 1024]').default(50),
  }),
  /** Partial decodes of one image after every scale, from its token maps (one [pn²] map per scale). */
  decodeScales: z.strictObject({
    dir: dirSchema,
    device: deviceSchema.prefault({}),
    tokenMaps: z
      .array(
        z.array(z.number().int('must hold integer token ids')).max(1 << 16, 'must hold at most 65536 ids'),
      )
      .min(1, 'must hold one map per scale')
      .max(64, 'must hold one map per scale'),
  }),
  cancel: z.strictObject({ id: requestIdSchema }),
} as const

export type HostMethod = keyof typeof paramSchemas
export const HOST_METHODS = Object.keys(paramSchemas) as HostMethod[]

/** What a caller passes (defaults may be left out). */
export type ParamsIn<M extends HostMethod> = z.input<(typeof paramSchemas)[M]>
/** What the host works with after validation. */
export type Params<M extends HostMethod> = z.output<(typeof paramSchemas)[M]>

export interface FileCheck {
  readonly name: string
  readonly ok: boolean
  readonly kind?: 'missing' | 'not-a-file' | 'size' | 'hash'
  readonly problem?: string
  /** Whether the sha256 came from the cache (path, size and mtime unchanged). */
  readonly cached?: boolean
}

export interface ModelSummary {
  readonly dir: string
  readonly origin: 'shipped' | 'user'
  readonly ok: boolean
  readonly id?: string
  readonly displayName?: string
  readonly numClasses?: number
  readonly imageSize?: number
  readonly imageChannels?: number
  readonly bytes?: number
  readonly error?: WireError
}

export interface ModelInspectResult {
  readonly dir: string
  readonly manifest: VarManifest
  readonly files: readonly FileCheck[]
}

export interface TensorInfo {
  readonly name: string
  readonly type: string
  readonly shape: readonly (number | string)[]
}

export interface GraphCheck {
  readonly graph: GraphName
  readonly file: string
  readonly ok: boolean
  readonly issues: readonly ManifestIssue[]
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
  readonly error?: WireError
}

export interface ModelVerifyResult {
  readonly dir: string
  readonly id: string
  readonly ok: boolean
  readonly files: readonly FileCheck[]
  readonly graphs: readonly GraphCheck[]
}

/** Which provider ran, what was asked for, and every provider tried on the way. */
export interface ProviderReport {
  readonly provider: ProviderName
  readonly requested: DeviceChoice['provider']
  readonly deviceId?: number
  readonly attempts: readonly ProviderAttempt[]
  /** Set when an explicitly chosen provider failed and the fallback ran instead. */
  readonly fallbackNote?: string
}

export interface GeneratedImage {
  readonly classId: number
  readonly className: string
  readonly seed: number
  /** [C, H, W] in [0, 1] */
  readonly pixels: Float32Array
  /** The engine's record: token map of every scale, selections at search scales, best-of-n scores. */
  readonly record: ImageRecord
  /** The record's selections ready to show (PCA map included), one per search scale. */
  readonly selections: readonly SelectionView[]
}

export interface GenerateResult {
  readonly modelId: string
  readonly modelDir: string
  readonly width: number
  readonly height: number
  readonly channels: number
  /** the model's scales and vocabulary, for the timelines (so main need not read the model) */
  readonly patchNums: readonly number[]
  readonly vocabSize: number
  readonly images: readonly GeneratedImage[]
  readonly provider: ProviderReport
  readonly sampling: EngineSampling
  readonly strategy: StrategyConfig
  /** What the search did at each search scale, with notes when it did nothing (search-summary.ts). */
  readonly search?: readonly SearchSummary[]
  /** Engine timings summed over batches, plus loading (0 when the model was already open). */
  readonly timings: Timings & { readonly loadMs: number; readonly batches: number }
}

export interface ClassifyResult {
  readonly count: number
  readonly numClasses: number
  /** [count, numClasses] */
  readonly logits: Float32Array
  /** [count, featureDim]; empty when the classifier has no features output */
  readonly features: Float32Array
  readonly featureDim: number
  readonly provider: ProviderReport
}

/** A feature network's outputs for a block of images. */
export interface FeaturesResult {
  readonly count: number
  /** [count, featureDim]: the pooled feature vector */
  readonly features: Float32Array
  readonly featureDim: number
  /** [count, numClasses]; empty (numClasses 0) when the network has no logits output */
  readonly logits: Float32Array
  readonly numClasses: number
  /** the network's input and the outputs used, for the record */
  readonly network: FeatureNetInfo
  readonly provider: ProviderReport
}

export interface FeatureNetInfo {
  readonly file: string
  readonly input: string
  /** [C, H, W] the network takes; 0 where the dimension is free (then the images go in as they are) */
  readonly inputShape: readonly [number, number, number]
  readonly featuresOutput: string
  readonly logitsOutput: string | null
}

export interface HostInfo {
  readonly pid: number
  readonly platform: string
  readonly arch: string
  readonly versions: { readonly node: string; readonly onnxruntime: string }
  /** The auto ladder on this platform, in order. */
  readonly ladder: readonly ProviderName[]
  readonly backends: readonly { readonly name: string; readonly bundled: boolean }[]
  readonly loaded: readonly { readonly dir: string; readonly id: string; readonly provider: ProviderName }[]
}

export interface VerifyProgress {
  readonly kind: 'verify'
  readonly phase: 'hash' | 'graph'
  readonly file: string
  readonly fileIndex: number
  readonly fileCount: number
  readonly bytesDone: number
  readonly bytesTotal: number
}

export interface LoadProgress {
  readonly kind: 'load'
  readonly message: string
}

/** decodeScales: the partial decode after scale si is done. */
export interface DecodeProgress {
  readonly kind: 'decode'
  readonly si: number
  readonly scales: number
}

export interface DecodeScalesResult {
  /** [S, C, H, W] in [0, 1]: the image after every scale */
  readonly images: Float32Array
  readonly channels: number
  readonly width: number
  readonly height: number
  readonly provider: ProviderReport
}

/** One finished scale of one batch: tokens [B, pn * pn] ids, preview as in ScaleEvent.previewImage. */
export interface ScaleProgress {
  readonly kind: 'scale'
  readonly batch: number
  readonly batches: number
  readonly itemOffset: number
  readonly B: number
  readonly si: number
  readonly scales: number
  readonly pn: number
  /** best-of-n runs several full generations; 0 of 1 otherwise */
  readonly generation: number
  readonly generations: number
  readonly tokens: Int32Array
  readonly preview?: Float32Array
  /** how `preview` was made: the model's cheap projection, or the VAE decoder */
  readonly previewKind?: PreviewKind
  /** why the model's preview.json is not used (previews `projection` then act as `first`) */
  readonly previewNote?: string
  /** At a search scale: the batch's first image's selection ready to show (the live views follow it). */
  readonly selection?: SelectionView
}

export interface HostMethods {
  'host.info': { result: HostInfo; progress: never }
  'models.list': { result: ModelSummary[]; progress: never }
  'models.inspect': { result: ModelInspectResult; progress: never }
  'models.verify': { result: ModelVerifyResult; progress: VerifyProgress }
  generate: { result: GenerateResult; progress: LoadProgress | ScaleProgress }
  classify: { result: ClassifyResult; progress: LoadProgress }
  features: { result: FeaturesResult; progress: LoadProgress }
  decodeScales: { result: DecodeScalesResult; progress: LoadProgress | DecodeProgress }
  cancel: { result: { cancelled: boolean }; progress: never }
}
export type ResultOf<M extends HostMethod> = HostMethods[M]['result']
export type ProgressOf<M extends HostMethod> = HostMethods[M]['progress']

// ---- envelopes ----

export const wireErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  field: z.string().optional(),
  attempts: z
    .array(z.object({ provider: z.string(), ok: z.boolean(), reason: z.string().optional() }))
    .optional(),
})
export type WireError = z.infer<typeof wireErrorSchema>

export const requestSchema = z.strictObject({
  id: requestIdSchema,
  method: z.string().min(1),
  params: z.unknown(),
})
export type HostRequest = z.infer<typeof requestSchema>

const resultSchema = z.strictObject({ id: requestIdSchema, result: z.unknown() })
const errorSchema = z.strictObject({ id: requestIdSchema, error: wireErrorSchema })
const progressSchema = z.strictObject({
  id: requestIdSchema,
  event: z.literal('progress'),
  data: z.unknown(),
})
const readySchema = z.strictObject({
  event: z.literal('ready'),
  data: z.strictObject({ pid: z.number().int() }),
})

export type HostMessage =
  | { kind: 'result'; id: string; result: unknown }
  | { kind: 'error'; id: string; error: WireError }
  | { kind: 'progress'; id: string; data: unknown }
  | { kind: 'ready'; pid: number }

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Checks a message from the host; throws ProtocolError saying what is wrong with it. */
export function parseHostMessage(raw: unknown): HostMessage {
  if (!isRecord(raw)) throw new ProtocolError(`host message is not an object: ${describe(raw)}`)
  if ('error' in raw) {
    const m = errorSchema.safeParse(raw)
    if (m.success) return { kind: 'error', id: m.data.id, error: m.data.error }
    throw new ProtocolError(`malformed error response: ${z.prettifyError(m.error)}`)
  }
  if (raw.event === 'ready') {
    const m = readySchema.safeParse(raw)
    if (m.success) return { kind: 'ready', pid: m.data.data.pid }
    throw new ProtocolError(`malformed ready event: ${z.prettifyError(m.error)}`)
  }
  if ('event' in raw) {
    const m = progressSchema.safeParse(raw)
    if (m.success) return { kind: 'progress', id: m.data.id, data: m.data.data }
    throw new ProtocolError(`malformed event: ${z.prettifyError(m.error)}`)
  }
  const m = resultSchema.safeParse(raw)
  if (m.success && m.data.result !== undefined)
    return { kind: 'result', id: m.data.id, result: m.data.result }
  throw new ProtocolError(
    m.success ? 'response has no result' : `malformed response: ${z.prettifyError(m.error)}`,
  )
}

/** A short description of an unexpected value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 60))}`
  return typeof value
}

/** Turns zod issues into one line per field, e.g. `params.sampling.top_p: must be in (0, 1]`. */
export function issuesText(error: z.ZodError, prefix = ''): { field: string; text: string } {
  const lines = error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.')
    const message = i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message
    return { path: path || '(root)', message }
  })
  return { field: lines[0]?.path ?? '(root)', text: lines.map((l) => `${l.path}: ${l.message}`).join('; ') }
}

/** Validates the params of a known method; throws InvalidRequestError naming the field. */
export function parseParams<M extends HostMethod>(method: M, params: unknown): Params<M> {
  const parsed = paramSchemas[method].safeParse(params ?? {})
  if (parsed.success) return parsed.data as Params<M>
  const { field, text } = issuesText(parsed.error)
  throw new InvalidRequestError(field, `${method}: ${text}`)
}

export function isHostMethod(method: string): method is HostMethod {
  return Object.hasOwn(paramSchemas, method)
}

// ---- errors across the boundary ----

/** Serialises any thrown value to `{ name, message, stack }` plus the named error's own fields. */
export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
  const wire: { -readonly [K in keyof WireError]: WireError[K] } = {
    name: error.name,
    message: error.message,
  }
  if (error.stack !== undefined) wire.stack = error.stack
  if (
    error instanceof ManifestError ||
    error instanceof GraphContractError ||
    error instanceof SettingsError
  ) {
    wire.issues = [...error.issues]
  }
  if (error instanceof InvalidRequestError) wire.field = error.field
  if (error instanceof ProviderError) wire.attempts = [...error.attempts]
  return wire
}

/** Rebuilds a wire error as the named class, keeping the remote stack. */
export function errorFromWire(wire: WireError): Error {
  let error: Error
  switch (wire.name) {
    case 'ManifestError':
      error = new ManifestError(wire.message, wire.issues ?? [])
      break
    case 'GraphContractError':
      error = new GraphContractError(wire.message, wire.issues ?? [])
      break
    case 'SettingsError':
      error = new SettingsError(wire.message, wire.issues ?? [])
      break
    case 'ProviderError':
      error = new ProviderError(wire.message, wire.attempts ?? [])
      break
    case 'InvalidRequestError':
      error = new InvalidRequestError(wire.field ?? '(unknown)', wire.message)
      break
    case 'ModelLoadError':
      error = new ModelLoadError(wire.message)
      break
    case 'CancelledError':
      error = new CancelledError(wire.message)
      break
    case 'InferenceError':
      error = new InferenceError(wire.message)
      break
    case 'ProtocolError':
      error = new ProtocolError(wire.message)
      break
    case 'HostCrashedError':
      error = new HostCrashedError(wire.message)
      break
    case 'StudioError':
      error = new StudioError(wire.message)
      break
    default:
      error = new Error(wire.message)
      error.name = wire.name
  }
  if (wire.stack !== undefined) error.stack = wire.stack
  return error
}
