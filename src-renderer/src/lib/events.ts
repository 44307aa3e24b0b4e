import {
  eventSchemas,
  isIpcEvent,
  type IpcEvent,
  type IpcEventData,
  type StudioBridge,
} from '../../../src-shared/ipc'

export type EventCheck =
  | { readonly ok: true; readonly event: IpcEvent; readonly data: IpcEventData<IpcEvent> }
  | { readonly ok: false; readonly reason: string }

/**
 * Checks one pushed event against the contract. The renderer is the receiving side, so it never
 * hands an unchecked payload to a store: a host bug shows up as a warning, not a broken view.
 */
export function checkEvent(event: string, data: unknown): EventCheck {
  if (!isIpcEvent(event)) return { ok: false, reason: `unknown event '${event}'` }
  const parsed = eventSchemas[event].safeParse(data)
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ')
    return { ok: false, reason: `invalid '${event}' payload: ${issues}` }
  }
  return { ok: true, event, data: parsed.data }
}

/**
 * The preload's bridge with every pushed event checked here, on the receiving side, as the
 * WebSocket bridge does: a payload that fails its schema is dropped with a warning.
 */
export function checkedBridge(raw: StudioBridge, warn: (message: string) => void): StudioBridge {
  return {
    invoke: (channel, args) => raw.invoke(channel, args),
    on: (event, listener) =>
      raw.on(event, (data) => {
        const checked = checkEvent(event, data)
        if (checked.ok) listener(checked.data as typeof data)
        else warn(`studio host sent a bad event; ignored: ${checked.reason}`)
      }),
  }
}
