/**
 * The user's models: folders they registered one by one, and a models directory of their choosing
 * whose model subfolders count without registering. Model files are large, so they stay where the
 * user keeps them; only a small JSON settings file lives in the config folder (`home`).
 *
 * Pure Node so the CLI, the web host and the Electron main share one implementation and one file.
 */
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { StudioError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import type { ModelSummary, ModelVerifyResult } from '../../src-shared/protocol'
import { findShippedModel, type ResourceLayout } from '../resources'
import { HashCache } from './hash-cache'
import { checkModelFiles, type FileProgress, readManifest } from './model-folder'
import { listModels } from './model-registry'

export const SETTINGS_FILE = 'models.json'

/** Why a model-manager request was refused; lets a UI pick its wording without parsing messages. */
export type UserModelsProblem =
  | 'settings'
  | 'not-found'
  | 'not-a-folder'
  | 'already-registered'
  | 'duplicate-id'
  | 'invalid-model'
  | 'unknown-model'
  | 'shipped'
  | 'in-models-dir'

export class UserModelsError extends StudioError {
  readonly problem: UserModelsProblem

  constructor(problem: UserModelsProblem, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'UserModelsError'
    this.problem = problem
  }
}

export interface RegisteredModel {
  /** Absolute path of the model folder. */
  readonly dir: string
  /** The manifest's id when the folder was added (for `remove <id>` even if the folder is gone). */
  readonly id: string
  readonly addedAt: string
}

export interface UserModels {
  readonly home: string
  /** The model list, `home/models.json`. */
  readonly file: string
  /** Where the user keeps model folders; every subfolder with a manifest is a model. */
  readonly modelsDir?: string | undefined
  readonly models: readonly RegisteredModel[]
}

// Loose so keys other parts of the studio may keep in the same file survive a rewrite.
const settingsSchema = z.looseObject({
  version: z.literal(1).default(1),
  modelsDir: z.string().min(1).optional(),
  models: z
    .array(z.strictObject({ dir: z.string().min(1), id: z.string().min(1), addedAt: z.string() }))
    .default([]),
})
type SettingsJson = z.infer<typeof settingsSchema>

/**
 * The config folder: VAR_STUDIO_HOME (tests, portable installs), else `$XDG_CONFIG_HOME/var-studio`,
 * else `%APPDATA%/var-studio` on Windows, `~/Library/Application Support/var-studio` on macOS and
 * `~/.config/var-studio` elsewhere.
 */
export function defaultHome(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.VAR_STUDIO_HOME) return resolve(env.VAR_STUDIO_HOME)
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'var-studio')
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'var-studio')
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'var-studio')
  return join(homedir(), '.config', 'var-studio')
}

const settingsPath = (home: string): string => join(resolve(home), SETTINGS_FILE)

async function readSettings(home: string): Promise<SettingsJson> {
  const file = settingsPath(home)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return settingsSchema.parse({})
    throw new UserModelsError('settings', `Cannot read ${file}: ${String(cause)}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new UserModelsError(
      'settings',
      `${file} is not valid JSON (${String(cause)}); fix it, or delete it to start with no registered models`,
      { cause },
    )
  }
  const parsed = settingsSchema.safeParse(json)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`)
    throw new UserModelsError(
      'settings',
      `${file} is not a VAR Studio settings file:\n${lines.join('\n')}\nFix it, or delete it to start over.`,
    )
  }
  return parsed.data
}

/** Writes through a temporary file and a rename, so a crash never leaves half a settings file. */
async function writeSettings(home: string, settings: SettingsJson): Promise<void> {
  const file = settingsPath(home)
  await mkdir(resolve(home), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  // a fresh file: never written through a file or link left at that name
  await rm(tmp, { force: true })
  await writeFile(tmp, `${JSON.stringify(settings, null, 2)}\n`, { flag: 'wx' })
  await rename(tmp, file)
}

function toUserModels(home: string, s: SettingsJson): UserModels {
  return { home: resolve(home), file: settingsPath(home), modelsDir: s.modelsDir, models: s.models }
}

/** The registered folders and the models directory; an absent settings file means none yet. */
export async function loadUserModels(home: string): Promise<UserModels> {
  return toUserModels(home, await readSettings(home))
}

/** The folders to hand to listModels / resolveModel as user entries: registered first, then the models dir. */
export function userModelFolders(models: UserModels): string[] {
  return [...models.models.map((m) => m.dir), ...(models.modelsDir ? [models.modelsDir] : [])]
}

/** Every user model with its manifest summary (broken folders carry their error), shipped model excluded. */
export function listUserModels(models: UserModels): Promise<ModelSummary[]> {
  return listModels({ userDirs: userModelFolders(models), includeShipped: false })
}

async function kindOf(path: string): Promise<'dir' | 'file' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file'
  } catch {
    return 'missing'
  }
}

/** One spelling per folder, so a symlink and its target count as the same registration. */
async function canonical(path: string): Promise<string> {
  const abs = resolve(path)
  try {
    return await realpath(abs)
  } catch {
    return abs
  }
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  return resolve(a) === resolve(b) || (await canonical(a)) === (await canonical(b))
}

export interface AddOptions {
  /**
   * The full check of the folder against its manifest. The CLI and the studio pass the inference
   * host's `models.verify` (files, sizes, sha256 and every graph's inputs and outputs); without it
   * files, sizes and sha256 are checked here, graphs are not (opening them needs onnxruntime, which
   * only the host may load).
   */
  readonly verify?: (
    dir: string,
    manifest: VarManifest,
  ) => Promise<Pick<ModelVerifyResult, 'files' | 'graphs'>>
  /** Hashing progress of the built-in check. */
  readonly onProgress?: (progress: FileProgress) => void
  /** Where the shipped model is, to refuse a model that reuses its id; the running process's layout by default. */
  readonly shipped?: ResourceLayout
}

export interface AddResult {
  readonly model: RegisteredModel
  readonly manifest: VarManifest
  readonly check: Pick<ModelVerifyResult, 'files' | 'graphs'>
  readonly settings: UserModels
}

async function localCheck(
  dir: string,
  manifest: VarManifest,
  onProgress: AddOptions['onProgress'],
): Promise<Pick<ModelVerifyResult, 'files' | 'graphs'>> {
  const files = await checkModelFiles(dir, manifest, {
    hashes: true,
    cache: new HashCache(),
    ...(onProgress ? { onProgress } : {}),
  })
  return { files, graphs: [] }
}

function describeFailures(check: Pick<ModelVerifyResult, 'files' | 'graphs'>): string[] {
  return [
    ...check.files.filter((f) => !f.ok).map((f) => `  ${f.name}: ${f.problem ?? 'does not match'}`),
    ...check.graphs
      .filter((g) => !g.ok && !check.files.some((f) => !f.ok && f.name === g.file))
      .flatMap((g) =>
        g.issues.length > 0
          ? g.issues.map((i) => `  ${g.file}: ${i.path}: ${i.message}`)
          : [`  ${g.file}: inputs and outputs disagree with the manifest`],
      ),
  ]
}

/**
 * Registers a model folder after checking it: a folder, a valid manifest, an id not yet taken, and
 * every file and graph matching the manifest. The folder stays where it is.
 */
export async function addUserModel(home: string, dir: string, options: AddOptions = {}): Promise<AddResult> {
  const abs = resolve(dir)
  const kind = await kindOf(abs)
  if (kind === 'missing') throw new UserModelsError('not-found', `${abs} does not exist`)
  if (kind === 'file') {
    throw new UserModelsError(
      'not-a-folder',
      `${abs} is a file; give the model folder (the one holding manifest.json)`,
    )
  }
  const settings = await readSettings(home)
  // Before the (slow) hashing: a second add of the same folder or id is refused at once.
  for (const m of settings.models) {
    if (await sameFolder(m.dir, abs)) {
      throw new UserModelsError('already-registered', `${abs} is already registered (as "${m.id}")`)
    }
  }
  const manifest = await readManifest(abs)
  const taken = settings.models.find((m) => m.id === manifest.id)
  if (taken) {
    throw new UserModelsError(
      'duplicate-id',
      `A model with id "${manifest.id}" is already registered from ${taken.dir}. ` +
        `Remove it first (var-studio models remove ${manifest.id}), or give this one another id in its manifest.json.`,
    )
  }
  const shipped = findShippedModel(options.shipped)
  if (shipped && !(await sameFolder(shipped, abs))) {
    const shippedId = await readManifest(shipped).then(
      (m) => m.id,
      () => undefined,
    )
    if (shippedId === manifest.id) {
      throw new UserModelsError(
        'duplicate-id',
        `"${manifest.id}" is the id of the model that ships with VAR Studio; give this copy another id in its manifest.json`,
      )
    }
  } else if (shipped) {
    throw new UserModelsError(
      'shipped',
      `${abs} is the model that ships with VAR Studio; it is always available`,
    )
  }
  if (settings.modelsDir) {
    const inDir = await listModels({ userDirs: [settings.modelsDir], includeShipped: false })
    const other = inDir.find((m) => m.ok && m.id === manifest.id)
    if (other && !(await sameFolder(other.dir, abs))) {
      throw new UserModelsError(
        'duplicate-id',
        `A model with id "${manifest.id}" is already in your models directory (${other.dir})`,
      )
    } else if (other) {
      throw new UserModelsError(
        'in-models-dir',
        `${abs} is in your models directory (${settings.modelsDir}), so it is listed without registering`,
      )
    }
  }

  const check = options.verify
    ? await options.verify(abs, manifest)
    : await localCheck(abs, manifest, options.onProgress)
  const failures = describeFailures(check)
  if (failures.length > 0) {
    throw new UserModelsError(
      'invalid-model',
      `${abs} does not match its manifest, so it was not added:\n${failures.join('\n')}\n` +
        'Copy the model folder again, or re-export it.',
    )
  }

  // Re-read: another process (the studio, a second CLI) may have written while we hashed.
  const latest = await readSettings(home)
  const model: RegisteredModel = { dir: abs, id: manifest.id, addedAt: new Date().toISOString() }
  const next = { ...latest, models: [...latest.models.filter((m) => m.dir !== abs), model] }
  await writeSettings(home, next)
  return { model, manifest, check, settings: toUserModels(home, next) }
}

export interface RemoveOptions {
  /** Also delete the model folder from disk. Never implied: removing unregisters only. */
  readonly deleteFiles?: boolean
  readonly shipped?: ResourceLayout
}

export interface RemoveResult {
  /** The folder that was unregistered or deleted. */
  readonly dir: string
  readonly id: string
  /** False when the model was found in the models directory rather than registered. */
  readonly registered: boolean
  readonly deletedFiles: boolean
  readonly settings: UserModels
}

/** Deletes a model folder, but only one that still looks like a model folder (has a manifest). */
async function deleteModelFolder(dir: string): Promise<boolean> {
  const kind = await kindOf(dir)
  if (kind === 'missing') return false
  if ((await kindOf(join(dir, 'manifest.json'))) !== 'file') {
    throw new UserModelsError(
      'invalid-model',
      `${dir} no longer holds a manifest.json; not deleting a folder that may not be a model folder`,
    )
  }
  await rm(dir, { recursive: true })
  return true
}

/**
 * Unregisters a model by id or folder. The files stay unless `deleteFiles` is set; a model that is
 * only in the models directory can be deleted that way but not unregistered.
 */
export async function removeUserModel(
  home: string,
  idOrDir: string,
  options: RemoveOptions = {},
): Promise<RemoveResult> {
  const settings = await readSettings(home)
  let hit: RegisteredModel | undefined
  for (const m of settings.models) {
    if (m.id === idOrDir || (await sameFolder(m.dir, idOrDir))) {
      hit = m
      break
    }
  }
  if (hit) {
    const found = hit
    const deletedFiles = options.deleteFiles ? await deleteModelFolder(found.dir) : false
    const next = { ...settings, models: settings.models.filter((m) => m !== found) }
    await writeSettings(home, next)
    return {
      dir: found.dir,
      id: found.id,
      registered: true,
      deletedFiles,
      settings: toUserModels(home, next),
    }
  }

  const inDir = settings.modelsDir
    ? (await listModels({ userDirs: [settings.modelsDir], includeShipped: false })).filter((m) => m.ok)
    : []
  let fromDir: ModelSummary | undefined
  for (const m of inDir) {
    if (m.id === idOrDir || (await sameFolder(m.dir, idOrDir))) {
      fromDir = m
      break
    }
  }
  if (fromDir) {
    if (!options.deleteFiles) {
      throw new UserModelsError(
        'in-models-dir',
        `"${fromDir.id ?? idOrDir}" is not registered: it is listed because it is in your models directory ` +
          `(${fromDir.dir}). Move the folder out of ${settings.modelsDir ?? 'it'}, or delete it with --delete-files.`,
      )
    }
    await deleteModelFolder(fromDir.dir)
    return {
      dir: fromDir.dir,
      id: fromDir.id ?? idOrDir,
      registered: false,
      deletedFiles: true,
      settings: toUserModels(home, settings),
    }
  }

  const shipped = findShippedModel(options.shipped)
  if (shipped) {
    const shippedId = await readManifest(shipped).then(
      (m) => m.id,
      () => undefined,
    )
    if (shippedId === idOrDir || (await sameFolder(shipped, idOrDir))) {
      throw new UserModelsError(
        'shipped',
        `"${idOrDir}" is the model that ships with VAR Studio; it cannot be removed`,
      )
    }
  }
  const registered = settings.models.map((m) => m.id)
  throw new UserModelsError(
    'unknown-model',
    `No registered model "${idOrDir}"` +
      (registered.length > 0
        ? ` (registered: ${registered.join(', ')})`
        : ' (none registered yet: var-studio models add <folder>)'),
  )
}

/**
 * Chooses the models directory (created when missing), or forgets it with `undefined`. Models
 * already in it are not checked here; `models list` shows any that are broken.
 */
export async function setModelsDir(
  home: string,
  dir: string | undefined,
  options: { create?: boolean } = {},
): Promise<UserModels> {
  const settings = await readSettings(home)
  let modelsDir: string | undefined
  if (dir !== undefined) {
    modelsDir = resolve(dir)
    const kind = await kindOf(modelsDir)
    if (kind === 'file') throw new UserModelsError('not-a-folder', `${modelsDir} is a file, not a folder`)
    if (kind === 'missing') {
      // The command line creates the folder it is told; a request from a window or a page does not
      // create folders on this machine.
      if (options.create === false) {
        throw new UserModelsError(
          'not-found',
          `${modelsDir} does not exist; create the folder first, then choose it as the models directory`,
        )
      }
      await mkdir(modelsDir, { recursive: true })
    }
  }
  // An undefined modelsDir is dropped by JSON.stringify, which is how it is forgotten.
  const next: SettingsJson = { ...settings, modelsDir }
  await writeSettings(home, next)
  return toUserModels(home, next)
}
