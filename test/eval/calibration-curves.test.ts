/** The eval chart draws curves over N and over alpha (the calibrated knob) with 95 % bands. */
import { describe, expect, it } from 'vitest'
import { chartLayout, chartSvg, type ChartRow } from '../../src-main/eval/chart'

const ci = (v: number) => ({ lo: v - 0.2, hi: v + 0.2 })
const point = (
  strategy: string,
  N: number | undefined,
  alpha: number | undefined,
  fid: number,
): ChartRow => ({
  strategy,
  N,
  ...(alpha === undefined ? {} : { alpha }),
  fid,
  is: 7,
  fidCi: ci(fid),
  isCi: ci(7),
})

describe('eval chart curves', () => {
  it('draws a run that varies alpha at one N against alpha, to scale, with bands', () => {
    const rows = [
      point('baseline', undefined, undefined, 6),
      point('var-scaling', 50, 1.3, 6.1),
      point('var-scaling', 50, 1.6, 6.0),
      point('var-scaling', 50, 2.3, 5.9),
    ]
    const { axis, series } = chartLayout(rows)
    expect(axis.kind).toBe('alpha')
    expect(axis.values).toEqual([1.3, 1.6, 2.3])
    expect(series.map((s) => s.label)).toEqual(['var-scaling'])
    const svg = chartSvg(rows, 'alpha curve')
    expect(svg).toContain('alpha (max/mean density threshold)')
    // one band per panel
    expect(svg.match(/class="ci-band"/g)).toHaveLength(2)
    // to scale: 1.6 is 30 % of the way from 1.3 to 2.3
    const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].slice(0, 3).map((m) => Number(m[1]))
    const [a = 0, b = 0, c = 0] = xs
    expect((b - a) / (c - a)).toBeCloseTo(0.3, 2)
  })

  it('draws a run that varies N against N, one band per strategy', () => {
    const rows = [
      point('baseline', undefined, undefined, 6),
      ...[1, 10, 50].flatMap((N) => [point('var-scaling', N, 1.6, 6), point('topk-only', N, 1.6, 6.2)]),
    ]
    expect(chartLayout(rows).axis).toMatchObject({ kind: 'N', values: [1, 10, 50] })
    const svg = chartSvg(rows, 'N curve')
    expect(svg).toContain('N (candidates per search scale)')
    expect(svg.match(/class="ci-band"/g)).toHaveLength(4)
    expect(svg.match(/<polyline/g)).toHaveLength(4)
  })
})
