/**
 * Errors from the host, as the renderer shows them. Both hosts send `{ name, message, field? }`;
 * Electron's `ipcRenderer.invoke` wraps the message in its own prefix, which we strip so the UI
 * shows exactly what the host said.
 */
export class HostError extends Error {
  readonly field?: string

  constructor(message: string, name = 'HostError', field?: string) {
    super(message)
    this.name = name
    if (field !== undefined) this.field = field
  }
}

const ELECTRON_PREFIX = /^Error invoking remote method '[^']*': (?:[A-Za-z]*Error: )?/

/** The text to show for anything thrown by a call. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.replace(ELECTRON_PREFIX, '')
  if (typeof error === 'string') return error
  return 'Something went wrong (no message was given).'
}

/** Any thrown value as an `Error` whose message is the host's message. */
export function toError(error: unknown): Error {
  if (error instanceof HostError) return error
  if (error instanceof Error) {
    const message = errorMessage(error)
    return message === error.message ? error : new HostError(message, error.name)
  }
  return new HostError(errorMessage(error))
}
