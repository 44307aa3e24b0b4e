/**
 * History of finished images, kept beside the images in the output folder:
 *
 *   <out>/images/<date>/<imageId>-<class>-s<seed>.png    the image (parameters embedded unless off)
 *   <out>/history/timelines/<imageId>.json                its record and timeline
 *   <out>/history/index.json                              every record, for listing and filters
 *
 * Each timeline file holds its own record too, so a damaged index is moved aside (kept as a backup)
 * and rebuilt from the timeline files: no record is lost silently.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { isAbsolute, join, relative } from 'node:path'
import { z } from 'zod'
import { type ImageEntry, imageEntrySchema, type Timeline } from '../../src-shared/ipc'
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

export interface HistoryFilter {
  readonly classId?: number | undefined
  readonly strategy?: string | undefined
  readonly modelId?: string | undefined
  readonly seed?: number | undefined
  readonly limit: number
}

export class History {
  private readonly index: JsonFile

  private constructor(
    readonly outputDir: string,
    private entries: StoredEntry[],
    private readonly events: StudioEvents,
  ) {
    this.index = new JsonFile(join(outputDir, 'history', 'index.json'))
  }

  static async open(outputDir: string, events: StudioEvents, log: (line: string) => void): Promise<History> {
    const path = join(outputDir, 'history', 'index.json')
    const loaded = await loadJson(path, indexSchema)
    let entries = loaded.value?.images ?? []
    // A damaged index, or one that is missing beside timeline files (deleted, or a folder copied
    // without it), is rebuilt from the timelines: otherwise the next save would forget those images.
    const rebuilt = loaded.problem || loaded.value ? undefined : await rebuild(outputDir)
    if (loaded.problem) {
      entries = await rebuild(outputDir)
      log(`${loaded.problem}; the history was rebuilt from ${entries.length} timeline file(s)`)
    } else if (rebuilt && rebuilt.length > 0) {
      entries = rebuilt
      log(`${path} was missing; the history was rebuilt from ${entries.length} timeline file(s)`)
    }
    const history = new History(outputDir, entries, events)
    if (loaded.problem || (rebuilt && rebuilt.length > 0)) await history.save()
    return history
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

  async add(records: readonly { entry: StoredEntry; timeline: Timeline }[]): Promise<void> {
    await mkdir(this.timelinesDir, { recursive: true }).catch((error: unknown) => {
      throw new StorageError(fsProblem('create', this.timelinesDir, error), { cause: error })
    })
    for (const { entry, timeline } of records) {
      const path = join(this.timelinesDir, `${entry.id}.json`)
      await writeFile(path, JSON.stringify({ format: TIMELINE_FORMAT, entry, timeline })).catch(
        (error: unknown) => {
          throw new StorageError(fsProblem('write', path, error), { cause: error })
        },
      )
    }
    this.entries.push(...records.map((r) => r.entry))
    await this.save()
    this.events.emit('history:changed', { added: records.map((r) => this.view(r.entry)), removed: [] })
  }

  async timeline(id: string): Promise<Timeline> {
    this.get(id)
    const path = join(this.timelinesDir, `${id}.json`)
    let text: string
    try {
      text = await readFile(path, 'utf8')
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
    const aside = `${path}.${process.pid}.tmp`
    try {
      await writeFile(aside, JSON.stringify({ format: TIMELINE_FORMAT, entry, timeline }))
      await rename(aside, path)
    } catch (error) {
      await rm(aside, { force: true })
      throw new StorageError(fsProblem('write', path, error), { cause: error })
    }
  }

  /** Removes the PNG, the timeline and the record. */
  async delete(id: string): Promise<{ deleted: boolean }> {
    const entry = this.get(id)
    for (const path of [entry.file, join(this.timelinesDir, `${id}.json`)]) {
      try {
        await rm(path)
      } catch (error) {
        if (fsCode(error) !== 'ENOENT')
          throw new StorageError(fsProblem('delete', path, error), { cause: error })
      }
    }
    this.entries = this.entries.filter((e) => e.id !== id)
    await this.save()
    this.events.emit('history:changed', { added: [], removed: [id] })
    return { deleted: true }
  }

  flush(): Promise<void> {
    return this.index.flush()
  }

  private save(): Promise<void> {
    return this.index.write({ format: HISTORY_FORMAT, images: this.entries })
  }

  private view(e: StoredEntry): ImageEntry {
    return { ...e, file: isAbsolute(e.file) ? e.file : join(this.outputDir, e.file) }
  }

  /** A path relative to the output folder for storing in a record. */
  relative(path: string): string {
    return relative(this.outputDir, path)
  }
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
