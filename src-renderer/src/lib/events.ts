import { eventSchemas, isIpcEvent, type IpcEvent, type IpcEventData } from '../../../src-shared/ipc'

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
