/**
 * The inference host as an Electron utilityProcess: the HostClient's `spawn` option, so its crash,
 * restart and cancel handling is the same as in the CLI and the web host (which fork).
 */
import { utilityProcess } from 'electron'
import type { HostProcess, SpawnHost } from '../host/host-process'

export const utilityHost: SpawnHost = (entry, env) => {
  const child = utilityProcess.fork(entry, [], {
    serviceName: 'VAR Studio inference host',
    stdio: 'pipe',
    env,
  })
  let alive = true
  const process: HostProcess = {
    get pid() {
      return child.pid
    },
    send: (message) => {
      if (!alive) return false
      child.postMessage(message)
      return true
    },
    onMessage: (listener) => {
      child.on('message', (message: unknown) => {
        listener(message)
      })
    },
    onExit: (listener) => {
      child.once('exit', (code) => {
        alive = false
        listener(`code ${code}`)
      })
    },
    onOutput: (listener) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        listener(chunk.toString('utf8'))
      })
      child.stderr?.on('data', (chunk: Buffer) => {
        listener(chunk.toString('utf8'))
      })
    },
    // A utility process has no channel to close: ask it to stop.
    close: () => {
      if (alive) child.kill()
    },
    kill: () => {
      if (alive) child.kill()
    },
  }
  return process
}
