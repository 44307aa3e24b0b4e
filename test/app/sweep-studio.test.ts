/**
 * Experiments in the studio service on the real engine and the shipped model: a sweep queues one job
 * per distinct cell, finishes with grids and metrics, survives a restart, reuses finished cells in a
 * second sweep, and refuses bad axes at the boundary.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStudio, type Studio } from '../../src-main/app/studio'
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

  it('leaves out an edited or damaged sweep.json on restart, names it, and keeps the others', async () => {
    const sweeps = await call(studio, 'experiments:list', {})
    expect(sweeps.length).toBeGreaterThanOrEqual(2)
    const target = sweeps[0].id
    const file = join((await detail(target)).folder, 'sweep.json')
    const saved = await readFile(file, 'utf8')
    const rec = JSON.parse(saved) as {
      plan: { cells: { strategy: Record<string, unknown> }[]; items: unknown[] }
      cells: unknown[]
      planHash: string
    }
    const edits: [string, (r: typeof rec) => string][] = [
      [
        'a cell whose settings no longer match its identity',
        (r) => {
          r.plan.cells[1].strategy.N = 999
          return JSON.stringify(r)
        },
      ],
      [
        'fewer cells than the plan',
        (r) => {
          r.cells.pop()
          return JSON.stringify(r)
        },
      ],
      [
        'a plan hash that is not a hash',
        (r) => {
          r.planHash = '../x'
          return JSON.stringify(r)
        },
      ],
      ['half a file', () => saved.slice(0, saved.length >> 1)],
    ]
    try {
      for (const [what, edit] of edits) {
        await studio.close()
        await writeFile(file, edit(JSON.parse(saved) as typeof rec))
        const lines: string[] = []
        studio = await createStudio({
          home: home.home,
          version: '0.0.0-test',
          hostName: 'web',
          log: (l) => lines.push(l),
        })
        const ids = (await call(studio, 'experiments:list', {})).map((x) => x.id)
        expect(ids, what).not.toContain(target)
        expect(ids, what).toHaveLength(sweeps.length - 1)
        expect(lines.join('\n'), what).toContain(`${file} left out`)
      }
    } finally {
      await studio.close()
      await writeFile(file, saved)
      studio = await openStudio(home.home)
    }
    expect((await call(studio, 'experiments:list', {})).map((x) => x.id)).toContain(target)
  }, 120_000)

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
