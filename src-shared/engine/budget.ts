/**
 * The memory a generate request needs while it runs, estimated from the model's shape and the
 * request's size knobs with the per-image arithmetic of limits.ts (which bounds every request), so that a job the machine cannot hold is refused before it starts, with the
 * estimate (src-main compares it with the memory the host has). Float32 and int32 as the engine
 * holds them, with classifier-free guidance (two rows per image):
 *
 * - model: the weight files, as onnxruntime holds them;
 * - passes: per image of a model pass, the KV cache at the last scale (past and present alive
 *   together, k and v) plus its logits [2, l, V] and f_hat;
 * - candidates: per image and search scale, N candidate maps of l ids held three times (draws, the
 *   KDE's copy, the record) and the Density view's PCA features (N·l·Cvae float64, twice);
 * - results: every image of the request (pixels and token maps), times the generations best-of-n
 *   keeps alive until the classifier has scored them.
 */
import { batchBytesPerImage, candidateBytesAt, imageResultBytes, type ModelShape } from './limits'

/** What the estimate needs of a model (a `VarManifest` has all of it). */
export interface BudgetModel extends ModelShape {
  readonly files?: Readonly<Record<string, { readonly bytes: number }>>
}

/** The size knobs of a request. */
export interface BudgetRequest {
  /** a strategy config (kind, N, searchScales; defaults as the strategy schema's when left out) */
  readonly strategy: { readonly [key: string]: unknown } | undefined
  /** images per model pass */
  readonly batchSize: number
  /** images of one host call */
  readonly items: number
}

export interface JobBytes {
  readonly bytes: number
  readonly parts: readonly { readonly what: string; readonly bytes: number }[]
}

/** Estimated peak bytes of one generate call; see the module comment for each part. */
export function estimateJobBytes(m: BudgetModel, req: BudgetRequest): JobBytes {
  const B = Math.max(1, Math.min(req.batchSize, req.items))
  const weights = Object.values(m.files ?? {}).reduce((s, f) => s + f.bytes, 0)
  const perImage = batchBytesPerImage(m)
  const s = req.strategy ?? {}
  const kind = typeof s.kind === 'string' ? s.kind : 'var-scaling'
  const given = typeof s.N === 'number' && Number.isFinite(s.N) ? s.N : undefined
  const search = kind !== 'baseline' && kind !== 'best-of-n'
  const N = search ? (given ?? 50) : 0
  const scales = search && Array.isArray(s.searchScales) ? (s.searchScales as unknown[]) : search ? [1] : []
  const l = scales.reduce<number>(
    (most, si) => Math.max(most, typeof si === 'number' ? (m.patch_nums[si] ?? 0) ** 2 : 0),
    0,
  )
  const candidates = B * N * candidateBytesAt(m, l)
  const generations = kind === 'best-of-n' ? (given ?? 4) : 1
  const image = imageResultBytes(m)
  const results = req.items * image + (generations > 1 ? B * generations * image : 0)
  const parts = [
    { what: 'model', bytes: weights },
    { what: `model passes of ${B} image${B === 1 ? '' : 's'}`, bytes: B * perImage },
    { what: `${N} candidates per image`, bytes: candidates },
    { what: `${req.items} image results`, bytes: results },
  ].filter((p) => p.bytes > 0)
  return { bytes: parts.reduce((sum, p) => sum + p.bytes, 0), parts }
}

/** "1.2 GB" */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`
  return `${Math.ceil(bytes / 1e3)} kB`
}
