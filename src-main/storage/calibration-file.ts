/**
 * A model's calibration (src-shared/engine/calibration.ts) lives beside it, as `calibration.json` in
 * the model's folder: it travels with the folder (copied to another machine, registered in the studio
 * or given to the CLI by path, the same file applies), and the manifest and its sha256 list are never
 * rewritten. The record names the sha256 of the manifest.json it was measured on (which lists every
 * file's sha256), and carries a digest of itself: a file made for another version of the model, or
 * edited by hand, is ignored with a warning that says which and what to do, never applied.
 */
import { createHash } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  CALIBRATION_FILE,
  type CalibrationBody,
  type CalibrationRecord,
  calibrationSchema,
  defaultsOfCalibration,
  digestText,
  paperDefaults,
  type SearchDefaults,
  type SearchRequest,
} from '../../src-shared/engine/calibration'
import { StudioError } from '../../src-shared/errors'
import { formatIssuePath } from '../../src-shared/manifest'

export class CalibrationFileError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CalibrationFileError'
  }
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/** sha256 of the model's manifest.json as stored. */
export async function manifestSha256(dir: string): Promise<string> {
  return sha256(await readFile(join(dir, 'manifest.json')))
}

export function calibrationPath(dir: string): string {
  return join(dir, CALIBRATION_FILE)
}

/** Seals a record (adds its digest). */
export function sealCalibration(body: CalibrationBody): CalibrationRecord {
  return { ...body, digest: sha256(digestText(body)) }
}

export interface LoadedCalibration {
  /** what strategies use when alpha, dedup or the search scales are not given */
  readonly defaults: SearchDefaults
  /** the record, when it applies */
  readonly record?: CalibrationRecord
}

/**
 * The calibration that applies to the model in `dir`, checked against its manifest.json. Never throws
 * for a bad file: the paper's constants apply and `defaults.warning` says why the file was not used.
 */
export async function loadCalibration(dir: string): Promise<LoadedCalibration> {
  const path = calibrationPath(dir)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { defaults: paperDefaults() }
    return { defaults: paperDefaults(`${path} could not be read (${String(error)}); ignored`) }
  }
  const redo = 'run var-studio calibrate (or Calibrate in Models) again'
  const ignored = (why: string): LoadedCalibration => ({
    defaults: paperDefaults(`${path} ${why}: ignored, the paper's constants apply; ${redo}`),
  })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return ignored('is not valid JSON')
  }
  const parsed = calibrationSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues.at(0)
    return ignored(
      `is not a calibration record (${issue ? `${formatIssuePath(issue.path) || 'file'}: ${issue.message}` : 'invalid'})`,
    )
  }
  const record = parsed.data
  const { digest, ...body } = record
  if (sha256(digestText(body)) !== digest) {
    return ignored('was changed after it was written (its digest does not match its content)')
  }
  let current: string
  try {
    current = await manifestSha256(dir)
  } catch {
    return ignored('has no manifest.json beside it')
  }
  if (current !== record.model.manifestSha256) {
    return ignored(
      `was made for another version of this model (manifest.json sha256 ${record.model.manifestSha256.slice(0, 12)}..., ` +
        `now ${current.slice(0, 12)}...)`,
    )
  }
  return { defaults: defaultsOfCalibration(record), record }
}

/**
 * The defaults for one request: the calibrated row at its search scale and nearest cfg
 * (defaultsOfCalibration), or the paper's constants with the loaded warning when none applies.
 */
export function searchDefaultsFor(loaded: LoadedCalibration, req: SearchRequest): SearchDefaults {
  return loaded.record ? defaultsOfCalibration(loaded.record, req) : loaded.defaults
}

/** The first search scale a `--search-scales` value names, when it names one. */
export function firstSearchScale(flag: unknown): number | undefined {
  if (typeof flag !== 'string') return undefined
  const first = Number(flag.split(',')[0]?.trim())
  return Number.isInteger(first) && first >= 0 ? first : undefined
}

/** Writes a record beside the model (aside, then renamed); a folder that cannot take it is named. */
export async function writeCalibration(dir: string, record: CalibrationRecord): Promise<string> {
  const path = calibrationPath(dir)
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await writeFile(tmp, `${JSON.stringify(record, null, 1)}\n`, { flag: 'w' })
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw new CalibrationFileError(
      `Cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}): the calibration is ` +
        "kept in the model's folder, which must be writable; copy the folder somewhere writable and calibrate the copy",
      { cause: error },
    )
  }
  return path
}
