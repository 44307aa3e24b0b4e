/**
 * The web host's side of `StudioBridge`: every call and event of the contract over one WebSocket.
 * It knows nothing about the DOM beyond the small socket interface below, so tests can drive it
 * with a fake socket and fake timers.
 */
import {
  wireReplySchema,
  type IpcArgs,
  type IpcChannel,
  type IpcEvent,
  type IpcEventData,
  type IpcResult,
  type StudioBridge,
  type WireCall,
} from '../../src-shared/ipc'
import { checkEvent } from './lib/events'
import { HostError } from './lib/host-error'

/** The part of the browser's WebSocket the bridge uses. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: (() => void) | null
  onmessage: ((event: { readonly data: unknown }) => void) | null
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null
  onerror: (() => void) | null
}

/** `refused`: the host answered but does not accept this page's token (no more retries). */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'refused'

export interface ConnectionStatus {
  readonly state: ConnectionState
  /** failed attempts since the last successful connection */
  readonly attempt: number
  /** when reconnecting: the wait before the next attempt */
  readonly retryInMs?: number
  /** whether the connection was open before (stores then take a fresh snapshot) */
  readonly wasOpen: boolean
}

export interface WsBridgeOptions {
  readonly url: string
  readonly createSocket: (url: string) => SocketLike
  readonly onStatus?: (status: ConnectionStatus) => void
  readonly initialDelayMs?: number
  readonly maxDelayMs?: number
  readonly warn?: (message: string) => void
  /** asked when a socket closes without ever opening: true when the host refuses our token */
  readonly tokenRefused?: () => Promise<boolean>
}

interface Pending {
  readonly channel: string
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
}

const OPEN = 1

/** Backoff before reconnect attempt `attempt` (1-based): doubling, capped. */
export function backoffDelay(attempt: number, initialMs = 500, maxMs = 10_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1))
}

export function createWsBridge(options: WsBridgeOptions): StudioBridge & { close(): void } {
  const warn =
    options.warn ??
    ((message: string) => {
      console.warn(message)
    })
  const listeners = new Map<IpcEvent, Set<(data: unknown) => void>>()
  const pending = new Map<number, Pending>()
  // Calls made while disconnected wait here: they were never sent, so sending them later is safe.
  const outbox: { id: number; text: string }[] = []
  let nextId = 1
  let socket: SocketLike | undefined
  let attempt = 0
  let wasOpen = false
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const report = (state: ConnectionState, retryInMs?: number) =>
    options.onStatus?.({ state, attempt, wasOpen, ...(retryInMs === undefined ? {} : { retryInMs }) })

  function connect(): void {
    report(attempt === 0 && !wasOpen ? 'connecting' : 'reconnecting')
    const ws = options.createSocket(options.url)
    socket = ws
    let opened = false
    ws.onopen = () => {
      opened = true
      attempt = 0
      report('open')
      wasOpen = true
      for (const message of outbox.splice(0)) ws.send(message.text)
    }
    ws.onmessage = (event) => {
      handle(event.data)
    }
    ws.onerror = () => {
      // The close event that follows carries what we need.
    }
    ws.onclose = () => {
      if (socket !== ws) return
      socket = undefined
      // Calls in flight may or may not have run on the host: fail them rather than resend.
      const unsent = new Set(outbox.map((m) => m.id))
      for (const [id, call] of pending) {
        if (unsent.has(id)) continue
        call.reject(
          new HostError(`The connection to the studio host was lost during '${call.channel}'. Try again.`),
        )
        pending.delete(id)
      }
      if (stopped) return report('closed')
      if (!opened && options.tokenRefused) {
        void options.tokenRefused().then(
          (refused) => {
            if (refused) refuse()
            else retry()
          },
          () => {
            retry()
          },
        )
        return
      }
      retry()
    }
  }

  function refuse(): void {
    stopped = true
    for (const [id, call] of pending) {
      call.reject(new HostError("The studio host does not accept this page's token."))
      pending.delete(id)
    }
    outbox.splice(0)
    report('refused')
  }

  function retry(): void {
    if (stopped) return report('closed')
    attempt += 1
    const delay = backoffDelay(attempt, options.initialDelayMs, options.maxDelayMs)
    report('reconnecting', delay)
    timer = setTimeout(connect, delay)
  }

  function handle(raw: unknown): void {
    let json: unknown
    try {
      json = JSON.parse(typeof raw === 'string' ? raw : String(raw))
    } catch {
      warn('studio host sent a message that is not JSON; ignored')
      return
    }
    const parsed = wireReplySchema.safeParse(json)
    if (!parsed.success) {
      warn('studio host sent a malformed message; ignored')
      return
    }
    const reply = parsed.data
    if (reply.type === 'event') {
      const checked = checkEvent(reply.event, reply.data)
      if (!checked.ok) {
        warn(`dropped event from the studio host: ${checked.reason}`)
        return
      }
      for (const listener of listeners.get(checked.event) ?? []) listener(checked.data)
      return
    }
    const call = pending.get(reply.id)
    if (!call) return
    pending.delete(reply.id)
    if (reply.type === 'result') call.resolve(reply.result)
    else call.reject(new HostError(reply.error.message, reply.error.name, reply.error.field))
  }

  connect()

  return {
    invoke<C extends IpcChannel>(channel: C, args: IpcArgs<C>): Promise<IpcResult<C>> {
      // After close or a refused token nothing is sent any more: fail at once rather than wait forever.
      if (stopped) {
        return Promise.reject(new HostError(`Not connected to the studio host ('${channel}' was not sent).`))
      }
      const id = nextId++
      const message: WireCall = { type: 'call', id, channel, args }
      return new Promise<IpcResult<C>>((resolve, reject) => {
        pending.set(id, { channel, resolve: resolve as (value: unknown) => void, reject })
        const text = JSON.stringify(message)
        if (socket?.readyState === OPEN) socket.send(text)
        else outbox.push({ id, text })
      })
    },
    on<E extends IpcEvent>(event: E, listener: (data: IpcEventData<E>) => void): () => void {
      const set = listeners.get(event) ?? new Set()
      listeners.set(event, set)
      // Safe: handle() only delivers data that passed this event's schema.
      const untyped = listener as (data: unknown) => void
      set.add(untyped)
      return () => set.delete(untyped)
    },
    close() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      socket?.close(1000, 'closed by the page')
      if (!socket) report('closed')
    },
  }
}
