/**
 * The desktop journey against the real Electron binary (playwright-core's Electron launcher), for
 * any machine where Electron could download it (`npm start` once, or `npx install-electron`).
 * Where there is none, the suite is reported as skipped, never as passed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { _electron as electron, type ElectronApplication, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fillGenerate, go, item, queueBy, tid } from '../e2e/harness'
import { builtApp, dropFiles, ROOT } from './harness'

/** The binary `npm start` would run, without triggering a download (node_modules/electron/index.js would). */
function electronBinary(): string | undefined {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH
  const dir = join(ROOT, 'node_modules', 'electron')
  const pathFile = join(dir, 'path.txt')
  const file = override
    ? join(override, process.platform === 'win32' ? 'electron.exe' : 'electron')
    : existsSync(pathFile)
      ? join(dir, 'dist', readFileSync(pathFile, 'utf8').trim())
      : undefined
  return file && existsSync(file) ? file : undefined
}

const binary = electronBinary()
if (!binary) console.log('smoke:electron skipped: no Electron binary (node_modules/electron has no dist/)')

describe.skipIf(!binary)('the desktop journey in Electron', () => {
  let app: ElectronApplication
  let page: Page
  let home: string

  beforeAll(async () => {
    builtApp()
    home = await mkdtemp(join(tmpdir(), 'var-electron-smoke-'))
    app = await electron.launch({
      executablePath: binary,
      args: [ROOT],
      cwd: ROOT,
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') },
    })
    page = await app.firstWindow()
    await tid(page, 'nav-generate').waitFor({ timeout: 120_000 })
  })

  afterAll(async () => {
    await app.close().catch(() => undefined)
    await rm(home, { recursive: true, force: true })
  })

  it('exposes only the studio API to a sandboxed page and lists the embedded model', async () => {
    expect(
      await page.evaluate(() => Object.keys((globalThis as { studio?: object }).studio ?? {}).sort()),
    ).toEqual(['invoke', 'on', 'pathForFile'])
    expect(await page.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined')
    await page
      .locator('[data-testid="model-select"] option', { hasText: 'Fashion-MNIST' })
      .first()
      .waitFor({ state: 'attached', timeout: 60_000 })
  })

  it('generates with VAR-Scaling and shows the image', async () => {
    await fillGenerate(page, { classes: ['Sneaker'], kind: 'var-scaling', seed: 7, N: 8, k: 2 })
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await expect.poll(() => item(page, jobId).getAttribute('data-state'), { timeout: 120_000 }).toBe('done')
    await go(page, 'history')
    const img = page.getByTestId('history-item').locator('img').first()
    await expect
      .poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0)
  })

  it('reads a dropped batch file through its path and queues it', async () => {
    const file = join(home, 'rows.csv')
    await writeFile(file, 'class,seed\nTrouser,11\nBag,13\n')
    await go(page, 'generate')
    // the stand-in's announcement is a no-op here: Electron knows dropped files' paths itself
    await page.evaluate(() => {
      ;(globalThis as unknown as { __standinOsDrop?: (p: string[]) => void }).__standinOsDrop ??= () =>
        undefined
    })
    await dropFiles(page, [file])
    await expect.poll(() => tid(page, 'batch-row').count()).toBe(2)
    await tid(page, 'batch-queue-button').click()
    await tid(page, 'batch-queued').waitFor()
  })

  it('exports a grid where the save dialog says', async () => {
    const target = join(home, 'grid.png')
    await app.evaluate(({ dialog }, path) => {
      dialog.showSaveDialog = () => Promise.resolve({ canceled: false, filePath: path })
    }, target)
    await go(page, 'export')
    await tid(page, 'export-image').first().check()
    await tid(page, 'export-button').click()
    await tid(page, 'export-result').waitFor({ timeout: 60_000 })
    expect((await readFile(target)).subarray(1, 4).toString('latin1')).toBe('PNG')
  })

  it('quits and releases the home folder', async () => {
    await app.close()
    expect(readdirSync(join(home, '.config', 'var-studio'))).not.toContain('studio.lock')
  })
})
