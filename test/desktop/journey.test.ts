/**
 * The desktop app's journey, through the built app and the `electron` stand-in (harness.ts): the
 * window opens sandboxed with only the studio's API, the embedded model is listed, a job runs in
 * the utility-process inference host and its image shows, a batch file dropped on the window is read
 * through its path and queued, a grid is exported, strangers are refused, and quitting ends the
 * inference host and releases the home folder.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fillGenerate, go, item, JOB_MS, queueBy, tid } from '../e2e/harness'
import {
  alive,
  BOOT_MS,
  builtApp,
  type DesktopApp,
  dropFiles,
  launchDesktop,
  ROOT,
  secondInstance,
} from './harness'

let app: DesktopApp
let page: Page
/** set once the app is up: afterEach and afterAll must not touch what never started */
let launched: DesktopApp | undefined
let mainEntry: string
let scratch: string
const problems: string[] = []

/** Where the app keeps what: Electron's userData (productName) and the studio's own home. */
const userData = (): string => join(app.userHome, '.config', 'VAR Studio')
const studioHome = (): string => join(app.userHome, '.config', 'var-studio')
const outputs = (): string => join(studioHome(), 'outputs')

/** Waits for a job to finish; a failed one fails the test with what the page and the app said. */
async function finished(jobId: string): Promise<void> {
  const deadline = Date.now() + JOB_MS
  for (;;) {
    const state = await item(page, jobId).getAttribute('data-state')
    if (state === 'done') return
    if (state === 'failed' || state === 'cancelled' || Date.now() > deadline) {
      const text = await item(page, jobId).textContent()
      throw new Error(`job ${jobId} is ${String(state)}: ${String(text)}\n${app.log().slice(-4000)}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'var-desktop-files-'))
  mainEntry = builtApp()
  app = await launchDesktop({ main: mainEntry, prefix: 'journey' })
  launched = app
  page = app.page
  page.setDefaultTimeout(20_000)
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  await page.getByTestId('nav-generate').waitFor({ timeout: 60_000 })
}, BOOT_MS)

// A failed step leaves a screenshot and the page's text under test-results/desktop/ to look at.
afterEach(async ({ task }) => {
  if (task.result?.state !== 'fail' || launched === undefined || page.isClosed()) return
  const dir = join(ROOT, 'test-results', 'desktop')
  await mkdir(dir, { recursive: true })
  const name = task.name.replace(/\W+/g, '-').slice(0, 60)
  await page.screenshot({ path: join(dir, `${name}.png`) }).catch(() => undefined)
  const text = await page
    .locator('body')
    .innerText()
    .catch(() => '')
  await writeFile(join(dir, `${name}.txt`), `${text}\n\n--- app log ---\n${app.log()}`)
})

afterAll(async () => {
  await launched?.dispose()
  await rm(scratch, { recursive: true, force: true })
}, 60_000)

describe('the desktop app (built, under the electron stand-in)', () => {
  it('opens a sandboxed window whose preload loaded and exposes only the studio API', async () => {
    const window = app.messages.find((m) => m.type === 'window')
    expect(window?.prefs).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false })
    expect((await app.report()).preloadErrors).toEqual([])
    const seen = await page.evaluate(() => {
      const g = globalThis as unknown as { studio?: object; require?: unknown; process?: unknown }
      return {
        studio: g.studio ? Object.keys(g.studio).sort() : null,
        require: typeof g.require,
        process: typeof g.process,
      }
    })
    expect(seen).toEqual({
      studio: ['invoke', 'on', 'pathForFile'],
      require: 'undefined',
      process: 'undefined',
    })
    // The renderer talks over IPC, not the web host's socket: no token notice, the model arrived.
    await page
      .locator('[data-testid="model-select"] option', { hasText: 'Fashion-MNIST' })
      .first()
      .waitFor({ state: 'attached', timeout: 60_000 })
    expect(await page.locator('body').textContent()).not.toMatch(/no access token/i)
  }, 90_000)

  it('enforces its content security policy on the file:// page', async () => {
    const blocked = await page.evaluate(async () => {
      const g = globalThis as unknown as {
        document: {
          addEventListener(type: string, listener: (e: { violatedDirective: string }) => void): void
          createElement(tag: 'script'): { textContent: string }
          body: { appendChild(node: unknown): void }
        }
      }
      const violations: string[] = []
      g.document.addEventListener('securitypolicyviolation', (e) => {
        violations.push(e.violatedDirective)
      })
      let fetchBlocked = false
      try {
        await fetch('https://example.com/')
      } catch {
        fetchBlocked = true
      }
      const script = g.document.createElement('script')
      script.textContent = 'globalThis.__inlineRan = true'
      g.document.body.appendChild(script)
      await new Promise((r) => setTimeout(r, 100))
      return {
        fetchBlocked,
        inlineRan: (globalThis as unknown as { __inlineRan?: boolean }).__inlineRan === true,
        violations: [...new Set(violations)].sort(),
      }
    })
    expect(blocked).toMatchObject({ fetchBlocked: true, inlineRan: false })
    expect(blocked.violations).toEqual(expect.arrayContaining(['connect-src', 'script-src-elem']))
  })

  it("keeps Chromium's profile in userData, apart from the studio's home", () => {
    expect(existsSync(join(userData(), 'Default'))).toBe(true)
    expect(existsSync(join(studioHome(), 'studio-settings.json'))).toBe(true)
    const home = readdirSync(studioHome())
    for (const chromiumFile of ['Default', 'Local State', 'DevToolsActivePort', 'SingletonLock'])
      expect(home, chromiumFile).not.toContain(chromiumFile)
  })

  it('generates with VAR-Scaling in the utility-process host and shows the image', async () => {
    await fillGenerate(page, { classes: ['Sneaker'], kind: 'var-scaling', seed: 7, N: 8, k: 2 })
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await finished(jobId)
    const hosts = (await app.report()).utility
    expect(hosts.length).toBeGreaterThan(0)
    expect(hosts[0].serviceName).toBe('VAR Studio inference host')
    expect(hosts[0].modulePath).toMatch(/out\/main\/host\.js$/)
    await go(page, 'history')
    const img = page.locator(`[data-testid="history-item"][data-job-id="${jobId}"]`).locator('img')
    await expect.poll(() => img.count()).toBeGreaterThan(0)
    await expect
      .poll(() => img.first().evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0)
    const pngs = readdirSync(outputs(), { recursive: true }).filter((f) => String(f).endsWith('.png'))
    expect(pngs.length).toBeGreaterThan(0)
  }, 180_000)

  it('offers the official presets only where they fit, and runs a job with more_smooth', async () => {
    await fillGenerate(page, { classes: ['Bag'], kind: 'baseline', seed: 21 })
    await page.locator('details.sampling > summary').click()
    // top-k 900 does not fit the embedded model's 512 codes: disabled, with the reason on hover
    for (const id of ['fid', 'demo']) {
      const button = tid(page, `sampling-preset-${id}`)
      expect(await button.isDisabled(), id).toBe(true)
      expect(await button.getAttribute('title'), id).toMatch(/exceeds this model's vocabulary of 512/)
    }
    await tid(page, 'more-smooth').check()
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await finished(jobId)
    await tid(page, 'more-smooth').uncheck()
  }, 180_000)

  it('reads a batch file dropped on the window through its path and queues its rows', async () => {
    const file = join(scratch, 'rows.csv')
    await writeFile(file, 'class,seed\nTrouser,11\nBag,13\n')
    await go(page, 'generate')
    await dropFiles(page, [file])
    await expect.poll(() => tid(page, 'nav-batches').getAttribute('aria-current')).toBe('page')
    await expect.poll(() => tid(page, 'batch-row').count()).toBe(2)
    // The renderer asked for the dropped file's path and sent that, not the bytes.
    expect((await app.report()).pathForFile).toContain(file)
    await tid(page, 'batch-strategy').selectOption('baseline')
    await tid(page, 'batch-queue-button').click()
    await tid(page, 'batch-queued').waitFor()
    expect(await tid(page, 'batch-queued').textContent()).toMatch(/seeds 11, 13/)
    await go(page, 'generate')
    const fromBatch = page.locator('[data-testid="queue-item"]', { hasText: 'from rows.csv' })
    await expect.poll(() => fromBatch.count()).toBe(1)
    await finished((await fromBatch.getAttribute('data-job-id'))!)
  }, 180_000)

  it('runs a small sweep from the Experiments view through the preload and shows its grid', async () => {
    await go(page, 'experiments')
    await tid(page, 'sweep-seeds').fill('1')
    await expect.poll(() => tid(page, 'sweep-axis-name-0').inputValue()).toBe('strategy')
    await tid(page, 'sweep-axis-values-0').fill('baseline, var-scaling')
    await expect.poll(() => tid(page, 'sweep-axis-name-1').inputValue()).toBe('N')
    await tid(page, 'sweep-axis-values-1').fill('8')
    await tid(page, 'sweep-run').click()
    await expect
      .poll(() => tid(page, 'sweep-state').textContent(), { timeout: 420_000 })
      .toContain('2 of 2 cells done')
    await tid(page, 'sweep-grid').locator('img').waitFor({ timeout: 420_000 })
    expect(await tid(page, 'sweep-cells').locator('tbody tr').count()).toBe(2)
    // the sweep and its finished cells live in the studio's home, not in userData
    expect(existsSync(join(studioHome(), 'experiments'))).toBe(true)
  }, 480_000)

  it('exports a labelled grid where the save dialog says', async () => {
    const target = join(scratch, 'grid.png')
    // The native save dialog's answer, as a user would pick it.
    await app.control({ type: 'dialog-answer', answer: target })
    await go(page, 'export')
    const boxes = tid(page, 'export-image')
    await expect.poll(() => boxes.count()).toBeGreaterThanOrEqual(2)
    await boxes.nth(0).check()
    await boxes.nth(1).check()
    await tid(page, 'export-button').click()
    await tid(page, 'export-result').waitFor({ timeout: 60_000 })
    expect(await tid(page, 'export-result').textContent()).toContain('grid.png')
    expect((await app.report()).dialogs.map((d) => d.kind)).toContain('save')
    const bytes = await readFile(target)
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG')
  }, 90_000)

  it('refuses calls that do not come from its own window top frame', async () => {
    for (const type of ['invoke-as-stranger', 'invoke-from-subframe']) {
      const reply = await app.control<{ value?: { ok: boolean; error?: { name: string } } }>({
        type,
        channel: 'models:list',
        args: {},
      })
      expect(reply.value?.ok, type).toBe(false)
      expect(reply.value?.error?.name, type).toBe('ForbiddenError')
    }
  })

  it('runs menu commands in the page, and Settings names the logs folder', async () => {
    await go(page, 'generate')
    await app.control({ type: 'menu', path: 'File/Settings…' })
    await expect.poll(() => tid(page, 'nav-settings').getAttribute('aria-current')).toBe('page')
    // electron-log writes under userData/logs (Electron's `logs` path on Linux)
    await expect.poll(() => page.locator('main').textContent()).toContain(join(userData(), 'logs'))
  })

  it('a second launch with the same profile exits at once and leaves the first running', async () => {
    const second = await secondInstance(mainEntry, app.userHome)
    expect(second.code, second.log).toBe(0)
    expect(second.messages.some((m) => m.type === 'window' || m.type === 'devtools')).toBe(false)
    // the first was told, and still holds its home and answers
    await expect.poll(() => app.messages.some((m) => m.type === 'second-instance')).toBe(true)
    expect(existsSync(join(studioHome(), 'studio.lock'))).toBe(true)
    await go(page, 'generate')
  }, 90_000)

  it('quits: the inference host ends first, then the app, and the home folder is released', async () => {
    const hosts = (await app.report()).utility.map((u) => u.pid)
    expect(existsSync(join(studioHome(), 'studio.lock'))).toBe(true)
    await app.control({ type: 'quit' })
    expect(await app.exited()).toBe(0)
    for (const pid of hosts) expect(alive(pid), `host ${pid}`).toBe(false)
    const order = app.messages.map((m) => m.type).filter((t) => t === 'utility-exit' || t === 'exiting')
    expect(order.at(-1)).toBe('exiting')
    expect(order.filter((t) => t === 'utility-exit')).toHaveLength(hosts.length)
    expect(existsSync(join(studioHome(), 'studio.lock'))).toBe(false)
    expect(existsSync(join(userData(), 'StandinSingletonLock'))).toBe(false)
    expect(existsSync(join(userData(), 'SingletonLock'))).toBe(false)
    expect(problems).toEqual([])
  }, 90_000)
})
