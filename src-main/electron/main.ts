/** Electron main: boots in a fixed order (handlers, then the window) and never runs a model step. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BrowserWindow, app, shell, type WebContents } from 'electron'
import { registerIpcHandlers } from './ipc'

const here = dirname(fileURLToPath(import.meta.url))
const windows = new Set<WebContents>()

function createMainWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
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

  const devUrl = process.env.ELECTRON_RENDERER_URL
  if (!app.isPackaged && devUrl) void win.loadURL(devUrl)
  else void win.loadFile(join(here, '../renderer/index.html'))
  return win
}

async function boot(): Promise<void> {
  await app.whenReady()
  registerIpcHandlers((sender) => windows.has(sender))
  createMainWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createMainWindow()
  })
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

boot().catch((error: unknown) => {
  console.error('VAR Studio failed to start:', error)
  app.exit(1)
})
