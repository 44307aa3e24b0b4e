import { app, ipcMain, type IpcMainInvokeEvent, type WebContents } from 'electron'
import type { AppInfo, IpcArgs, IpcChannel, IpcResult } from '../../src-shared/ipc'

type Handler<C extends IpcChannel> = (...args: IpcArgs<C>) => IpcResult<C> | Promise<IpcResult<C>>
type Handlers = { [C in IpcChannel]: Handler<C> }

function appInfo(): AppInfo {
  return {
    name: app.getName(),
    version: app.getVersion(),
    platform: process.platform,
    versions: {
      electron: process.versions.electron,
      chrome: process.versions.chrome,
      node: process.versions.node,
    },
  }
}

/** The full handler table; a missing channel is a compile error. */
const handlers: Handlers = {
  'app:info': appInfo,
}

/**
 * Registers every handler. `isOurs` decides whether a sender is one of our windows: IPC from
 * anything else (a navigated-away frame, an injected view) is refused.
 */
export function registerIpcHandlers(isOurs: (sender: WebContents) => boolean): void {
  for (const channel of Object.keys(handlers) as IpcChannel[]) {
    const handler = handlers[channel] as (...args: unknown[]) => unknown
    ipcMain.handle(channel, (event: IpcMainInvokeEvent, ...args: unknown[]) => {
      if (!isOurs(event.sender)) throw new Error(`IPC ${channel} refused: unknown sender`)
      return handler(...args)
    })
  }
}
