/**
 * The Electron IPC layer with the one test double this project allows: `electron` itself (its
 * binary cannot be installed here). Behind it runs the real studio service.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { IPC_CHANNELS } from '../../src-shared/ipc'
import { openStudio, tempHome } from '../app/studio-helpers'

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
})
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
  it('registers a handler for every channel of the contract', () => {
    expect([...handlers.keys()].sort()).toEqual([...IPC_CHANNELS].sort())
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
