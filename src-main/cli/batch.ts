/**
 * Batch files for `generate --batch`: CSV with a header row, YAML / JSON (a list, or `{ items: [...] }`),
 * or TXT (one class per line). Each row: `class` (id or name), optional `seed`, optional `count`
 * (images, default 1). Errors name the file and line. The file itself is read by ../app/batch-file,
 * shared with the studio.
 */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { z } from 'zod'
import { InvalidRequestError } from '../../src-shared/errors'
import { seedSchema } from '../../src-shared/protocol'
import { decodeBatch, detectFormat, parseBatchText } from '../app/batch-file'

export interface BatchRow {
  readonly line: number
  readonly class: string | number
  readonly seed?: number
  readonly count: number
}

const rowSchema = z.strictObject({
  class: z.union([z.string().min(1, 'must name a class'), z.number().int().min(0)], {
    error: 'must be a class id or name',
  }),
  seed: seedSchema.optional(),
  count: z
    .number()
    .int('must be an integer in [1, 10000]')
    .min(1, 'must be an integer in [1, 10000]')
    .max(10_000)
    .default(1),
})

function checkRow(raw: unknown, line: number, file: string): BatchRow {
  const parsed = rowSchema.safeParse(raw)
  if (parsed.success) return { line, ...parsed.data }
  const issue = parsed.error.issues[0]
  const unknownKeys = issue.code === 'unrecognized_keys'
  const key = unknownKeys ? issue.keys.join(', ') : issue.path.map(String).join('.') || 'row'
  const message = unknownKeys ? 'unknown column (use class, seed, count)' : issue.message
  throw new InvalidRequestError(`${file}:${line}`, `${file} line ${line}: ${key}: ${message}`)
}

/** CSV cells are strings: numbers become numbers, empty cells are left out. */
function csvCells(record: Record<string, string>): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(record)) {
    const v = value.trim()
    if (v === '') continue
    out[key.trim()] = (key.trim() !== 'class' || /^\d+$/.test(v)) && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v
  }
  return out
}

/**
 * Reads a batch file; throws InvalidRequestError naming the file and line of the first bad row, or
 * BatchFileError when the file as a whole cannot be used (not UTF-8, binary, a YAML bomb, ...).
 */
export async function readBatchFile(path: string): Promise<BatchRow[]> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (cause) {
    throw new InvalidRequestError('--batch', `--batch: cannot read ${path}`, { cause })
  }
  const file = basename(path)
  const text = decodeBatch(bytes, file)
  const format = detectFormat(file, text)
  const rows = parseBatchText(text, file, format).map(({ line, fields }) => {
    if (format === 'csv') return checkRow(csvCells(fields as Record<string, string>), line, file)
    // A bare line or list item is a class reference.
    const row = 'text' in fields && Object.keys(fields).length === 1 ? { class: fields.text } : fields
    return checkRow(row, line, file)
  })
  if (rows.length === 0) throw new InvalidRequestError(file, `${file}: no rows`)
  return rows
}
