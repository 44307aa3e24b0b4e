/**
 * Gallery, History and the image pickers in a real browser on the web host: an output folder of
 * 4996 images plus a strategy comparison made through the UI, 5000 in all, that the gallery must
 * scroll, search, filter, move through by keys, A/B compare and delete in; the Timeline picker
 * reaching an image far past the newest 300; and `serve --keep-token` with the logs path in Settings.
 */
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { ImageEntry } from '../../src-shared/ipc'
import type { PageGlobals } from './dom'
import {
  fillGenerate,
  go,
  queueBy,
  rpc,
  shot,
  studioSuite,
  tid,
  waitForState,
  type StudioProcess,
} from './harness'
import { FASHION_CLASSES } from '../fixtures/manifest'

const COUNT = 5000
const SEED = 777
const CLASSES = FASHION_CLASSES
const KINDS = ['baseline', 'topk-only', 'randomk-only', 'var-scaling']

/**
 * An output folder that already holds COUNT - 4 images (older and older, over about 40 days, seeds
 * 100000 + i), made before the web host starts (its --out pins the folder for the session); the
 * comparison made through the UI adds the last 4.
 */
async function bigFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'var-e2e-gallery-big-'))
  await mkdir(join(dir, 'history', 'timelines'), { recursive: true })
  await mkdir(join(dir, 'images', 'copies'), { recursive: true })
  const png = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#707070' } })
    .greyscale()
    .png()
    .toBuffer()
  const t0 = Date.now() - 60_000
  const day = 86_400_000
  const entries: ImageEntry[] = []
  for (let i = 0; i < COUNT - 4; i++) {
    const id = `copy${String(i).padStart(5, '0')}`
    const file = `images/copies/${id}.png`
    await writeFile(join(dir, file), png)
    const kind = KINDS[i % 4] ?? 'baseline'
    entries.push({
      id,
      jobId: `old-${Math.floor(i / 4)}`,
      modelId: 'fashion-mnist-var-d4',
      classId: i % 10,
      className: CLASSES[i % 10] ?? '',
      seed: 100_000 + i,
      strategyKind: kind,
      strategy: { kind },
      sampling: { cfg: 1.5, top_k: 0, top_p: 0 },
      N: kind === 'baseline' ? 1 : 6,
      provider: 'cpu',
      createdAt: new Date(t0 - i * (day / 120)).toISOString(),
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
const BIG = await bigFolder()
const OLDEST = { id: `copy${String(COUNT - 5).padStart(5, '0')}`, seed: 100_000 + COUNT - 5 }

let studio: StudioProcess
let page: Page
let problems: string[]
studioSuite('gallery', (s) => ({ studio, page, problems } = s), ['--keep-token', '--out', BIG])
afterAll(async () => {
  await rm(BIG, { recursive: true, force: true })
})

/** How many thumbnails are in the page, and the index of the active one. */
const thumbs = () => tid(page, 'gallery-thumb')
const activeIndex = () => page.locator('.tile.active').getAttribute('data-index')

describe('gallery with 5000 images', () => {
  const oldest = OLDEST
  let real: ImageEntry[]

  it('makes a strategy comparison and opens an output folder of 5000 images', async () => {
    await fillGenerate(page, { classes: ['Bag'], kind: 'var-scaling', seed: SEED, N: 6, k: 2 })
    const ids = await queueBy(page, tid(page, 'compare-button'), 4)
    for (const id of ids) await waitForState(page, id, 'done')
    real = await rpc(studio, 'history:list', { seed: SEED })
    expect(real).toHaveLength(4)
    expect(await rpc(studio, 'history:list', { limit: 10_000 })).toHaveLength(COUNT)
    await go(page, 'gallery')
    await expect
      .poll(() => tid(page, 'gallery-count').textContent(), { timeout: 60_000 })
      .toMatch(new RegExp(`^${COUNT} of ${COUNT} images`))
    await shot(page, 'gallery-5000')
  }, 240_000)

  it('keeps a few dozen tiles in the page and scrolls to the last image smoothly', async () => {
    const grid = tid(page, 'gallery-grid')
    expect(await thumbs().count()).toBeLessThan(200)
    // 40 scroll steps to the bottom, each waited to its next frame; after each, count the tiles in the
    // page: a list that renders every image (a re-render of 5000) shows here, whatever the machine's load
    const counts = await grid.evaluate(async (el) => {
      const g = globalThis as unknown as PageGlobals & {
        requestAnimationFrame: (f: () => void) => void
      }
      const box = el as unknown as {
        scrollTop: number
        scrollHeight: number
        clientHeight: number
        querySelectorAll: (s: string) => { length: number }
      }
      const seen: number[] = []
      for (let k = 1; k <= 40; k++) {
        box.scrollTop = ((box.scrollHeight - box.clientHeight) * k) / 40
        await new Promise<void>((done) => {
          g.requestAnimationFrame(() => {
            done()
          })
        })
        seen.push(box.querySelectorAll('[data-testid="gallery-thumb"]').length)
      }
      return seen
    })
    expect(Math.max(...counts)).toBeLessThan(200)
    expect(Math.min(...counts)).toBeGreaterThan(0)
    await expect.poll(() => page.locator(`[data-image-id="${oldest.id}"]`).count()).toBe(1)
    expect(await thumbs().count()).toBeLessThan(200)
    await shot(page, 'gallery-bottom')
  }, 120_000)

  it('moves by keys: arrows, Home, End, Enter opens, Escape closes', async () => {
    const grid = tid(page, 'gallery-grid')
    await grid.focus()
    await page.keyboard.press('Home')
    await expect.poll(activeIndex).toBe('0')
    await page.keyboard.press('ArrowRight')
    await expect.poll(activeIndex).toBe('1')
    const columns = await grid.evaluate(
      (el) => (el as unknown as PageGlobals['document']).querySelectorAll('.tile').length,
    )
    expect(columns).toBeGreaterThan(4)
    await page.keyboard.press('ArrowDown')
    const below = Number(await activeIndex())
    expect(below).toBeGreaterThan(1)
    await page.keyboard.press('ArrowUp')
    await expect.poll(activeIndex).toBe('1')
    await page.keyboard.press('End')
    await expect.poll(activeIndex).toBe(String(COUNT - 1))
    await page.keyboard.press('Enter')
    await tid(page, 'image-dialog').waitFor()
    expect(await tid(page, 'image-dialog').textContent()).toContain(`seed ${oldest.seed}`)
    await page.keyboard.press('Escape')
    await expect.poll(() => tid(page, 'image-dialog').count()).toBe(0)
    await page.keyboard.press('Home')
    await expect.poll(activeIndex).toBe('0')
  }, 60_000)

  it('searches and filters by class, strategy, seed and date', async () => {
    await tid(page, 'gallery-search').fill(`seed ${oldest.seed}`)
    await expect.poll(() => thumbs().count()).toBe(1)
    await tid(page, 'gallery-search').fill('')
    await tid(page, 'gallery-filter-seed').fill(String(SEED))
    await expect.poll(() => thumbs().count()).toBe(4)
    await tid(page, 'gallery-filter-strategy').selectOption('var-scaling')
    await expect.poll(() => thumbs().count()).toBe(1)
    expect(await thumbs().getAttribute('data-strategy')).toBe('var-scaling')
    await tid(page, 'gallery-filter-strategy').selectOption('')
    await tid(page, 'gallery-filter-seed').fill('')
    await tid(page, 'gallery-search').fill('top-k only')
    await expect.poll(() => tid(page, 'gallery-count').textContent()).toMatch(/^\d+ of/)
    const n = Number((await tid(page, 'gallery-count').textContent())?.split(' ')[0])
    expect(n).toBe(COUNT / 4)
    await tid(page, 'gallery-filter-date').selectOption('today')
    await expect.poll(() => tid(page, 'gallery-count').textContent()).not.toMatch(new RegExp(`^${n} of`))
    await tid(page, 'gallery-filter-date').selectOption('')
    await tid(page, 'gallery-search').fill('')
  }, 60_000)

  it('compares two strategies of one class and seed, A/B with a slider and a toggle', async () => {
    await tid(page, 'gallery-filter-seed').fill(String(SEED))
    await expect.poll(() => thumbs().count()).toBe(4)
    await tid(page, 'gallery-grid').focus()
    await page.keyboard.press('Home')
    await page.keyboard.press(' ')
    await page.keyboard.press('End')
    await page.keyboard.press(' ')
    await expect.poll(() => tid(page, 'gallery-compare').isEnabled()).toBe(true)
    await shot(page, 'gallery-picked')
    await tid(page, 'gallery-compare').click()
    const dialog = tid(page, 'compare-dialog')
    await dialog.waitFor()
    const [a, b] = await Promise.all([tid(page, 'ab-a').inputValue(), tid(page, 'ab-b').inputValue()])
    expect(a).not.toBe(b)
    const kinds = new Map(real.map((e) => [e.id, e.strategyKind]))
    expect(kinds.get(a)).not.toBe(kinds.get(b))
    await tid(page, 'ab-slider').fill('20')
    await expect
      .poll(() =>
        tid(page, 'ab-b-layer').evaluate(
          (el) => (el as unknown as { style: { clipPath: string } }).style.clipPath,
        ),
      )
      .toBe('inset(0px 0px 0px 20%)')
    await expect.poll(() => dialog.locator('img').count()).toBe(2)
    await shot(page, 'gallery-ab-slider')
    await tid(page, 'ab-mode-toggle').click()
    await expect.poll(() => tid(page, 'ab-flip').textContent()).toContain('Showing A')
    await page.keyboard.press('t')
    await expect.poll(() => tid(page, 'ab-flip').textContent()).toContain('Showing B')
    await shot(page, 'gallery-ab-toggle')
    await tid(page, 'ab-close').click()
    // and from a row of the By class and seed table
    await tid(page, 'gallery-mode-seed').click()
    await expect.poll(() => tid(page, 'gallery-group').count()).toBe(1)
    await tid(page, 'gallery-ab').click()
    await dialog.waitFor()
    await shot(page, 'gallery-ab-row')
    await tid(page, 'ab-close').click()
    await tid(page, 'gallery-mode-grid').click()
    await tid(page, 'gallery-filter-seed').fill('')
  }, 90_000)

  it('deletes by the Delete key in the gallery and by a button in History', async () => {
    page.on('dialog', (d) => void d.accept())
    await tid(page, 'gallery-search').fill(`seed ${oldest.seed}`)
    await expect.poll(() => thumbs().count()).toBe(1)
    await tid(page, 'gallery-grid').focus()
    await page.keyboard.press('Home')
    await page.keyboard.press('Delete')
    await expect.poll(() => thumbs().count()).toBe(0)
    expect(await rpc(studio, 'history:list', { seed: oldest.seed })).toEqual([])
    await tid(page, 'gallery-search').fill('')

    await go(page, 'history')
    const victim = 'copy04000'
    await tid(page, 'history-search').fill(victim)
    const items = tid(page, 'history-item')
    await expect.poll(() => items.count()).toBe(1)
    await shot(page, 'history-search')
    await items.getByTestId('history-delete').click()
    await expect.poll(() => items.count()).toBe(0)
    expect((await rpc(studio, 'history:list', { limit: 10_000 })).some((e) => e.id === victim)).toBe(false)
    await tid(page, 'history-search').fill('')
  }, 60_000)

  it('reaches an image past the newest 300 in the Timeline picker', async () => {
    await go(page, 'timeline')
    const far = 'copy04500'
    const option = tid(page, 'inspect-picker').locator(`option[value="${far}"]`)
    expect(await option.count()).toBe(0)
    await tid(page, 'inspect-search').fill(far)
    await expect.poll(() => option.count()).toBe(1)
    // a real image (it has a timeline) found by its seed and opened
    await tid(page, 'inspect-search').fill(`seed ${SEED} var-scaling`)
    const target = real.find((e) => e.strategyKind === 'var-scaling')
    await expect
      .poll(() => tid(page, 'inspect-picker').locator(`option[value="${target?.id}"]`).count())
      .toBe(1)
    await tid(page, 'inspect-picker').selectOption(target?.id ?? '')
    await expect.poll(() => tid(page, 'timeline-scale').count()).toBeGreaterThan(0)
    await shot(page, 'timeline-picker-search')
  }, 60_000)

  it('keeps its token in the home folder (0600) and shows the logs folder in Settings', async () => {
    const file = join(studio.home, 'web-token')
    expect((await readFile(file, 'utf8')).trim()).toBe(studio.token)
    expect((await lstat(file)).mode & 0o777).toBe(0o600)
    await go(page, 'settings')
    await expect.poll(() => tid(page, 'logs-dir').textContent()).toBe(`Logs in ${join(studio.home, 'logs')}`)
    await page.getByRole('button', { name: 'Open logs folder' }).click()
    await expect
      .poll(() => tid(page, 'open-note').textContent())
      .toBe(`This host cannot open folders. The logs folder is ${join(studio.home, 'logs')}`)
    await shot(page, 'settings-logs')
    expect(await readFile(join(studio.home, 'logs', 'web-host.log'), 'utf8')).toContain(
      'VAR Studio is running',
    )
    expect(problems.filter((p) => !p.includes('favicon'))).toEqual([])
  }, 60_000)
})
