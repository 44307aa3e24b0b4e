/**
 * JSON files the studio keeps (settings, queue, history index, model list). Writes go to a
 * temporary file that is then renamed over the old one, so a crash mid-write leaves the previous
 * version, never half a file. A file that cannot be parsed is moved aside as a backup (never
 * deleted) and the caller is told, so it can say so and rebuild what it can.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { z } from 'zod'
import { issuesText } from '../../src-shared/protocol'
import { fsCode, fsProblem, StorageError } from './errors'

export interface Loaded<T> {
  readonly value: T | undefined
  /** set when the file existed but could not be used; it was kept as `backup` */
  readonly problem?: string
  readonly backup?: string
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:.]/g, '')
}

/** Reads and validates a JSON file; a missing file gives `value: undefined`. */
export async function loadJson<S extends z.ZodType>(path: string, schema: S): Promise<Loaded<z.output<S>>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (fsCode(error) === 'ENOENT') return { value: undefined }
    throw new StorageError(fsProblem('read', path, error), { cause: error })
  }
  let why: string
  try {
    const parsed = schema.safeParse(JSON.parse(text))
    if (parsed.success) return { value: parsed.data }
    why = `it does not have the expected shape (${issuesText(parsed.error).text.slice(0, 300)})`
  } catch (error) {
    why = `it is not valid JSON (${error instanceof Error ? error.message : String(error)})`
  }
  const backup = `${path}.corrupt-${stamp()}`
  try {
    await rename(path, backup)
  } catch (error) {
    throw new StorageError(
      `${path} is damaged (${why}) and could not be moved aside: ${fsProblem('rename', path, error)}`,
    )
  }
  return { value: undefined, problem: `${path} was damaged: ${why}; it was kept as ${backup}`, backup }
}

/**
 * Serialised atomic writer for one file: each `write` waits for the previous one, so two quick
 * changes never interleave and the last one wins.
 */
export class JsonFile {
  private chain: Promise<void> = Promise.resolve()
  private seq = 0

  constructor(readonly path: string) {}

  write(value: unknown): Promise<void> {
    const text = `${JSON.stringify(value, null, 1)}\n`
    const next = this.chain.then(() => this.replace(text))
    // A failed write must not block the ones after it; the caller still sees its own failure.
    this.chain = next.catch(() => undefined)
    return next
  }

  /** Resolves once every write queued so far is on disk. */
  flush(): Promise<void> {
    return this.chain
  }

  private async replace(text: string): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}-${++this.seq}`
    try {
      await mkdir(dirname(this.path), { recursive: true })
      // a fresh name: never writes through a file or link already there
      await rm(tmp, { force: true })
      await writeFile(tmp, text, { flag: 'wx' })
      await rename(tmp, this.path)
    } catch (error) {
      throw new StorageError(fsProblem('write', this.path, error), { cause: error })
    }
  }
}
