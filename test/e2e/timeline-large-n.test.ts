/**
 * The Timeline at N = 1000 candidates (Infinity-like search widths): the search scale's candidates
 * are drawn on one canvas, not as 1000 elements (which froze the page: docs/perf/timeline-longtasks.*
 * has the long-task figures), and hovering a cell still names the candidate and its density.
 */
import { describe, expect, it } from 'vitest'
import { go, JOB_MS, rpc, studioSuite, tid, type StudioSuite } from './harness'

let suite: StudioSuite
studioSuite('timeline-large-n', (s) => (suite = s))

describe('Timeline with N = 1000', () => {
  it('draws the candidates on one canvas and names the one under the pointer', async () => {
    const { page, studio } = suite
    await go(page, 'timeline')
    const { jobIds } = await rpc(studio, 'queue:add', {
      jobs: [
        {
          modelId: 'fashion-mnist-var-d4',
          items: [{ classId: 3, seed: 5 }],
          strategy: { kind: 'var-scaling', N: 1000 },
          seedPolicy: 'fixed',
        },
      ],
    })
    await expect
      .poll(async () => (await rpc(studio, 'queue:get', {})).jobs.find((j) => j.id === jobIds[0])?.state, {
        timeout: JOB_MS,
      })
      .toBe('done')
    const grid = tid(page, 'candidate-canvas')
    // the finished image's recorded timeline replaces the live one
    await expect
      .poll(() => tid(page, 'inspect-picker').inputValue(), { timeout: JOB_MS })
      .toContain(jobIds[0])
    await expect.poll(() => grid.getAttribute('data-count')).toBe('1000')
    expect(await tid(page, 'timeline-candidate').count()).toBe(0)
    const kept = Number(await grid.getAttribute('data-kept'))
    expect(kept).toBeGreaterThanOrEqual(1)
    expect(await page.locator('.cand-head').textContent()).toContain(`1000 candidates · ${kept} kept`)
    // the first cell's top-left corner is at (5, 5): the 5 px gap
    await grid.hover({ position: { x: 15, y: 15 } })
    await expect.poll(() => grid.getAttribute('title')).toMatch(/^candidate 0 · density \S+/)
    expect(suite.problems).toEqual([])
  }, 240_000)
})
