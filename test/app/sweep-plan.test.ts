import { describe, expect, it } from 'vitest'
import { modelFacts } from '../../src-shared/engine/request'
import {
  axisOf,
  curvesOf,
  metricsCsv,
  parseAxisArg,
  parseSeeds,
  planSweep,
  type SweepSpec,
  uniqueCells,
} from '../../src-shared/sweep'
import { cellHash, planHash, shownItems } from '../../src-main/app/sweep-output'
import { validManifest } from '../fixtures/manifest'

const manifest = validManifest()
const model = { ...modelFacts(manifest), samplingDefaults: { cfg: 3, top_k: 0, top_p: 0 } }
const DEFAULTS = { alpha: 1.6, dedup: 0.6, searchScales: [1] }

const spec = (over: Partial<SweepSpec> = {}): SweepSpec => ({
  modelId: manifest.id,
  classes: [0, 3],
  seeds: [5, 9],
  axes: [
    { axis: 'strategy', values: ['baseline', 'var-scaling'] },
    { axis: 'N', values: ['1', '10'] },
  ],
  ...over,
})
const FIELDS = ['--x', '--y', '--z']

describe('the plan of a sweep', () => {
  it('is the product of the axes, the first varying fastest, every cell with the same images', () => {
    const plan = planSweep(
      spec({ axes: [...spec().axes, { axis: 'cfg', values: ['1', '3', '5'] }] }),
      model,
      DEFAULTS,
    )
    expect(plan.cells).toHaveLength(2 * 2 * 3)
    expect(plan.cells.slice(0, 4).map((c) => c.coords)).toEqual([
      ['baseline', 1, 1],
      ['var-scaling', 1, 1],
      ['baseline', 10, 1],
      ['var-scaling', 10, 1],
    ])
    expect(plan.items).toEqual([
      { classId: 0, seed: 5 },
      { classId: 0, seed: 9 },
      { classId: 3, seed: 5 },
      { classId: 3, seed: 9 },
    ])
    const last = plan.cells.at(-1)
    expect(last?.coords).toEqual(['var-scaling', 10, 5])
    expect(last?.sampling.cfg).toBe(5)
    expect(last?.strategy).toMatchObject({ kind: 'var-scaling', N: 10, k: 10, alpha: 1.6, dedup: 0.6 })
  })

  it('takes k = min(10, N) and the model defaults; the fixed knobs and then the axes override them', () => {
    const plan = planSweep(spec({ strategy: { kind: 'var-scaling', alpha: 2.5, k: 4 } }), model, DEFAULTS)
    const cell = plan.cells.find((c) => c.coords[0] === 'var-scaling' && c.coords[1] === 1)
    expect(cell?.strategy).toMatchObject({ N: 1, k: 1, alpha: 2.5, dedup: 0.6, searchScales: [1] })
    const ten = plan.cells.find((c) => c.coords[0] === 'var-scaling' && c.coords[1] === 10)
    expect(ten?.strategy).toMatchObject({ N: 10, k: 4 })
  })

  it('makes a cell whose strategy ignores a value once (the baseline at every N)', () => {
    const plan = planSweep(spec(), model, DEFAULTS)
    const base = plan.cells.filter((c) => c.coords[0] === 'baseline')
    expect(base).toHaveLength(2)
    expect(base[0]?.identity).toBe(base[1]?.identity)
    expect(base[0]?.unused).toEqual(['N'])
    expect(uniqueCells(plan)).toHaveLength(3)
    expect(cellHash(manifest, plan, base[0]?.identity ?? '')).toBe(
      cellHash(manifest, plan, base[1]?.identity ?? ''),
    )
  })

  it('hashes cells by model files, images and settings, so a resume finds exactly the finished ones', () => {
    const plan = planSweep(spec(), model, DEFAULTS)
    const id = plan.cells[1]?.identity ?? ''
    const h = cellHash(manifest, plan, id)
    // the same command again: the same hashes
    const again = planSweep(spec(), model, DEFAULTS)
    expect(cellHash(manifest, again, again.cells[1]?.identity ?? '')).toBe(h)
    expect(planHash(manifest, again)).toBe(planHash(manifest, plan))
    // other seeds, other alpha, other model weights: other hashes
    const seeds = planSweep(spec({ seeds: [5, 10] }), model, DEFAULTS)
    expect(cellHash(manifest, seeds, seeds.cells[1]?.identity ?? '')).not.toBe(h)
    const alpha = planSweep(spec({ strategy: { kind: 'var-scaling', alpha: 3 } }), model, DEFAULTS)
    expect(cellHash(manifest, alpha, alpha.cells[1]?.identity ?? '')).not.toBe(h)
    const other = validManifest()
    const file = Object.keys(other.files)[0] ?? ''
    other.files[file] = { ...other.files[file], sha256: 'cd'.repeat(32) }
    expect(cellHash(other, plan, id)).not.toBe(h)
    // a cell that another plan shares keeps its hash (an added axis value reuses the finished cells)
    const wider = planSweep(
      spec({ axes: [spec().axes[0], { axis: 'N', values: ['1', '10', '25'] }] }),
      model,
      DEFAULTS,
    )
    const shared = wider.cells.find((c) => c.coords[0] === 'var-scaling' && c.coords[1] === 1)
    expect(cellHash(manifest, wider, shared?.identity ?? '')).toBe(h)
  })

  it('refuses an unknown axis, a fourth axis, a repeated axis and a value out of bounds, naming them', () => {
    expect(() => parseAxisArg('steps=1,2', '--z')).toThrow(
      '--z: unknown axis "steps"; use one of strategy, N, alpha, dedup, cfg, top-p, search-scale, final-pick',
    )
    expect(() => parseAxisArg('N', '--y')).toThrow('--y: give the values of N')
    expect(axisOf('top_p', '--x')).toBe('top-p')
    const four = spec({
      axes: [
        { axis: 'N', values: ['1'] },
        { axis: 'cfg', values: ['1'] },
        { axis: 'alpha', values: ['1'] },
        { axis: 'dedup', values: ['1'] },
      ],
    })
    expect(() => planSweep(four, model, DEFAULTS, FIELDS)).toThrow('at most 3 axes')
    const twice = spec({
      axes: [
        { axis: 'N', values: ['1'] },
        { axis: 'N', values: ['10'] },
      ],
    })
    expect(() => planSweep(twice, model, DEFAULTS, FIELDS)).toThrow(
      '--y: the axis N is already --x; each axis once',
    )
    const big = spec({
      axes: [
        { axis: 'strategy', values: ['var-scaling'] },
        { axis: 'N', values: ['10', '5000'] },
      ],
    })
    expect(() => planSweep(big, model, DEFAULTS, FIELDS)).toThrow(/^--y N=5000: must be at most 4096/)
    const cfg = spec({ axes: [{ axis: 'cfg', values: ['1', '500'] }] })
    expect(() => planSweep(cfg, model, DEFAULTS, FIELDS)).toThrow('--x cfg=500: must be a number in [0, 100]')
    const topP = spec({ axes: [{ axis: 'top-p', values: ['1.5'] }] })
    expect(() => planSweep(topP, model, DEFAULTS, FIELDS)).toThrow(
      '--x top-p=1.5: must be a number in [0, 1]',
    )
    const scale = spec({ axes: [{ axis: 'search-scale', values: ['1', '9'] }] })
    expect(() => planSweep(scale, model, DEFAULTS, FIELDS)).toThrow(
      '--x search-scale=9: must be a scale index in [0, 5]',
    )
    const kind = spec({ axes: [{ axis: 'strategy', values: ['greedy'] }] })
    expect(() => planSweep(kind, model, DEFAULTS, FIELDS)).toThrow('--x: strategy=greedy is not a strategy')
    const dup = spec({ axes: [{ axis: 'N', values: ['10', '10'] }] })
    expect(() => planSweep(dup, model, DEFAULTS, FIELDS)).toThrow('--x: N=10 is listed twice')
    expect(() => planSweep(spec({ classes: [0, 12] }), model, DEFAULTS)).toThrow(
      'classes: 12 is not a class of fashion-mnist-var-d4',
    )
    const bestOf = spec({
      axes: [
        { axis: 'strategy', values: ['best-of-n'] },
        { axis: 'N', values: ['100'] },
      ],
    })
    expect(() => planSweep(bestOf, model, DEFAULTS, FIELDS)).toThrow('--y N=100: must be at most 64')
  })

  it('reads seeds as a count or a list', () => {
    expect(parseSeeds('3', 7)).toEqual([7, 8, 9])
    expect(parseSeeds('0, 7,42')).toEqual([0, 7, 42])
    expect(() => parseSeeds('1,x')).toThrow('seeds: "x" is not a whole number >= 0')
    expect(() => parseSeeds('0')).toThrow('seeds: a count must be in [1, 1000], got 0')
  })

  it('draws curves along N, one line per strategy, and writes a CSV line per cell', () => {
    const plan = planSweep(spec(), model, DEFAULTS)
    const metric = (v: number) => ({ value: v, lo: v - 0.1, hi: v + 0.1 })
    const rows = uniqueCells(plan).map((c, i) => ({
      cell: c.index,
      hash: `h${i}`,
      n: 4,
      accuracy: metric(0.5 + i / 10),
      IS: metric(2 + i),
      FID: metric(100 - i),
    }))
    const curves = curvesOf(plan, rows, 'IS')
    expect(curves.xAxis).toBe('N')
    expect(curves.xLabels).toEqual(['1', '10'])
    expect(curves.lines.map((l) => l.name)).toEqual(['Baseline', 'VAR-Scaling'])
    // the baseline is one cell, drawn at every N
    expect(curves.lines[0]?.points.map((p) => p.value)).toEqual([2, 2])
    expect(curves.lines[1]?.points.map((p) => p.value)).toEqual([3, 4])
    const csv = metricsCsv(plan, rows).trim().split('\n')
    expect(csv).toHaveLength(1 + plan.cells.length)
    expect(csv[0]).toMatch(/^cell,strategy,N,images,class_accuracy,accuracy_lo/)
    // the baseline at N = 10 repeats cell 0's numbers and says so
    expect(csv[3]).toMatch(/^2,baseline,10,4,0\.5000,.*,0,h0$/)
    expect(shownItems(plan, 2)).toEqual([0, 2])
  })
})
