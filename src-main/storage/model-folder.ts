import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ManifestError, ModelLoadError } from '../../src-shared/errors'
import { parseManifest, type VarManifest } from '../../src-shared/manifest'

export interface FileCheck {
  readonly name: string
  readonly ok: boolean
  readonly problem?: string
}

export interface ModelFolderReport {
  readonly dir: string
  readonly manifest: VarManifest
  readonly files: readonly FileCheck[]
}

/** Reads and validates `<dir>/manifest.json`; throws ManifestError naming the problem. */
export async function readManifest(dir: string): Promise<VarManifest> {
  const path = join(dir, 'manifest.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ManifestError(`Cannot read ${path}: is this a model folder?`, [], { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new ManifestError(`${path} is not valid JSON: ${String(cause)}`, [], { cause })
  }
  return parseManifest(json, path)
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Validates the manifest, then checks that every listed file exists with the listed size and,
 * with `hashes`, the listed sha256 (slow for large graphs, so opt-in).
 */
export async function inspectModelFolder(
  dir: string,
  options: { hashes?: boolean } = {},
): Promise<ModelFolderReport> {
  const manifest = await readManifest(dir)
  const files: FileCheck[] = []
  for (const [name, expected] of Object.entries(manifest.files)) {
    const path = join(dir, name)
    try {
      const info = await stat(path)
      if (!info.isFile()) {
        files.push({ name, ok: false, problem: 'not a regular file' })
      } else if (info.size !== expected.bytes) {
        files.push({ name, ok: false, problem: `${info.size} bytes, manifest says ${expected.bytes}` })
      } else if (options.hashes && (await sha256Of(path)) !== expected.sha256) {
        files.push({ name, ok: false, problem: 'sha256 differs from the manifest' })
      } else {
        files.push({ name, ok: true })
      }
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ModelLoadError(`Cannot check ${path}`, { cause })
      }
      files.push({ name, ok: false, problem: 'missing' })
    }
  }
  return { dir, manifest, files }
}
