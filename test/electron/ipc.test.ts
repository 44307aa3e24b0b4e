/**
 * The Electron IPC layer with the one test double this project allows: `electron` itself (its
 * binary cannot be installed here). Behind it runs the real studio service.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import type { IpcResults } from '../../src-shared/ipc'
import { openStudio, tempHome, STUDIO_HOOK_MS } from '../app/studio-helpers'

/**
 * Every channel of the contract, written out here rather than read from the list registration loops
 * over: the compiler holds it to the bridge's result map (`IpcResults`, what the renderer's
 * `invoke` is typed against), so a channel missing here, or one the bridge does not know, fails to
 * type-check, and one missing from registration fails below.
 */
const CONTRACT = {
  'app:info': true,
  'settings:get': true,
  'settings:set': true,
  'models:list': true,
  'models:add': true,
  'models:remove': true,
  'models:dir': true,
  'models:show': true,
  'models:calibrate': true,
  'diagnostics:get': true,
  'queue:get': true,
  'queue:add': true,
  'queue:cancel': true,
  'queue:runNext': true,
  'queue:resume': true,
  'queue:pause': true,
  'queue:clear': true,
  'history:list': true,
  'history:timeline': true,
  'history:decodeScales': true,
  'history:delete': true,
  'image:get': true,
  'image:params': true,
  'png:info': true,
  'batch:parse': true,
  'batch:queue': true,
  'export:grid': true,
  'dialog:savePath': true,
  'dialog:chooseFolder': true,
  'shell:open': true,
  'experiments:run': true,
  'experiments:list': true,
  'experiments:get': true,
} as const satisfies Record<keyof IpcResults, true>

type Handler = (event: unknown, args: unknown) => Promise<unknown>
const handlers = new Map<string, Handler>()

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, handler: Handler) => handlers.set(channel, handler),
    removeHandler: (channel: string) => handlers.delete(channel),
  },
}))

const { registerIpcHandlers, forwardEvents } = await import('../../src-main/electron/ipc')

interface FakeContents {
  mainFrame: object
  sent: [string, unknown][]
  isDestroyed(): boolean
  send(event: string, data: unknown): void
}
const fakeContents = (): FakeContents => {
  const sent: [string, unknown][] = []
  return {
    mainFrame: {},
    sent,
    isDestroyed: () => false,
    send: (event, data) => sent.push([event, data]),
  }
}

let studio: Studio
let cleanup: () => Promise<void>
const ours = fakeContents()
const stranger = fakeContents()
let unregister: () => void

beforeAll(async () => {
  const made = await tempHome('electron-ipc')
  cleanup = made.cleanup
  studio = await openStudio(made.home)
  unregister = registerIpcHandlers(studio, (sender) => sender === (ours as unknown))
}, STUDIO_HOOK_MS)
afterAll(async () => {
  unregister()
  await studio.close()
  await cleanup()
})

const invoke = (sender: FakeContents, channel: string, args: unknown, frame = sender.mainFrame) => {
  const handler = handlers.get(channel)
  if (!handler) throw new Error(`no handler for ${channel}`)
  return handler({ sender, senderFrame: frame }, args)
}

describe('Electron IPC', () => {
  it('registers a handler for every channel of the contract, and no other', () => {
    expect([...handlers.keys()].sort()).toEqual(Object.keys(CONTRACT).sort())
  })

  it('each registered channel reaches the studio, which checks its payload', async () => {
    for (const channel of Object.keys(CONTRACT)) {
      const reply = (await invoke(ours, channel, 'not an object')) as {
        ok: boolean
        error?: { name: string; message: string }
      }
      expect(reply.ok, channel).toBe(false)
      expect(reply.error?.message ?? '', channel).not.toMatch(/unknown channel|no handler/i)
    }
  })

  it('answers our window, refuses other senders and sub-frames', async () => {
    expect(await invoke(ours, 'settings:get', {})).toMatchObject({ ok: true, result: { theme: 'system' } })
    expect(await invoke(stranger, 'settings:get', {})).toMatchObject({
      ok: false,
      error: { name: 'ForbiddenError' },
    })
    expect(await invoke(ours, 'settings:get', {}, {})).toMatchObject({
      ok: false,
      error: { name: 'ForbiddenError' },
    })
  })

  it('turns a payload that fails the schema into a named error naming the field, and keeps working', async () => {
    const bad = (await invoke(ours, 'settings:set', { batchSize: 9999 })) as {
      ok: boolean
      error: { name: string; message: string; field?: string }
    }
    expect(bad.ok).toBe(false)
    expect(bad.error.field).toBe('batchSize')
    expect(bad.error.message).toMatch(/must be in \[1, 256\]/)
    expect(await invoke(ours, 'queue:cancel', 'garbage')).toMatchObject({ ok: false })
    expect(await invoke(ours, 'settings:set', { theme: 'dark' })).toMatchObject({
      ok: true,
      result: { theme: 'dark' },
    })
  })

  it('pushes studio events to our windows', async () => {
    const off = forwardEvents(studio, () => [ours as never])
    await invoke(ours, 'settings:set', { previews: 'off' })
    off()
    const changed = ours.sent.filter(([event]) => event === 'settings:changed').map(([, data]) => data)
    expect(changed.at(-1)).toMatchObject({ previews: 'off' })
    expect(stranger.sent).toEqual([])
  })
})
