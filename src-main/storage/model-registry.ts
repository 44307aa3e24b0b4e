/**
 * Where models live: the shipped Fashion-MNIST model (found by ../resources: next to the package in
 * a checkout, under `process.resourcesPath/models/` in an installed app) and the user's folders. A
 * user entry is a model folder or a folder holding model folders.
 */
import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ModelLoadError } from '../../src-shared/errors'
import { errorToWire, type ModelSummary } from '../../src-shared/protocol'
import { currentLayout, findShippedModel, type ResourceLayout, shippedModelCandidates } from '../resources'
import { readManifest } from './model-folder'

// The lookup moved to ../resources so the Electron main can pass `app.isPackaged`; these names stay
// importable from here for the host, the CLI and their tests.
export { findShippedModel, packageRoot, SHIPPED_MODEL, shippedModelCandidates } from '../resources'
export type ShippedLookup = ResourceLayout

export interface RegistryOptions {
  readonly userDirs?: readonly string[]
  readonly includeShipped?: boolean
  readonly shipped?: ShippedLookup
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/** Model folders under each user entry: the entry itself, or its subfolders holding a manifest. */
async function expandUserDir(entry: string): Promise<string[]> {
  const dir = resolve(entry)
  if (existsSync(join(dir, 'manifest.json'))) return [dir]
  if (!(await isDir(dir))) return [dir] // listed as broken below, so the user sees the bad entry
  const names = await readdir(dir)
  return names
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => existsSync(join(p, 'manifest.json')))
}

async function summarize(dir: string, origin: ModelSummary['origin']): Promise<ModelSummary> {
  try {
    const m = await readManifest(dir)
    return {
      dir,
      origin,
      ok: true,
      id: m.id,
      displayName: m.display_name,
      numClasses: m.num_classes,
      imageSize: m.image_size,
      imageChannels: m.image_channels,
      bytes: Object.values(m.files).reduce((s, f) => s + f.bytes, 0),
    }
  } catch (error) {
    return { dir, origin, ok: false, error: errorToWire(error) }
  }
}

/** Every known model folder, valid or not (a broken one carries its error). */
export async function listModels(options: RegistryOptions = {}): Promise<ModelSummary[]> {
  const seen = new Set<string>()
  const out: ModelSummary[] = []
  if (options.includeShipped ?? true) {
    const shipped = findShippedModel(options.shipped)
    if (shipped) {
      seen.add(shipped)
      out.push(await summarize(shipped, 'shipped'))
    }
  }
  for (const entry of options.userDirs ?? []) {
    for (const dir of await expandUserDir(entry)) {
      if (seen.has(dir)) continue
      seen.add(dir)
      out.push(await summarize(dir, 'user'))
    }
  }
  return out
}

/**
 * A model folder from a reference: an existing folder path, or a model id among the known models.
 * With no reference, the shipped model.
 */
export async function resolveModel(ref: string | undefined, options: RegistryOptions = {}): Promise<string> {
  if (ref === undefined) {
    const shipped = findShippedModel(options.shipped)
    if (!shipped) {
      const tried = shippedModelCandidates(options.shipped ?? currentLayout()).join(', ')
      throw new ModelLoadError(
        `The shipped model was not found (looked in ${tried || 'no candidate folder'})`,
      )
    }
    return shipped
  }
  if (await isDir(ref)) return resolve(ref)
  const models = await listModels(options)
  const hit = models.find((m) => m.ok && m.id === ref)
  if (hit) return hit.dir
  const known = models.filter((m) => m.ok).map((m) => m.id)
  throw new ModelLoadError(
    `No model folder or model id "${ref}"` + (known.length > 0 ? ` (known ids: ${known.join(', ')})` : ''),
  )
}
