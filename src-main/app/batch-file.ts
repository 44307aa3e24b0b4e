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
  /** 1-based position of the row in a JSON or YAML list, when other rows share its line */
  readonly row?: number
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

/** Depth of brackets a JSON batch file may nest (its rows are flat: a list of objects, 2 or 3 levels). */
const MAX_DEPTH = 64

/** Known columns of a batch file (../app/batch checks the values). */
const HEADER_NAMES = ['class', 'prompt', 'seed', 'strategy', 'count']

const WHAT =
  'a batch file: CSV with a header (class or prompt, then optional seed, strategy, count), a JSON or YAML list of rows, or a TXT file with one class or prompt per line'

/**
 * UTF-16 or UTF-32 text, by its byte order mark or, without one, by the zero bytes that ASCII text
 * has in every other (or three of every four) byte; undefined for anything else.
 */
function wideEncoding(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = bytes
  if (a === 0xff && b === 0xfe && c === 0 && d === 0) return 'UTF-32 (little-endian)'
  if (a === 0 && b === 0 && c === 0xfe && d === 0xff) return 'UTF-32 (big-endian)'
  if (a === 0xff && b === 0xfe) return 'UTF-16 (little-endian)'
  if (a === 0xfe && b === 0xff) return 'UTF-16 (big-endian)'
  const n = Math.min(bytes.length, 256) & ~3
  if (n < 4) return undefined
  const zeroAt = (k: number, step: number): boolean => {
    for (let i = 0; i < n; i += step) {
      for (let j = 0; j < step; j++) if ((bytes[i + j] === 0) !== (j !== k)) return false
    }
    return true
  }
  if (zeroAt(0, 4)) return 'UTF-32 (little-endian)'
  if (zeroAt(3, 4)) return 'UTF-32 (big-endian)'
  if (zeroAt(0, 2)) return 'UTF-16 (little-endian)'
  if (zeroAt(1, 2)) return 'UTF-16 (big-endian)'
  return undefined
}

/** Bytes to text: refuses what is too large, binary, or not UTF-8 (naming UTF-16 and UTF-32). */
export function decodeBatch(bytes: Uint8Array, name: string): string {
  if (bytes.length > MAX_BATCH_BYTES) {
    throw new BatchFileError(
      `${name} is ${(bytes.length / 2 ** 20).toFixed(1)} MiB; batch files are limited to 16 MiB`,
    )
  }
  for (const [what, magic] of MAGIC) {
    if (magic.every((b, i) => bytes[i] === b)) throw new BatchFileError(`${name} is ${what}, not ${WHAT}`)
  }
  const wide = wideEncoding(bytes)
  if (wide) {
    throw new BatchFileError(
      `${name} is ${wide} text; save it as UTF-8 (in Excel: "CSV UTF-8"; in an editor: encoding UTF-8) and try again`,
    )
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

function csvRows(text: string, name: string): RawRow[] {
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
        checkHeader(header, name)
        return
      }
      if (rows.length >= MAX_ROWS)
        throw new BatchFileError(`${name} has more than ${MAX_ROWS} rows; split the file`)
      const names = header
      rows.push({
        line: here,
        fields: Object.fromEntries(cells.map((c, i) => [names[i] ?? `column ${i + 1}`, c])),
      })
    },
  })
  if (rows.length === 0) checkHeaderless(header, name)
  return rows
}

/** A CSV header names each column once, and at least one column the studio knows. */
function checkHeader(header: readonly string[], name: string): void {
  header.forEach((column, i) => {
    const first = header.indexOf(column)
    if (column !== '' && first < i) {
      throw new BatchFileError(
        `${name}: the header names the column "${column}" twice (columns ${first + 1} and ${i + 1}); name each column once`,
      )
    }
  })
}

/**
 * A CSV of one line whose cells name no column the studio knows is a row without a header (the
 * header of a file with rows is checked row by row: each unknown column is named there).
 */
function checkHeaderless(header: readonly string[] | undefined, name: string): void {
  if (!header || header.some((column) => HEADER_NAMES.includes(column))) return
  const line = header.join(',').slice(0, 60)
  throw new BatchFileError(
    `${name} has no header row: its only line "${line}" names none of the columns ` +
      `(class or prompt, then optional seed, strategy, count); add a first line such as "class,seed"`,
  )
}

function txtRows(text: string, name: string): RawRow[] {
  const rows: RawRow[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim()
    if (t === '' || t.startsWith('#')) return
    if (rows.length >= MAX_ROWS)
      throw new BatchFileError(`${name} has more than ${MAX_ROWS} rows; split the file`)
    rows.push({ line: i + 1, fields: { text: t } })
  })
  return rows
}

/** Runs a parse that recurses, turning a stack overflow on deep nesting into a sentence. */
function deep<T>(name: string, parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new BatchFileError(`${name} is nested too deeply to be a batch file (a list of flat rows)`)
    }
    throw error
  }
}

/**
 * How deeply a JSON or YAML text nests, measured before a parser that recurses reads it (the YAML
 * parser runs out of stack, or of memory, on a few thousand levels). JSON strings are skipped; in
 * YAML every bracket counts, and so does a block's indentation (two columns or one "- " a level).
 */
function checkNesting(text: string, name: string, json: boolean): void {
  let depth = 0
  let most = 0
  let inString = false
  let lineStart = true
  let lead = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!json && lineStart) {
      if (c === 32 || c === 45 || c === 63 || c === 9) {
        lead++
        continue
      }
      most = Math.max(most, Math.ceil(lead / 2))
      lineStart = false
    }
    if (c === 10) {
      lineStart = true
      lead = 0
    }
    if (inString) {
      if (c === 92) i++
      else if (c === 34) inString = false
    } else if (json && c === 34) inString = true
    else if (c === 91 || c === 123) most = Math.max(most, ++depth)
    else if (c === 93 || c === 125) depth = Math.max(0, depth - 1)
  }
  if (!json && lineStart) most = Math.max(most, Math.ceil(lead / 2))
  if (most > MAX_DEPTH) {
    throw new BatchFileError(
      `${name} is nested ${most} levels deep; a batch file is a list of flat rows (at most ${MAX_DEPTH} levels)`,
    )
  }
}

/**
 * JSON is checked as JSON first, so a broken file gets the JSON parser's words (a truncated file is
 * "Unexpected end of JSON input"), not the YAML parser's.
 */
function checkJson(text: string, name: string): void {
  try {
    JSON.parse(text)
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    throw new BatchFileError(`${name} is not valid JSON: ${why}`)
  }
}

function treeRows(text: string, name: string, format: BatchFormat): RawRow[] {
  if (text.length > MAX_TREE_BYTES) {
    throw new BatchFileError(
      `${name} is over 4 MiB; JSON and YAML batch files are limited to 4 MiB (CSV and TXT may be larger)`,
    )
  }
  checkNesting(text, name, format === 'json')
  if (format === 'json') checkJson(text, name)
  const lineCounter = new LineCounter()
  const doc = deep(name, () => parseDocument(text, { lineCounter, uniqueKeys: false }))
  const error = doc.errors.at(0)
  if (error) {
    const line = lineCounter.linePos(error.pos[0]).line
    if (error.code === 'MULTIPLE_DOCS') {
      throw new BatchFileError(
        `${name} holds several YAML documents (a second one starts at line ${line}, after "---"); ` +
          'put every row in one list',
      )
    }
    throw new BatchFileError(`${name} line ${line}: ${error.message.split('\n')[0] ?? ''}`)
  }
  let nodes = 0
  deep(name, () => {
    visit(doc, () => {
      if (++nodes > MAX_NODES)
        throw new BatchFileError(`${name} has more than ${MAX_NODES} values; split the file`)
    })
  })
  const root = doc.contents
  const list = isMap(root) ? root.get('items', true) : root
  if (!isSeq(list))
    throw new BatchFileError(`${name} is not a list of rows or { items: [...] }; expected ${WHAT}`)
  if (list.items.length > MAX_ROWS)
    throw new BatchFileError(`${name} has more than ${MAX_ROWS} rows; split the file`)
  const lines = list.items.map((node) => (isNode(node) ? lineCounter.linePos(node.range[0]).line : 0))
  const count = new Map<number, number>()
  for (const line of lines) count.set(line, (count.get(line) ?? 0) + 1)
  return list.items.map((node, i) => {
    const line = lines[i]
    let value: unknown
    try {
      // Aliases expand here; a low limit stops "billion laughs" files before they eat the memory.
      value = deep(name, (): unknown =>
        isNode(node) ? node.toJS(doc, { maxAliasCount: MAX_ALIASES }) : node,
      )
    } catch (cause) {
      if (cause instanceof BatchFileError) throw cause
      throw new BatchFileError(
        `${name} line ${line}: ${cause instanceof Error ? cause.message : String(cause)} (YAML aliases are limited to ${MAX_ALIASES})`,
      )
    }
    const fields =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : { text: value }
    // a line holding several rows (JSON on one line) does not say which: the row's place does
    return (count.get(line) ?? 0) > 1 ? { line, row: i + 1, fields } : { line, fields }
  })
}

/** Parses decoded text; throws BatchFileError when the file as a whole is unusable. */
export function parseBatchText(
  text: string,
  name: string,
  format: BatchFormat = detectFormat(name, text),
): RawRow[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (format === 'csv') return csvRows(body, name)
  if (format === 'txt') return txtRows(body, name)
  return treeRows(body, name, format)
}
