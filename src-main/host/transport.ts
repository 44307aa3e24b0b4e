/**
 * How the inference host talks to its parent: Node's IPC channel when started with
 * `child_process.fork` (CLI, web host), or Electron's `process.parentPort` when started as a
 * utilityProcess (the app). Neither path imports electron.
 */
export interface HostTransport {
  send(message: unknown): void
  onMessage(handler: (message: unknown) => void): void
  /** Called when the parent goes away. */
  onClose(handler: () => void): void
}

interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void
  postMessage(message: unknown): void
}

/** The transport of the current process; throws when it was started without a channel. */
export function processTransport(): HostTransport {
  const parentPort = (process as { parentPort?: ParentPort }).parentPort
  if (parentPort) {
    return {
      send: (message) => {
        parentPort.postMessage(message)
      },
      onMessage: (handler) => {
        parentPort.on('message', (event) => {
          handler(event.data)
        })
      },
      // A utility process is ended by its parent; there is no disconnect event to follow.
      onClose: () => undefined,
    }
  }
  const send = process.send?.bind(process)
  if (!send) throw new Error('the inference host must be started with an IPC channel (child_process.fork)')
  return {
    send: (message) => {
      if (process.connected) send(message)
    },
    onMessage: (handler) => {
      process.on('message', handler)
    },
    onClose: (handler) => {
      process.on('disconnect', handler)
    },
  }
}
