/**
 * Reading batch files (CSV, JSON, YAML, TXT) into raw rows with their line numbers, shared by the
 * studio and the CLI's `generate --batch`. Only the file's structure is checked here; what a row
 * means (a class, a prompt, a seed) is the caller's business. File-level problems throw
 * BatchFileError: too large, not UTF-8, binary or an image, a YAML alias bomb, not a list of rows.
 */
import { extname } from 'node:path'
import Papa from 'papaparse'
import { isMap, isNode, isSeq, LineCounter, parseDocument, visit } from 'yaml'
import { BatchFileError } from './errors'

export type BatchFormat = 'csv' | 'json' | 'yaml' | 'txt'

export interface RawRow {
  /** 1-based line of the row in the file */
  readonly line: number
  /** cells by column name (CSV), the mapping (JSON/YAML), or `{ text }` (TXT, a bare list item) */
  readonly fields: Readonly<Record<string, unknown>>
}

export const MAX_BATCH_BYTES = 16 * 1024 * 1024
/** YAML and JSON are parsed by the YAML parser (for line numbers), which is far slower than CSV. */
export const MAX_TREE_BYTES = 4 * 1024 * 1024
export const MAX_ROWS = 10_000
const MAX_ALIASES = 100
const MAX_NODES = 200_000

const MAGIC: readonly [string, number[]][] = [
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a WebP or RIFF file', [0x52, 0x49, 0x46, 0x46]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a ZIP archive (an .xlsx workbook?)', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
]

const WHAT =
  'a batch file: CSV with a header (class or prompt, then optional seed, strategy, count), a JSON or YAML list of rows, or a TXT file with one class or prompt per line'

/** Bytes to text: refuses what is too large, binary, or not UTF-8. */
export function decodeBatch(bytes: Uint8Array, name: string): string {
  if (bytes.length > MAX_BATCH_BYTES) {
    throw new BatchFileError(
      `${name} is ${(bytes.length / 2 ** 20).toFixed(1)} MiB; batch files are limited to 16 MiB`,
    )
  }
  for (const [what, magic] of MAGIC) {
    if (magic.every((b, i) => bytes[i] === b)) throw new BatchFileError(`${name} is ${what}, not ${WHAT}`)
  }
  if (bytes.subarray(0, 8192).includes(0)) throw new BatchFileError(`${name} is a binary file, not ${WHAT}`)
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    throw new BatchFileError(
      `${name} is not UTF-8 text; save it as UTF-8 (in Excel: "CSV UTF-8") and try again`,
    )
  }
}

export function detectFormat(name: string, text: string): BatchFormat {
  const ext = extname(name).toLowerCase()
  if (ext === '.csv' || ext === '.tsv') return 'csv'
  if (ext === '.json') return 'json'
  if (ext === '.yaml' || ext === '.yml') return 'yaml'
  if (ext === '.txt') return 'txt'
  const start = text.trimStart()
  if (start.startsWith('[') || start.startsWith('{')) return 'json'
  if (/^(-\s|items\s*:)/m.test(start)) return 'yaml'
  const first = start.split('\n', 1)[0] ?? ''
  return /^\s*"?(class|prompt)"?\s*[,;\t]/i.test(first) ? 'csv' : 'txt'
}

function csvRows(text: string): RawRow[] {
  const rows: RawRow[] = []
  let header: string[] | undefined
  let line = 1
  let offset = 0
  Papa.parse<string[]>(text, {
    skipEmptyLines: false,
    step: (result) => {
      // papaparse reports a cursor, not a line: count the newlines up to this row's start.
      // The cursor sits at the row's end, so the newline ending the previous row is counted first.
      const end = result.meta.cursor
      let i = offset
      while (i < end && (text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13))
        if (text.charCodeAt(i++) === 10) line++
      const here = line
      for (; i < end && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
      offset = end
      const cells = result.data
      if (cells.every((c) => c.trim() === '')) return
      if (!header) {
        header = cells.map((c) => c.trim().toLowerCase())
        return
      }
      if (rows.length >= MAX_ROWS) throw new BatchFileError(`more than ${MAX_ROWS} rows; split the file`)
      const names = header
      rows.push({
        line: here,
        fields: Object.fromEntries(cells.map((c, i) => [names[i] ?? `column ${i + 1}`, c])),
      })
    },
  })
  return rows
}

function txtRows(text: string): RawRow[] {
  const rows: RawRow[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim()
    if (t === '' || t.startsWith('#')) return
    if (rows.length >= MAX_ROWS) throw new BatchFileError(`more than ${MAX_ROWS} rows; split the file`)
    rows.push({ line: i + 1, fields: { text: t } })
  })
  return rows
}

function treeRows(text: string, name: string): RawRow[] {
  if (text.length > MAX_TREE_BYTES) {
    throw new BatchFileError(
      `${name} is over 4 MiB; JSON and YAML batch files are limited to 4 MiB (CSV and TXT may be larger)`,
    )
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false })
  const error = doc.errors.at(0)
  if (error) {
    const line = lineCounter.linePos(error.pos[0]).line
    throw new BatchFileError(`${name} line ${line}: ${error.message.split('\n')[0] ?? ''}`)
  }
  let nodes = 0
  visit(doc, () => {
    if (++nodes > MAX_NODES)
      throw new BatchFileError(`${name} has more than ${MAX_NODES} values; split the file`)
  })
  const root = doc.contents
  const list = isMap(root) ? root.get('items', true) : root
  if (!isSeq(list))
    throw new BatchFileError(`${name} is not a list of rows or { items: [...] }; expected ${WHAT}`)
  if (list.items.length > MAX_ROWS)
    throw new BatchFileError(`${name} has more than ${MAX_ROWS} rows; split the file`)
  return list.items.map((node) => {
    const line = isNode(node) ? lineCounter.linePos(node.range[0]).line : 0
    let value: unknown
    try {
      // Aliases expand here; a low limit stops "billion laughs" files before they eat the memory.
      value = isNode(node) ? node.toJS(doc, { maxAliasCount: MAX_ALIASES }) : node
    } catch (cause) {
      throw new BatchFileError(
        `${name} line ${line}: ${cause instanceof Error ? cause.message : String(cause)} (YAML aliases are limited to ${MAX_ALIASES})`,
      )
    }
    const fields =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : { text: value }
    return { line, fields }
  })
}

/** Parses decoded text; throws BatchFileError when the file as a whole is unusable. */
export function parseBatchText(
  text: string,
  name: string,
  format: BatchFormat = detectFormat(name, text),
): RawRow[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (format === 'csv') return csvRows(body)
  if (format === 'txt') return txtRows(body)
  return treeRows(body, name)
}
