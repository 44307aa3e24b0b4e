/**
 * History of finished images, kept beside the images in the output folder:
 *
 *   <out>/images/<date>/<imageId>-<class>-s<seed>.png    the image (parameters embedded unless off)
 *   <out>/history/timelines/<imageId>.json                its record and timeline
 *   <out>/history/index.json                              every record, for listing and filters
 *   <out>/history/index.journal                           records added/removed since index.json
 *
 * The index is append-only while the studio runs: each batch of added images, and each deletion,
 * is one JSON line appended to the journal (rewriting the whole index after every batch cost
 * O(images) per batch, 10 MB of JSON per batch at 10000 images). The journal is folded into a fresh
 * index.json (written aside and renamed, then the journal removed) when it holds as many changes as
 * the index has records (at least COMPACT_AFTER), when the history is opened and when it is flushed
 * (closing the studio, switching folders). Replaying a journal is idempotent, so a crash between the
 * new index and the journal's removal loses and doubles nothing. A last line cut short by a crash is
 * ignored with a log line: its images' timeline files were written before it, and are adopted. An
 * index.json written before the journal existed is read as it is.
 *
 * Each timeline file holds its own record too, so a damaged index is moved aside (kept as a backup)
 * and rebuilt from the timeline files: no record is lost silently.
 *
 * Order of writes for an image: its PNG, then its timeline file (each written aside and renamed),
 * then the index. Whatever a crash leaves between them is reconciled when the history is opened: a
 * timeline file the index lacks is adopted when its PNG is there, and a PNG with neither record is
 * moved aside into `<out>/orphans/`, each with a log line. Deleting goes the other way (timeline,
 * index, PNG). Every path is checked to stay inside the output folder (../storage/contained).
 */
import { constants } from 'node:fs'
import { lstat, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { z } from 'zod'
import { type ImageEntry, imageEntrySchema, type Timeline } from '../../src-shared/ipc'
import {
  containedDir,
  containedFile,
  containedPath,
  isInside,
  OutsideFolderError,
  writeContained,
} from '../storage/contained'
import { fsCode, fsProblem, NotFoundError, StorageError } from './errors'
import type { StudioEvents } from './events'
import { JsonFile, loadJson } from './json-file'

export const HISTORY_FORMAT = 'var-studio-history/1'
export const TIMELINE_FORMAT = 'var-studio-timeline/1'

// the shared entry, with unknown keys kept (a newer version's fields survive a rewrite); `file`
// is stored relative to the output folder, so the folder can be moved
const entrySchema = z.looseObject(imageEntrySchema.shape)
const indexSchema = z.object({ format: z.literal(HISTORY_FORMAT), images: z.array(entrySchema) })
const timelineFileSchema = z.object({
  format: z.literal(TIMELINE_FORMAT),
  entry: entrySchema,
  timeline: z.unknown(),
})

export type StoredEntry = z.output<typeof entrySchema>

/** One journal line: a batch of records added (replacing records with the same ids), or ids removed. */
const journalLineSchema = z.union([
  z.object({ add: z.array(entrySchema) }),
  z.object({ remove: z.array(z.string()) }),
])
type JournalLine = z.output<typeof journalLineSchema>

/** not defined on Windows, where links need privileges to make */
const NOFOLLOW = (constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0

export const JOURNAL_NAME = 'index.journal'
/** The journal is folded into index.json once it holds this many changes, or as many as there are records. */
export const COMPACT_AFTER = 512

const changesOf = (op: JournalLine): number => ('add' in op ? op.add.length : op.remove.length)

/** The records after one journal line; an added record replaces the one with its id and goes last. */
function applyLine(entries: StoredEntry[], op: JournalLine): StoredEntry[] {
  const ids = new Set('add' in op ? op.add.map((e) => e.id) : op.remove)
  const kept = entries.filter((e) => !ids.has(e.id))
  if ('add' in op) kept.push(...op.add)
  return kept
}

export interface HistoryFilter {
  readonly classId?: number | undefined
  readonly strategy?: string | undefined
  readonly modelId?: string | undefined
  readonly seed?: number | undefined
  readonly limit: number
}

export class History {
  private readonly index: JsonFile
  private readonly journalPath: string
  /** changes in the journal file (or queued for it) since index.json was last written */
  private journalChanges = 0
  /** journal appends and compactions, one after the other */
  private chain: Promise<void> = Promise.resolve()

  private constructor(
    readonly outputDir: string,
    private entries: StoredEntry[],
    private readonly events: StudioEvents,
    /** changes after which the journal is folded into index.json (also at least the record count) */
    private readonly compactAfter: number,
  ) {
    this.index = new JsonFile(join(outputDir, 'history', 'index.json'))
    this.journalPath = join(outputDir, 'history', JOURNAL_NAME)
  }

  static async open(
    outputDir: string,
    events: StudioEvents,
    log: (line: string) => void,
    options: { compactAfter?: number } = {},
  ): Promise<History> {
    const path = join(outputDir, 'history', 'index.json')
    try {
      await containedDir(outputDir, join(outputDir, 'history', 'timelines'), 'history folder')
    } catch (error) {
      if (error instanceof OutsideFolderError) throw new StorageError(error.message, { cause: error })
      throw new StorageError(fsProblem('create the history folder in', outputDir, error), { cause: error })
    }
    const loaded = await loadJson(path, indexSchema)
    const journal = await readJournal(join(outputDir, 'history', JOURNAL_NAME))
    let entries = loaded.value?.images ?? []
    for (const op of journal.lines) entries = applyLine(entries, op)
    if (journal.torn) log(journal.torn)
    // A damaged index or journal, or an index that is missing beside timeline files (deleted, or a
    // folder copied without it), is rebuilt from the timelines: otherwise the next save would forget
    // those images.
    const damaged = loaded.problem ?? journal.problem
    const rebuilt = damaged || loaded.value || journal.lines.length > 0 ? undefined : await rebuild(outputDir)
    if (damaged) {
      entries = await rebuild(outputDir)
      log(`${damaged}; the history was rebuilt from ${entries.length} timeline file(s)`)
    } else if (rebuilt && rebuilt.length > 0) {
      entries = rebuilt
      log(`${path} was missing; the history was rebuilt from ${entries.length} timeline file(s)`)
    }
    const fixed = await reconcile(outputDir, entries, log)
    const history = new History(outputDir, fixed.entries, events, options.compactAfter ?? COMPACT_AFTER)
    const journalThere = journal.lines.length > 0 || journal.torn !== undefined
    if (damaged || journalThere || (rebuilt && rebuilt.length > 0) || fixed.changed) await history.compact()
    return history
  }

  /** The ids of a job's recorded images, oldest first. */
  idsOfJob(jobId: string): string[] {
    return this.entries.filter((e) => e.jobId === jobId).map((e) => e.id)
  }

  /**
   * The full path of an image's PNG for reading: inside the output folder, not a link. Throws a
   * StorageError saying why not.
   */
  async imagePath(entry: ImageEntry): Promise<string> {
    try {
      return await containedFile(this.outputDir, entry.file, 'image')
    } catch (error) {
      throw new StorageError(error instanceof Error ? error.message : String(error), { cause: error })
    }
  }

  /** Writes a file into the output folder in full or not at all (see writeContained). */
  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    try {
      await containedDir(this.outputDir, dirname(path))
      await writeContained(this.outputDir, path, data)
    } catch (error) {
      if (error instanceof OutsideFolderError) throw new StorageError(error.message, { cause: error })
      throw new StorageError(fsProblem('write', path, error), { cause: error })
    }
  }

  get timelinesDir(): string {
    return join(this.outputDir, 'history', 'timelines')
  }

  /** Newest first, filtered. */
  list(filter: HistoryFilter): ImageEntry[] {
    const out: ImageEntry[] = []
    for (let i = this.entries.length - 1; i >= 0 && out.length < filter.limit; i--) {
      const e = this.entries[i]
      if (filter.classId !== undefined && e.classId !== filter.classId) continue
      if (filter.strategy !== undefined && e.strategyKind !== filter.strategy) continue
      if (filter.modelId !== undefined && e.modelId !== filter.modelId) continue
      if (filter.seed !== undefined && e.seed !== filter.seed) continue
      out.push(this.view(e))
    }
    return out
  }

  /** The record of an image id from the renderer; ids are looked up, never used as paths. */
  get(id: string): ImageEntry {
    const e = this.entries.find((x) => x.id === id)
    if (!e)
      throw new NotFoundError(`No image "${id}" in the history (it may have been deleted); reload the list`)
    return this.view(e)
  }

  /**
   * Records images whose PNGs are written: each timeline file, then the index (see the module
   * comment for why in this order).
   */
  async add(records: readonly { entry: StoredEntry; timeline: Timeline }[]): Promise<void> {
    for (const { entry, timeline } of records) {
      const path = join(this.timelinesDir, `${entry.id}.json`)
      await this.writeFile(path, JSON.stringify({ format: TIMELINE_FORMAT, entry, timeline }))
    }
    const op = { add: records.map((r) => r.entry) }
    this.entries = applyLine(this.entries, op)
    await this.append(op)
    this.events.emit('history:changed', { added: records.map((r) => this.view(r.entry)), removed: [] })
  }

  async timeline(id: string): Promise<Timeline> {
    this.get(id)
    const path = join(this.timelinesDir, `${id}.json`)
    let text: string
    try {
      text = await readFile(await containedFile(this.outputDir, path, 'timeline'), 'utf8')
    } catch (error) {
      throw new StorageError(fsProblem('read the timeline', path, error), { cause: error })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    const parsed = timelineFileSchema.safeParse(json)
    if (!parsed.success)
      throw new StorageError(`${path} is damaged; the image is kept but its timeline cannot be shown`)
    return parsed.data.timeline as Timeline
  }

  /**
   * Replaces an image's timeline (partial decodes added later), keeping its record beside it. The file
   * is written aside and renamed over the old one, so a failed write leaves the old timeline.
   */
  async setTimeline(id: string, timeline: Timeline): Promise<void> {
    const entry = this.entries.find((x) => x.id === id)
    if (!entry) throw new NotFoundError(`No image "${id}" in the history (it may have been deleted)`)
    const path = join(this.timelinesDir, `${id}.json`)
    await this.writeFile(path, JSON.stringify({ format: TIMELINE_FORMAT, entry, timeline }))
  }

  /**
   * Removes the timeline, the record and the PNG, in that order (a crash between them leaves a PNG
   * that the next start moves aside, never a record that comes back). A file that a record names
   * outside the output folder is left alone: only the record goes.
   */
  async delete(id: string): Promise<{ deleted: boolean }> {
    const entry = this.get(id)
    const remove = async (path: string): Promise<void> => {
      try {
        // a link is removed itself, never what it points at
        await rm(path)
      } catch (error) {
        if (fsCode(error) !== 'ENOENT')
          throw new StorageError(fsProblem('delete', path, error), { cause: error })
      }
    }
    const image = await containedPath(this.outputDir, entry.file, 'image').catch((error: unknown) => {
      if (error instanceof OutsideFolderError) return undefined
      throw error
    })
    await remove(await containedPath(this.outputDir, join(this.timelinesDir, `${id}.json`), 'timeline'))
    const op = { remove: [id] }
    this.entries = applyLine(this.entries, op)
    await this.append(op)
    if (image) await remove(image)
    this.events.emit('history:changed', { added: [], removed: [id] })
    return { deleted: true }
  }

  /** Resolves once every change so far is on disk, folded into index.json. */
  async flush(): Promise<void> {
    await this.serial(async () => {
      if (this.journalChanges > 0) await this.writeIndex()
    })
    await this.index.flush()
  }

  /** Writes index.json with every record now and removes the journal. */
  private compact(): Promise<void> {
    return this.serial(() => this.writeIndex())
  }

  private async writeIndex(): Promise<void> {
    await this.index.write({ format: HISTORY_FORMAT, images: this.entries })
    this.journalChanges = 0
    // index.json holds every change the journal had (and any queued after it): replaying the
    // journal on top of it, should the removal below not happen, changes nothing
    try {
      await rm(this.journalPath, { force: true })
    } catch (error) {
      throw new StorageError(fsProblem('delete', this.journalPath, error), { cause: error })
    }
  }

  /** Appends one line to the journal; folds the journal into index.json when it has grown enough. */
  private async append(op: JournalLine): Promise<void> {
    const line = `${JSON.stringify(op)}\n`
    await this.serial(async () => {
      try {
        // O_NOFOLLOW: never appends through a link planted at the journal's name
        const file = await open(
          this.journalPath,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | NOFOLLOW,
          0o644,
        )
        try {
          await file.writeFile(line)
        } finally {
          await file.close()
        }
      } catch (error) {
        throw new StorageError(fsProblem('write', this.journalPath, error), { cause: error })
      }
      this.journalChanges += changesOf(op)
      if (this.journalChanges >= Math.max(this.compactAfter, this.entries.length)) await this.writeIndex()
    })
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.chain.then(task)
    // a failed write must not block the ones after it; the caller still sees its own failure
    this.chain = next.catch(() => undefined)
    return next
  }

  private view(e: StoredEntry): ImageEntry {
    return { ...e, file: isAbsolute(e.file) ? e.file : join(this.outputDir, e.file) }
  }

  /** A path relative to the output folder for storing in a record. */
  relative(path: string): string {
    return relative(this.outputDir, path)
  }
}

const ORPHANS = 'orphans'

/** Moves a file into `<out>/orphans/`, keeping its place below the output folder; says where. */
async function moveAside(outputDir: string, path: string): Promise<string> {
  let target = join(outputDir, ORPHANS, relative(outputDir, path))
  await containedDir(outputDir, dirname(target))
  for (
    let n = 2;
    await lstat(target).then(
      () => true,
      () => false,
    );
    n++
  )
    target = `${target}.${n}`
  await rename(path, target)
  return target
}

/** The PNG files (and leftovers of writes cut short) in `<out>/images/` and its date folders. */
async function imageFiles(outputDir: string): Promise<string[]> {
  const root = join(outputDir, 'images')
  const out: string[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    let items
    try {
      items = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const item of items) {
      const path = join(dir, item.name)
      if (item.isDirectory() && depth < 2) await walk(path, depth + 1)
      else if (!item.isDirectory() && (item.name.endsWith('.png') || item.name.endsWith('.tmp')))
        out.push(path)
    }
  }
  await walk(root, 0)
  return out
}

/**
 * Makes the index and the folder agree after a crash (see the module comment); records that name a
 * file by its full path inside the output folder get a relative name.
 */
async function reconcile(
  outputDir: string,
  loaded: StoredEntry[],
  log: (line: string) => void,
): Promise<{ entries: StoredEntry[]; changed: boolean }> {
  let changed = false
  const out = resolve(outputDir)
  const entries = loaded.map((e) => {
    if (!isAbsolute(e.file) || !isInside(out, resolve(e.file))) return e
    changed = true
    return { ...e, file: relative(out, resolve(e.file)) }
  })
  const known = new Set(entries.map((e) => e.id))
  const fileOf = (e: StoredEntry): string => resolve(out, e.file)
  const exists = (path: string): Promise<boolean> =>
    lstat(path).then(
      (s) => s.isFile(),
      () => false,
    )
  const timelines = join(out, 'history', 'timelines')
  let names: string[] = []
  try {
    names = await readdir(timelines)
  } catch {
    // no timelines yet
  }
  const adopted: StoredEntry[] = []
  let asideTimelines = 0
  let cutShort = 0
  for (const name of names) {
    const path = join(timelines, name)
    if (name.endsWith('.tmp')) {
      await rm(path, { force: true })
      cutShort++
      continue
    }
    if (!name.endsWith('.json') || known.has(name.slice(0, -5))) continue
    let entry: StoredEntry | undefined
    try {
      const parsed = timelineFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')))
      if (parsed.success && `${parsed.data.entry.id}.json` === name) entry = parsed.data.entry
    } catch {
      // damaged: moved aside below
    }
    const inside = entry && !isAbsolute(entry.file) && isInside(out, fileOf(entry))
    if (entry && inside && (await exists(fileOf(entry)))) {
      adopted.push(entry)
      known.add(entry.id)
    } else {
      await moveAside(out, path)
      asideTimelines++
    }
  }
  if (adopted.length > 0) {
    changed = true
    entries.push(...adopted.sort((a, b) => a.createdAt.localeCompare(b.createdAt)))
    log(
      `${out}: ${adopted.length} image(s) written before VAR Studio stopped were added to the history from their timeline files`,
    )
  }
  const referenced = new Set(entries.map(fileOf))
  let asideImages = 0
  for (const path of await imageFiles(out)) {
    if (path.endsWith('.tmp')) {
      await rm(path, { force: true })
      cutShort++
    } else if (!referenced.has(path)) {
      await moveAside(out, path)
      asideImages++
    }
  }
  if (asideImages + asideTimelines > 0) {
    log(
      `${out}: ${asideImages} image(s) and ${asideTimelines} timeline file(s) without a history record were moved to ${join(out, ORPHANS)}`,
    )
  }
  if (cutShort > 0) log(`${out}: ${cutShort} file(s) whose writing was cut short were removed`)
  let missing = 0
  for (const e of entries) if (!(await exists(fileOf(e)))) missing++
  if (missing > 0) {
    log(
      `${out}: ${missing} history record(s) name a PNG that is not there (moved or deleted outside VAR Studio); ` +
        'they are kept, and deleting them in the history removes them',
    )
  }
  return { entries, changed }
}

/**
 * The journal's lines. A last line cut short (no newline, not valid) is left out and said in `torn`;
 * any other line that is not a journal line makes the journal damaged: it is moved aside as a
 * backup and `problem` says so (the caller rebuilds from the timeline files).
 */
async function readJournal(path: string): Promise<{ lines: JournalLine[]; torn?: string; problem?: string }> {
  let stat
  try {
    stat = await lstat(path)
  } catch (error) {
    if (fsCode(error) === 'ENOENT') return { lines: [] }
    throw new StorageError(fsProblem('read', path, error), { cause: error })
  }
  if (!stat.isFile()) return { lines: [], problem: await backUp(path, 'it is not a plain file') }
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new StorageError(fsProblem('read', path, error), { cause: error })
  }
  const raw = text.split('\n')
  const last = raw.pop() ?? ''
  const lines: JournalLine[] = []
  const parse = (s: string): JournalLine | undefined => {
    try {
      const parsed = journalLineSchema.safeParse(JSON.parse(s))
      return parsed.success ? parsed.data : undefined
    } catch {
      return undefined
    }
  }
  for (const [i, s] of raw.entries()) {
    if (s.trim() === '') continue
    const op = parse(s)
    if (!op) return { lines: [], problem: await backUp(path, `line ${i + 1} is not a journal line`) }
    lines.push(op)
  }
  if (last.trim() === '') return { lines }
  const op = parse(last)
  if (op) return { lines: [...lines, op] }
  return {
    lines,
    torn:
      `${path}: its last line (${Buffer.byteLength(last)} bytes) was cut short when VAR Studio stopped and ` +
      'was ignored; images it named are taken from their timeline files',
  }
}

async function backUp(path: string, why: string): Promise<string> {
  const backup = `${path}.corrupt-${new Date().toISOString().replace(/[-:.]/g, '')}`
  try {
    await rename(path, backup)
  } catch (error) {
    throw new StorageError(
      `${path} is damaged (${why}) and could not be moved aside: ${fsProblem('rename', path, error)}`,
    )
  }
  return `${path} was damaged: ${why}; it was kept as ${backup}`
}

/** The records kept in the timeline files, oldest first. */
async function rebuild(outputDir: string): Promise<StoredEntry[]> {
  const dir = join(outputDir, 'history', 'timelines')
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  const out: StoredEntry[] = []
  for (const name of names) {
    try {
      const parsed = timelineFileSchema.safeParse(JSON.parse(await readFile(join(dir, name), 'utf8')))
      if (parsed.success) out.push(parsed.data.entry)
    } catch {
      // a damaged timeline file is left where it is; its image stays on disk
    }
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
}
