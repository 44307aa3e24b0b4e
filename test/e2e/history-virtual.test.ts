/**
 * History and the export view's image list with 5000 images, in a real browser on the web host:
 * only the rows in view are in the page while the list scrolls from the newest image to the oldest;
 * keys move through History (Up/Down, Page Up/Down, Home/End, Enter opens) and search still finds
 * any image; the export list reaches the oldest image; the Timeline picker finds an old image by
 * search. Screenshots go to test-results/e2e/history-*.png.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Locator, Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { ImageEntry } from '../../src-shared/ipc'
import type { PageGlobals } from './dom'
import { go, shot, studioSuite, tid } from './harness'
import { FASHION_CLASSES } from '../fixtures/manifest'

const COUNT = 5000
/** images per job: one header row per job in History */
const PER_JOB = 4
const KINDS = ['baseline', 'topk-only', 'randomk-only', 'var-scaling']
/** A row bound far below 5000 and far above what a 1000 px window shows. */
const MAX_ROWS = 120

const idOf = (i: number) => `hist${String(i).padStart(5, '0')}`

/** An output folder holding COUNT images (newest first, seeds 200000 + i), made before the host starts. */
async function historyFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'var-e2e-history-'))
  await mkdir(join(dir, 'history', 'timelines'), { recursive: true })
  await mkdir(join(dir, 'images', 'fixture'), { recursive: true })
  const png = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#5a6470' } })
    .png()
    .toBuffer()
  const t0 = Date.now() - 60_000
  const entries: ImageEntry[] = []
  for (let i = 0; i < COUNT; i++) {
    const file = `images/fixture/${idOf(i)}.png`
    await writeFile(join(dir, file), png)
    const kind = KINDS[Math.floor(i / PER_JOB) % KINDS.length] ?? 'baseline'
    entries.push({
      id: idOf(i),
      jobId: `job-${Math.floor(i / PER_JOB)}`,
      modelId: 'fashion-mnist-var-d4',
      classId: i % 10,
      className: FASHION_CLASSES[i % 10] ?? '',
      seed: 200_000 + i,
      strategyKind: kind,
      strategy: { kind },
      sampling: { cfg: 1.5, top_k: 0, top_p: 0 },
      N: kind === 'baseline' ? 1 : 6,
      provider: 'cpu',
      createdAt: new Date(t0 - i * 60_000).toISOString(),
      file,
      width: 28,
      height: 28,
      parameters: '',
    })
  }
  await writeFile(
    join(dir, 'history', 'index.json'),
    JSON.stringify({ format: 'var-studio-history/1', images: entries }),
  )
  return dir
}
const DIR = await historyFolder()
const OLDEST = { id: idOf(COUNT - 1), seed: 200_000 + COUNT - 1 }

let page: Page
studioSuite('history', (s) => ({ page } = s), ['--out', DIR])
afterAll(async () => {
  await rm(DIR, { recursive: true, force: true })
})

const items = () => tid(page, 'history-item')
const activeIndex = () => page.locator('[data-testid="history-item"].active').getAttribute('data-index')

/** Scrolls `list` to its end in 40 steps, each waited to its next frame; the rows in the page at each. */
function scrollDown(list: Locator, selector: string): Promise<number[]> {
  return list.evaluate(async (el, rowSelector) => {
    const g = globalThis as unknown as {
      requestAnimationFrame: (f: () => void) => void
    }
    const box = el as unknown as {
      scrollTop: number
      scrollHeight: number
      clientHeight: number
      querySelectorAll: (s: string) => { length: number }
    }
    const counts: number[] = []
    for (let k = 1; k <= 40; k++) {
      box.scrollTop = ((box.scrollHeight - box.clientHeight) * k) / 40
      await new Promise<void>((done) => {
        g.requestAnimationFrame(() => {
          done()
        })
      })
      counts.push(box.querySelectorAll(rowSelector).length)
    }
    return counts
  }, selector)
}

describe('History with 5000 images', () => {
  it('shows every image while keeping only the rows in view in the page', async () => {
    await go(page, 'history')
    await expect
      .poll(() => page.locator('.history header').textContent(), { timeout: 60_000 })
      .toContain(`${COUNT} images`)
    await expect.poll(() => items().count()).toBeGreaterThan(5)
    expect(await items().count()).toBeLessThan(MAX_ROWS)
    expect(await tid(page, 'history-run').count()).toBeLessThan(MAX_ROWS)
    // the list is as tall as all 5000 rows and 1250 job headers
    const height = await tid(page, 'history-list').evaluate(
      (el) => (el as unknown as { scrollHeight: number }).scrollHeight,
    )
    expect(height).toBeGreaterThan(COUNT * 60)
    await shot(page, 'history-5000')
    const counts = await scrollDown(tid(page, 'history-list'), '[data-testid="history-item"]')
    expect(Math.max(...counts)).toBeLessThan(MAX_ROWS)
    await expect.poll(() => page.locator(`[data-image-id="${OLDEST.id}"]`).count()).toBe(1)
    await shot(page, 'history-bottom')
  }, 120_000)

  it('moves by keys: Home, Down, Page Down, End, Enter opens the image, Escape closes', async () => {
    const list = tid(page, 'history-list')
    await list.focus()
    await page.keyboard.press('Home')
    await expect.poll(activeIndex).toBe('0')
    await page.keyboard.press('ArrowDown')
    await expect.poll(activeIndex).toBe('1')
    await page.keyboard.press('PageDown')
    const paged = Number(await activeIndex())
    expect(paged).toBeGreaterThan(3)
    await page.keyboard.press('ArrowUp')
    await expect.poll(activeIndex).toBe(String(paged - 1))
    await page.keyboard.press('End')
    await expect.poll(activeIndex).toBe(String(COUNT - 1))
    expect(await page.locator('[data-testid="history-item"].active').getAttribute('data-image-id')).toBe(
      OLDEST.id,
    )
    expect(await items().count()).toBeLessThan(MAX_ROWS)
    await page.keyboard.press('Enter')
    await tid(page, 'image-dialog').waitFor()
    expect(await tid(page, 'image-dialog').textContent()).toContain(`seed ${OLDEST.seed}`)
    await shot(page, 'history-keys-dialog')
    await page.keyboard.press('Escape')
    await expect.poll(() => tid(page, 'image-dialog').count()).toBe(0)
    await page.keyboard.press('Home')
    await expect.poll(activeIndex).toBe('0')
    await expect.poll(() => page.locator(`[data-image-id="${idOf(0)}"]`).count()).toBe(1)
  }, 60_000)

  it('searches: an old image by its seed, then every image again', async () => {
    await tid(page, 'history-search').fill(`seed ${OLDEST.seed - 2}`)
    await expect.poll(() => items().count()).toBe(1)
    expect(await items().getAttribute('data-image-id')).toBe(idOf(COUNT - 3))
    await expect.poll(() => tid(page, 'history-matching').textContent()).toBe('1 match')
    await shot(page, 'history-search-one')
    // a job's images under their one header
    await tid(page, 'history-search').fill('job-1000')
    await expect.poll(() => tid(page, 'history-matching').textContent()).toBe(`${PER_JOB} match`)
    expect(await items().count()).toBe(PER_JOB)
    expect(await tid(page, 'history-run').count()).toBe(1)
    await tid(page, 'history-search').fill('')
    await expect.poll(() => page.locator(`[data-image-id="${idOf(0)}"]`).count()).toBe(1)
  }, 60_000)
})

describe('the export list and the Timeline picker with 5000 images', () => {
  it('lists every image for export with only the rows in view in the page', async () => {
    await go(page, 'export')
    const rows = tid(page, 'export-row')
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(5)
    expect(await rows.count()).toBeLessThan(MAX_ROWS)
    await expect.poll(() => page.locator('.pick').textContent()).toContain(`all ${COUNT} shown`)
    const counts = await scrollDown(tid(page, 'export-images'), '[data-testid="export-row"]')
    expect(Math.max(...counts)).toBeLessThan(MAX_ROWS)
    const oldest = page.locator(`[data-testid="export-row"][data-image-id="${OLDEST.id}"]`)
    await expect.poll(() => oldest.count()).toBe(1)
    await oldest.getByTestId('export-image').check()
    await expect.poll(() => tid(page, 'export-plan').textContent()).toContain('1 image')
    await shot(page, 'history-export-bottom')
  }, 60_000)

  it('finds an image far past the newest 300 in the Timeline picker', async () => {
    await go(page, 'timeline')
    const far = idOf(4321)
    const option = tid(page, 'inspect-picker').locator(`option[value="${far}"]`)
    await tid(page, 'inspect-search').fill(far)
    await expect.poll(() => option.count()).toBe(1)
  }, 60_000)
})

describe('a batch file with prompts WordNet reads', () => {
  it("shows a synonym's class, a category that asks, and a category spread over its classes", async () => {
    const csv = 'prompt,count,category\na pair of boots,1,\nfootwear,3,\nfootwear,3,spread\n'
    // a real drop event with a DataTransfer holding a File, anywhere on the page
    await page.evaluate((text) => {
      const g = globalThis as unknown as PageGlobals
      const dt = new g.DataTransfer()
      dt.items.add(new g.File([text], 'prompts.csv', { type: 'text/csv' }))
      const target = g.document.querySelector('main') ?? g.document.body
      target.dispatchEvent(new g.DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      target.dispatchEvent(new g.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    }, csv)
    const rows = tid(page, 'batch-row')
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(3)
    const cells = (n: number) => rows.nth(n).locator('td')
    expect(await cells(0).nth(3).textContent()).toContain('Ankle boot #9')
    expect(await cells(0).nth(3).textContent()).toContain(
      'WordNet: "boots" (boot): Ankle boot, a kind of boot',
    )
    expect(await rows.nth(1).getAttribute('data-ok')).toBe('false')
    expect(await rows.nth(1).locator('td.error-text').textContent()).toContain(
      'a category of 3 classes (Sandal, Sneaker, Ankle boot)',
    )
    expect(await rows.nth(2).getAttribute('data-ok')).toBe('true')
    expect(await cells(2).nth(3).textContent()).toContain('3 classes in turn')
    await shot(page, 'history-batch-wordnet')
  }, 60_000)
})
