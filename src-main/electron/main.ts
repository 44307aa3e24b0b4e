/**
 * Electron main: boots in a fixed order (single-instance lock, logs, studio service, CSP, IPC,
 * menus, then the window) and never runs a model step: the inference host is a utilityProcess.
 */
import { copyFileSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { app, BrowserWindow, dialog, nativeTheme, session, shell, type WebContents } from 'electron'
import log from 'electron-log/main'
import Store from 'electron-store'
import { SETTINGS_NAME, type SettingsBackend } from '../app/settings'
import { createStudio, type Studio } from '../app/studio'
import { defaultHome } from '../storage/user-models'
import { forwardEvents, registerIpcHandlers } from './ipc'
import { installMenu } from './menu'
import { utilityHost } from './utility-host'
import { loadWindowState, trackWindowState } from './window-state'

const here = dirname(fileURLToPath(import.meta.url))
const windows = new Set<WebContents>()
const devUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined
const home = defaultHome()
let mainWindow: BrowserWindow | undefined
/** set once booted: opens a new main window (macOS keeps running with none) */
let reopenWindow: (() => void) | undefined

function csp(): string {
  const dev = devUrl ? ` ${devUrl} ${devUrl.replace(/^http/, 'ws')}` : ''
  return [
    "default-src 'none'",
    `script-src 'self'${dev}`,
    `style-src 'self' 'unsafe-inline'${dev}`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${dev}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ')
}

function createMainWindow(): BrowserWindow {
  const state = loadWindowState(home)
  const win = new BrowserWindow({
    ...state,
    show: false,
    title: 'VAR Studio',
    webPreferences: {
      preload: join(here, '../preload/preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  })
  if (state.maximized) win.maximize()
  trackWindowState(win, home)
  const contents = win.webContents
  windows.add(contents)
  win.on('closed', () => windows.delete(contents))
  win.once('ready-to-show', () => {
    win.show()
  })
  // Links open in the system browser; the app window itself never navigates away.
  contents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url)
    return { action: 'deny' }
  })
  contents.on('will-navigate', (event, url) => {
    if (url !== contents.getURL()) event.preventDefault()
  })
  contents.on('will-attach-webview', (event) => {
    event.preventDefault()
  })
  if (devUrl) void win.loadURL(devUrl)
  else void win.loadFile(join(here, '../renderer/index.html'))
  return win
}

function logsFolder(): string {
  return dirname(log.transports.file.getFile().path)
}

async function openFolder(what: 'output' | 'logs' | 'models', outputDir: string): Promise<boolean> {
  const path = what === 'output' ? outputDir : what === 'logs' ? logsFolder() : join(home, 'models')
  return (await shell.openPath(path)) === ''
}

/** Settings through electron-store, in the same file the web host uses (`<home>/studio-settings.json`). */
function electronSettings(): SettingsBackend {
  let store: Store
  try {
    store = new Store({ name: SETTINGS_NAME, cwd: home, clearInvalidConfig: false })
  } catch (error) {
    // Not JSON any more: keep the damaged file beside the new one and start from the defaults.
    const file = join(home, `${SETTINGS_NAME}.json`)
    const aside = `${file}.corrupt-${Date.now()}`
    renameSync(file, aside)
    log.warn(`${file} could not be read (${String(error)}); it was kept as ${aside} and defaults are used`)
    store = new Store({ name: SETTINGS_NAME, cwd: home, clearInvalidConfig: false })
  }
  return {
    // an empty store is a first start: the studio then writes its defaults
    read: () => Promise.resolve(store.size === 0 ? undefined : store.store),
    write: (value) => {
      store.store = value
      return Promise.resolve()
    },
    flush: () => Promise.resolve(),
    keepAside: () => {
      const aside = `${store.path}.invalid-${Date.now()}`
      copyFileSync(store.path, aside)
      return Promise.resolve(aside)
    },
  }
}

async function startStudio(): Promise<Studio> {
  return createStudio({
    home,
    settingsBackend: electronSettings(),
    version: app.getVersion(),
    hostName: 'electron',
    // electron-log's folder: Settings shows it, "Open logs folder" opens it
    logsDir: logsFolder(),
    spawnHost: utilityHost,
    // electron-vite must emit the host entry beside main.js (see electron.vite.config.ts).
    hostEntry: join(here, 'host.js'),
    log: (line) => {
      log.warn(line)
    },
    versions: { electron: process.versions.electron, chrome: process.versions.chrome },
    native: {
      savePath: async (defaultName) => {
        const r = await dialog.showSaveDialog({
          defaultPath: defaultName,
          filters: [{ name: 'PNG image', extensions: ['png'] }],
        })
        return r.canceled || !r.filePath ? null : r.filePath
      },
      chooseFolder: async (title) => {
        const r = await dialog.showOpenDialog({
          ...(title ? { title } : {}),
          properties: ['openDirectory', 'createDirectory'],
        })
        return r.canceled ? null : (r.filePaths[0] ?? null)
      },
      open: openFolder,
    },
  })
}

async function boot(): Promise<void> {
  log.initialize()
  await app.whenReady()
  const studio = await startStudio()
  // The packaged page is a file:// page, for which Electron calls no webRequest listener: its policy
  // is the <meta> in src-renderer/index.html (enforced there, test/desktop/journey.test.ts). The
  // header only reaches the dev server's http:// page, which has no such <meta> of ours to rely on.
  if (devUrl) {
    session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp()] } })
    })
  }
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => {
    callback(false)
  })
  registerIpcHandlers(studio, (sender) => windows.has(sender))
  forwardEvents(studio, () => windows)
  const applyTheme = (theme: 'system' | 'dark' | 'light'): void => {
    nativeTheme.themeSource = theme
  }
  applyTheme(((await studio.handle('settings:get', {})) as { theme: 'system' | 'dark' | 'light' }).theme)
  studio.on('settings:changed', (s) => {
    applyTheme(s.theme)
  })
  installMenu({
    command: (command) => mainWindow?.webContents.send('menu:command', { command }),
    openLogs: () => void openFolder('logs', studio.outputDir()),
    openOutput: () => void openFolder('output', studio.outputDir()),
  })
  const openWindow = (): void => {
    const win = createMainWindow()
    mainWindow = win
    // a closed window is never sent anything again (menus and a second launch look for mainWindow)
    win.on('closed', () => {
      if (mainWindow === win) mainWindow = undefined
    })
  }
  openWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow()
  })
  reopenWindow = openWindow
  // Stop the running job (it goes back to the queue) and the inference host before quitting.
  let closed = false
  app.on('before-quit', (event) => {
    if (closed) return
    event.preventDefault()
    closed = true
    void studio.close().finally(() => {
      app.quit()
    })
  })
}

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  app.on('second-instance', () => {
    if (!mainWindow) {
      reopenWindow?.()
      return
    }
    if (mainWindow.isMinimized()) mainWindow.restore()
    mainWindow.focus()
  })
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })
  boot().catch((error: unknown) => {
    log.error('VAR Studio failed to start:', error)
    dialog.showErrorBox('VAR Studio could not start', error instanceof Error ? error.message : String(error))
    app.exit(1)
  })
}
