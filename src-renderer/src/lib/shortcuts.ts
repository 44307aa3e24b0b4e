import type { IpcEventData } from '../../../src-shared/ipc'

export type Command = IpcEventData<'menu:command'>['command']

/**
 * The page's own key bindings, the same as the Electron menu's accelerators (in Electron the
 * menu handles them first and sends `menu:command`; in a browser these fire).
 */
export function commandFor(event: KeyboardEvent): Command | undefined {
  const mod = event.ctrlKey || event.metaKey
  if (!mod || event.altKey) return undefined
  if (event.key === 'Enter') return event.shiftKey ? 'run-next' : 'generate'
  if (event.key === ',') return 'settings'
  if (event.key.toLowerCase() === 'o' && event.shiftKey) return 'open-batch'
  return undefined
}
