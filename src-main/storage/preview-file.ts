/**
 * A model's cheap preview map (src-shared/engine/preview.ts) lives beside it as `preview.json`,
 * written by `python -m var_tools.preview` (and by the exporter). Like calibration.json it names the
 * sha256 of the manifest.json it was fitted on and carries a digest of itself; a file that does not
 * parse, does not fit the model (latent channels, image channels), holds a non-finite number, was
 * edited by hand or was made for another version of the model is not used: full partial decodes
 * apply, with a warning that names the file and says why.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatIssuePath, type VarManifest } from '../../src-shared/manifest'
import {
  PREVIEW_FILE,
  previewDigestText,
  previewRecordSchema,
  projectionOf,
  type PreviewProjection,
} from '../../src-shared/engine/preview'

export interface LoadedPreview {
  /** the map, when the folder has one that applies */
  readonly projection?: PreviewProjection
  /** why a preview.json beside the model is not used */
  readonly warning?: string
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

export function previewPath(dir: string): string {
  return join(dir, PREVIEW_FILE)
}

/** The preview map of the model in `dir`; never throws (no file: none, and no warning). */
export async function loadPreview(dir: string, manifest: VarManifest): Promise<LoadedPreview> {
  const path = previewPath(dir)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    return { warning: `${path} could not be read (${String(error)}); full partial decodes apply` }
  }
  const ignored = (why: string): LoadedPreview => ({
    warning:
      `${path} ${why}: not used, full partial decodes apply; ` +
      `fit it again with python -m var_tools.preview --model ${dir}`,
  })
  let json: unknown
  try {
    // NaN and Infinity are not JSON: Python's json module writes them as bare words, which fail here
    json = JSON.parse(text)
  } catch {
    return ignored('is not valid JSON (a NaN or Infinity in it is not either)')
  }
  const parsed = previewRecordSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues.at(0)
    return ignored(
      `is not a preview map (${issue ? `${formatIssuePath(issue.path) || 'file'}: ${issue.message}` : 'invalid'})`,
    )
  }
  const { digest, ...body } = parsed.data
  // the digest covers every field as written, also the ones the schema passes through unread
  const rawBody: Record<string, unknown> = { ...(json as Record<string, unknown>) }
  delete rawBody.digest
  if (sha256(previewDigestText(rawBody)) !== digest) {
    return ignored('was changed after it was written (its digest does not match its content)')
  }
  let current: string
  try {
    current = sha256(await readFile(join(dir, 'manifest.json')))
  } catch {
    return ignored('has no manifest.json beside it')
  }
  if (current !== body.model.manifestSha256) {
    return ignored(
      `was fitted on another version of this model (manifest.json sha256 ${body.model.manifestSha256.slice(0, 12)}..., ` +
        `now ${current.slice(0, 12)}...)`,
    )
  }
  const projection = projectionOf(parsed.data, manifest)
  if (typeof projection === 'string') return ignored(projection)
  return { projection }
}
