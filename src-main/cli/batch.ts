/**
 * Batch files for `generate --batch`, read and checked exactly as the studio reads them (../app/batch):
 * CSV with a header row, YAML / JSON (a list, or `{ items: [...] }`), or TXT (one class or prompt a
 * line). Each row: a class id, class name or prompt (matched to a class name), optional seed,
 * strategy and count. The CLI reads the file in this process (no worker) and stops at bad rows,
 * naming the file and line of each, before any model is loaded.
 */
import { InvalidRequestError } from '../../src-shared/errors'
import { type BatchRow, checkBatchImages, checkBatchRows, rowPlace } from '../app/batch'
import { decodeBatch, detectFormat, parseBatchText } from '../app/batch-file'
import { sourceBytes } from '../app/batch-read'

export type { BatchRow }

export interface BatchFile {
  /** the file's name, as errors and notes name it */
  readonly file: string
  /** every row, all valid */
  readonly rows: readonly BatchRow[]
}

/** Bad rows listed in one error; the rest are counted. */
const SHOWN = 10

/**
 * Reads and checks a batch file against the model's class names. Throws BatchFileError when the
 * file as a whole cannot be used (missing, not UTF-8, binary, a YAML bomb, no rows, ...) and
 * InvalidRequestError naming the file and line of every bad row (field: `file:line` of the first).
 */
export async function readBatchFile(path: string, names: readonly string[]): Promise<BatchFile> {
  const { bytes, name: file } = await sourceBytes({ kind: 'path', path }, true)
  const text = decodeBatch(bytes, file)
  const rows = checkBatchRows(file, parseBatchText(text, file, detectFormat(file, text)), names)
  const bad = rows.filter((r) => !r.ok)
  const first = bad.at(0)
  if (first) {
    const lines = bad.slice(0, SHOWN).map((r) => `${file} ${rowPlace(r)}: ${r.error ?? 'invalid row'}`)
    if (bad.length > SHOWN) lines.push(`... and ${bad.length - SHOWN} more bad rows`)
    throw new InvalidRequestError(`${file}:${first.line}`, lines.join('\n'))
  }
  checkBatchImages(file, rows, '--batch')
  return { file, rows }
}

/**
 * How rows whose class was not given by id or exact name were read (a prompt, a plural, a typo),
 * one line each, so a guess never passes silently.
 */
export function matchNotes({ file, rows }: BatchFile, max = SHOWN): string[] {
  const guessed = rows.filter((r) => r.match && r.match !== 'exact name' && !r.match.startsWith('class id'))
  const notes = guessed.slice(0, max).map((r) => {
    // a spread category names its classes in the match itself
    const what = r.classIds ? `${r.classIds.length} classes in turn` : (r.className ?? '?')
    return `${file} ${rowPlace(r)}: read as ${what} (${r.match ?? ''})`
  })
  if (guessed.length > max) notes.push(`... and ${guessed.length - max} more rows matched by name or prompt`)
  return notes
}
