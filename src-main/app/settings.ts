/**
 * Settings kept by the host in `<home>/studio-settings.json`, the same file for Electron and the web
 * host so that both see one set of settings (`settings.json` beside it belongs to the model list of
 * ../storage/user-models). Patches are validated with the contract's schema; every change is pushed
 * as `settings:changed`.
 */
import { join } from 'node:path'
import { InvalidRequestError } from '../../src-shared/errors'
import { type Settings, settingsPatchSchema, settingsSchema } from '../../src-shared/ipc'
import { issuesText } from '../../src-shared/protocol'
import type { StudioEvents } from './events'
import { JsonFile, loadJson } from './json-file'

export class SettingsStore {
  private constructor(
    private current: Settings,
    private readonly file: JsonFile,
    private readonly events: StudioEvents,
  ) {}

  static async open(home: string, events: StudioEvents, log: (line: string) => void): Promise<SettingsStore> {
    const path = join(home, 'studio-settings.json')
    // A file from an older version may lack keys (defaults fill them) or hold a bad value: then it
    // is backed up and defaults are used, which loadJson reports.
    const loaded = await loadJson(path, settingsSchema)
    if (loaded.problem) log(`${loaded.problem}; default settings are used`)
    const store = new SettingsStore(loaded.value ?? settingsSchema.parse({}), new JsonFile(path), events)
    if (!loaded.value) await store.file.write(store.current)
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
