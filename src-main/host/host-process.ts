/**
 * How the client starts and talks to an inference host process. `forkHost` uses
 * `child_process.fork` (CLI, web host); the Electron app can supply the same interface around a
 * utilityProcess, so the client's crash and cancel handling is shared.
 */
import { fork } from 'node:child_process'
import { loaderExecArgv } from './loader'

export interface HostProcess {
  readonly pid: number | undefined
  /** Sends a message; false when the channel is already closed. */
  send(message: unknown): boolean
  onMessage(listener: (message: unknown) => void): void
  /** Called once when the process is gone: `signal SIGKILL`, `code 1`, or `an error (...)`. */
  onExit(listener: (how: string) => void): void
  /** The process's stdout and stderr. */
  onOutput(listener: (text: string) => void): void
  /** Asks it to finish (closes the channel). */
  close(): void
  kill(): void
}

export type SpawnHost = (entry: string, env: NodeJS.ProcessEnv) => HostProcess

/** Starts `entry` with child_process.fork; a `.ts` entry runs through tsx. */
export const forkHost: SpawnHost = (entry, env) => {
  const child = fork(entry, [], {
    execArgv: loaderExecArgv(entry),
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env,
  })
  let exited = false
  return {
    pid: child.pid,
    send: (message) => {
      if (!child.connected) return false
      child.send(message as never, () => undefined)
      return true
    },
    onMessage: (listener) => {
      child.on('message', listener)
    },
    onExit: (listener) => {
      const once = (how: string): void => {
        if (exited) return
        exited = true
        listener(how)
      }
      child.on('exit', (code, signal) => {
        once(signal ? `signal ${signal}` : `code ${String(code)}`)
      })
      child.on('error', (error) => {
        once(`an error (${error.message})`)
      })
    },
    onOutput: (listener) => {
      const text = (chunk: Buffer): void => {
        listener(chunk.toString('utf8'))
      }
      child.stdout?.on('data', text)
      child.stderr?.on('data', text)
    },
    close: () => {
      if (child.connected) child.disconnect()
    },
    kill: () => {
      child.kill('SIGKILL')
    },
  }
}
