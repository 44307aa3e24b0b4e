/**
 * Grid export: history images laid out by two axes (class, seed, strategy, N) with the labels drawn
 * into the image, each tile upscaled by an integer factor, parameters embedded unless turned off,
 * and a JSON and a CSV record of every cell beside the PNG.
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, extname, join } from 'node:path'
import sharp from 'sharp'
import { strategyName, strategyRank } from '../../src-shared/strategy-names'
import { InvalidRequestError } from '../../src-shared/errors'
import type { GridAxis, GridExport, ImageEntry, IpcParsedArgs } from '../../src-shared/ipc'
import { containedDir, OutsideFolderError, writeContained } from '../storage/contained'
import { csvText } from '../storage/csv'
import { composeGrid, type GridTile } from '../storage/grid'
import { encodePng, pngDataUrl, type RawImage } from '../storage/png'
import { fsProblem, StorageError } from './errors'
import type { History } from './history'

export interface ExportDeps {
  readonly history: History
  readonly embedDefault: boolean
  readonly version: string
  /** Electron's save dialog gives a path; the web host always writes into the output folder */
  readonly allowPaths: boolean
}

type Value = string | number

function axisValue(e: ImageEntry, axis: GridAxis): Value {
  if (axis === 'class') return e.classId
  if (axis === 'seed') return e.seed
  if (axis === 'strategy') return e.strategyKind
  return e.N
}

function axisLabel(axis: GridAxis, v: Value, byClass: ReadonlyMap<number, string>): string {
  if (axis === 'class') return byClass.get(Number(v)) ?? `class ${v}`
  if (axis === 'seed') return `seed ${v}`
  if (axis === 'N') return `N=${v}`
  return strategyName(String(v))
}

function order(axis: GridAxis, values: Value[]): Value[] {
  const rank = (v: Value): number => (axis === 'strategy' ? strategyRank(String(v)) : Number(v))
  return [...new Set(values)].sort((a, b) => rank(a) - rank(b) || String(a).localeCompare(String(b)))
}

async function readRaw(e: ImageEntry, history: History): Promise<RawImage> {
  const file = await history.imagePath(e)
  try {
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true })
    if (info.channels !== 1 && info.channels !== 3) throw new Error(`${info.channels} channels`)
    return { data, width: info.width, height: info.height, channels: info.channels }
  } catch (error) {
    throw new StorageError(fsProblem('read the image', e.file, error), { cause: error })
  }
}

function target(spec: IpcParsedArgs<'export:grid'>, deps: ExportDeps): string {
  if (spec.path === undefined) {
    // Named by the second: a second export within it gets -2, -3, ... instead of replacing the
    // first grid and its records.
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
    const base = join(deps.history.outputDir, 'exports', `grid-${stamp}-${spec.rows}-by-${spec.columns}`)
    let path = `${base}.png`
    for (let n = 2; existsSync(path) || existsSync(path.replace(/\.png$/, '.json')); n++)
      path = `${base}-${n}.png`
    return path
  }
  if (!deps.allowPaths)
    throw new InvalidRequestError('path', 'This host writes grids into its output folder; leave out the path')
  return extname(spec.path).toLowerCase() === '.png' ? spec.path : `${spec.path}.png`
}

export async function exportGrid(spec: IpcParsedArgs<'export:grid'>, deps: ExportDeps): Promise<GridExport> {
  if (spec.rows === spec.columns)
    throw new InvalidRequestError(
      'columns',
      `Rows and columns are both "${spec.rows}"; choose two different axes`,
    )
  // where it goes first: a refused path must not cost composing and encoding the whole grid
  const path = target(spec, deps)
  const entries = [...new Set(spec.imageIds)].map((id) => deps.history.get(id))
  const byClass = new Map(entries.map((e) => [e.classId, e.className]))
  const rowValues = order(
    spec.rows,
    entries.map((e) => axisValue(e, spec.rows)),
  )
  const colValues = order(
    spec.columns,
    entries.map((e) => axisValue(e, spec.columns)),
  )
  const raws = new Map<string, RawImage>()
  for (const e of entries) raws.set(e.id, await readRaw(e, deps.history))
  const first = raws.get(entries[0].id)
  if (!first) throw new InvalidRequestError('imageIds', 'choose at least one image')
  for (const e of entries) {
    const r = raws.get(e.id)
    if (r && (r.width !== first.width || r.height !== first.height)) {
      throw new InvalidRequestError(
        'imageIds',
        `Images of different sizes (${first.width}x${first.height} and ${r.width}x${r.height}) cannot share a grid; choose images of one model`,
      )
    }
  }
  const blank: RawImage = {
    data: new Uint8Array(first.width * first.height).fill(235),
    width: first.width,
    height: first.height,
    channels: 1,
  }
  // Row and column headers carry the axes; a cell's caption is its seed when seed is no axis
  // and the images have more than one (one seed goes into the title), so every image can be made
  // again from the grid. An empty cell is a blank tile.
  const seeds = new Set(entries.map((e) => e.seed))
  const seedCaption = spec.rows !== 'seed' && spec.columns !== 'seed' && seeds.size > 1
  const tiles: GridTile[] = []
  const cells: { row: Value; column: Value; entry: ImageEntry | undefined }[] = []
  for (const rv of rowValues) {
    for (const cv of colValues) {
      // Several images in one cell (an axis left out varies): the first chosen is shown.
      const entry = entries.find((e) => axisValue(e, spec.rows) === rv && axisValue(e, spec.columns) === cv)
      cells.push({ row: rv, column: cv, entry })
      tiles.push({
        image: entry ? (raws.get(entry.id) ?? blank) : blank,
        caption: entry && seedCaption ? [`seed ${entry.seed}`] : [],
      })
    }
  }
  const AXIS_NAMES = { class: 'Class', seed: 'Seed', strategy: 'Strategy', N: 'N' } as const
  const oneSeed = seeds.size === 1 && spec.rows !== 'seed' && spec.columns !== 'seed'
  const title =
    spec.title ??
    `${AXIS_NAMES[spec.rows]} by ${AXIS_NAMES[spec.columns]} | ${entries[0].modelId}${oneSeed ? ` | seed ${entries[0].seed}` : ''}`
  const grid = composeGrid(tiles, {
    columns: colValues.length,
    scale: spec.scale,
    title,
    rowHeaders: rowValues.map((v) => axisLabel(spec.rows, v, byClass)),
    columnHeaders: colValues.map((v) => axisLabel(spec.columns, v, byClass)),
  })
  const record = {
    format: 'var-studio-grid/1',
    version: deps.version,
    createdAt: new Date().toISOString(),
    title,
    scale: spec.scale,
    rows: { axis: spec.rows, values: rowValues },
    columns: { axis: spec.columns, values: colValues },
    cells: cells.map(({ row, column, entry: e }) => ({
      row,
      column,
      ...(e
        ? {
            imageId: e.id,
            modelId: e.modelId,
            classId: e.classId,
            className: e.className,
            seed: e.seed,
            strategy: e.strategy,
            sampling: e.sampling,
            N: e.N,
            file: e.file,
          }
        : {}),
    })),
  }
  const embed = spec.embedMetadata ?? deps.embedDefault
  const parameters = `${title}\nGrid: ${rowValues.length} rows by ${spec.rows}, ${colValues.length} columns by ${spec.columns}, Images: ${entries.length}, Scale: ${spec.scale}, Version: var-studio ${deps.version}`
  const png = await encodePng(grid, embed ? { parameters, json: record } : {})
  const recordPath = path.replace(/\.png$/i, '.json')
  const csvPath = path.replace(/\.png$/i, '.csv')
  // Headers and the row and column values as people read them (the strategy's name, not its id);
  // the ids stay in their own columns for scripts.
  const AXIS_HEADERS = AXIS_NAMES
  const table: Value[][] = [
    [
      `Row: ${AXIS_HEADERS[spec.rows]}`,
      `Column: ${AXIS_HEADERS[spec.columns]}`,
      'Image id',
      'Model',
      'Class id',
      'Class',
      'Seed',
      'Strategy',
      'Strategy id',
      'N',
      'File',
    ],
  ]
  for (const { row, column, entry: e } of cells) {
    const rowText = axisLabel(spec.rows, row, byClass)
    const columnText = axisLabel(spec.columns, column, byClass)
    table.push(
      e
        ? [
            rowText,
            columnText,
            e.id,
            e.modelId,
            e.classId,
            e.className,
            e.seed,
            strategyName(e.strategyKind),
            e.strategyKind,
            e.N,
            e.file,
          ]
        : [rowText, columnText, '', '', '', '', '', '', '', '', ''],
    )
  }
  try {
    if (spec.path === undefined) {
      // into the output folder: the exports folder must really be inside it (not a link out), and
      // each file is written aside and renamed, never through a link already there
      const out = deps.history.outputDir
      await containedDir(out, dirname(path), 'exports folder')
      await writeContained(out, path, png)
      await writeContained(out, recordPath, `${JSON.stringify(record, null, 1)}\n`)
      await writeContained(out, csvPath, csvText(table))
    } else {
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, png)
      await writeFile(recordPath, `${JSON.stringify(record, null, 1)}\n`)
      await writeFile(csvPath, csvText(table))
    }
  } catch (error) {
    if (error instanceof OutsideFolderError) {
      throw new StorageError(`The grid was not saved: ${error.message}`, { cause: error })
    }
    throw new StorageError(
      `The grid was not saved: ${fsProblem('write into the folder', dirname(path), error)}`,
      { cause: error },
    )
  }
  return {
    path,
    recordPath,
    width: grid.width,
    height: grid.height,
    rows: rowValues.length,
    columns: colValues.length,
    dataUrl: pngDataUrl(png),
  }
}
