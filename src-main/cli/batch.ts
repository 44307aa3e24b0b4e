/**
 * Batch files for `generate --batch`: CSV with a header row, or YAML / JSON (a list, or `{ items: [...] }`).
 * Each row: `class` (id or name), optional `seed`, optional `count` (images, default 1).
 * Errors name the file and line.
 */
import { readFile } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import Papa from 'papaparse'
import { isMap, isNode, isSeq, LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { InvalidRequestError } from '../../src-shared/errors'
import { seedSchema } from '../../src-shared/protocol'

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

function parseCsv(text: string, file: string): BatchRow[] {
  const rows: BatchRow[] = []
  let header: string[] | undefined
  let start = 0
  let problem: string | undefined
  Papa.parse<string[]>(text, {
    step: (result) => {
      if (problem) return
      const line = text.slice(0, start).split('\n').length
      start = result.meta.cursor + 1
      const cells = result.data
      if (cells.every((c) => c.trim() === '')) return
      if (!header) {
        header = cells.map((c) => c.trim())
        if (!header.includes('class'))
          problem = `${file} line ${line}: the header row must have a "class" column`
        return
      }
      const names = header
      const record = Object.fromEntries(cells.map((c, i) => [names[i] ?? `column ${i + 1}`, c]))
      rows.push(checkRow(csvCells(record), line, file))
    },
  })
  if (problem) throw new InvalidRequestError(file, problem)
  return rows
}

function parseYaml(text: string, file: string): BatchRow[] {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter })
  const error = doc.errors.at(0)
  if (error) {
    const line = lineCounter.linePos(error.pos[0]).line
    throw new InvalidRequestError(file, `${file} line ${line}: ${error.message.split('\n')[0] ?? ''}`)
  }
  const root = doc.contents
  const list = isMap(root) ? root.get('items', true) : root
  if (!isSeq(list))
    throw new InvalidRequestError(file, `${file}: expected a list of rows, or { items: [...] }`)
  return list.items.map((node) => {
    const line = isNode(node) ? lineCounter.linePos(node.range[0]).line : 0
    return checkRow(isNode(node) ? node.toJSON() : node, line, file)
  })
}

/** Reads a batch file; throws InvalidRequestError naming the file and line of the first bad row. */
export async function readBatchFile(path: string): Promise<BatchRow[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new InvalidRequestError('--batch', `--batch: cannot read ${path}`, { cause })
  }
  const file = basename(path)
  const rows = extname(path).toLowerCase() === '.csv' ? parseCsv(text, file) : parseYaml(text, file)
  if (rows.length === 0) throw new InvalidRequestError(file, `${file}: no rows`)
  return rows
}
