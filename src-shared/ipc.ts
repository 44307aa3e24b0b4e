/**
 * The typed contract between the renderer and whichever host serves it (Electron main today, the
 * web host later): one channel name per entry, with its arguments and result.
 */
export interface AppInfo {
  readonly name: string
  readonly version: string
  readonly platform: string
  readonly versions: { readonly electron: string; readonly chrome: string; readonly node: string }
}

export interface IpcContract {
  'app:info': { args: []; result: AppInfo }
}

export type IpcChannel = keyof IpcContract
export type IpcArgs<C extends IpcChannel> = IpcContract[C]['args']
export type IpcResult<C extends IpcChannel> = IpcContract[C]['result']

/** Every channel, so both sides can check at compile time that none is missing. */
export const IPC_CHANNELS = ['app:info'] as const satisfies readonly IpcChannel[]
