/**
 * Settings kept by the host in `<home>/studio-settings.json`, the same file for Electron and the web
 * host so that both see one set of settings (`settings.json` beside it belongs to the model list of
 * ../storage/user-models). Patches are validated with the contract's schema; every change is pushed
 * as `settings:changed`.
 */
import { lstat, mkdir, realpath, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, parse, resolve, sep } from 'node:path'
import { InvalidRequestError } from '../../src-shared/errors'
import { isInside } from '../storage/contained'
import { fsCode, fsProblem } from './errors'
import {
  type Settings,
  settingsPatchSchema,
  settingsSchema,
  storedSettingsSchema,
} from '../../src-shared/ipc'
import { issuesText } from '../../src-shared/protocol'
import type { StudioEvents } from './events'
import { JsonFile, loadJson } from './json-file'

/**
 * Where settings are kept. The Electron app passes one backed by electron-store (the same file,
 * `<home>/studio-settings.json`); the web host and tests use a plain JSON file.
 */
export interface SettingsBackend {
  /** the stored value (anything: it is validated here), or undefined when there is none */
  read(): Promise<unknown>
  write(value: Settings): Promise<void>
  flush(): Promise<void>
  /** copies stored settings that failed validation aside before defaults replace them; says where */
  keepAside?(): Promise<string>
}

export const SETTINGS_NAME = 'studio-settings'

function jsonBackend(home: string, log: (line: string) => void): SettingsBackend {
  const path = join(home, `${SETTINGS_NAME}.json`)
  const file = new JsonFile(path)
  return {
    read: async () => {
      // A file from an older version may lack keys (defaults fill them) or hold a bad value: then
      // it is backed up and defaults are used, which loadJson reports.
      const loaded = await loadJson(path, storedSettingsSchema)
      if (loaded.problem) log(`${loaded.problem}; default settings are used`)
      return loaded.value
    },
    write: (value) => file.write(value),
    flush: () => file.flush(),
  }
}

export class SettingsStore {
  private constructor(
    private current: Settings,
    private readonly file: SettingsBackend,
    private readonly events: StudioEvents,
  ) {}

  static async open(
    home: string,
    events: StudioEvents,
    log: (line: string) => void,
    backend: SettingsBackend = jsonBackend(home, log),
  ): Promise<SettingsStore> {
    const raw = await backend.read()
    const parsed = raw === undefined ? undefined : storedSettingsSchema.safeParse(raw)
    if (parsed && !parsed.success) {
      const kept = backend.keepAside ? ` (kept as ${await backend.keepAside()})` : ''
      log(`stored settings are not valid (${parsed.error.message})${kept}; defaults are used`)
    }
    const value = parsed?.success ? parsed.data : undefined
    const store = new SettingsStore(value ?? settingsSchema.parse({}), backend, events)
    if (!value) await backend.write(store.current)
    return store
  }

  get(): Settings {
    return this.current
  }

  /** Applies a validated patch, saves it and pushes the new settings. */
  async set(patch: unknown): Promise<Settings> {
    const parsed = settingsPatchSchema.safeParse(patch)
    if (!parsed.success) {
      const { field, text } = issuesText(parsed.error)
      throw new InvalidRequestError(field, `settings: ${text}`)
    }
    // zod 4 fills defaults into a partial schema, so only the keys the caller sent are applied.
    const sent = new Set(Object.keys(patch as object))
    const defined = Object.fromEntries(Object.entries(parsed.data).filter(([k]) => sent.has(k)))
    this.current = settingsSchema.parse({ ...this.current, ...defined })
    await this.file.write(this.current)
    this.events.emit('settings:changed', this.current)
    return this.current
  }

  flush(): Promise<void> {
    return this.file.flush()
  }
}

/** Folders of the system whose insides are never an output folder. */
const SYSTEM_TREES = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
  '/System',
  '/private/etc',
  '/private/var/db',
  '/Library',
  '/Applications',
]
/** Folders that hold everyone's files: not an output folder themselves (a folder inside may be). */
const SHARED_ROOTS = [
  '/',
  '/home',
  '/Users',
  '/var',
  '/tmp',
  '/opt',
  '/srv',
  '/mnt',
  '/media',
  '/private',
  '/root',
]

function systemFolder(path: string): boolean {
  if (process.platform === 'win32') {
    const { root } = parse(path)
    const rest = path.slice(root.length).toLowerCase()
    const top = rest.split(sep)[0] ?? ''
    return (
      rest === '' ||
      top === 'windows' ||
      top === 'program files' ||
      top === 'program files (x86)' ||
      top === 'programdata' ||
      rest === 'users'
    )
  }
  return SHARED_ROOTS.includes(path) || SYSTEM_TREES.some((tree) => isInside(tree, path))
}

/**
 * Checks a folder chosen as the output folder: a full path, not a system folder (also through
 * links), and writable. Only the folder itself is created when missing, never a tree of folders.
 * Returns the resolved path; throws InvalidRequestError naming `outputDir`.
 */
export async function checkOutputDir(dir: string): Promise<string> {
  const refuse = (why: string): never => {
    throw new InvalidRequestError('outputDir', `outputDir: ${why}`)
  }
  if (!isAbsolute(dir)) refuse(`"${dir}" is not a full path; choose a folder`)
  const path = resolve(dir)
  const real = await realpath(path).catch(() => undefined)
  if (systemFolder(path) || (real !== undefined && systemFolder(real))) {
    refuse(`${path} is a system folder; choose a folder of your own`)
  }
  const kind = await lstat(path).then(
    (s) => (s.isDirectory() ? 'folder' : s.isSymbolicLink() ? 'link' : 'file'),
    () => 'missing',
  )
  if (kind === 'file') refuse(`${path} is a file; choose a folder`)
  if (kind === 'missing') {
    const parent = await lstat(dirname(path)).then(
      (s) => s.isDirectory(),
      () => false,
    )
    if (!parent) refuse(`${dirname(path)} does not exist; choose a folder that does (or its parent)`)
    try {
      await mkdir(path)
    } catch (error) {
      refuse(fsProblem('create', path, error))
    }
  }
  const probe = join(path, `.var-studio-write-test-${process.pid}`)
  try {
    await writeFile(probe, '', { flag: 'wx' })
  } catch (error) {
    if (fsCode(error) !== 'EEXIST') refuse(fsProblem('write into', path, error))
  } finally {
    await rm(probe, { force: true })
  }
  return path
}
