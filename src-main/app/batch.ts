/**
 * Batch files in the studio: `batch:parse` turns a file into a validation table (every bad row
 * with its reason, nothing thrown for a bad row); `batch:queue` parses again on the host, decides
 * every seed now (fixed, base + position, or drawn), and queues the valid rows only, one job per
 * run of rows with the same strategy. The row checks (checkBatchRows, checkBatchImages) are also
 * those of the CLI's `generate --batch`, so one file means the same thing in both.
 */
import { randomInt } from 'node:crypto'
import { SEED_MAX } from '../../src-shared/engine/rng'
import { STRATEGY_KINDS, type StrategyConfigInput } from '../../src-shared/engine/strategies'
import { InvalidRequestError } from '../../src-shared/errors'
import type { BatchQueued, BatchRowView, BatchTable, IpcParsedArgs, JobSpec } from '../../src-shared/ipc'
import { levenshtein } from '../cli/classes'
import { type BatchFormat, detectFormat, type RawRow } from './batch-file'
import { type BatchSource, readRows, sourceBytes } from './batch-read'
import { type CategoryChoice, matchClasses } from './class-match'
import { loadCalibration, searchDefaultsFor } from '../storage/calibration-file'
import { BatchFileError } from './errors'
import { toNewJob } from './jobs'
import type { Models } from './model-list'
import type { Queue } from './queue'

type Defaults = IpcParsedArgs<'batch:queue'>['defaults']
/** A row as shown in the table; `match` says how a class or prompt was read. */
export type BatchRow = BatchRowView

const SEARCH_KINDS = new Set(['var-scaling', 'topk-only', 'randomk-only'])
const COLUMNS = ['class', 'prompt', 'seed', 'strategy', 'count', 'category'] as const
/** images one row may ask for */
export const MAX_BATCH_COUNT = 1000
/** images one batch file may ask for */
export const MAX_BATCH_IMAGES = 10_000

const blank = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'string' && v.trim() === '')

function intOf(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN
  // a JSON or YAML number may be negative; a seed or count never is
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function inputText(fields: Readonly<Record<string, unknown>>): string {
  if ('text' in fields && Object.keys(fields).length === 1) return String(fields.text)
  return Object.entries(fields)
    .filter(([, v]) => !blank(v))
    .map(
      ([k, v]) =>
        `${k}=${typeof v === 'object' ? JSON.stringify(v) : typeof v === 'string' ? v : JSON.stringify(v)}`,
    )
    .join(', ')
    .slice(0, 300)
}

function strategyKind(v: unknown): { kind?: string; error?: string } {
  const text = String(v).trim().toLowerCase()
  const hit = STRATEGY_KINDS.find((k) => k === text)
  if (hit) return { kind: hit }
  const near = [...STRATEGY_KINDS].sort((a, b) => levenshtein(text, a) - levenshtein(text, b))[0]
  return {
    error: `unknown strategy "${text.slice(0, 40)}" (did you mean "${near}"? use one of ${STRATEGY_KINDS.join(', ')})`,
  }
}

/** Where a row is, for messages: `line 4`, or `row 3 (line 1)` in a JSON or YAML list. */
export function rowPlace(row: { readonly line: number; readonly row?: number | undefined }): string {
  return row.row !== undefined ? `row ${row.row} (line ${row.line})` : `line ${row.line}`
}

/** One raw row against the model's class names. */
function checkRow(row: RawRow, names: readonly string[]): BatchRow {
  const f = row.fields
  const errors: string[] = []
  // An empty cell under an unknown CSV column says nothing; a value there is a mistake to report.
  const unknown = Object.keys(f).filter(
    (k) => k !== 'text' && !(COLUMNS as readonly string[]).includes(k) && !blank(f[k]),
  )
  if (unknown.length > 0)
    errors.push(
      `unknown column ${unknown.map((k) => `"${k}"`).join(', ')} (use class or prompt, seed, strategy, count, category)`,
    )
  const ref = !blank(f.class) ? f.class : !blank(f.prompt) ? f.prompt : f.text
  // a prompt naming a category of classes (WordNet: "a big cat") asks which, or spreads the row's
  // images over the category's classes in turn
  let category: CategoryChoice = 'ask'
  if (!blank(f.category)) {
    const c = String(f.category).trim().toLowerCase()
    if (c === 'ask' || c === 'spread') category = c
    else errors.push(`category "${String(f.category).slice(0, 40)}" must be ask or spread`)
  }
  let classId: number | undefined
  let classIds: readonly number[] | undefined
  let match: string | undefined
  if (blank(ref) || (typeof ref !== 'string' && typeof ref !== 'number')) {
    errors.push('no class or prompt: give a class id, a class name or a prompt')
  } else {
    const m = matchClasses(ref, names, category)
    if (m.ok) {
      classId = m.classIds[0]
      match = m.how
      if (m.classIds.length > 1) classIds = m.classIds
    } else errors.push(m.error)
  }
  let seed: number | undefined
  if (!blank(f.seed)) {
    seed = intOf(f.seed)
    if (seed === undefined || seed > SEED_MAX) {
      errors.push(`seed "${String(f.seed)}" must be an integer in [0, ${SEED_MAX}]`)
      seed = undefined
    }
  }
  let count = 1
  if (!blank(f.count)) {
    const c = intOf(f.count)
    if (c === undefined || c < 1 || c > MAX_BATCH_COUNT)
      errors.push(`count "${String(f.count)}" must be an integer in [1, ${MAX_BATCH_COUNT}]`)
    else count = c
  }
  // A row's images take seeds seed, seed + 1, ...: the last must still be a seed.
  if (seed !== undefined && count - 1 > SEED_MAX - seed)
    errors.push(`seed ${seed} with count ${count} runs past the largest seed ${SEED_MAX}`)
  let strategy: string | undefined
  if (!blank(f.strategy)) {
    const s = strategyKind(f.strategy)
    if (s.error) errors.push(s.error)
    strategy = s.kind
  }
  return {
    line: row.line,
    ...(row.row !== undefined ? { row: row.row } : {}),
    ok: errors.length === 0,
    input: inputText(f),
    ...(classId !== undefined ? { classId, className: names[classId] } : {}),
    ...(classIds ? { classIds } : {}),
    ...(seed !== undefined ? { seed } : {}),
    count,
    ...(strategy ? { strategy } : {}),
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    ...(match ? { match } : {}),
  }
}

/**
 * A file's raw rows checked against the model's class names: a bad row is marked with its reasons,
 * never thrown; a file without rows throws BatchFileError.
 */
export function checkBatchRows(file: string, rows: readonly RawRow[], names: readonly string[]): BatchRow[] {
  if (rows.length === 0) throw new BatchFileError(`${file} has no rows`)
  return rows.map((r) => checkRow(r, names))
}

/** The images the rows ask for; throws InvalidRequestError (on `field`) past MAX_BATCH_IMAGES. */
export function checkBatchImages(file: string, rows: readonly BatchRow[], field = 'source'): number {
  const images = rows.reduce((s, r) => s + r.count, 0)
  if (images > MAX_BATCH_IMAGES)
    throw new InvalidRequestError(
      field,
      `${file} asks for ${images} images; at most ${MAX_BATCH_IMAGES} per batch`,
    )
  return images
}

function tableOf(file: string, format: BatchFormat, rows: BatchRow[], fileError?: string): BatchTable {
  const valid = rows.filter((r) => r.ok).length
  return { file, format, rows, valid, invalid: rows.length - valid, ...(fileError ? { fileError } : {}) }
}

async function buildTable(
  source: BatchSource,
  modelId: string,
  models: Models,
  allowPaths: boolean,
): Promise<BatchTable> {
  const name = source.kind === 'content' ? source.name : source.path
  const model = await models.resolve(modelId)
  try {
    const { bytes, name: file } = await sourceBytes(source, allowPaths)
    const { format, rows } = await readRows(bytes, file)
    return tableOf(file, format, checkBatchRows(file, rows, model.manifest.class_names))
  } catch (error) {
    if (!(error instanceof BatchFileError)) throw error
    return tableOf(name, detectFormat(name, ''), [], error.message)
  }
}

export function parseBatch(
  source: BatchSource,
  modelId: string,
  models: Models,
  allowPaths: boolean,
): Promise<BatchTable> {
  return buildTable(source, modelId, models, allowPaths)
}

export async function queueBatch(
  source: BatchSource,
  defaults: Defaults,
  models: Models,
  queue: Queue,
  allowPaths: boolean,
): Promise<BatchQueued> {
  const table = await buildTable(source, defaults.modelId, models, allowPaths)
  if (table.fileError) throw new BatchFileError(`Nothing was queued: ${table.fileError}`)
  const rows = table.rows.filter((r) => r.ok)
  if (rows.length === 0)
    throw new InvalidRequestError(
      'source',
      `Nothing was queued: none of the ${table.rows.length} rows of ${table.file} is valid`,
    )
  checkBatchImages(table.file, rows)
  // var-scaling with its defaults when the defaults name none (the request schema's default)
  const base = defaults.strategy
  const resolve = models.resolver()
  // a row of another search kind takes the model's calibrated values at the batch's cfg (else the
  // paper's constants, as for a model without calibration), like the form and the CLI
  const model = await resolve(defaults.modelId)
  const searchDefaults = searchDefaultsFor(await loadCalibration(model.dir), {
    cfg: defaults.sampling.cfg ?? model.manifest.sampling_defaults.cfg,
  })
  const strategyOf = (kind: string): StrategyConfigInput =>
    kind === base.kind
      ? base
      : SEARCH_KINDS.has(kind)
        ? ({
            kind,
            alpha: searchDefaults.alpha,
            dedup: searchDefaults.dedup,
            searchScales: [...searchDefaults.searchScales],
          } as StrategyConfigInput)
        : ({ kind } as StrategyConfigInput)

  // Seeds are decided here, before anything runs, and stored with the queued jobs.
  const seeds: number[] = []
  const specs: JobSpec[] = []
  let position = 0
  for (const row of rows) {
    const kind = row.strategy ?? base.kind
    const items = Array.from({ length: row.count }, (_, i) => {
      const seed =
        row.seed !== undefined
          ? row.seed + i
          : defaults.seedPolicy === 'fixed'
            ? defaults.baseSeed
            : defaults.seedPolicy === 'increment'
              ? defaults.baseSeed + position
              : randomInt(0, 2 ** 32)
      position++
      if (seed > SEED_MAX)
        throw new InvalidRequestError(
          'defaults.baseSeed',
          `${rowPlace(row)}: seed ${seed} exceeds ${SEED_MAX}`,
        )
      seeds.push(seed)
      // a spread category: the row's images take its classes in turn
      return { classId: row.classIds?.[i % row.classIds.length] ?? row.classId ?? 0, seed }
    })
    const last = specs.at(-1)
    const lastKind = (last?.strategy as { kind?: string } | undefined)?.kind
    if (last && lastKind === kind && last.items.length + items.length <= 1000) {
      last.items.push(...items)
      continue
    }
    specs.push({
      modelId: defaults.modelId,
      items,
      strategy: strategyOf(kind),
      sampling: defaults.sampling,
      seedPolicy: defaults.seedPolicy,
      source: { kind: 'batch', file: table.file.slice(0, 500), line: row.line },
    })
  }
  const jobs = []
  for (const [i, spec] of specs.entries()) {
    jobs.push(
      await toNewJob(
        { ...spec, sampling: spec.sampling ?? {}, items: spec.items },
        `batch job ${i + 1}`,
        resolve,
      ),
    )
  }
  return { table, jobIds: await queue.add(jobs), seeds }
}
