'use strict'
/**
 * What runs in a window's page before its own scripts: the renderer side of the `electron`
 * stand-in. A sandboxed preload gets `require` for `electron` (contextBridge, ipcRenderer,
 * webUtils), `events`, `timers` and `url`, and nothing else: any other name throws
 * "module not found", as Electron's sandbox does. Preloads run in the main frame only
 * (`nodeIntegrationInSubFrames` is off).
 *
 * Two scripts are sent per window: the runtime (this file's `runtime`, with the shared wire codec)
 * and then one wrapper per preload file, in Electron's order.
 */
const { wireCodec } = require('./wire.cjs')

function runtime(config, wire) {
  if (window !== window.top) return

  class EventEmitter {
    constructor() {
      this._events = new Map()
    }
    on(name, fn) {
      if (!this._events.has(name)) this._events.set(name, [])
      this._events.get(name).push(fn)
      return this
    }
    addListener(name, fn) {
      return this.on(name, fn)
    }
    once(name, fn) {
      const once = (...args) => {
        this.removeListener(name, once)
        fn(...args)
      }
      once.listener = fn
      return this.on(name, once)
    }
    removeListener(name, fn) {
      const list = this._events.get(name)
      if (!list) return this
      const i = list.findIndex((l) => l === fn || l.listener === fn)
      if (i >= 0) list.splice(i, 1)
      return this
    }
    off(name, fn) {
      return this.removeListener(name, fn)
    }
    removeAllListeners(name) {
      if (name === undefined) this._events.clear()
      else this._events.delete(name)
      return this
    }
    emit(name, ...args) {
      const list = this._events.get(name)
      if (!list || list.length === 0) return false
      for (const fn of [...list]) fn.apply(this, args)
      return true
    }
    listenerCount(name) {
      return (this._events.get(name) || []).length
    }
  }

  const toMain = (kind, channel, args) =>
    globalThis.__standinIpc(wire.encode({ kind, channel, args })).then((r) => wire.decode(r))

  const ipcRenderer = new EventEmitter()
  ipcRenderer.invoke = (channel, ...args) => {
    let payload
    try {
      payload = wire.encode({ kind: 'invoke', channel: String(channel), args })
    } catch (error) {
      return Promise.reject(error)
    }
    return globalThis.__standinIpc(payload).then((r) => {
      const reply = wire.decode(r)
      if (reply.ok) return reply.value
      throw new Error(reply.message)
    })
  }
  ipcRenderer.send = (channel, ...args) => {
    wire.encode(args) // throws for what cannot be cloned, synchronously, like Electron
    void toMain('send', String(channel), args)
  }
  const rendererEvent = { sender: ipcRenderer, senderId: 0, ports: [] }
  Object.defineProperty(globalThis, '__standinDeliver', {
    value: (channel, data) => {
      ipcRenderer.emit(channel, rendererEvent, ...wire.decode(data))
    },
  })

  // Files the operating system dropped on the window: the harness names their paths before it
  // drags them in (`__standinOsDrop`), as the OS would tell Electron; files made by the page
  // have no path.
  const announced = []
  const dropped = new Map()
  const fileKey = (f) => `${f.name}\u0000${f.size}\u0000${f.lastModified}`
  Object.defineProperty(globalThis, '__standinOsDrop', {
    value: (paths) => {
      announced.splice(0, announced.length, ...paths)
    },
  })
  window.addEventListener(
    'drop',
    (event) => {
      for (const file of event.dataTransfer ? event.dataTransfer.files : []) {
        const path = announced.find((p) => p.split('/').pop() === file.name)
        if (path) dropped.set(fileKey(file), path)
      }
      announced.length = 0
    },
    true,
  )
  const webUtils = {
    getPathForFile(file) {
      if (!(file instanceof File)) throw new TypeError('getPathForFile expects a File')
      const path = dropped.get(fileKey(file)) || ''
      void toMain('pathForFile', '', [path])
      return path
    },
  }

  function bridgeCopy(value, depth) {
    if (depth > 1000) throw new Error('contextBridge: object too deep')
    if (typeof value === 'function') {
      return function bridged(...args) {
        return bridgeCopy(value(...args), depth + 1)
      }
    }
    if (value instanceof Promise) return value.then((v) => bridgeCopy(v, depth + 1))
    if (value === null || typeof value !== 'object') return value
    if (value instanceof Error || value instanceof Blob || value instanceof Node) return value
    if (Array.isArray(value)) return value.map((v) => bridgeCopy(v, depth + 1))
    const out = {}
    for (const key of Object.keys(value)) out[key] = bridgeCopy(value[key], depth + 1)
    return out
  }
  const contextBridge = {
    exposeInMainWorld(key, api) {
      if (key in window)
        throw new Error('Cannot bind an API on top of an existing property on the window object')
      Object.defineProperty(window, key, { value: bridgeCopy(api, 0), enumerable: true })
    },
  }

  const modules = {
    electron: { contextBridge, ipcRenderer, webUtils },
    events: Object.assign(EventEmitter, { EventEmitter }),
    timers: { setTimeout, clearTimeout, setInterval, clearInterval },
    url: { URL, URLSearchParams },
  }
  const sandboxRequire = (name) => {
    if (Object.prototype.hasOwnProperty.call(modules, name)) return modules[name]
    throw new Error(`module not found: ${name}`)
  }
  const sandboxProcess = {
    platform: config.platform,
    versions: config.versions,
    type: 'renderer',
    sandboxed: true,
    contextIsolated: true,
    env: {},
    argv: [],
  }
  // The preload's own `window`: reads reach the page's, writes stay with the preload, as in
  // Electron's isolated world (only contextBridge puts values into the page's world).
  const own = Object.create(null)
  const realWindow = window
  // (The proxy's target is a blank object: the page's window has non-writable properties that a
  // proxy over it could not report as written.)
  const isolatedWindow = new Proxy(Object.create(null), {
    get(_target, key) {
      if (key in own) return own[key]
      if (key === 'window' || key === 'self' || key === 'globalThis') return isolatedWindow
      const value = Reflect.get(realWindow, key)
      return typeof value === 'function' && !/^[A-Z]/.test(String(key)) ? value.bind(realWindow) : value
    },
    set(_target, key, value) {
      own[key] = value
      return true
    },
    has(_target, key) {
      return key in own || key in realWindow
    },
  })
  Object.defineProperty(globalThis, '__standinRuntime', {
    value: {
      require: sandboxRequire,
      process: sandboxProcess,
      window: isolatedWindow,
      failed(file, error) {
        const message = `Unable to load preload script: ${file}: ${error && error.message ? error.message : String(error)}`
        console.error(message)
        void toMain('preload-error', '', [message])
      },
    },
  })
}

/** The runtime as one init script. */
function runtimeScript(config) {
  return `(${runtime.toString()})(${JSON.stringify(config)}, (${wireCodec.toString()})());`
}

/** One preload file wrapped as Electron's sandbox runs it: require, module, exports, process. */
function preloadScript({ file, source }) {
  return `(function () {
  const rt = globalThis.__standinRuntime
  if (!rt) return
  const module = { exports: {} }
  try {
    (function (require, module, exports, process, global, window, self, globalThis) {
${source}
    }).call(module.exports, rt.require, module, module.exports, rt.process, rt.window, rt.window, rt.window, rt.window)
  } catch (error) {
    rt.failed(${JSON.stringify(file)}, error)
  }
})();`
}

module.exports = { runtimeScript, preloadScript }
