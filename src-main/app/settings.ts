/**
 * Settings kept by the host in `<home>/studio-settings.json`, the same file for Electron and the web
 * host so that both see one set of settings (`settings.json` beside it belongs to the model list of
 * ../storage/user-models). Patches are validated with the contract's schema; every change is pushed
 * as `settings:changed`.
 */
import { join } from 'node:path'
import { InvalidRequestError } from '../../src-shared/errors'
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
