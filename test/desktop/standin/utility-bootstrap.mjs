/**
 * The start of a utility process, as Electron makes it: `process.parentPort` carries the messages
 * from the parent (`message` events with `data`), `process.send` does not exist, and
 * `process.resourcesPath` is set.
 */
import { EventEmitter } from 'node:events'
import { isMainThread } from 'node:worker_threads'
import './guards.mjs'

// Worker threads inherit the process's --import; the port belongs to the main thread.
if (isMainThread) setUp()

function setUp() {
  const send = process.send.bind(process)
  const parentPort = new EventEmitter()
  const queued = []
  let started = false
  parentPort.postMessage = (message) => {
    send(message)
  }
  parentPort.start = () => {
    started = true
    for (const data of queued.splice(0)) parentPort.emit('message', { data, ports: [] })
  }
  // Messages wait until a listener is attached (Electron starts the port on the first listener).
  parentPort.on('newListener', (name) => {
    if (name === 'message' && !started) queueMicrotask(() => parentPort.start())
  })
  process.on('message', (data) => {
    if (started) parentPort.emit('message', { data, ports: [] })
    else queued.push(data)
  })
  // Electron ends utility processes with the app; a forked child would outlive it.
  process.on('disconnect', () => process.exit(0))
  process.parentPort = parentPort
  process.resourcesPath = process.env.ELECTRON_STANDIN_RESOURCES
  process.type = 'utility'
  process.send = undefined
  delete process.env.ELECTRON_STANDIN_RESOURCES
}
