/**
 * The desktop harness: the *built* app (`out/main/main.js`, its preload and renderer) run under
 * plain Node with the `electron` stand-in (test/desktop/standin), its window a page of Debian's
 * Chromium. The test drives that page over the Chrome DevTools protocol, as a user would, and talks
 * to the stand-in (quit, menus, dialog answers, what it saw) over the app process's IPC channel.
 *
 * What this proves and what it cannot is stated in test/desktop/standin/electron.cjs and in the
 * README ("The desktop app, tested without Electron").
 */
import { type ChildProcess, fork } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_FLAGS } from '../e2e/harness'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const STANDIN = join(ROOT, 'test', 'desktop', 'standin')
export const BOOT_MS = 180_000

/** A message the stand-in sent about the app (see electron.cjs's `tell` calls). */
export interface StandinMessage {
  readonly type: string
  readonly [key: string]: unknown
}

export interface StandinReport {
  readonly preloadErrors: string[]
  readonly pathForFile: string[]
  readonly dialogs: { kind: string }[]
  readonly shell: { kind: string; path?: string; url?: string }[]
  readonly utility: { pid: number; modulePath: string; serviceName?: string }[]
  readonly menus: string[]
}

export interface DesktopApp {
  readonly child: ChildProcess
  /** HOME of the app process: Electron's userData and the studio's home are under `~/.config` */
  readonly userHome: string
  readonly page: Page
  readonly browser: Browser
  readonly messages: StandinMessage[]
  /** stdout and stderr of the app process so far */
  log(): string
  control<T = Record<string, unknown>>(message: Record<string, unknown>): Promise<T>
  report(): Promise<StandinReport>
  /** Resolves with the app process's exit code. */
  exited(): Promise<number | null>
  /** Kills whatever is left and removes the temporary HOME. */
  dispose(): Promise<void>
}

export interface LaunchOptions {
  /** the built main entry: `<root>/out/main/main.js`, or one inside a packaged layout */
  readonly main: string
  /** a packaged app: `process.resourcesPath`, and `app.isPackaged` true */
  readonly resourcesPath?: string
  /** Electron's view of files unpacked from app.asar (links inside the archive folder) */
  readonly preserveSymlinks?: boolean
  readonly prefix: string
}

/** The files under `dir`, newest modification time first (for staleness checks). */
function newest(dir: string): number {
  let latest = 0
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) visit(p)
      else if (e.isFile()) latest = Math.max(latest, statSync(p).mtimeMs)
    }
  }
  if (existsSync(dir)) visit(dir)
  return latest
}

/**
 * The built app under out/, checked to be newer than every source it is built from: the harness
 * tests what `npm run build` made (`npm test` builds first), never the sources.
 */
export function builtApp(): string {
  const main = join(ROOT, 'out', 'main', 'main.js')
  const parts = ['out/main/main.js', 'out/main/host.js', 'out/preload/preload.cjs', 'out/renderer/index.html']
  const missing = parts.filter((p) => !existsSync(join(ROOT, p)))
  if (missing.length > 0) {
    throw new Error(
      `the built app is incomplete (missing ${missing.join(', ')}): run \`npm run build\` first`,
    )
  }
  const built = Math.min(...parts.map((p) => statSync(join(ROOT, p)).mtimeMs))
  const sources = Math.max(...['src-main', 'src-shared'].map((d) => newest(join(ROOT, d))))
  if (sources > built) {
    throw new Error('out/ is older than src-main or src-shared: run `npm run build` first')
  }
  return main
}

/** The app process: the built main entry with the stand-in registered, its HOME, its IPC channel. */
function forkApp(
  main: string,
  userHome: string,
  o: { resourcesPath?: string | undefined; preserveSymlinks?: boolean | undefined; detached?: boolean },
): ChildProcess {
  return fork(main, [], {
    cwd: userHome,
    env: {
      PATH: process.env.PATH,
      HOME: userHome,
      LANG: 'C.UTF-8',
      NO_COLOR: '1',
      ELECTRON_STANDIN_CHROMIUM: CHROMIUM,
      ELECTRON_STANDIN_CHROMIUM_FLAGS: JSON.stringify(CHROMIUM_FLAGS),
      ...(o.resourcesPath
        ? { ELECTRON_STANDIN_PACKAGED: '1', ELECTRON_STANDIN_RESOURCES: o.resourcesPath }
        : {}),
    },
    execArgv: [
      ...(o.preserveSymlinks ? ['--preserve-symlinks', '--preserve-symlinks-main'] : []),
      '--import',
      pathToFile(join(STANDIN, 'register.mjs')),
    ],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: o.detached ?? false,
  })
}

/**
 * Starts the built app a second time with the same HOME, as a user double-clicking it again would;
 * resolves with its exit code and what the stand-in reported, without waiting for a window.
 */
export async function secondInstance(
  main: string,
  userHome: string,
): Promise<{ code: number | null; messages: StandinMessage[]; log: string }> {
  const messages: StandinMessage[] = []
  let log = ''
  const child = forkApp(main, userHome, {})
  child.stdout?.on('data', (b: Buffer) => (log += b.toString('utf8')))
  child.stderr?.on('data', (b: Buffer) => (log += b.toString('utf8')))
  child.on('message', (m: StandinMessage) => messages.push(m))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((done) => {
    child.once('exit', (c) => {
      done(c)
    })
  })
  clearTimeout(timer)
  return { code, messages, log }
}

/** Starts the app process and connects to its first window. */
export async function launchDesktop(options: LaunchOptions): Promise<DesktopApp> {
  const userHome = await mkdtemp(join(tmpdir(), `var-desktop-${options.prefix}-`))
  await mkdir(join(userHome, '.config'), { recursive: true })
  const messages: StandinMessage[] = []
  let output = ''
  const child = forkApp(options.main, userHome, {
    resourcesPath: options.resourcesPath,
    preserveSymlinks: options.preserveSymlinks,
    // its own process group: dispose() reaches the inference host and Chromium too
    detached: true,
  })
  child.stdout?.on('data', (b: Buffer) => (output += b.toString('utf8')))
  child.stderr?.on('data', (b: Buffer) => (output += b.toString('utf8')))
  const exit = new Promise<number | null>((done) => {
    child.once('exit', (code) => {
      done(code)
    })
  })
  let nextId = 1
  const pending = new Map<number, (m: StandinMessage) => void>()
  child.on('message', (m: StandinMessage) => {
    messages.push(m)
    if (m.type === 'reply' && typeof m.id === 'number') pending.get(m.id)?.(m)
  })
  const control = <T>(message: Record<string, unknown>): Promise<T> => {
    const id = nextId++
    return new Promise<T>((done, fail) => {
      pending.set(id, (m) => {
        pending.delete(id)
        if (
          typeof m.error === 'string' &&
          message.type !== 'invoke-as-stranger' &&
          message.type !== 'invoke-from-subframe'
        )
          fail(new Error(m.error))
        else done(m as unknown as T)
      })
      child.send({ ...message, id })
    })
  }
  const dispose = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
    await browser?.close().catch(() => undefined)
    await rm(userHome, { recursive: true, force: true })
  }
  let browser: Browser | undefined
  try {
    const endpoint = await waitFor(
      () => messages.find((m) => m.type === 'devtools')?.endpoint as string | undefined,
      BOOT_MS,
      () => `the app opened no window:\n${output}\n${JSON.stringify(messages)}`,
      exit,
    )
    browser = await chromium.connectOverCDP(endpoint, { timeout: 60_000 })
    const context = browser.contexts()[0]
    const page = await waitFor(
      () => context.pages().find((p) => p.url().endsWith('/renderer/index.html')),
      BOOT_MS,
      () => `no page loaded out/renderer/index.html:\n${output}`,
      exit,
    )
    const b = browser
    return {
      child,
      userHome,
      page,
      browser: b,
      messages,
      log: () => output,
      control,
      report: async () => (await control<{ report: StandinReport }>({ type: 'report' })).report,
      exited: () => exit,
      dispose,
    }
  } catch (error) {
    await dispose()
    throw error
  }
}

function pathToFile(path: string): string {
  return new URL(`file://${path}`).href
}

async function waitFor<T>(
  probe: () => T | undefined,
  ms: number,
  why: () => string,
  exit: Promise<number | null>,
): Promise<T> {
  let exited: number | null | undefined
  void exit.then((code) => (exited = code))
  const deadline = Date.now() + ms
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (exited !== undefined) throw new Error(`the app exited (${String(exited)}) early: ${why()}`)
    if (Date.now() > deadline) throw new Error(why())
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Drops files from disk on the window as the operating system would: Chromium gets a drag with the
 * files' paths (DevTools `Input.dispatchDragEvent`), and the stand-in is told the paths, which it
 * hands out through `webUtils.getPathForFile` as Electron would.
 */
export async function dropFiles(page: Page, paths: string[]): Promise<void> {
  await page.evaluate((p) => {
    ;(globalThis as unknown as { __standinOsDrop(paths: string[]): void }).__standinOsDrop(p)
  }, paths)
  const cdp: CDPSession = await page.context().newCDPSession(page)
  try {
    const box = await page.locator('main').boundingBox()
    const x = (box?.x ?? 0) + (box?.width ?? 200) / 2
    const y = (box?.y ?? 0) + (box?.height ?? 200) / 2
    const data = { items: [], files: paths, dragOperationsMask: 1 }
    for (const type of ['dragEnter', 'dragOver', 'drop'] as const)
      await cdp.send('Input.dispatchDragEvent', { type, x, y, data })
  } finally {
    await cdp.detach()
  }
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
