/**
 * Paths under the studio's own folders (the output folder, the home folder): every file the studio
 * reads, writes or deletes there is checked to stay inside, after links are resolved. A link inside
 * the folder is never followed out: reading one is refused, writing replaces it (files are written
 * aside and renamed over the name), and deleting removes the link, not what it points at.
 */
import { lstat, mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { StudioError } from '../../src-shared/errors'

export class OutsideFolderError extends StudioError {
  override readonly name = 'OutsideFolderError'
}

function fsCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

/** Whether `path` is `root` or lies under it, by name alone. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** The real path of `path`'s nearest existing ancestor (itself when it exists), with the rest appended. */
async function realOf(path: string): Promise<string> {
  let at = resolve(path)
  const rest: string[] = []
  for (;;) {
    try {
      return join(await realpath(at), ...rest.reverse())
    } catch (error) {
      const code = fsCode(error)
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
      const up = dirname(at)
      if (up === at) return join(at, ...rest.reverse())
      rest.push(at.slice(up.length).replace(/^[\\/]+/, ''))
      at = up
    }
  }
}

/**
 * A name stored relative to `root` (or an absolute path from an older record) as a full path that
 * stays inside `root`, also once links are resolved. Throws OutsideFolderError otherwise.
 */
export async function containedPath(root: string, name: string, what = 'file'): Promise<string> {
  const path = isAbsolute(name) ? resolve(name) : resolve(root, name)
  if (!isInside(resolve(root), path)) {
    throw new OutsideFolderError(`The ${what} ${path} is outside ${root}; VAR Studio does not touch it`)
  }
  const [realRoot, realParent] = await Promise.all([realOf(root), realOf(dirname(path))])
  if (!isInside(realRoot, realParent)) {
    throw new OutsideFolderError(
      `The ${what} ${path} leads outside ${root} through a link (to ${realParent}); VAR Studio does not follow it`,
    )
  }
  return path
}

/** Like containedPath, and the file itself must not be a link (for reading). */
export async function containedFile(root: string, name: string, what = 'file'): Promise<string> {
  const path = await containedPath(root, name, what)
  let link = false
  try {
    link = (await lstat(path)).isSymbolicLink()
  } catch {
    // missing: the read reports it
  }
  if (link) {
    throw new OutsideFolderError(`The ${what} ${path} is a link; VAR Studio does not follow links in ${root}`)
  }
  return path
}

/** Creates `dir` (inside `root`) and checks that it really is inside, links resolved. */
export async function containedDir(root: string, dir: string, what = 'folder'): Promise<string> {
  const path = await containedPath(root, dir, what)
  await mkdir(path, { recursive: true })
  await containedPath(root, join(path, '.probe'), what)
  return path
}

let seq = 0

/**
 * Writes a file inside `root` in full or not at all: into a fresh name beside it (never an existing
 * file or link), then renamed over the name, which replaces a link rather than writing through it.
 */
export async function writeContained(root: string, path: string, data: string | Uint8Array): Promise<void> {
  const target = await containedPath(root, path)
  const aside = `${target}.${process.pid}-${++seq}.tmp`
  try {
    await writeFile(aside, data, { flag: 'wx' })
    await rename(aside, target)
  } catch (error) {
    await rm(aside, { force: true })
    throw error
  }
}
