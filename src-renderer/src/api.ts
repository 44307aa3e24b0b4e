/**
 * The renderer's one way to reach its host. In Electron the preload exposes `window.studio`; in a
 * browser served by the web host we build the same `StudioBridge` over a WebSocket. Views and
 * stores only ever call `call()` / `getStudioApi()` and cannot tell the two apart.
 */
import type { StudioApi } from '../../src-main/electron/preload'
import type { IpcArgs, IpcChannel, IpcResult, StudioBridge } from '../../src-shared/ipc'
import { checkedBridge } from './lib/events'
import { toError } from './lib/host-error'
import { createWsBridge, type ConnectionStatus, type SocketLike } from './ws-bridge'

declare global {
  interface Window {
    /** what the Electron preload exposed (its type comes from its value); absent on the web host */
    studio?: StudioApi
  }
}

let bridge: StudioBridge | undefined
let status: ConnectionStatus = { state: 'connecting', attempt: 0, wasOpen: false }
const statusListeners = new Set<(status: ConnectionStatus) => void>()

function setStatus(next: ConnectionStatus): void {
  status = next
  for (const listener of statusListeners) listener(next)
}

/** The token the web host printed in its URL; the page cannot connect without it. */
function pageToken(): string | null {
  return new URLSearchParams(window.location.search).get('token')
}

function browserBridge(): StudioBridge {
  const token = pageToken()
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  if (!token) {
    // Without the token the host refuses the socket; retrying would only hide the real problem.
    setStatus({ state: 'closed', attempt: 0, wasOpen: false })
    const refuse = () =>
      Promise.reject(
        new Error('This page has no access token. Open the full address that `npm run web` printed.'),
      )
    return { invoke: refuse, on: () => () => undefined }
  }
  const url = `${scheme}//${window.location.host}/ws?token=${encodeURIComponent(token)}`
  const tokenRefused = async (): Promise<boolean> =>
    (await fetch(`/api/token?token=${encodeURIComponent(token)}`, { cache: 'no-store' })).status === 401
  return createWsBridge({
    url,
    createSocket: (u) => new WebSocket(u) as SocketLike,
    onStatus: setStatus,
    tokenRefused,
  })
}

export function getStudioApi(): StudioBridge {
  if (!bridge) {
    if (window.studio) {
      bridge = checkedBridge(window.studio, (m) => {
        console.warn(m)
      })
      setStatus({ state: 'open', attempt: 0, wasOpen: false })
    } else {
      bridge = browserBridge()
    }
  }
  return bridge
}

/** Calls the host; failures become an `Error` carrying the host's message. */
export async function call<C extends IpcChannel>(channel: C, args: IpcArgs<C>): Promise<IpcResult<C>> {
  try {
    return await getStudioApi().invoke(channel, args)
  } catch (error) {
    throw toError(error)
  }
}

/** Whether the page has the token it needs (only meaningful outside Electron). */
export function hasHostAccess(): boolean {
  return window.studio !== undefined || pageToken() !== null
}

export function connectionStatus(): ConnectionStatus {
  return status
}

export function onConnectionStatus(listener: (status: ConnectionStatus) => void): () => void {
  statusListeners.add(listener)
  return () => statusListeners.delete(listener)
}

/** A dropped file's path in Electron; undefined in a browser, where the bytes are sent instead. */
export function pathForFile(file: File): string | undefined {
  const path = window.studio?.pathForFile(file)
  return path ? path : undefined
}
