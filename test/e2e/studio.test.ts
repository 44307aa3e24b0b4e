/**
 * The studio in a real browser: Debian's chromium (playwright-core) on the web host, which runs the
 * real engine on the embedded model. Generate and watch the timeline, densities, the strategy
 * comparison in the gallery, a dropped batch file, cancelling one job, a grid export read back from
 * disk, and a screenshot of every view (test-results/e2e/).
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { STRATEGY_ORDER, strategyName } from '../../src-shared/strategy-names'
import { composeGrid } from '../../src-main/storage/grid'
import { JSON_KEYWORD, PARAMETERS_KEYWORD, readTextChunks, toRaw } from '../../src-main/storage/png'
import type { PageGlobals } from './dom'
import {
  fillGenerate,
  go,
  item,
  JOB_MS,
  openStudioPage,
  queueBy,
  rpc,
  ROOT,
  shot,
  studioSuite,
  tid,
  waitForState,
  type StudioProcess,
} from './harness'

interface Manifest {
  readonly patch_nums: readonly number[]
  readonly class_names: readonly string[]
  readonly image_size: number
}
const manifest = JSON.parse(
  await readFile(join(ROOT, 'models', 'fashion-mnist-var', 'manifest.json'), 'utf8'),
) as Manifest
/** scales of the embedded model */
const S = manifest.patch_nums.length

let studio: StudioProcess
let browser: Browser
let page: Page
let problems: string[]
studioSuite('studio', (s) => ({ studio, browser, page, problems } = s))

/** Starts recording, on the page, every distinct value `probe` takes as the DOM changes. */
async function record(p: Page, name: string, probe: 'timeline' | 'progress' | 'states'): Promise<void> {
  await p.evaluate(
    ([key, what]) => {
      const g = globalThis as unknown as PageGlobals
      const seen: string[] = []
      g.e2e = { ...g.e2e, [key]: seen }
      const read = (): string => {
        const d = g.document
        if (what === 'timeline') {
          const si = Array.from(d.querySelectorAll('[data-testid="timeline-scale"]')).map(
            (e) => e.getAttribute('data-si') ?? '?',
          )
          const live = (d.querySelector('.timeline .head .tag')?.textContent ?? '').includes('live')
          return `${live ? 'live' : 'recorded'}:${si.join(',')}`
        }
        const items = Array.from(d.querySelectorAll('[data-testid="queue-item"]'))
        if (what === 'states') {
          return items
            .map((e) => `${e.getAttribute('data-job-id') ?? '?'}=${e.getAttribute('data-state') ?? '?'}`)
            .sort()
            .join(';')
        }
        return items
          .map(
            (e) =>
              `${e.getAttribute('data-job-id') ?? '?'}=${e.querySelector('[data-testid="job-progress"]')?.textContent?.trim() ?? ''}`,
          )
          .join(';')
      }
      const push = (): void => {
        const now = read()
        if (seen.at(-1) !== now) seen.push(now)
      }
      push()
      new g.MutationObserver(push).observe(g.document.body, {
        childList: true,
        subtree: true,
        characterData: true,
      })
    },
    [name, probe] as const,
  )
}

async function recorded(p: Page, name: string): Promise<string[]> {
  return p.evaluate((key) => {
    const g = globalThis as unknown as PageGlobals
    return [...((g.e2e?.[key] as string[] | undefined) ?? [])]
  }, name)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe('VAR Studio in a browser', () => {
  it('the queue progress of a running job never goes backwards', async () => {
    // The studio's first job, 16 baseline images in one batch. The host sends queue:changed (with
    // the new progress) at once and job:scale (with the same progress) after encoding the previews,
    // so under load a job:scale can arrive after a newer queue:changed; the queue store must not
    // put the text and bar back when it does (src-renderer/src/stores/queue.ts, onScale).
    await fillGenerate(page, {
      classes: ['Pullover'],
      kind: 'baseline',
      seed: 1000,
      count: 16,
      policy: 'increment',
    })
    await record(page, 'progress16', 'progress')
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await waitForState(page, jobId, 'done')
    const progress = (await recorded(page, 'progress16'))
      .map(
        (snapshot) =>
          snapshot
            .split(';')
            .find((e) => e.startsWith(`${jobId}=`))
            ?.slice(jobId.length + 1) ?? '',
      )
      .filter((t) => /^scale \d+ of \d+$/.test(t))
    const steps = progress.map((t) => Number(/^scale (\d+)/.exec(t)?.[1]))
    expect(progress.at(-1)).toBe(`scale ${S} of ${S}`)
    // A job:scale event that arrives after a newer queue:changed must not put the bar back.
    expect(steps, progress.join(' | ')).toEqual([...steps].sort((a, b) => a - b))
  }, 120_000)

  it('generates and the live timeline advances scale by scale', async () => {
    // A second tab watches the next job live on the Timeline while this one generates.
    const watcher = await openStudioPage(browser, studio)
    // A third tab opens the Timeline and chooses nothing: the job that starts is followed all the same.
    const idle = await openStudioPage(browser, studio)
    try {
      await go(idle.page, 'timeline')
      await expect
        .poll(() => idle.page.locator('.timeline .empty').textContent())
        .toMatch(/Choose an image above, or press Generate: the running job is shown live/)
      await go(watcher.page, 'timeline')
      await tid(watcher.page, 'inspect-picker').selectOption('__live__')
      await expect
        .poll(() => watcher.page.locator('.timeline .empty').textContent())
        .toMatch(/Waiting for the running job/)
      await record(watcher.page, 'timeline', 'timeline')

      await fillGenerate(page, { classes: ['Trouser'], kind: 'var-scaling', seed: 7, N: 8, k: 2 })
      await record(page, 'progress', 'progress')
      const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
      await waitForState(page, jobId, 'done')
      // The watcher went live, then replaced the live view by the finished image's timeline.
      const full = range(S).join(',')
      await expect
        .poll(() => recorded(watcher.page, 'timeline'), { timeout: JOB_MS })
        .toContain(`recorded:${full}`)
      const timeline = await recorded(watcher.page, 'timeline')
      const live = timeline.filter((s) => s.startsWith('live:')).map((s) => s.slice('live:'.length))
      // Every live state is the scales 0..i, each one longer than the last, ending with all S.
      expect(live.length, `live states seen: ${timeline.join(' | ')}`).toBeGreaterThanOrEqual(3)
      for (const [n, state] of live.entries()) {
        const si = state.split(',').map(Number)
        expect(si, `live state ${n}: ${timeline.join(' | ')}`).toEqual(range(si.length))
        if (n > 0) expect(si.length).toBeGreaterThan(live[n - 1].split(',').length)
      }
      expect(live.at(-1)).toBe(full)

      // The recorded timeline: every scale with its token map and partial decode, candidates at scale 1.
      await expect.poll(() => tid(watcher.page, 'timeline-scale').count()).toBe(S)
      expect(await watcher.page.locator('[data-testid="timeline-scale"] img').count()).toBe(S)
      expect(await tid(watcher.page, 'timeline-candidate').count()).toBe(8)
      expect(watcher.problems).toEqual([])
      await expect.poll(() => tid(idle.page, 'timeline-scale').count()).toBe(S)
      expect(await tid(idle.page, 'timeline-candidate').count()).toBe(8)
      expect(await tid(idle.page, 'inspect-picker').inputValue()).toBe(
        await tid(watcher.page, 'inspect-picker').inputValue(),
      )
      expect(idle.problems).toEqual([])
      // The queue's progress went up scale by scale to "scale S of S".
      const progress = (await recorded(page, 'progress'))
        .map(
          (s) =>
            s
              .split(';')
              .find((e) => e.startsWith(`${jobId}=`))
              ?.slice(jobId.length + 1) ?? '',
        )
        .filter((t) => /^scale \d+ of \d+$/.test(t))
      const steps = progress.map((t) => Number(/^scale (\d+)/.exec(t)?.[1]))
      expect(steps.length, progress.join(' | ')).toBeGreaterThanOrEqual(2)
      expect(progress.at(-1)).toBe(`scale ${S} of ${S}`)
    } finally {
      await watcher.page.close()
      await idle.page.close()
    }
  }, 180_000)

  it('the density view shows N candidates and the branch the sampler took', async () => {
    const N = 8
    const k = 3
    await fillGenerate(page, { classes: ['Dress'], kind: 'var-scaling', seed: 21, N, k })
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await waitForState(page, jobId, 'done')
    // The queue item's Timeline button opens the finished image.
    await item(page, jobId).getByRole('button', { name: 'Timeline' }).click()
    await expect.poll(() => tid(page, 'nav-timeline').getAttribute('aria-current')).toBe('page')
    await expect.poll(() => tid(page, 'timeline-scale').count()).toBe(S)
    const candidates = tid(page, 'timeline-candidate')
    expect(await candidates.count()).toBe(N)
    // Up to k are kept: the scan skips candidates within the dedup distance of a kept one.
    const kept = await page.locator('[data-testid="timeline-candidate"][data-kept="true"]').count()
    expect(kept).toBeGreaterThanOrEqual(1)
    expect(kept).toBeLessThanOrEqual(k)
    const head = (await page.locator('.cand-head').textContent()) ?? ''
    const timelineBranch = new RegExp(`${N} candidates · ${kept} kept · branch (top-k|random-k)`).exec(
      head,
    )?.[1]
    expect(timelineBranch, head).toBeDefined()
    const chosen = page.locator('[data-testid="timeline-candidate"][data-chosen="true"]')
    expect(await chosen.count()).toBe(1)
    expect(await chosen.getAttribute('data-kept')).toBe('true')
    // Only the search scale (scale 1, 2x2 by default) shows candidates.
    expect(
      await page
        .locator('[data-testid="timeline-scale"][data-si="1"] [data-testid="timeline-candidate"]')
        .count(),
    ).toBe(N)

    await page.getByRole('button', { name: 'Densities →' }).click()
    await expect.poll(() => tid(page, 'nav-density').getAttribute('aria-current')).toBe('page')
    const branch = tid(page, 'density-branch')
    await branch.waitFor()
    const branchText = (await branch.textContent()) ?? ''
    const taken = /Branch taken: (top-k|random-k)/.exec(branchText)?.[1]
    expect(taken, branchText).toBeDefined()
    expect(await branch.getAttribute('data-branch')).toBe(taken)
    expect(taken).toBe(timelineBranch)
    const ratioText = (await tid(page, 'density-ratio').textContent()) ?? ''
    const m = /max \/ mean density\s*([\d.]+)\s*α = ([\d.]+)/.exec(ratioText)
    expect(m, ratioText).not.toBeNull()
    const [ratio, alpha] = [Number(m![1]), Number(m![2])]
    // the Generate form starts from the model's calibrated alpha (calibration.json beside the model)
    const calibration = JSON.parse(
      await readFile(join(__dirname, '../../models/fashion-mnist-var/calibration.json'), 'utf8'),
    ) as { defaults: { alpha: number } }
    expect(alpha).toBe(calibration.defaults.alpha)
    expect(ratio).toBeGreaterThanOrEqual(1) // max over mean
    // The hybrid's rule: a clear mode (ratio >= alpha) scans by density, otherwise at random.
    expect(taken).toBe(ratio >= alpha ? 'top-k' : 'random-k')
    expect(branchText).toContain(`α ${m![2]}`)
    await expect
      .poll(() => page.locator('.summary .stat').nth(1).textContent())
      .toMatch(new RegExp(`candidates\\s*${N}(?!\\d)`))
    // The kept table: the kept candidates, one of them picked, probabilities summing to 100 %.
    const rows = page.locator('[data-testid="kept-table"] tbody tr')
    expect(await rows.count()).toBe(kept)
    expect(await rows.filter({ hasText: 'picked' }).count()).toBe(1)
    const probs = (await rows.locator('td:nth-child(5)').allTextContents()).map((t) =>
      Number(/([\d.]+) %/.exec(t)?.[1]),
    )
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0)

    // The bar chart is a canvas: count the bars along a pixel row just above the x axis, by colour.
    await tid(page, 'density-chart').locator('canvas').first().waitFor()
    await expect.poll(() => countBars(page), { timeout: 10_000 }).toMatchObject({ total: N })
    const bars = await countBars(page)
    expect(bars).toEqual({ total: N, chosen: 1, kept: kept - 1, other: N - kept })
    await tid(page, 'pca-chart').locator('canvas').first().waitFor()
  }, 120_000)

  it("a batch's second image: cheap previews at every scale, replaced by full decodes on request and kept", async () => {
    // Previews default to the model's preview map: the second image of a batch has one at every scale
    // but the last, which is decoded; each is marked in the Timeline.
    await fillGenerate(page, {
      classes: ['Pullover'],
      kind: 'baseline',
      seed: 610,
      count: 2,
      policy: 'increment',
    })
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await waitForState(page, jobId, 'done')
    await go(page, 'timeline')
    const picker = tid(page, 'inspect-picker')
    const second = picker.locator('option', { hasText: 'Pullover · baseline · seed 611' })
    await picker.selectOption((await second.getAttribute('value')) ?? '')
    await expect.poll(() => tid(page, 'timeline-scale').count()).toBe(S)
    const images = page.locator('[data-testid="timeline-scale"] img')
    await expect.poll(() => images.count()).toBe(S)
    const kinds = () =>
      tid(page, 'timeline-preview').evaluateAll((els) =>
        els.map((e) =>
          (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-preview-kind'),
        ),
      )
    expect(await kinds()).toEqual([...new Array<string>(S - 1).fill('projection'), 'decode'])
    expect(await tid(page, 'timeline-preview-kind').first().textContent()).toContain('cheap preview')
    const note = tid(page, 'decode-scales')
    await expect
      .poll(() => note.textContent())
      .toMatch(
        new RegExp(`${S - 1} of ${S} scales have no full partial decode \\(${S - 1} show a cheap preview`),
      )
    await shot(page, 'timeline-undecoded')
    await note.getByRole('button', { name: 'Decode them' }).click()
    await expect.poll(() => note.count(), { timeout: JOB_MS }).toBe(0)
    expect(await images.count()).toBe(S)
    expect(await kinds()).toEqual(new Array<string>(S).fill('decode'))
    await shot(page, 'timeline-decoded')
    // kept in the timeline: another image and back shows them without decoding again
    const first = picker.locator('option', { hasText: 'Pullover · baseline · seed 610' })
    await picker.selectOption((await first.getAttribute('value')) ?? '')
    await expect.poll(() => images.count()).toBe(S)
    const [entry] = await rpc(studio, 'history:list', { seed: 611 })
    const stored = await rpc(studio, 'history:timeline', { imageId: entry.id })
    expect(stored.scales.every((sc) => sc.preview !== undefined && sc.previewKind === undefined)).toBe(true)
  }, 120_000)

  it('the gallery compares the four strategies for one seed', async () => {
    await fillGenerate(page, { classes: ['Sneaker'], kind: 'var-scaling', seed: 4242, N: 8, k: 2 })
    const ids = await queueBy(page, tid(page, 'compare-button'), 4)
    for (const id of ids) await waitForState(page, id, 'done')
    const kinds = await Promise.all(ids.map((id) => item(page, id).locator('strong').textContent()))
    expect(kinds.sort()).toEqual(['Baseline', 'Random-k only', 'Top-k only', 'VAR-Scaling'])

    await go(page, 'gallery')
    await tid(page, 'gallery-mode-seed').click()
    const sneaker = String(manifest.class_names.indexOf('Sneaker'))
    await tid(page, 'gallery-filter-class').selectOption(sneaker)
    const groups = tid(page, 'gallery-group')
    await expect.poll(() => groups.count()).toBe(1)
    expect(await groups.getAttribute('data-seed')).toBe('4242')
    expect(await groups.getAttribute('data-class-id')).toBe(sneaker)
    const images = tid(page, 'gallery-image')
    await expect.poll(() => images.count()).toBe(4)
    const strategies = await images.evaluateAll((els) =>
      els.map((e) =>
        (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-strategy'),
      ),
    )
    expect(strategies).toEqual(['baseline', 'topk-only', 'randomk-only', 'var-scaling'])
    // Every image really was made from seed 4242, and its thumbnail loaded.
    for (let i = 0; i < 4; i++) {
      await expect
        .poll(() =>
          images
            .nth(i)
            .locator('img')
            .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )
        .toBe(manifest.image_size)
      await images.nth(i).click()
      const dialog = tid(page, 'image-dialog')
      await expect.poll(() => dialog.locator('h2').textContent()).toBe('Sneaker · seed 4242')
      expect(await tid(page, 'image-parameters').textContent()).toContain('Seed: 4242')
      // the dialog names the strategy as a person reads it
      expect(await dialog.locator('p.muted').first().textContent()).toContain(strategyName(strategies[i]!))
      await page.keyboard.press('Escape')
      await expect.poll(() => dialog.count()).toBe(0)
    }
  }, 180_000)

  it('a dropped batch file with one bad row: its error is shown, the other rows are queued', async () => {
    await go(page, 'generate')
    const before = new Set(
      await tid(page, 'queue-item').evaluateAll((els) =>
        els.map((e) =>
          (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-job-id'),
        ),
      ),
    )
    const csv = 'class,seed\nTrouser,11\nNotAClass,12\nBag,13\n'
    // A real drop event with a DataTransfer holding a File, anywhere on the page.
    await page.evaluate((text) => {
      const g = globalThis as unknown as PageGlobals
      const dt = new g.DataTransfer()
      dt.items.add(new g.File([text], 'batch.csv', { type: 'text/csv' }))
      const target = g.document.querySelector('main') ?? g.document.body
      target.dispatchEvent(new g.DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      target.dispatchEvent(new g.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    }, csv)
    await expect.poll(() => tid(page, 'nav-batches').getAttribute('aria-current')).toBe('page')
    const rows = tid(page, 'batch-row')
    await expect.poll(() => rows.count()).toBe(3)
    expect(
      await rows.evaluateAll((els) =>
        els.map((e) => (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-ok')),
      ),
    ).toEqual(['true', 'false', 'true'])
    const bad = rows.nth(1)
    expect(await bad.locator('td').first().textContent()).toBe('3') // line 3 of the file
    expect(await bad.locator('td.error-text').textContent()).toMatch(/unknown class "NotAClass"/)
    for (const good of [rows.nth(0), rows.nth(2)])
      expect((await good.locator('td.error-text').textContent())?.trim()).toBe('')
    expect(await tid(page, 'batch-error').count()).toBe(0)

    await tid(page, 'batch-strategy').selectOption('baseline')
    const queueButton = tid(page, 'batch-queue-button')
    expect((await queueButton.textContent())?.trim()).toBe('Queue 2 valid rows')
    await queueButton.click()
    const queued = tid(page, 'batch-queued')
    await queued.waitFor()
    expect(await queued.textContent()).toMatch(/Queued 1 job with\s+seeds 11, 13\./)

    await go(page, 'generate')
    const fromBatch = page.locator('[data-testid="queue-item"]', { hasText: 'from batch.csv' })
    await expect.poll(() => fromBatch.count()).toBe(1)
    const jobId = (await fromBatch.getAttribute('data-job-id'))!
    expect(before.has(jobId)).toBe(false)
    const text = (await fromBatch.textContent()) ?? ''
    expect(text).toMatch(/Trouser, Bag/)
    expect(text).toMatch(/× 2 · seeds 11…13/)
    await waitForState(page, jobId, 'done')
    // Exactly the two good rows ran: one new job in the queue, two images in its history run.
    const after = (
      await tid(page, 'queue-item').evaluateAll((els) =>
        els.map((e) =>
          (e as unknown as { getAttribute(n: string): string | null }).getAttribute('data-job-id'),
        ),
      )
    ).filter((id) => id !== null && !before.has(id))
    expect(after).toEqual([jobId])
    await go(page, 'history')
    await expect
      .poll(() => page.locator(`[data-testid="history-item"][data-job-id="${jobId}"]`).count())
      .toBe(2)
  }, 120_000)

  it('cancelling one queued job while another runs stops only that job', async () => {
    await go(page, 'generate')
    const pause = tid(page, 'queue-pause')
    await pause.click()
    await expect.poll(() => pause.getAttribute('aria-pressed')).toBe('true')
    // A: a longer job (48 images, N = 50 candidates each); B and C: one baseline image each.
    const count = 48
    await fillGenerate(page, {
      classes: ['Coat'],
      kind: 'var-scaling',
      seed: 100,
      count,
      policy: 'increment',
      N: 50,
      k: 10,
    })
    const [a] = await queueBy(page, tid(page, 'generate-button'), 1)
    await fillGenerate(page, { classes: ['Bag'], kind: 'baseline', seed: 200 })
    const [b] = await queueBy(page, tid(page, 'generate-button'), 1)
    await fillGenerate(page, { classes: ['Sandal'], kind: 'baseline', seed: 300 })
    const [c] = await queueBy(page, tid(page, 'generate-button'), 1)
    const ids = [a, b, c]
    for (const id of ids) expect(await item(page, id).getAttribute('data-state')).toBe('queued')
    await record(page, 'states', 'states')
    await record(page, 'progress', 'progress')

    await pause.click() // Resume: A starts.
    await waitForState(page, a, 'running', 30_000)
    await item(page, b).getByTestId('queue-cancel').click()
    await waitForState(page, b, 'cancelled', 10_000)
    expect(await item(page, b).locator('.tag').textContent()).toBe('Cancelled')
    await waitForState(page, a, 'done', JOB_MS)
    await waitForState(page, c, 'done', JOB_MS)

    // What the queue showed, state by state, for these three jobs.
    const states = (await recorded(page, 'states')).map((snapshot) =>
      ids.map((id) => /=(\w+)$/.exec(snapshot.split(';').find((e) => e.startsWith(`${id}=`)) ?? '')?.[1]),
    )
    const story = states.map((s) => s.join(',')).join(' | ')
    // B was cancelled while A ran and C waited; B never ran; A and C finished.
    expect(states, story).toContainEqual(['running', 'cancelled', 'queued'])
    expect(
      states.map((s) => s[1]),
      story,
    ).not.toContain('running')
    expect(states.at(-1), story).toEqual(['done', 'cancelled', 'done'])
    // A made all its images, C its one, B none (no Timeline button to open).
    expect(await item(page, a).textContent()).toContain(`× ${count}`)
    expect(await item(page, b).getByRole('button', { name: 'Timeline' }).count()).toBe(0)
    expect(await item(page, a).getByRole('button', { name: 'Timeline' }).count()).toBe(1)
    expect(await item(page, c).getByRole('button', { name: 'Timeline' }).count()).toBe(1)
    // A's progress only went forward, batch by batch and scale by scale.
    const progressOfA = (await recorded(page, 'progress'))
      .map(
        (snapshot) =>
          snapshot
            .split(';')
            .find((e) => e.startsWith(`${a}=`))
            ?.slice(a.length + 1) ?? '',
      )
      .filter((t) => t.startsWith('scale '))
    const stepsOfA = progressOfA.map((t) => {
      const m = /^scale (\d+) of (\d+)(?: · batch (\d+) of \d+)?/.exec(t)
      return m ? (Number(m.at(3) ?? '1') - 1) * Number(m[2]) + Number(m[1]) : NaN
    })
    expect(progressOfA.at(-1)).toMatch(new RegExp(`^scale ${S} of ${S} · batch 3 of 3$`))
    expect(stepsOfA, progressOfA.join(' | ')).toEqual([...stepsOfA].sort((x, y) => x - y))
    await go(page, 'history')
    // History keeps only the rows in view in the page: a job's images are counted by searching for it
    const imagesOf = async (id: string): Promise<number> => {
      await tid(page, 'history-search').fill(id)
      const items = page.locator(`[data-testid="history-item"][data-job-id="${id}"]`)
      const text = await tid(page, 'history-matching').textContent()
      return (await items.count()) === 0 ? 0 : Number(text?.split(' ')[0])
    }
    await expect.poll(() => imagesOf(a)).toBe(count)
    expect(await imagesOf(b)).toBe(0)
    expect(await imagesOf(c)).toBe(1)
    await tid(page, 'history-search').fill('')
  }, 180_000)

  it('exports a grid whose PNG has the right size and its metadata chunks', async () => {
    await go(page, 'export')
    await tid(page, 'export-rows').selectOption('class')
    await tid(page, 'export-columns').selectOption('strategy')
    await tid(page, 'export-scale').fill('4')
    // The four images of the comparison (Sneaker, seed 4242), found by the list's search (only the
    // rows in view are in the page).
    await tid(page, 'export-search').fill('Sneaker seed 4242')
    const boxes = page
      .locator('.images li', { hasText: /Sneaker · .* · seed 4242 ·/ })
      .getByTestId('export-image')
    await expect.poll(() => boxes.count()).toBe(4)
    for (let i = 0; i < 4; i++) await boxes.nth(i).check()
    expect(await tid(page, 'export-plan').textContent()).toMatch(/4 images → 1 row × 4 columns\./)
    await tid(page, 'export-button').click()
    const result = tid(page, 'export-result')
    await result.waitFor({ timeout: 30_000 })

    // 4 tiles of 28 px x 4 in one row under the column headers, the class as the row header, the
    // default title (the seed they share in it); laid out as composeGrid lays out those headers
    const tile = toRaw(
      new Float32Array(manifest.image_size ** 2),
      1,
      manifest.image_size,
      manifest.image_size,
    )
    const expected = composeGrid(
      Array.from({ length: 4 }, () => ({ image: tile, caption: [] })),
      {
        columns: 4,
        scale: 4,
        title: 'Class by Strategy | fashion-mnist-var-d4 | seed 4242',
        rowHeaders: ['Sneaker'],
        columnHeaders: ['Baseline', 'Top-k only', 'Random-k only', 'VAR-Scaling'],
      },
    )
    const { width, height } = expected
    expect(await result.textContent()).toContain(`${width}×${height} px, 1×4 cells`)

    const dir = join(studio.out, 'exports')
    const files = await readdir(dir)
    const pngs = files.filter((f) => f.endsWith('.png'))
    expect(pngs).toHaveLength(1)
    const png = await readFile(join(dir, pngs[0]))
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR')
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([width, height])
    const chunks = readTextChunks(png)
    expect(chunks[PARAMETERS_KEYWORD]).toMatch(
      /Grid: 1 rows by class, 4 columns by strategy, Images: 4, Scale: 4, Version: var-studio /,
    )
    const json = JSON.parse(chunks[JSON_KEYWORD] ?? 'null') as {
      format: string
      cells: { column: string; seed: number; className: string }[]
    }
    expect(json.format).toBe('var-studio-grid/1')
    // One cell per strategy, in the order every view uses.
    expect(json.cells.map((c) => c.column)).toEqual(STRATEGY_ORDER.filter((kind) => kind !== 'best-of-n'))
    expect(json.cells.every((c) => c.seed === 4242 && c.className === 'Sneaker')).toBe(true)
    // The record beside it, and the download link carries the same bytes.
    const base = pngs[0].replace(/\.png$/, '')
    expect(files).toEqual(expect.arrayContaining([`${base}.json`, `${base}.csv`]))
    const href = (await tid(page, 'export-download').getAttribute('href')) ?? ''
    expect(Buffer.from(href.replace(/^data:image\/png;base64,/, ''), 'base64').equals(png)).toBe(true)
  }, 120_000)

  it('every view, screenshot for people to look at', async () => {
    const views = ['generate', 'timeline', 'density', 'gallery', 'batches', 'export', 'history', 'settings']
    for (const view of views) {
      await go(page, view)
      // Generate with the default strategy's knobs showing.
      if (view === 'generate') await tid(page, 'strategy-select').selectOption('var-scaling')
      await page.waitForTimeout(300)
      await shot(page, view)
    }
    await go(page, 'gallery')
    await tid(page, 'gallery-mode-seed').click()
    await tid(page, 'gallery-image').first().click()
    await tid(page, 'image-dialog').waitFor()
    await shot(page, 'gallery-dialog')
    await page.keyboard.press('Escape')
    expect(problems).toEqual([])
  }, 120_000)
})

interface BarCount {
  total: number
  chosen: number
  kept: number
  other: number
}

/** Bars of the density chart, counted along a pixel row 3 px above its x axis and told apart by colour. */
function countBars(p: Page): Promise<BarCount> {
  return p.evaluate(() => {
    const g = globalThis as unknown as PageGlobals
    const host = g.document.querySelector('[data-testid="density-chart"]')
    const canvas = host?.querySelector('canvas')
    const ctx = canvas?.getContext('2d')
    if (!host || !canvas || !ctx) return { total: -1, chosen: 0, kept: 0, other: 0 }
    const css = g.getComputedStyle(g.document.documentElement)
    const hex = (name: string): number[] => {
      const v = css.getPropertyValue(name).trim().replace('#', '')
      return [0, 2, 4].map((i) => parseInt(v.slice(i, i + 2), 16))
    }
    const palette = { chosen: hex('--chosen'), kept: hex('--kept'), other: hex('--muted') }
    const dpr = canvas.width / host.clientWidth
    // The grid of densityBarOption: left 56, right 16, bottom 40 (CSS px).
    const y = Math.round(canvas.height - (40 + 3) * dpr)
    const x0 = Math.round((56 + 2) * dpr)
    const x1 = Math.round(canvas.width - 16 * dpr)
    const row = ctx.getImageData(x0, y, x1 - x0, 1).data
    const out = { total: 0, chosen: 0, kept: 0, other: 0 }
    let inBar = false
    for (let x = 0; x < x1 - x0; x++) {
      const px = [row[x * 4], row[x * 4 + 1], row[x * 4 + 2]]
      const alpha = row[x * 4 + 3]
      const near = (Object.keys(palette) as (keyof typeof palette)[])
        .map((k) => ({ k, d: Math.hypot(...palette[k].map((c, i) => c - px[i])) }))
        .sort((a, b) => a.d - b.d)[0]
      const bar = alpha > 200 && near.d < 40
      if (bar && !inBar) {
        out.total++
        out[near.k]++
      }
      inBar = bar
    }
    return out
  })
}
