/**
 * Experiments in the studio service on the real engine and the shipped model: a sweep queues one job
 * per distinct cell, finishes with grids and metrics, survives a restart, reuses finished cells in a
 * second sweep, and refuses bad axes at the boundary.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import type { SweepSpec } from '../../src-shared/sweep'
import { call, MODEL_ID, openStudio, STUDIO_HOOK_MS, tempHome } from './studio-helpers'

let home: { home: string; cleanup: () => Promise<void> }
let studio: Studio
beforeAll(async () => {
  home = await tempHome('sweep')
  studio = await openStudio(home.home)
}, STUDIO_HOOK_MS)
afterAll(async () => {
  await studio.close()
  await home.cleanup()
})

const SPEC: SweepSpec = {
  modelId: MODEL_ID,
  classes: [1, 8],
  seeds: [3, 4],
  axes: [
    { axis: 'strategy', values: ['baseline', 'var-scaling'] },
    { axis: 'N', values: ['1', '10'] },
  ],
}

async function finished(sweepId: string): Promise<Awaited<ReturnType<typeof detail>>> {
  await studio.idle()
  for (let i = 0; i < 600; i++) {
    const d = await detail(sweepId)
    if (d.metrics !== null) return d
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error('the sweep did not finish')
}
const detail = (sweepId: string) => call(studio, 'experiments:get', { sweepId })

describe('Experiments in the studio', () => {
  it('runs a sweep through the queue: one job per distinct cell, then grids and metrics', async () => {
    const { sweepId, jobIds } = await call(studio, 'experiments:run', SPEC)
    // the baseline is one cell at N = 1 and N = 10
    expect(jobIds).toHaveLength(3)
    const queue = await call(studio, 'queue:get', {})
    const jobs = queue.jobs.filter((j) => jobIds.includes(j.id))
    expect(jobs.map((j) => j.source?.kind)).toEqual(['sweep', 'sweep', 'sweep'])
    expect(jobs.every((j) => j.count === 4)).toBe(true)
    const d = await finished(sweepId)
    expect(d.state).toBe('done')
    expect(d.cellList.map((c) => c.state)).toEqual(['done', 'done', 'done', 'done'])
    expect(d.cellList[0]?.jobId).toBe(d.cellList[2]?.jobId)
    expect(d.metrics).toHaveLength(3)
    for (const r of d.metrics ?? []) {
      expect(r.n).toBe(4)
      expect(r.IS.lo).toBeLessThanOrEqual(r.IS.value)
    }
    expect(d.grids.map((g) => g.name)).toEqual(['grid-strategy-by-N.png'])
    expect(d.grids[0]?.dataUrl).toMatch(/^data:image\/png;base64,/)
    for (const f of [
      'sweep.json',
      'metrics.json',
      'metrics.csv',
      'metrics-chart.png',
      'grid-strategy-by-N.png',
    ])
      expect(existsSync(join(d.folder, f))).toBe(true)

    // nothing is lost on restart
    await studio.close()
    studio = await openStudio(home.home)
    const list = await call(studio, 'experiments:list', {})
    expect(list.map((s) => [s.id, s.state, s.done, s.cells])).toEqual([[sweepId, 'done', 3, 3]])
    expect((await detail(sweepId)).metrics).toHaveLength(3)

    // a second sweep that shares cells reuses them and queues only the new one
    const wider = await call(studio, 'experiments:run', {
      ...SPEC,
      axes: [SPEC.axes[0], { axis: 'N', values: ['1', '10', '25'] }],
    })
    expect(wider.jobIds).toHaveLength(1)
    const w = await finished(wider.sweepId)
    expect(w.cellList.filter((c) => c.state === 'reused')).toHaveLength(5)
    expect(w.metrics).toHaveLength(4)
  }, 600_000)

  it('refuses a grid that an edited outputs.json names outside the sweep folder', async () => {
    const [first] = await call(studio, 'experiments:list', {})
    const d = await detail(first.id)
    const file = join(d.folder, 'outputs.json')
    const saved = await readFile(file, 'utf8')
    await writeFile(join(home.home, 'secret.png'), 'not for the page')
    const outputs = JSON.parse(saved) as { grids: { name: string }[] }
    outputs.grids[0].name = '../../secret.png'
    await writeFile(file, JSON.stringify(outputs))
    try {
      await expect(detail(first.id)).rejects.toThrow(/secret\.png is outside/)
    } finally {
      await writeFile(file, saved)
    }
    expect((await detail(first.id)).grids).toHaveLength(1)
  }, 60_000)

  it('refuses an unknown axis, a repeated axis and a value out of bounds', async () => {
    await expect(
      call(studio, 'experiments:run', { ...SPEC, axes: [{ axis: 'steps' as 'N', values: ['1'] }] }),
    ).rejects.toThrow(/experiments:run: .*must be one of strategy, N, alpha/)
    await expect(
      call(studio, 'experiments:run', {
        ...SPEC,
        axes: [
          { axis: 'N', values: ['1'] },
          { axis: 'N', values: ['10'] },
        ],
      }),
    ).rejects.toThrow('axis 2: the axis N is already axis 1; each axis once')
    await expect(
      call(studio, 'experiments:run', {
        ...SPEC,
        axes: [{ axis: 'N', values: ['10', '5000'] }],
      }),
    ).rejects.toThrow('axis 1 N=5000: must be at most 4096')
    expect(await call(studio, 'experiments:list', {})).toHaveLength(2)
  })
})
