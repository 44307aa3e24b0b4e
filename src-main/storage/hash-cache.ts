/**
 * sha256 of model files, cached by path + size + mtime so that verifying a multi-GB model twice does
 * not read it twice. Optionally persisted to a JSON file (the CLI starts a fresh host every run).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

interface Entry {
  readonly size: number
  readonly mtimeMs: number
  readonly sha256: string
}

/** Streams a file through sha256, reporting the bytes read so far. */
export async function sha256File(path: string, onBytes?: (done: number) => void): Promise<string> {
  const hash = createHash('sha256')
  let done = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer
    hash.update(buf)
    done += buf.length
    onBytes?.(done)
  }
  return hash.digest('hex')
}

export class HashCache {
  private entries = new Map<string, Entry>()
  private loaded = false

  /** `file`: where to persist the cache; in memory only when undefined. */
  constructor(private readonly file?: string) {}

  /** The sha256 of `path`, from the cache when its size and mtime are unchanged. */
  async hash(
    path: string,
    options: { force?: boolean; onBytes?: (done: number) => void } = {},
  ): Promise<{ sha256: string; cached: boolean }> {
    await this.load()
    const info = await stat(path)
    const known = this.entries.get(path)
    if (!options.force && known && known.size === info.size && known.mtimeMs === info.mtimeMs) {
      options.onBytes?.(info.size)
      return { sha256: known.sha256, cached: true }
    }
    const sha256 = await sha256File(path, options.onBytes)
    this.entries.set(path, { size: info.size, mtimeMs: info.mtimeMs, sha256 })
    return { sha256, cached: false }
  }

  private async load(): Promise<void> {
    if (this.loaded || !this.file) {
      this.loaded = true
      return
    }
    this.loaded = true
    try {
      const json = JSON.parse(await readFile(this.file, 'utf8')) as { entries?: Record<string, Entry> }
      for (const [path, e] of Object.entries(json.entries ?? {})) {
        if (typeof e.size === 'number' && typeof e.mtimeMs === 'number' && /^[0-9a-f]{64}$/.test(e.sha256)) {
          this.entries.set(path, e)
        }
      }
    } catch {
      // A missing or unreadable cache only costs a re-hash.
    }
  }

  /** Writes the cache file (atomically); a no-op for an in-memory cache. */
  async save(): Promise<void> {
    if (!this.file) return
    await mkdir(dirname(this.file), { recursive: true })
    const tmp = `${this.file}.${process.pid}.tmp`
    // a fresh file: never written through a file or link left at that name
    await rm(tmp, { force: true })
    await writeFile(tmp, JSON.stringify({ version: 1, entries: Object.fromEntries(this.entries) }), {
      flag: 'wx',
    })
    await rename(tmp, this.file)
  }
}
