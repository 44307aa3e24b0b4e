import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ManifestError, ModelLoadError } from '../../src-shared/errors'
import { parseManifest, type VarManifest } from '../../src-shared/manifest'
import type { FileCheck } from '../../src-shared/protocol'
import { HashCache } from './hash-cache'

export type { FileCheck }

export interface ModelFolderReport {
  readonly dir: string
  readonly manifest: VarManifest
  readonly files: readonly FileCheck[]
}

/** Progress of a file check: the file being read and bytes over all listed files. */
export interface FileProgress {
  readonly file: string
  readonly fileIndex: number
  readonly fileCount: number
  readonly bytesDone: number
  readonly bytesTotal: number
}

export interface CheckOptions {
  /** Also compare sha256 (slow for large graphs, so opt-in). */
  readonly hashes?: boolean
  /** Where cached hashes live; a fresh in-memory cache when omitted. */
  readonly cache?: HashCache
  /** Re-hash even when the cache has the file. */
  readonly force?: boolean
  readonly onProgress?: (progress: FileProgress) => void
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

async function checkFile(
  path: string,
  name: string,
  expected: { sha256: string; bytes: number },
  cache: HashCache,
  options: CheckOptions,
  report: (done: number) => void,
): Promise<FileCheck> {
  let info
  try {
    info = await stat(path)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      return { name, ok: false, kind: 'missing', problem: 'missing' }
    throw new ModelLoadError(`Cannot check ${path}`, { cause })
  }
  if (!info.isFile()) return { name, ok: false, kind: 'not-a-file', problem: 'not a regular file' }
  if (info.size !== expected.bytes) {
    return { name, ok: false, kind: 'size', problem: `${info.size} bytes, manifest says ${expected.bytes}` }
  }
  if (!options.hashes) return { name, ok: true }
  const { sha256, cached } = await cache.hash(path, {
    ...(options.force === undefined ? {} : { force: options.force }),
    onBytes: report,
  })
  return sha256 === expected.sha256
    ? { name, ok: true, cached }
    : { name, ok: false, kind: 'hash', problem: 'sha256 differs from the manifest', cached }
}

/** External-data file -> the graph file whose weights it holds (so a problem can say what it breaks). */
export function externalDataOwners(manifest: VarManifest): Map<string, string> {
  const owners = new Map<string, string>()
  for (const graph of Object.values(manifest.graphs)) {
    for (const file of graph.external_data ?? []) owners.set(file, graph.file)
  }
  return owners
}

/**
 * Checks every file the manifest lists: present, a regular file, the listed size, and the sha256.
 * External-data files are listed in `files` like the graphs, so they get the same checks; their
 * problems also name the graph that cannot load without them.
 */
export async function checkModelFiles(
  dir: string,
  manifest: VarManifest,
  options: CheckOptions = {},
): Promise<FileCheck[]> {
  const owners = externalDataOwners(manifest)
  const entries = Object.entries(manifest.files)
  const bytesTotal = entries.reduce((sum, [, f]) => sum + f.bytes, 0)
  const cache = options.cache ?? new HashCache()
  const files: FileCheck[] = []
  let before = 0
  for (const [fileIndex, [name, expected]] of entries.entries()) {
    const path = join(dir, name)
    const report = (done: number): void =>
      options.onProgress?.({
        file: name,
        fileIndex,
        fileCount: entries.length,
        bytesDone: before + done,
        bytesTotal,
      })
    report(0)
    const check = await checkFile(path, name, expected, cache, options, report)
    const owner = owners.get(name)
    files.push(
      !check.ok && owner ? { ...check, problem: `${check.problem ?? 'bad'} (weights of ${owner})` } : check,
    )
    before += expected.bytes
    report(0)
  }
  return files
}

/**
 * Validates the manifest, then checks that every listed file exists with the listed size and,
 * with `hashes`, the listed sha256.
 */
export async function inspectModelFolder(
  dir: string,
  options: CheckOptions = {},
): Promise<ModelFolderReport> {
  const manifest = await readManifest(dir)
  return { dir, manifest, files: await checkModelFiles(dir, manifest, options) }
}

/** Throws a ModelLoadError naming every bad file (missing, wrong size, wrong hash). */
export function assertFilesOk(report: ModelFolderReport): void {
  const bad = report.files.filter((f) => !f.ok)
  if (bad.length === 0) return
  const lines = bad.map((f) => `  ${f.name}: ${f.problem ?? 'bad'}`).join('\n')
  throw new ModelLoadError(
    `Model folder ${report.dir} does not match its manifest:\n${lines}\n` +
      'Copy the model folder again, or re-export it.',
  )
}

/** The codebook as float32 [vocab_size, Cvae] (raw little-endian on disk). */
export async function readCodebook(dir: string, manifest: VarManifest): Promise<Float32Array> {
  const path = join(dir, manifest.codebook.file)
  const [rows, cols] = manifest.codebook.shape
  const buf = await readFile(path)
  if (buf.length !== rows * cols * 4) {
    throw new ModelLoadError(
      `${path} has ${buf.length} bytes, float32 [${rows}, ${cols}] needs ${rows * cols * 4}`,
    )
  }
  const out = new Float32Array(rows * cols)
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4)
  return out
}
