/**
 * The Experiments view in a real browser on the web host: a value out of bounds is refused with the
 * axis and the value, then a small sweep (2 classes x 2 seeds, strategy {baseline, VAR-Scaling} x
 * N {1, 10}) runs through the queue and shows its grid and its curves; CSV and chart PNG export.
 */
import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { go, shot, studioSuite, tid, type StudioProcess } from './harness'

let page: Page
let problems: string[]
let studio: StudioProcess
studioSuite('experiments', (s) => ({ studio, page, problems } = s))

const SWEEP_MS = 420_000

describe('Experiments view', () => {
  it(
    'runs a small sweep and shows the grid and the curves with bands',
    async () => {
      await page.setViewportSize({ width: 1440, height: 900 })
      await go(page, 'experiments')
      await tid(page, 'sweep-seeds').fill('2')
      await expect.poll(() => tid(page, 'sweep-axis-name-0').inputValue()).toBe('strategy')
      await tid(page, 'sweep-axis-values-0').fill('baseline, var-scaling')
      await expect.poll(() => tid(page, 'sweep-axis-name-1').inputValue()).toBe('N')
      // out of bounds: refused with the axis and the value, nothing queued
      await tid(page, 'sweep-axis-values-1').fill('1, 5000')
      await tid(page, 'sweep-run').click()
      await expect
        .poll(() => tid(page, 'sweep-error').textContent())
        .toContain('axis 2 N=5000: must be at most 4096')
      await tid(page, 'sweep-axis-values-1').fill('1, 10')
      await expect.poll(() => tid(page, 'sweep-plan').textContent()).toContain('4 cells x 4 images')
      await shot(page, 'experiments-form')

      await tid(page, 'sweep-run').click()
      await expect
        .poll(() => tid(page, 'sweep-state').textContent(), { timeout: SWEEP_MS })
        .toContain('3 of 3 cells done')
      await tid(page, 'sweep-chart-FID').locator('canvas').first().waitFor({ timeout: SWEEP_MS })
      await tid(page, 'sweep-grid').locator('img').waitFor()
      expect(await tid(page, 'sweep-cells').locator('tbody tr').count()).toBe(3)
      expect(await tid(page, 'sweep-note').textContent()).toContain('95 % bootstrap')
      const grid = await tid(page, 'sweep-grid')
        .locator('img')
        .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)
      expect(grid).toBeGreaterThan(200)
      await shot(page, 'experiments-results')
      await tid(page, 'sweep-chart-accuracy').scrollIntoViewIfNeeded()
      await shot(page, 'experiments-charts')
      await tid(page, 'sweep-grid').scrollIntoViewIfNeeded()
      await shot(page, 'experiments-grid')

      // exports: the CSV (one line per cell) and a chart as PNG
      const [csv] = await Promise.all([page.waitForEvent('download'), tid(page, 'sweep-csv').click()])
      expect(csv.suggestedFilename()).toMatch(/^sweep-.*-metrics\.csv$/)
      const text = await readFile(await csv.path(), 'utf8')
      expect(text.trim().split('\n')).toHaveLength(5)
      expect(text).toMatch(/^cell,strategy,N,images,class_accuracy/)
      const [png] = await Promise.all([
        page.waitForEvent('download'),
        tid(page, 'sweep-chart-png-IS').click(),
      ])
      const bytes = await readFile(await png.path())
      expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG')
      expect(problems).toEqual([])
      expect(studio.log()).not.toContain('experiments:')
    },
    SWEEP_MS + 60_000,
  )
})
