/**
 * The only bridge between the sandboxed renderer and the main process. The renderer imports the
 * type `StudioApi` (never this module's value) through src-renderer/src/api.ts.
 */
import { contextBridge, ipcRenderer } from 'electron'
import type { IpcArgs, IpcChannel, IpcResult } from '../../src-shared/ipc'

function invoke<C extends IpcChannel>(channel: C, ...args: IpcArgs<C>): Promise<IpcResult<C>> {
  return ipcRenderer.invoke(channel, ...args) as Promise<IpcResult<C>>
}

const studioApi = {
  appInfo: () => invoke('app:info'),
} as const

export type StudioApi = typeof studioApi

contextBridge.exposeInMainWorld('studio', studioApi)
