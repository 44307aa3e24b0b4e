/**
 * Settings kept in <home>/studio-settings.json: files written by earlier versions load without being
 * thrown away, bad values are kept aside, and patches are held to the current schema.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SETTINGS_NAME, SettingsStore } from '../../src-main/app/settings'
import { StudioEvents } from '../../src-main/app/events'
import { tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let logged: string[]

beforeEach(async () => {
  ;({ home, cleanup } = await tempHome('settings'))
  logged = []
})
afterEach(() => cleanup())

const file = () => join(home, `${SETTINGS_NAME}.json`)

async function openWith(stored: unknown): Promise<SettingsStore> {
  await writeFile(file(), JSON.stringify(stored))
  return SettingsStore.open(home, new StudioEvents(), (line) => logged.push(line))
}

const backups = async () => (await readdir(home)).filter((n) => n.includes('.corrupt-'))

describe('stored settings', () => {
  it('reads previews on/off from an earlier version as `first`/`off`, keeping the other values', async () => {
    const on = await openWith({ theme: 'dark', previews: true, batchSize: 4 })
    expect(on.get()).toMatchObject({ theme: 'dark', previews: 'first', batchSize: 4 })
    const off = await openWith({ theme: 'light', previews: false })
    expect(off.get()).toMatchObject({ theme: 'light', previews: 'off' })
    expect(logged).toEqual([])
    expect(await backups()).toEqual([])
  })

  it("defaults to cheap previews from the model's preview map", async () => {
    const store = await openWith({ theme: 'dark' })
    expect(store.get().previews).toBe('projection')
  })

  it('keeps a file with an unknown preview mode aside and uses the defaults', async () => {
    const store = await openWith({ theme: 'dark', previews: 'sometimes' })
    expect(store.get()).toMatchObject({ theme: 'system', previews: 'projection' })
    expect(await backups()).toHaveLength(1)
    expect(logged.join('\n')).toMatch(/default settings are used/)
  })

  it('saves a new mode, and refuses the old boolean in a patch with the allowed values', async () => {
    const store = await openWith({})
    await store.set({ previews: 'all' })
    expect(JSON.parse(await readFile(file(), 'utf8'))).toMatchObject({ previews: 'all' })
    await expect(store.set({ previews: true })).rejects.toThrow(
      /previews.*"projection"\|"all"\|"first"\|"off"/,
    )
    expect(store.get().previews).toBe('all')
  })
})
