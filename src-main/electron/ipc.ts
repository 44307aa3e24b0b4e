/**
 * The contract over Electron IPC: every channel goes to the studio service, which validates it.
 * Results travel in an envelope so the renderer gets the host's `{ name, message, field }` instead
 * of Electron's rewrapped error text. Calls from anything but our own windows' top frames are refused.
 */
import { ipcMain, type IpcMainInvokeEvent, type WebContents } from 'electron'
import { IPC_CHANNELS, type IpcErrorPayload } from '../../src-shared/ipc'
import { toIpcError } from '../app/errors'
import type { Studio } from '../app/studio'

export type Envelope =
  { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: IpcErrorPayload }

export function registerIpcHandlers(studio: Studio, isOurs: (sender: WebContents) => boolean): () => void {
  for (const channel of IPC_CHANNELS) {
    ipcMain.handle(channel, async (event: IpcMainInvokeEvent, args: unknown): Promise<Envelope> => {
      if (!isOurs(event.sender) || event.senderFrame !== event.sender.mainFrame) {
        return {
          ok: false,
          error: {
            name: 'ForbiddenError',
            message: `${channel} refused: the call did not come from a VAR Studio window`,
          },
        }
      }
      try {
        return { ok: true, result: await studio.handle(channel, args) }
      } catch (error) {
        return { ok: false, error: toIpcError(error) }
      }
    })
  }
  return () => {
    for (const channel of IPC_CHANNELS) ipcMain.removeHandler(channel)
  }
}

/** Pushes every studio event to every window of ours. */
export function forwardEvents(studio: Studio, windows: () => Iterable<WebContents>): () => void {
  return studio.onAny((event, data) => {
    for (const contents of windows()) if (!contents.isDestroyed()) contents.send(event, data)
  })
}
