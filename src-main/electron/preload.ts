/**
 * The only bridge between the sandboxed renderer and the main process: the contract's
 * `StudioBridge` plus the path of a dropped file. The renderer imports the type `StudioApi` (never
 * this module's value) through src-renderer/src/api.ts.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent, webUtils } from 'electron'
import {
  type IpcArgs,
  type IpcChannel,
  type IpcErrorPayload,
  type IpcEvent,
  type IpcEventData,
  type IpcResult,
  isIpcChannel,
  isIpcEvent,
  type StudioBridge,
} from '../../src-shared/ipc'

type Envelope = { ok: true; result: unknown } | { ok: false; error: IpcErrorPayload }

async function invoke<C extends IpcChannel>(channel: C, args: IpcArgs<C>): Promise<IpcResult<C>> {
  if (!isIpcChannel(channel)) throw new Error(`Unknown call "${String(channel)}"`)
  const reply = (await ipcRenderer.invoke(channel, args)) as Envelope
  if (reply.ok) return reply.result as IpcResult<C>
  // contextBridge copies an Error's message; the name rides along for the renderer's HostError.
  const error = new Error(reply.error.message)
  error.name = reply.error.name
  throw error
}

function on<E extends IpcEvent>(event: E, listener: (data: IpcEventData<E>) => void): () => void {
  if (!isIpcEvent(event)) throw new Error(`Unknown event "${String(event)}"`)
  const wrapped = (_e: IpcRendererEvent, data: IpcEventData<E>): void => {
    listener(data)
  }
  ipcRenderer.on(event, wrapped)
  return () => {
    ipcRenderer.removeListener(event, wrapped)
  }
}

type DroppedFile = Parameters<typeof webUtils.getPathForFile>[0]

const studioApi = {
  invoke,
  on,
  /** The path of a dropped or chosen file ('' for one that has none, e.g. made in the page). */
  pathForFile: (file: DroppedFile): string => webUtils.getPathForFile(file),
} as const satisfies StudioBridge & { pathForFile(file: DroppedFile): string }

export type StudioApi = typeof studioApi

contextBridge.exposeInMainWorld('studio', studioApi)
