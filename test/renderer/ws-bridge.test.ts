import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { IpcEventData, StudioBridge } from '../../src-shared/ipc'
import { checkedBridge, checkEvent } from '../../src-renderer/src/lib/events'
import {
  backoffDelay,
  createWsBridge,
  type ConnectionStatus,
  type SocketLike,
} from '../../src-renderer/src/ws-bridge'

/** A socket the test drives by hand: it records what the bridge sends. */
class FakeSocket implements SocketLike {
  readyState = 0
  sent: unknown[] = []
  onopen: (() => void) | null = null
  onmessage: ((event: { readonly data: unknown }) => void) | null = null
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null
  onerror: (() => void) | null = null

  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }
  close(): void {
    this.drop()
  }
  open(): void {
    this.readyState = 1
    this.onopen?.()
  }
  push(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) })
  }
  drop(): void {
    this.readyState = 3
    this.onclose?.({ code: 1006, reason: '' })
  }
}

const queueChanged: IpcEventData<'queue:changed'> = { jobs: [], paused: false, runningId: null }

function setup() {
  const sockets: FakeSocket[] = []
  const warnings: string[] = []
  const statuses: ConnectionStatus[] = []
  const bridge = createWsBridge({
    url: 'ws://127.0.0.1:1/ws?token=t',
    createSocket: () => {
      const s = new FakeSocket()
      sockets.push(s)
      return s
    },
    warn: (m) => warnings.push(m),
    onStatus: (s) => statuses.push(s),
  })
  return { bridge, sockets, warnings, statuses, socket: () => sockets.at(-1)! }
}

describe('checkEvent', () => {
  it('accepts a payload that matches the contract', () => {
    expect(checkEvent('queue:changed', queueChanged)).toMatchObject({ ok: true, event: 'queue:changed' })
  })

  it('rejects unknown events and payloads that fail the schema, naming the field', () => {
    expect(checkEvent('queue:exploded', {})).toEqual({ ok: false, reason: "unknown event 'queue:exploded'" })
    const bad = checkEvent('queue:changed', { ...queueChanged, paused: 'yes' })
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.reason).toContain('paused')
    expect(checkEvent('history:changed', { added: [], removed: ['a'], extra: 1 }).ok).toBe(false)
    // an added entry must be a whole ImageEntry: a bare id, as older hosts sent, is refused
    const refused = checkEvent('history:changed', { added: ['a'], removed: [] })
    expect(!refused.ok && refused.reason).toContain('added')
  })
})

describe('createWsBridge', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('delivers valid events and drops invalid ones with a warning', () => {
    const { bridge, socket, warnings } = setup()
    socket().open()
    const seen: unknown[] = []
    bridge.on('queue:changed', (data) => seen.push(data))
    socket().push({ type: 'event', event: 'queue:changed', data: queueChanged })
    socket().push({ type: 'event', event: 'queue:changed', data: { jobs: 'nope' } })
    socket().push({ type: 'event', event: 'no:such', data: {} })
    socket().onmessage?.({ data: 'not json' })
    expect(seen).toEqual([queueChanged])
    expect(warnings).toHaveLength(3)
    expect(warnings[0]).toContain('jobs')
  })

  it('stops delivering after unsubscribe', () => {
    const { bridge, socket } = setup()
    socket().open()
    const listener = vi.fn()
    const off = bridge.on('queue:changed', listener)
    off()
    socket().push({ type: 'event', event: 'queue:changed', data: queueChanged })
    expect(listener).not.toHaveBeenCalled()
  })

  it('sends calls once open and settles them by id, errors carrying the host message', async () => {
    const { bridge, socket } = setup()
    const info = bridge.invoke('queue:cancel', { jobId: 'j1' })
    const failing = bridge.invoke('queue:runNext', { jobId: 'j2' })
    expect(socket().sent).toHaveLength(0)
    socket().open()
    expect(socket().sent).toEqual([
      { type: 'call', id: 1, channel: 'queue:cancel', args: { jobId: 'j1' } },
      { type: 'call', id: 2, channel: 'queue:runNext', args: { jobId: 'j2' } },
    ])
    socket().push({
      type: 'error',
      id: 2,
      error: { name: 'InvalidRequestError', message: 'jobId: no such job' },
    })
    socket().push({ type: 'result', id: 1, result: { cancelled: true } })
    await expect(info).resolves.toEqual({ cancelled: true })
    await expect(failing).rejects.toThrow('jobId: no such job')
  })

  it('fails calls in flight when the socket drops, then reconnects with backoff', async () => {
    const { bridge, sockets, socket, statuses } = setup()
    socket().open()
    const pending = bridge.invoke('queue:get', {})
    socket().drop()
    await expect(pending).rejects.toThrow(/connection .* lost/)
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', retryInMs: 500 })
    vi.advanceTimersByTime(499)
    expect(sockets).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(sockets).toHaveLength(2)
    socket().open()
    expect(statuses.at(-1)).toMatchObject({ state: 'open', wasOpen: true })
  })

  it('doubles the backoff up to a cap', () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffDelay(a))).toEqual([500, 1000, 2000, 4000, 10_000])
  })
})

describe('a refused token', () => {
  it('stops retrying and fails waiting calls when the host refuses the token, retries when it does not', async () => {
    for (const refused of [true, false]) {
      const sockets: FakeSocket[] = []
      const statuses: ConnectionStatus[] = []
      const bridge = createWsBridge({
        url: 'ws://127.0.0.1:1/ws?token=wrong',
        createSocket: () => {
          const s = new FakeSocket()
          sockets.push(s)
          return s
        },
        onStatus: (s) => statuses.push(s),
        initialDelayMs: 1,
        tokenRefused: () => Promise.resolve(refused),
      })
      const call = bridge.invoke('queue:get', {})
      sockets[0].drop() // closed before it ever opened
      if (refused) {
        await expect(call).rejects.toThrow(/does not accept this page's token/)
        expect(statuses.at(-1)?.state).toBe('refused')
        await new Promise((r) => setTimeout(r, 20))
        expect(sockets).toHaveLength(1)
        await expect(bridge.invoke('queue:get', {})).rejects.toThrow(
          /Not connected .*'queue:get' was not sent/,
        )
      } else {
        await new Promise((r) => setTimeout(r, 20))
        expect(statuses.some((s) => s.state === 'reconnecting')).toBe(true)
        expect(sockets.length).toBeGreaterThan(1)
      }
      bridge.close()
    }
  })
})

describe('the Electron bridge as the renderer uses it', () => {
  it('checks pushed events against the contract and drops bad ones', () => {
    const listeners = new Map<string, (data: unknown) => void>()
    const raw = {
      invoke: () => Promise.reject(new Error('not used')),
      on: (event: string, listener: (data: unknown) => void) => {
        listeners.set(event, listener)
        return () => listeners.delete(event)
      },
    } as unknown as StudioBridge
    const warnings: string[] = []
    const seen: unknown[] = []
    checkedBridge(raw, (m) => warnings.push(m)).on('queue:changed', (d) => seen.push(d))
    const push = listeners.get('queue:changed')
    push?.(queueChanged)
    push?.({ jobs: 'nope', paused: false, runningId: null })
    expect(seen).toEqual([queueChanged])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/invalid 'queue:changed' payload: jobs/)
  })
})
