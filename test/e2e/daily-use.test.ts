/**
 * What people reach for every day, in a real browser on the web host (embedded model): Generate
 * shows the image forming and then every finished image; seeds are random by default (recorded in
 * the job before it runs), with a dice and "Reuse last"; PNG Info reads a studio PNG, an A1111 PNG
 * and refuses a damaged one; every knob and Diagnostics figure is explained; strategies carry their
 * names in one order. Screenshots go to test-results/e2e/daily-*.png.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { addTextChunks } from '../../src-main/storage/png'
import type { PageGlobals } from './dom'
import {
  fillGenerate,
  go,
  item,
  queueBy,
  rpc,
  shot,
  studioSuite,
  tid,
  waitForState,
  type StudioProcess,
} from './harness'

let studio: StudioProcess
let page: Page
let problems: string[]
studioSuite('daily', (s) => ({ studio, page, problems } = s))

/** Drops a file on the window, as a person dragging it from the desktop. */
async function drop(p: Page, name: string, bytes: Buffer, type = 'image/png'): Promise<void> {
  await p.evaluate(
    ([fileName, base64, mime]) => {
      const g = globalThis as unknown as PageGlobals & { atob(s: string): string }
      const dt = new g.DataTransfer()
      const data = g.Uint8Array.from(g.atob(base64), (c) => c.charCodeAt(0))
      dt.items.add(new g.File([data], fileName, { type: mime }))
      const target = g.document.querySelector('main') ?? g.document.body
      target.dispatchEvent(new g.DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      target.dispatchEvent(new g.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    },
    [name, bytes.toString('base64'), type] as const,
  )
}

/**
 * Records, on the page, every distinct state of the live view on Generate: "scales/with a preview/kinds",
 * kinds one letter per scale (p: cheap preview from the preview map, d: decoded, -: none).
 */
async function recordLive(p: Page): Promise<void> {
  await p.evaluate(() => {
    const g = globalThis as unknown as PageGlobals
    const seen: string[] = []
    g.e2e = { ...g.e2e, live: seen }
    const push = (): void => {
      const live = g.document.querySelector('[data-testid="generate-live"]')
      const withPreview = g.document.querySelectorAll('[data-testid="generate-live-scale"] img').length
      const kinds = Array.from(g.document.querySelectorAll('[data-testid="generate-live-scale"]'))
        .map((f) => ({ projection: 'p', decode: 'd' })[f.getAttribute('data-preview-kind') ?? ''] ?? '-')
        .join('')
      const now = live ? `${live.getAttribute('data-scales') ?? '?'}/${withPreview}/${kinds}` : '-'
      if (seen.at(-1) !== now) seen.push(now)
    }
    push()
    new g.MutationObserver(push).observe(g.document.body, { childList: true, subtree: true })
  })
}

const gallerySeen = (p: Page) =>
  p.evaluate(() => [...((globalThis as unknown as PageGlobals).e2e?.live as string[])])

async function plainPng(): Promise<Buffer> {
  return sharp({ create: { width: 28, height: 28, channels: 3, background: '#6080a0' } })
    .png()
    .toBuffer()
}

describe('daily use', () => {
  it('Generate: random seeds recorded when queued, the image forming, then every image', async () => {
    await go(page, 'generate')
    // random by default, as the CLI's generate without --seed
    expect(await tid(page, 'seed-policy').inputValue()).toBe('random')
    expect(await tid(page, 'seed-input').getAttribute('placeholder')).toBe('random')
    await tid(page, 'class-input').fill('Sneaker')
    await tid(page, 'class-input').press('Enter')
    await tid(page, 'strategy-select').selectOption('var-scaling')
    await tid(page, 'knob-N').fill('24')
    await tid(page, 'knob-N').press('Tab')
    await tid(page, 'count-input').fill('6')
    await recordLive(page)
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    // the seeds are in the job as soon as it is queued: six random ones, all different
    const queued = (await rpc(studio, 'queue:get', {})).jobs.find((j) => j.id === jobId)
    expect(queued?.seedPolicy).toBe('random')
    const seeds = queued?.seeds ?? []
    expect(seeds).toHaveLength(6)
    expect(new Set(seeds).size).toBe(6)
    expect(seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 32)).toBe(true)
    // the image forming: catch it mid-run for the screenshot when the machine is slow enough
    await tid(page, 'generate-live-preview')
      .waitFor({ timeout: 20_000 })
      .then(() => shot(page, 'daily-generate-live'))
      .catch(() => undefined)
    await waitForState(page, jobId, 'done')
    const thumbs = tid(page, 'result-thumb')
    await expect.poll(() => thumbs.count()).toBe(6)
    // the note goes once the job is done
    await expect.poll(() => tid(page, 'queued-note').count()).toBe(0)
    expect(await tid(page, 'results-count').textContent()).toMatch(/6 of 6 images · done/)
    // the live view went up scale by scale, each with its partial decode
    const live = (await gallerySeen(page)).filter((s) => s !== '-')
    const counts = live.map((s) => Number(s.split('/')[0]))
    expect(counts.length, live.join(' | ')).toBeGreaterThanOrEqual(2)
    expect(counts, live.join(' | ')).toEqual([...counts].sort((a, b) => a - b))
    expect(
      live.every((s) => s.split('/')[0] === s.split('/')[1]),
      live.join(' | '),
    ).toBe(true)
    // cheap previews from the model's preview map (the default) at every scale but the last, which is
    // the decoded image itself
    const kinds = live.map((s) => s.split('/')[2] ?? '')
    expect(kinds.every((k) => /^p*d?$/.test(k)) && kinds.some((k) => k.includes('p')), live.join(' | ')).toBe(
      true,
    )
    // the thumbnails are the job's images, with its seeds
    const images = await rpc(studio, 'history:list', {})
    const thumbIds = await thumbs.evaluateAll((els) =>
      els.map((e) =>
        (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-image-id'),
      ),
    )
    expect(thumbIds.map((id) => images.find((i) => i.id === id)?.seed)).toEqual(seeds)
    await expect.poll(() => thumbs.first().locator('img').getAttribute('src')).toMatch(/^data:image\/png/)
    await shot(page, 'daily-generate-done')

    // a thumbnail opens full size, and from there its Timeline and Density
    await thumbs.nth(2).click()
    await tid(page, 'image-dialog').waitFor()
    expect(await tid(page, 'image-dialog').textContent()).toContain(`seed ${seeds[2]}`)
    expect(await tid(page, 'image-dialog').textContent()).toContain('VAR-Scaling · N 24')
    await shot(page, 'daily-generate-dialog')
    await tid(page, 'dialog-timeline').click()
    await expect.poll(() => tid(page, 'nav-timeline').getAttribute('aria-current')).toBe('page')
    await expect.poll(() => page.locator('.timeline .head').textContent()).toContain(`seed ${seeds[2]}`)
    await go(page, 'generate')
    await thumbs.nth(3).click()
    await tid(page, 'dialog-density').click()
    await expect.poll(() => tid(page, 'nav-density').getAttribute('aria-current')).toBe('page')
    await tid(page, 'density-branch').waitFor()

    // pressing Generate again makes new images: new random seeds
    await go(page, 'generate')
    await tid(page, 'count-input').fill('2')
    const [second] = await queueBy(page, tid(page, 'generate-button'), 1)
    const again = (await rpc(studio, 'queue:get', {})).jobs.find((j) => j.id === second)?.seeds ?? []
    expect(again).toHaveLength(2)
    expect(again.some((s) => seeds.includes(s))).toBe(false)
    await waitForState(page, second, 'done')
    // only this run's images are shown now
    await expect.poll(() => thumbs.count()).toBe(2)

    // the dice: a new seed in the field, and seed + i from it
    await tid(page, 'seed-dice').click()
    expect(await tid(page, 'seed-policy').inputValue()).toBe('increment')
    const rolled = Number(await tid(page, 'seed-input').inputValue())
    expect(Number.isInteger(rolled) && rolled >= 0).toBe(true)
    await tid(page, 'seed-dice').click()
    expect(Number(await tid(page, 'seed-input').inputValue())).not.toBe(rolled)
    // reuse last: the last job's first seed back in the field
    await tid(page, 'seed-reuse').click()
    expect(Number(await tid(page, 'seed-input').inputValue())).toBe(again[0])
    const [third] = await queueBy(page, tid(page, 'generate-button'), 1)
    const reused = (await rpc(studio, 'queue:get', {})).jobs.find((j) => j.id === third)
    expect(reused?.seeds).toEqual([again[0], again[0] + 1])
    await waitForState(page, third, 'done')
    expect(problems).toEqual([])
  }, 240_000)

  it('PNG Info: a studio PNG loads back, an A1111 PNG is read, a damaged one is refused', async () => {
    const made = (await rpc(studio, 'history:list', {})).find((i) => i.strategyKind === 'var-scaling')
    if (!made) throw new Error('no image from the first test')
    const bytes = await readFile(resolve(studio.out, made.file))
    // chosen through PNG Info's file input
    await go(page, 'png-info')
    await tid(page, 'png-file-input').setInputFiles({
      name: 'made.png',
      mimeType: 'image/png',
      buffer: bytes,
    })
    await tid(page, 'png-info').waitFor()
    expect(await tid(page, 'png-from').textContent()).toMatch(/made by VAR Studio/)
    const fields = await tid(page, 'png-fields').textContent()
    expect(fields).toContain(`Seed${made.seed}`)
    expect(fields).toContain('PromptSneaker')
    expect(await tid(page, 'png-loads').textContent()).toMatch(
      new RegExp(`class Sneaker, seed ${made.seed} \\(fixed\\), VAR-Scaling`),
    )
    await shot(page, 'daily-png-info-studio')
    // change the form, then load: the PNG's parameters come back
    await fillGenerate(page, { classes: ['Bag', 'Coat'], kind: 'baseline', seed: 3 })
    await go(page, 'png-info')
    await tid(page, 'png-load').click()
    await expect.poll(() => tid(page, 'nav-generate').getAttribute('aria-current')).toBe('page')
    expect(await tid(page, 'class-chip').allTextContents()).toEqual([expect.stringContaining('Sneaker')])
    expect(await tid(page, 'seed-input').inputValue()).toBe(String(made.seed))
    expect(await tid(page, 'seed-policy').inputValue()).toBe('fixed')
    expect(await tid(page, 'strategy-select').inputValue()).toBe('var-scaling')
    expect(await tid(page, 'knob-N').inputValue()).toBe('24')

    // an A1111 PNG dropped on the window (from Generate): PNG Info opens and reads it
    const a1111 = addTextChunks(await plainPng(), {
      parameters:
        'a red ankle boot on snow\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 3.5, Seed: 987654, Size: 512x512, Model: sdxl',
    })
    await drop(page, 'boot.png', a1111)
    await expect.poll(() => tid(page, 'nav-png-info').getAttribute('aria-current')).toBe('page')
    await tid(page, 'png-info').waitFor()
    await expect.poll(() => tid(page, 'png-from').textContent()).toMatch(/A1111-style parameters/)
    expect(await tid(page, 'png-fields').textContent()).toContain('Negative promptblurry')
    expect(await tid(page, 'png-notes').textContent()).toMatch(/read as the class Ankle boot/)
    expect(await tid(page, 'png-notes').textContent()).toMatch(/"sdxl", which is not installed/)
    await shot(page, 'daily-png-info-a1111')
    await tid(page, 'png-load').click()
    expect(await tid(page, 'class-chip').allTextContents()).toEqual([expect.stringContaining('Ankle boot')])
    expect(await tid(page, 'seed-input').inputValue()).toBe('987654')

    // a damaged PNG: a plain message, nothing loaded
    const broken = Buffer.from(bytes)
    broken[20] ^= 0xff
    await go(page, 'png-info')
    await tid(page, 'png-file-input').setInputFiles({
      name: 'broken.png',
      mimeType: 'image/png',
      buffer: broken,
    })
    await expect
      .poll(() => tid(page, 'png-error').textContent())
      .toMatch(
        /broken\.png cannot be read:.*broken\.png is damaged: its IHDR chunk at byte 8 fails its checksum/,
      )
    expect(await tid(page, 'png-info').count()).toBe(0)
    await shot(page, 'daily-png-info-broken')

    // Batches still says what a PNG is, and offers PNG Info
    await go(page, 'batches')
    await tid(page, 'batch-file-input').setInputFiles({
      name: 'made.png',
      mimeType: 'image/png',
      buffer: bytes,
    })
    await expect
      .poll(() => tid(page, 'batch-error').textContent())
      .toMatch(/made\.png is a PNG image, not a batch file/)
    await tid(page, 'batch-png-info').click()
    await expect.poll(() => tid(page, 'png-from').textContent()).toMatch(/made by VAR Studio/)
    expect(problems).toEqual([])
  }, 120_000)

  it('every knob is explained where it is set; Diagnostics figures are named', async () => {
    await go(page, 'generate')
    await tid(page, 'strategy-select').selectOption('var-scaling')
    for (const knob of [
      'count',
      'seed',
      'seedPolicy',
      'strategy',
      'searchScales',
      'N',
      'k',
      'alpha',
      'dedup',
      'finalPick',
    ]) {
      expect((await tid(page, `help-${knob}`).textContent())?.trim().length, knob).toBeGreaterThan(20)
    }
    // the longer note shows on hover and on keyboard focus
    const alphaTip = tid(page, 'help-more-alpha').locator('[role="tooltip"]')
    expect(await alphaTip.isVisible()).toBe(false)
    await tid(page, 'help-more-alpha').hover()
    await expect.poll(() => alphaTip.isVisible()).toBe(true)
    expect(await alphaTip.textContent()).toMatch(/mode/)
    await page.mouse.move(0, 0)
    await tid(page, 'help-more-dedup').focus()
    await expect.poll(() => tid(page, 'help-more-dedup').locator('[role="tooltip"]').isVisible()).toBe(true)
    await tid(page, 'knobs-advanced').locator('summary').click()
    for (const knob of ['kernel', 'poolBandwidthOverBatch', 'legacyProgressiveNucleus']) {
      await expect.poll(() => tid(page, `help-${knob}`).isVisible()).toBe(true)
    }
    // the Advanced checkboxes sit beside their labels, on one line
    for (const knob of ['poolBandwidthOverBatch', 'legacyProgressiveNucleus']) {
      const box = await tid(page, `knob-${knob}`).boundingBox()
      const text = await tid(page, `knob-${knob}`).locator('xpath=following-sibling::span').boundingBox()
      if (!box || !text) throw new Error(`no box for ${knob}`)
      expect(Math.abs(box.y + box.height / 2 - (text.y + text.height / 2)), knob).toBeLessThan(6)
      expect(box.x + box.width, knob).toBeLessThanOrEqual(text.x)
    }
    await page.locator('details.sampling summary').click()
    for (const knob of ['cfg', 'top_k', 'top_p', 'more_smooth', 'samplingPresets', 'searchPresets']) {
      await expect.poll(() => tid(page, `help-${knob}`).isVisible(), { message: knob }).toBe(true)
    }
    await tid(page, 'help-more-legacyProgressiveNucleus').hover()
    await shot(page, 'daily-knobs')
    await tid(page, 'strategy-select').selectOption('best-of-n')
    expect(await tid(page, 'help-bestOfN').textContent()).toMatch(/classifier/)
    // the menu lists the strategies in the one order, by name
    expect(await tid(page, 'strategy-select').locator('option').allTextContents()).toEqual([
      'Baseline (no search)',
      'Top-k only',
      'Random-k only',
      'VAR-Scaling (hybrid)',
      'Best of N',
    ])

    await go(page, 'settings')
    await page.getByTestId('diagnostics').getByRole('button', { name: 'Refresh' }).click()
    const names = page.locator('[data-testid="diagnostics"] .timings th')
    await expect.poll(() => names.count()).toBeGreaterThan(5)
    const shown = await names.allTextContents()
    for (const n of ['Model', 'Previews', 'JavaScript', 'KDE', 'Live updates', 'Total'])
      expect(shown, shown.join(', ')).toContain(n)
    expect(shown.filter((n) => /^(model|js|kde|hook|preview|total)$/.test(n))).toEqual([])
    expect(
      await page.locator('[data-testid="diagnostics"] tr[data-timing="hookMs"] .note').textContent(),
    ).toMatch(/progress/)
    await page.locator('[data-testid="diagnostics"]').scrollIntoViewIfNeeded()
    await shot(page, 'daily-diagnostics')
  }, 90_000)

  it('strategies carry their names in one order: Compare, the queue, the Gallery, Export', async () => {
    await fillGenerate(page, { classes: ['Shirt'], kind: 'var-scaling', seed: 77, N: 6, k: 2 })
    const ids = await queueBy(page, tid(page, 'compare-button'), 4)
    for (const id of ids) await waitForState(page, id, 'done')
    // in the order they were queued
    const jobs = (await rpc(studio, 'queue:get', {})).jobs.filter((j) => ids.includes(j.id))
    const labels = await Promise.all(jobs.map((j) => item(page, j.id).locator('strong').textContent()))
    expect(labels).toEqual(['Baseline', 'Top-k only', 'Random-k only', 'VAR-Scaling'])
    expect(jobs.map((j) => j.label)).toEqual([
      'Compare: Baseline',
      'Compare: Top-k only',
      'Compare: Random-k only',
      'Compare: VAR-Scaling',
    ])
    await go(page, 'gallery')
    await tid(page, 'gallery-mode-seed').click()
    expect(await page.locator('.gallery .th').allTextContents()).toEqual([
      'class · seed',
      'Baseline',
      'Top-k only',
      'Random-k only',
      'VAR-Scaling',
    ])
    await shot(page, 'daily-gallery')
    await go(page, 'export')
    expect(await page.locator('.export .pick select').nth(1).locator('option').allTextContents()).toEqual([
      'all strategies',
      'Baseline',
      'Top-k only',
      'Random-k only',
      'VAR-Scaling',
      'Best of N',
    ])
    // the Shirt images of the comparison, by class and strategy: its CSV names them in the one order
    await page.locator('.export .pick select').first().selectOption({ label: 'Shirt' })
    await tid(page, 'export-select-all').check()
    await tid(page, 'export-rows').selectOption('seed')
    await tid(page, 'export-columns').selectOption('strategy')
    await tid(page, 'export-button').click()
    await tid(page, 'export-result').waitFor({ timeout: 60_000 })
    await shot(page, 'daily-export')
    const csvName = (await readdir(join(studio.out, 'exports')))
      .filter((f) => f.endsWith('.csv'))
      .sort()
      .at(-1)
    const csv = (await readFile(join(studio.out, 'exports', csvName ?? ''), 'utf8')).trim().split('\n')
    expect(csv[0]).toMatch(/^Row: Seed,Column: Strategy,/)
    expect(csv.slice(1).map((l) => l.split(',')[1])).toEqual([
      'Baseline',
      'Top-k only',
      'Random-k only',
      'VAR-Scaling',
    ])
    // no internal id where a person reads
    for (const view of ['generate', 'gallery', 'export', 'history']) {
      await go(page, view)
      const body = await page.locator('main').innerText()
      expect(body, view).not.toMatch(/\b(topk-only|randomk-only|var-scaling|best-of-n)\b/)
    }
    expect(problems).toEqual([])
  }, 180_000)
})
