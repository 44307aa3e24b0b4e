'use strict'
/**
 * A stand-in for the `electron` module of the main process, for running the *built* app under plain
 * Node where no Electron binary can be downloaded. It implements only what VAR Studio and its
 * libraries (electron-log, electron-store) use, with Electron's documented behaviour where bugs
 * live:
 *
 * - `BrowserWindow` is a page of Debian's Chromium (playwright-core, one persistent profile in
 *   `app.getPath('userData')`, as Electron keeps Chromium's profile there). Before the page's own
 *   scripts, every preload runs in the page (session preloads first, then the window's), with a
 *   `require` that knows only what a sandboxed preload may load: `electron` (renderer side),
 *   `events`, `timers` and `url`. Anything else throws, as in Electron, and the failure is reported
 *   with the preload's file name.
 * - `contextBridge.exposeInMainWorld` defines a frozen, non-writable global; `ipcRenderer.invoke`
 *   reaches `ipcMain.handle` with `event.sender` (the window's webContents) and `event.senderFrame`
 *   (its main frame or a sub frame); values cross by structured clone.
 * - `utilityProcess.fork` starts a child process whose `process.parentPort` carries the messages
 *   (utility-bootstrap.mjs) and whose `process.send` is gone, as in Electron.
 * - `app`: ready, single-instance lock (a socket in userData, `second-instance` on the first
 *   instance), paths from `productName`, `isPackaged` and `process.resourcesPath` as a packaged
 *   app has them when the harness says so, `before-quit` (cancellable) / `will-quit` / `quit`.
 * - `webRequest.onHeadersReceived` is called for http(s) only: Electron does not call it for
 *   file:// pages, so a policy set there never reaches the packaged renderer.
 *
 * What it cannot prove: context isolation itself (the preload shares the page's world here), the
 * native menus and dialogs (recorded, answered by the harness), GPU and window-manager behaviour,
 * and anything Chromium does differently inside Electron's own build.
 *
 * The harness talks to it over the Node IPC channel of the app process (control messages below);
 * the app's own code never sees that channel.
 */
const { EventEmitter } = require('node:events')
const { fork } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { runtimeScript, preloadScript } = require('./renderer-runtime.cjs')
const { encode, decode } = require('./wire.cjs')

const STANDIN_DIR = __dirname
const CHROMIUM = process.env.ELECTRON_STANDIN_CHROMIUM || '/usr/bin/chromium'
const control = typeof process.send === 'function' ? process.send.bind(process) : undefined
const report = { preloadErrors: [], pathForFile: [], dialogs: [], shell: [], utility: [], menus: [] }

function tell(message) {
  if (control) control(message)
}

/** The app's package.json: the one above the main script, as Electron reads it. */
function appPackage() {
  let dir = path.dirname(fs.realpathSync(process.argv[1]))
  for (;;) {
    const file = path.join(dir, 'package.json')
    if (fs.existsSync(file)) return { dir, json: JSON.parse(fs.readFileSync(file, 'utf8')) }
    const up = path.dirname(dir)
    if (up === dir) throw new Error(`no package.json above ${process.argv[1]}`)
    dir = up
  }
}

const pkg = appPackage()
const packaged = process.env.ELECTRON_STANDIN_PACKAGED === '1'
// Electron sets process.resourcesPath in every process; for an unpackaged app it is the resources
// folder of the Electron distribution.
process.resourcesPath = packaged
  ? process.env.ELECTRON_STANDIN_RESOURCES
  : path.join(pkg.dir, 'node_modules', 'electron', 'dist', 'resources')
process.versions.electron = process.env.ELECTRON_STANDIN_VERSION || '45.5.0'
process.versions.chrome = 'chromium (Debian)'
process.type = 'browser'

// ---------------------------------------------------------------------------------------------- app

class App extends EventEmitter {
  constructor() {
    super()
    this.name = pkg.json.productName || pkg.json.name
    this.isPackaged = packaged
    this._ready = false
    this._quitting = false
    this._paths = new Map()
    this.commandLine = { appendSwitch() {}, hasSwitch: () => false }
    this._readyPromise = new Promise((resolve) => {
      setImmediate(() => {
        this._ready = true
        this.emit('ready', {}, {})
        resolve()
      })
    })
  }

  getName() {
    return this.name
  }
  getVersion() {
    return pkg.json.version
  }
  isReady() {
    return this._ready
  }
  whenReady() {
    return this._readyPromise
  }
  getAppPath() {
    return pkg.dir
  }
  getPath(name) {
    if (this._paths.has(name)) return this._paths.get(name)
    const home = os.homedir()
    const appData = process.env.XDG_CONFIG_HOME || path.join(home, '.config')
    const userData = path.join(appData, this.name)
    const table = {
      home,
      appData,
      userData,
      sessionData: userData,
      temp: os.tmpdir(),
      logs: path.join(userData, 'logs'),
      crashDumps: path.join(userData, 'Crashpad'),
      desktop: path.join(home, 'Desktop'),
      documents: path.join(home, 'Documents'),
      downloads: path.join(home, 'Downloads'),
      pictures: path.join(home, 'Pictures'),
      exe: process.execPath,
      module: process.execPath,
    }
    if (!(name in table)) throw new Error(`Failed to get '${name}' path`)
    return table[name]
  }
  setPath(name, value) {
    this._paths.set(name, value)
  }
  setAppUserModelId() {}
  setName(name) {
    this.name = name
  }

  /** One instance per userData folder: the first listens on a socket there, a second one connects. */
  requestSingleInstanceLock() {
    const dir = this.getPath('userData')
    fs.mkdirSync(dir, { recursive: true })
    // (Chromium's own SingletonLock and SingletonSocket sit in the same folder: it shares the profile)
    const socket = path.join(dir, 'StandinSingletonSocket')
    const lockFile = path.join(dir, 'StandinSingletonLock')
    let holder = NaN
    try {
      holder = Number(fs.readFileSync(lockFile, 'utf8'))
    } catch {
      // no lock yet
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      const client = net.connect(socket, () => {
        client.end(JSON.stringify({ argv: process.argv, cwd: process.cwd() }))
      })
      client.on('error', () => undefined)
      return false
    }
    fs.writeFileSync(lockFile, String(process.pid))
    fs.rmSync(socket, { force: true })
    this._lockServer = net.createServer((conn) => {
      let text = ''
      conn.on('data', (b) => (text += b.toString('utf8')))
      conn.on('end', () => {
        let data = {}
        try {
          data = JSON.parse(text)
        } catch {
          // a stray connection
        }
        tell({ type: 'second-instance', argv: data.argv || [] })
        this.emit('second-instance', {}, data.argv || [], data.cwd || '', {})
      })
    })
    this._lockServer.listen(socket)
    this._lockServer.unref()
    this._lockFile = lockFile
    return true
  }
  releaseSingleInstanceLock() {
    if (this._lockServer) this._lockServer.close()
    if (this._lockFile) fs.rmSync(this._lockFile, { force: true })
    this._lockServer = undefined
    this._lockFile = undefined
  }

  /** Electron's order: before-quit (cancellable), close every window, will-quit (cancellable), quit. */
  quit() {
    if (this._quitting) return
    const event = preventable()
    this.emit('before-quit', event)
    if (event.defaultPrevented) return
    this._quitting = true
    void (async () => {
      for (const win of [...BrowserWindow.getAllWindows()]) await win._destroy()
      const willQuit = preventable()
      this.emit('will-quit', willQuit)
      if (willQuit.defaultPrevented) {
        this._quitting = false
        return
      }
      this.emit('quit', {}, 0)
      await this._shutdown(0)
    })()
  }
  exit(code = 0) {
    void this._shutdown(code)
  }
  async _shutdown(code) {
    this.releaseSingleInstanceLock()
    await chromiumBrowser.close()
    tell({ type: 'exiting', code })
    process.exit(code)
  }
  focus() {}
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error.code === 'EPERM'
  }
}

function preventable() {
  return {
    defaultPrevented: false,
    preventDefault() {
      this.defaultPrevented = true
    },
  }
}

const app = new App()

// ----------------------------------------------------------------------------------------- chromium

/** One Chromium per app, its profile in userData, a DevTools port the harness connects to. */
const chromiumBrowser = {
  context: undefined,
  starting: undefined,
  async get() {
    if (this.context) return this.context
    this.starting ??= (async () => {
      const { chromium } = require(require.resolve('playwright-core', { paths: [STANDIN_DIR] }))
      const profile = app.getPath('userData')
      fs.rmSync(path.join(profile, 'DevToolsActivePort'), { force: true })
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 860 },
        args: [
          // the machine's flags, from the harness (test/e2e/harness.ts CHROMIUM_FLAGS)
          ...JSON.parse(process.env.ELECTRON_STANDIN_CHROMIUM_FLAGS || '[]'),
          '--remote-debugging-port=0',
          // Electron's file:// pages load their own scripts, ES modules included; plain Chromium
          // refuses module scripts across file:// without this.
          '--allow-file-access-from-files',
        ],
        timeout: 120_000,
      })
      const port = await waitForPort(profile)
      this.context = context
      tell({ type: 'devtools', endpoint: `http://127.0.0.1:${port}` })
      return context
    })()
    return this.starting
  },
  async close() {
    const context = this.context
    this.context = undefined
    if (context) await context.close().catch(() => undefined)
  },
}

async function waitForPort(profile) {
  const file = path.join(profile, 'DevToolsActivePort')
  for (let i = 0; i < 600; i++) {
    try {
      const port = Number(fs.readFileSync(file, 'utf8').split('\n')[0])
      if (port > 0) return port
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`Chromium wrote no DevToolsActivePort in ${profile}`)
}

// -------------------------------------------------------------------------------------- ipcMain

class IpcMain extends EventEmitter {
  constructor() {
    super()
    this._handlers = new Map()
  }
  handle(channel, handler) {
    if (this._handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`)
    }
    this._handlers.set(channel, handler)
  }
  handleOnce(channel, handler) {
    this.handle(channel, (...args) => {
      this.removeHandler(channel)
      return handler(...args)
    })
  }
  removeHandler(channel) {
    this._handlers.delete(channel)
  }
  /** What `ipcRenderer.invoke` reaches; a thrown error reaches the renderer as Electron words it. */
  async _invoke(event, channel, args) {
    const handler = this._handlers.get(channel)
    if (!handler)
      throw new Error(`Error invoking remote method '${channel}': No handler registered for '${channel}'`)
    try {
      return await handler(event, ...args)
    } catch (error) {
      throw new Error(`Error invoking remote method '${channel}': ${String(error)}`, { cause: error })
    }
  }
}
const ipcMain = new IpcMain()

// ---------------------------------------------------------------------------------- webContents

let nextId = 1
const allContents = new Set()

class WebFrameMain {
  constructor(contents, frame) {
    this._contents = contents
    this._frame = frame
    this.routingId = nextId++
  }
  get url() {
    return this._frame ? this._frame.url() : ''
  }
}

class WebContents extends EventEmitter {
  constructor(win) {
    super()
    this.id = nextId++
    this._win = win
    this._destroyed = false
    this._openHandler = undefined
    this._frames = new Map()
    this.mainFrame = new WebFrameMain(this, undefined)
    this.session = session.defaultSession
    allContents.add(this)
  }
  _frameFor(frame) {
    if (!frame || frame === this._win._page?.mainFrame()) return this.mainFrame
    if (!this._frames.has(frame)) this._frames.set(frame, new WebFrameMain(this, frame))
    return this._frames.get(frame)
  }
  isDestroyed() {
    return this._destroyed
  }
  isCrashed() {
    return false
  }
  isLoading() {
    return false
  }
  getURL() {
    return this._win._page ? this._win._page.url() : ''
  }
  getTitle() {
    return this._win._title
  }
  setWindowOpenHandler(handler) {
    this._openHandler = handler
  }
  /** Messages to the renderer arrive in order, structured-cloned. */
  send(channel, ...args) {
    if (this._destroyed) throw new Error('Object has been destroyed')
    this._win._deliver(channel, args)
  }
  openDevTools() {}
  reload() {
    void this._win._page?.reload()
  }
}

const webContents = {
  getAllWebContents: () => [...allContents].filter((c) => !c.isDestroyed()),
  getFocusedWebContents: () => BrowserWindow.getFocusedWindow()?.webContents ?? null,
  fromId: (id) => [...allContents].find((c) => c.id === id),
}

// -------------------------------------------------------------------------------- BrowserWindow

const windows = new Set()

class BrowserWindow extends EventEmitter {
  constructor(options = {}) {
    super()
    this.id = nextId++
    this._options = options
    this._title = options.title || app.name
    this._bounds = {
      x: options.x ?? 0,
      y: options.y ?? 0,
      width: options.width ?? 800,
      height: options.height ?? 600,
    }
    this._maximized = false
    this._minimized = false
    this._visible = options.show !== false
    this._destroyed = false
    this._page = undefined
    this._queue = Promise.resolve()
    const prefs = options.webPreferences || {}
    this._prefs = {
      contextIsolation: prefs.contextIsolation ?? true,
      sandbox: prefs.sandbox ?? true,
      nodeIntegration: prefs.nodeIntegration ?? false,
      preload: prefs.preload,
    }
    this.webContents = new WebContents(this)
    windows.add(this)
    this._pageReady = this._open()
    tell({ type: 'window', id: this.id, prefs: this._prefs })
  }

  static getAllWindows() {
    return [...windows]
  }
  static getFocusedWindow() {
    return [...windows][0] ?? null
  }
  static fromWebContents(contents) {
    return [...windows].find((w) => w.webContents === contents) ?? null
  }

  async _open() {
    if (this._prefs.nodeIntegration || !this._prefs.sandbox) {
      // The harness can only check the configuration the app ships with.
      throw new Error(
        'the desktop harness runs sandboxed windows only (sandbox: true, nodeIntegration: false)',
      )
    }
    const context = await chromiumBrowser.get()
    const blank = context.pages().find((p) => p.url() === 'about:blank' && !p._standinOwned)
    const page = blank ?? (await context.newPage())
    page._standinOwned = true
    this._page = page
    await page.setViewportSize({ width: this._bounds.width, height: this._bounds.height })
    await page.exposeBinding('__standinIpc', (source, payload) => this._fromRenderer(source, payload))
    page.on('close', () => {
      if (!this._destroyed) void this._destroy()
    })
    page.on('pageerror', (error) => tell({ type: 'renderer-error', message: String(error && error.message) }))
    page.on('console', (m) => {
      if (m.type() === 'error') tell({ type: 'renderer-console', text: m.text() })
    })
    return page
  }

  /** Preloads as Electron runs them in a sandboxed frame: session preloads first, then the window's. */
  _preloads() {
    const files = [
      ...session.defaultSession._preloadScripts,
      ...(this._prefs.preload ? [this._prefs.preload] : []),
    ]
    return files.map((file) => {
      if (!path.isAbsolute(file)) throw new Error(`preload must be an absolute path: ${file}`)
      let source
      try {
        source = fs.readFileSync(file, 'utf8')
      } catch (error) {
        const message = `Unable to load preload script: ${file} (${error.code || error.message})`
        report.preloadErrors.push(message)
        tell({ type: 'preload-error', message })
        return { file, source: `throw new Error(${JSON.stringify(message)})` }
      }
      return { file, source }
    })
  }

  async _load(url) {
    const page = await this._pageReady
    if (!this._scriptsAdded) {
      // Init scripts run before the page's own scripts in every new document, as preloads do.
      this._scriptsAdded = true
      await page.addInitScript(runtimeScript({ versions: process.versions, platform: process.platform }))
      for (const preload of this._preloads()) await page.addInitScript(preloadScript(preload))
    }
    const origin = new URL(url)
    if (origin.protocol === 'http:' || origin.protocol === 'https:') {
      await page.route('**/*', (route) => session.defaultSession._respond(route))
    }
    await page.goto(url, { waitUntil: 'load', timeout: 120_000 })
    this.webContents.emit('did-finish-load')
    if (!this._readyShown) {
      this._readyShown = true
      this.emit('ready-to-show')
    }
  }
  loadFile(file, options = {}) {
    const url = pathToFileURL(path.resolve(file))
    if (options.hash) url.hash = options.hash
    if (options.search) url.search = options.search
    return this._load(url.href)
  }
  loadURL(url) {
    return this._load(url)
  }

  /** A call or message from the page: `__standinIpc({ kind, channel, args })`. */
  async _fromRenderer(source, payload) {
    const { kind, channel, args } = decode(payload)
    const event = {
      sender: this.webContents,
      senderFrame: this.webContents._frameFor(source.frame),
      frameId: 0,
      processId: 0,
      returnValue: undefined,
      reply: (ch, ...a) => this.webContents.send(ch, ...a),
    }
    if (kind === 'invoke') {
      try {
        return encode({ ok: true, value: await ipcMain._invoke(event, channel, args) })
      } catch (error) {
        return encode({ ok: false, message: error.message })
      }
    }
    if (kind === 'send') {
      ipcMain.emit(channel, event, ...args)
      return encode({ ok: true })
    }
    if (kind === 'pathForFile') {
      report.pathForFile.push(args[0])
      tell({ type: 'path-for-file', path: args[0] })
      return encode({ ok: true })
    }
    if (kind === 'preload-error') {
      report.preloadErrors.push(args[0])
      tell({ type: 'preload-error', message: args[0] })
      return encode({ ok: true })
    }
    return encode({ ok: false, message: `unknown renderer message ${kind}` })
  }

  _deliver(channel, args) {
    const page = this._page
    if (!page) return
    const data = encode(args)
    this._queue = this._queue
      .then(() => page.evaluate(([c, d]) => globalThis.__standinDeliver?.(c, d), [channel, data]))
      .catch(() => undefined)
  }

  async _destroy() {
    if (this._destroyed) return
    const closeEvent = preventable()
    this.emit('close', closeEvent)
    this._destroyed = true
    this.webContents._destroyed = true
    windows.delete(this)
    allContents.delete(this.webContents)
    if (this._page && !this._page.isClosed()) await this._page.close().catch(() => undefined)
    this.emit('closed')
    this.webContents.emit('destroyed')
    if (windows.size === 0 && !app._quitting) {
      if (app.listenerCount('window-all-closed') > 0) app.emit('window-all-closed')
      else app.quit()
    }
  }
  close() {
    void this._destroy()
  }
  destroy() {
    void this._destroy()
  }
  isDestroyed() {
    return this._destroyed
  }
  show() {
    this._visible = true
  }
  hide() {
    this._visible = false
  }
  isVisible() {
    return this._visible
  }
  focus() {}
  maximize() {
    this._maximized = true
    this.emit('maximize')
  }
  unmaximize() {
    this._maximized = false
    this.emit('unmaximize')
  }
  isMaximized() {
    return this._maximized
  }
  minimize() {
    this._minimized = true
  }
  restore() {
    this._minimized = false
  }
  isMinimized() {
    return this._minimized
  }
  isFullScreen() {
    return false
  }
  getBounds() {
    return { ...this._bounds }
  }
  getNormalBounds() {
    return { ...this._bounds }
  }
  setBounds(b) {
    Object.assign(this._bounds, b)
  }
  setTitle(t) {
    this._title = t
  }
  getTitle() {
    return this._title
  }
  setMenuBarVisibility() {}
}

// ------------------------------------------------------------------------------------- session

class Session {
  constructor() {
    this._preloadScripts = []
    this._headersListener = undefined
    this._permissionHandler = undefined
    this.webRequest = {
      onHeadersReceived: (filter, listener) => {
        this._headersListener = typeof filter === 'function' ? filter : listener
      },
      onBeforeRequest() {},
    }
  }
  registerPreloadScript(script) {
    this._preloadScripts.push(script.filePath)
    return script.id || `preload-${this._preloadScripts.length}`
  }
  setPreloads(files) {
    this._preloadScripts = [...files]
  }
  getPreloads() {
    return [...this._preloadScripts]
  }
  setPermissionRequestHandler(handler) {
    this._permissionHandler = handler
  }
  setPermissionCheckHandler() {}
  /** http(s) responses pass through onHeadersReceived; file:// never does (Electron's rule). */
  async _respond(route) {
    const response = await route.fetch()
    let headers = response.headers()
    if (this._headersListener) {
      const responseHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]))
      headers = await new Promise((resolve) => {
        this._headersListener({ url: route.request().url(), responseHeaders }, (result) => {
          const out = {}
          for (const [k, v] of Object.entries(result.responseHeaders || responseHeaders))
            out[k] = Array.isArray(v) ? v.join(', ') : String(v)
          resolve(out)
        })
      })
    }
    await route.fulfill({ response, headers })
  }
}
const session = { defaultSession: new Session(), fromPartition: () => session.defaultSession }

// ------------------------------------------------------------------------------ utilityProcess

class UtilityProcess extends EventEmitter {
  constructor(modulePath, args, options) {
    super()
    const bootstrap = pathToFileURL(path.join(STANDIN_DIR, 'utility-bootstrap.mjs')).href
    const stdio =
      options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc']
    this._child = fork(modulePath, args || [], {
      env: {
        ...(options.env || process.env),
        ELECTRON_STANDIN_RESOURCES: process.resourcesPath,
        ELECTRON_STANDIN_SERVICE: options.serviceName || 'Node Utility Process',
      },
      cwd: options.cwd,
      // Electron's view of app.asar in every process (see harness: unpacked entries are links).
      execArgv: [
        ...(process.execArgv.includes('--preserve-symlinks') ? ['--preserve-symlinks'] : []),
        '--import',
        bootstrap,
        ...(options.execArgv || []),
      ],
      stdio,
      serialization: 'advanced',
    })
    this.stdout = this._child.stdout
    this.stderr = this._child.stderr
    this._child.on('spawn', () => {
      this.pid = this._child.pid
      report.utility.push({ pid: this.pid, modulePath, serviceName: options.serviceName })
      tell({ type: 'utility', pid: this.pid, modulePath, serviceName: options.serviceName })
      this.emit('spawn')
    })
    this._child.on('message', (message) => this.emit('message', message))
    this._child.on('exit', (code, signal) => {
      tell({ type: 'utility-exit', pid: this.pid, code, signal })
      this.pid = undefined
      this.emit('exit', code ?? (signal ? 1 : 0))
    })
    this._child.on('error', (error) => this.emit('error', 'FatalError', String(error), error))
  }
  postMessage(message) {
    if (this._child.connected) this._child.send(message)
  }
  kill() {
    if (this._child.exitCode !== null || this._child.signalCode !== null) return false
    return this._child.kill('SIGTERM')
  }
}
const utilityProcess = {
  fork: (modulePath, args, options = {}) => {
    if (typeof modulePath !== 'string' || !fs.existsSync(modulePath)) {
      throw new Error(`utilityProcess.fork: no module at ${modulePath}`)
    }
    return new UtilityProcess(modulePath, args, options)
  },
}

// ------------------------------------------------------------------------ dialogs, menus, shell

/** Answers the harness queued with `{ type: 'dialog-answer', answer }`; cancelled when none. */
const dialogAnswers = []
const dialog = {
  async showSaveDialog(...args) {
    const options = args.find((a) => a && !(a instanceof BrowserWindow)) || {}
    report.dialogs.push({ kind: 'save', options })
    const answer = dialogAnswers.shift()
    return answer ? { canceled: false, filePath: answer } : { canceled: true, filePath: '' }
  },
  async showOpenDialog(...args) {
    const options = args.find((a) => a && !(a instanceof BrowserWindow)) || {}
    report.dialogs.push({ kind: 'open', options })
    const answer = dialogAnswers.shift()
    return answer ? { canceled: false, filePaths: [].concat(answer) } : { canceled: true, filePaths: [] }
  },
  async showMessageBox(...args) {
    report.dialogs.push({ kind: 'message', options: args.find((a) => a && !(a instanceof BrowserWindow)) })
    return { response: 0, checkboxChecked: false }
  },
  showErrorBox(title, content) {
    report.dialogs.push({ kind: 'error', title, content })
    tell({ type: 'error-box', title, content })
  },
}

// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- Electron's Menu: static methods and instances
class MenuStandin {
  constructor(template) {
    this.items = template
  }
  static buildFromTemplate(template) {
    return new MenuStandin(template)
  }
  static setApplicationMenu(menu) {
    MenuStandin._app = menu
    report.menus = labels(menu ? menu.items : [])
  }
  static getApplicationMenu() {
    return MenuStandin._app ?? null
  }
}
function labels(items, prefix = '') {
  const out = []
  for (const item of items || []) {
    const name = item.label || item.role || ''
    if (item.submenu) out.push(...labels(item.submenu, `${prefix}${name}/`))
    else if (item.type !== 'separator') out.push(`${prefix}${name}`)
  }
  return out
}
function clickMenu(pathText) {
  const parts = pathText.split('/')
  let items = MenuStandin._app ? MenuStandin._app.items : []
  let item
  for (const part of parts) {
    item = (items || []).find((i) => (i.label || i.role) === part)
    if (!item) throw new Error(`no menu item ${pathText}`)
    items = item.submenu
  }
  if (item.role === 'quit') app.quit()
  else if (typeof item.click === 'function') item.click(item, BrowserWindow.getFocusedWindow(), {})
}

const shell = {
  async openExternal(url) {
    report.shell.push({ kind: 'openExternal', url })
  },
  async openPath(p) {
    report.shell.push({ kind: 'openPath', path: p })
    return fs.existsSync(p) ? '' : `Failed to open path ${p}`
  },
  showItemInFolder(p) {
    report.shell.push({ kind: 'showItemInFolder', path: p })
  },
}

const nativeTheme = Object.assign(new EventEmitter(), { themeSource: 'system', shouldUseDarkColors: false })

const screen = {
  getPrimaryDisplay: () => display,
  getAllDisplays: () => [display],
  getDisplayMatching: () => display,
  getDisplayNearestPoint: () => display,
}
const display = {
  id: 1,
  bounds: { x: 0, y: 0, width: 1920, height: 1080 },
  workArea: { x: 0, y: 0, width: 1920, height: 1080 },
  scaleFactor: 1,
}

const protocol = {
  registerSchemesAsPrivileged() {},
  handle(scheme) {
    throw new Error(`the desktop harness does not serve the ${scheme}: protocol`)
  },
}

// ----------------------------------------------------------------------------- harness control

if (control) {
  process.on('message', (message) => {
    if (!message || typeof message !== 'object') return
    const reply = (data) => tell({ type: 'reply', id: message.id, ...data })
    try {
      switch (message.type) {
        case 'quit':
          app.quit()
          reply({})
          break
        case 'dialog-answer':
          dialogAnswers.push(message.answer)
          reply({})
          break
        case 'menu':
          clickMenu(message.path)
          reply({})
          break
        case 'report':
          reply({ report })
          break
        case 'invoke-as-stranger': {
          // A webContents that is not one of the app's windows (another window's page, a webview).
          const stranger = new WebContents({ _page: undefined })
          allContents.delete(stranger)
          ipcMain
            ._invoke({ sender: stranger, senderFrame: stranger.mainFrame }, message.channel, [message.args])
            .then(
              (value) => reply({ value }),
              (error) => reply({ error: error.message }),
            )
          break
        }
        case 'invoke-from-subframe': {
          const win = [...windows][0]
          const sub = new WebFrameMain(win.webContents, {})
          ipcMain
            ._invoke({ sender: win.webContents, senderFrame: sub }, message.channel, [message.args])
            .then(
              (value) => reply({ value }),
              (error) => reply({ error: error.message }),
            )
          break
        }
        default:
          reply({ error: `unknown control message ${message.type}` })
      }
    } catch (error) {
      reply({ error: String(error) })
    }
  })
  // The channel must not keep an app alive that has quit.
  process.channel?.unref()
}

// Named exports for `import { app } from 'electron'` (Node reads them from these assignments).
exports.app = app
exports.BrowserWindow = BrowserWindow
exports.ipcMain = ipcMain
exports.webContents = webContents
exports.session = session
exports.utilityProcess = utilityProcess
exports.dialog = dialog
exports.Menu = MenuStandin
exports.shell = shell
exports.nativeTheme = nativeTheme
exports.screen = screen
exports.protocol = protocol
