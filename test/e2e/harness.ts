/**
 * End-to-end harness: the real web host (`var-studio serve`, the real engine and the embedded model)
 * in its own process group with a temporary home and output folder, and Debian's chromium driven by
 * playwright-core. One studio and one browser per test file.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect } from 'vitest'
import WebSocket from 'ws'
import type { IpcArgs, IpcChannel, IpcResult, WireReply } from '../../src-shared/ipc'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SHOTS = join(ROOT, 'test-results', 'e2e')
export const CHROMIUM = '/usr/bin/chromium'

/** Two shared cores: waits are generous but bounded. */
export const STARTUP_MS = 240_000
export const JOB_MS = 90_000
export const UI_MS = 15_000

export interface StudioProcess {
  readonly url: string
  readonly origin: string
  readonly token: string
  readonly home: string
  readonly out: string
  /** stdout and stderr so far, for failure messages */
  log(): string
  stop(): Promise<void>
}

const sleep = (ms: number) =>
  new Promise<void>((done) => {
    setTimeout(done, ms)
  })

/** Whether the process that holds a start lock is still alive (a crashed run leaves its lock). */
async function holderAlive(lock: string): Promise<boolean> {
  const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''))
  if (!Number.isInteger(pid) || pid <= 0) {
    // Just created and not yet stamped, or stamped by nobody: give it a while.
    const age = await stat(lock).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    )
    return age < 30_000
  }
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * The web host builds out/renderer when it is stale; two test files starting at once must not both
 * build into the same folder. A lock directory, stamped with its holder's pid, serialises the starts.
 */
async function withStartLock<T>(work: () => Promise<T>): Promise<T> {
  // (not under out/: the packaging test packs out/ as it is)
  const lock = join(ROOT, 'test-results', '.e2e-start.lock')
  await mkdir(dirname(lock), { recursive: true })
  const deadline = Date.now() + STARTUP_MS
  for (;;) {
    try {
      await mkdir(lock)
      await writeFile(join(lock, 'pid'), String(process.pid))
      break
    } catch {
      if (!(await holderAlive(lock))) await rm(lock, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`waited too long for ${lock}`)
      await sleep(250)
    }
  }
  try {
    return await work()
  } finally {
    await rm(lock, { recursive: true, force: true })
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Starts `var-studio serve` on a free port in a fresh home; resolves once it printed its URL. */
export async function startStudio(prefix: string, args: readonly string[] = []): Promise<StudioProcess> {
  const base = await mkdtemp(join(tmpdir(), `var-e2e-${prefix}-`))
  const home = join(base, 'home')
  const out = join(base, 'out')
  await mkdir(home)
  await mkdir(out)
  let output = ''
  let child: ChildProcess | undefined
  const onExit = () => {
    if (child) killGroup(child, 'SIGKILL')
  }
  process.once('exit', onExit)
  // Started inside the lock: a host that finds out/renderer stale rebuilds it, and two builds into
  // the same folder at once would delete each other's files.
  const url = await withStartLock(
    () =>
      new Promise<string>((done, fail) => {
        child = spawn(
          process.execPath,
          ['bin/var-studio.js', 'serve', '--port', '0', '--home', home, '--out', out, ...args],
          {
            cwd: ROOT,
            // Its own process group, so stop() reaches the inference host processes it starts too.
            detached: true,
            env: { ...process.env, VAR_STUDIO_HOME: home, NO_COLOR: '1' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        )
        child.stderr?.on('data', (b: Buffer) => {
          output += b.toString('utf8')
        })
        const timer = setTimeout(() => {
          fail(new Error(`the web host printed no URL within ${STARTUP_MS} ms:\n${output}`))
        }, STARTUP_MS - 5000)
        child.stdout?.on('data', (b: Buffer) => {
          output += b.toString('utf8')
          const hit = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(output)
          if (hit) {
            clearTimeout(timer)
            done(hit[0])
          }
        })
        child.once('exit', (code, signal) => {
          clearTimeout(timer)
          fail(
            new Error(`the web host exited (${String(code ?? signal)}) before printing its URL:\n${output}`),
          )
        })
      }),
  ).catch(async (error: unknown) => {
    if (child) killGroup(child, 'SIGKILL')
    await rm(base, { recursive: true, force: true })
    throw error
  })
  const proc = child
  if (!proc) throw new Error('the web host was not started')
  const parsed = new URL(url)
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token') ?? '',
    home,
    out,
    log: () => output,
    async stop() {
      const exited = new Promise<void>((done) => {
        if (proc.exitCode !== null || proc.signalCode !== null) done()
        else
          proc.once('exit', () => {
            done()
          })
      })
      killGroup(proc, 'SIGTERM')
      const timer = setTimeout(() => {
        killGroup(proc, 'SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(timer)
      // Anything left in the group (an inference host mid-shutdown) goes too.
      killGroup(proc, 'SIGKILL')
      process.off('exit', onExit)
      await rm(base, { recursive: true, force: true })
    },
  }
}

/** Debian Chromium's flags on these machines: no GPU, and no connections of its own (refused here). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
] as const

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', ...CHROMIUM_FLAGS],
    timeout: 60_000,
  })
}

/**
 * The studio and the browser, started side by side; whatever started is recorded in `started` (for
 * afterAll) even when the other one failed.
 */
export async function startBoth(
  prefix: string,
  started: { studio?: StudioProcess; browser?: Browser },
  args: readonly string[] = [],
): Promise<[StudioProcess, Browser]> {
  const [s, b] = await Promise.allSettled([
    startStudio(prefix, args).then((x) => (started.studio = x)),
    launchBrowser().then((x) => (started.browser = x)),
  ])
  if (s.status === 'rejected') throw s.reason
  if (b.status === 'rejected') throw b.reason
  return [s.value, b.value]
}

/** What a suite's tests use: the web host, the browser and one studio page on it. */
export interface StudioSuite extends OpenedPage {
  readonly studio: StudioProcess
  readonly browser: Browser
}

/**
 * Registers the suite's hooks: before all tests, start a web host (`prefix` names its folders) and
 * Chromium side by side and open the studio; after all, close both, also when starting failed
 * half way. `use` receives everything once it is up.
 */
export function studioSuite(
  prefix: string,
  use: (suite: StudioSuite) => void,
  /** more `serve` flags */
  args: readonly string[] = [],
): void {
  const started: { studio?: StudioProcess; browser?: Browser } = {}
  beforeAll(async () => {
    const [studio, browser] = await startBoth(prefix, started, args)
    use({ studio, browser, ...(await openStudioPage(browser, studio)) })
  }, STARTUP_MS)
  afterAll(async () => {
    await started.browser?.close()
    await started.studio?.stop()
  }, 60_000)
}

export interface OpenedPage {
  readonly page: Page
  /** uncaught exceptions and console errors seen on the page */
  readonly problems: string[]
}

/** A new tab on the studio, loaded, connected and with its model list in. */
export async function openStudioPage(browser: Browser, studio: StudioProcess): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  page.setDefaultTimeout(UI_MS)
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  await page.goto(studio.url)
  await page.getByTestId('nav-generate').waitFor()
  // The model list arrived over the socket: the Generate view offers the shipped model.
  await page
    .locator('[data-testid="model-select"] option', { hasText: 'Fashion-MNIST' })
    .first()
    .waitFor({ state: 'attached', timeout: 60_000 })
  return { page, problems }
}

export const tid = (page: Page, id: string): Locator => page.getByTestId(id)

export async function go(page: Page, view: string): Promise<void> {
  await tid(page, `nav-${view}`).click()
  await expect.poll(() => tid(page, `nav-${view}`).getAttribute('aria-current')).toBe('page')
}

export type Kind = 'baseline' | 'var-scaling' | 'topk-only' | 'randomk-only'

export interface GenerateForm {
  readonly classes: readonly string[]
  readonly kind: Kind
  readonly seed: number
  readonly count?: number
  readonly policy?: 'fixed' | 'increment' | 'random'
  /** search strategies: candidates and kept */
  readonly N?: number
  readonly k?: number
}

/** Fills the Generate form through its controls, as a user would. */
export async function fillGenerate(page: Page, form: GenerateForm): Promise<void> {
  await go(page, 'generate')
  // Remove chips left from an earlier job.
  const chips = page.getByTestId('class-chip')
  while ((await chips.count()) > 0) await chips.first().getByRole('button').click()
  for (const name of form.classes) {
    await tid(page, 'class-input').fill(name)
    await tid(page, 'class-input').press('Enter')
  }
  await expect.poll(() => chips.allTextContents()).toHaveLength(form.classes.length)
  await tid(page, 'strategy-select').selectOption(form.kind)
  await tid(page, 'count-input').fill(String(form.count ?? 1))
  await tid(page, 'seed-input').fill(String(form.seed))
  await tid(page, 'seed-policy').selectOption(form.policy ?? 'fixed')
  if (form.kind !== 'baseline') {
    // k first: it must stay <= N, and the default N is 50.
    if (form.k !== undefined) {
      await tid(page, 'knob-k').fill(String(form.k))
      await tid(page, 'knob-k').press('Tab')
    }
    if (form.N !== undefined) {
      await tid(page, 'knob-N').fill(String(form.N))
      await tid(page, 'knob-N').press('Tab')
    }
  }
  await expect.poll(() => tid(page, 'generate-button').isEnabled()).toBe(true)
}

/** The ids of the queue items now on the Generate view. */
export async function jobIds(page: Page): Promise<string[]> {
  const ids = await tid(page, 'queue-item').evaluateAll((items) =>
    items.map((i) =>
      (i as unknown as { getAttribute(n: string): string | null }).getAttribute('data-job-id'),
    ),
  )
  return ids.filter((id): id is string => id !== null)
}

/** Clicks a button that queues jobs and returns the ids of the new queue items. */
export async function queueBy(page: Page, button: Locator, expected: number): Promise<string[]> {
  const before = new Set(await jobIds(page))
  await button.click()
  let added: string[] = []
  await expect
    .poll(
      async () => {
        added = (await jobIds(page)).filter((id) => !before.has(id))
        return added.length
      },
      { timeout: UI_MS },
    )
    .toBe(expected)
  return added
}

export const item = (page: Page, jobId: string): Locator =>
  page.locator(`[data-testid="queue-item"][data-job-id="${jobId}"]`)

export async function waitForState(
  page: Page,
  jobId: string,
  state: string,
  timeout = JOB_MS,
): Promise<void> {
  await expect
    .poll(() => item(page, jobId).getAttribute('data-state'), { timeout, interval: 200 })
    .toBe(state)
}

/** A screenshot under test-results/e2e/ (gitignored), for people to look at. */
export async function shot(page: Page, name: string): Promise<string> {
  await mkdir(SHOTS, { recursive: true })
  const path = join(SHOTS, `${name}.png`)
  await page.screenshot({ path })
  return path
}

/** One call on the studio's own contract from Node (a script with the token), for checks. */
export async function rpc<C extends IpcChannel>(
  studio: StudioProcess,
  channel: C,
  args: IpcArgs<C>,
): Promise<IpcResult<C>> {
  const ws = new WebSocket(`${studio.origin.replace('http:', 'ws:')}/ws?token=${studio.token}`)
  try {
    await new Promise<void>((done, fail) => {
      ws.once('open', () => {
        done()
      })
      ws.once('error', fail)
    })
    const reply = new Promise<WireReply>((done) => {
      ws.on('message', (data: Buffer) => {
        const r = JSON.parse(data.toString('utf8')) as WireReply
        if (r.type !== 'event' && r.id === 1) done(r)
      })
    })
    ws.send(JSON.stringify({ type: 'call', id: 1, channel, args }))
    const r = await reply
    if (r.type === 'error') throw new Error(`${channel}: ${r.error.message}`)
    return (r as { result: unknown }).result as IpcResult<C>
  } finally {
    ws.close()
  }
}
