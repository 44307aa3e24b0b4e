/**
 * ECharts option builders for the Density view. Only the charts and components used here are
 * registered (tree-shaking keeps the bundle small). The numbers drawn are the SelectionView's,
 * i.e. exactly what the sampler used.
 */
import { BarChart, ScatterChart } from 'echarts/charts'
import {
  GridComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
} from 'echarts/components'
import { use, type ComposeOption } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import type { BarSeriesOption, ScatterSeriesOption } from 'echarts/charts'
import type {
  GridComponentOption,
  MarkLineComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components'
import type { SelectionView } from '../../../src-shared/ipc'
import { num } from './format'

use([
  CanvasRenderer,
  BarChart,
  ScatterChart,
  GridComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
  MarkLineComponent,
])

export type ChartOption = ComposeOption<
  | BarSeriesOption
  | ScatterSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | VisualMapComponentOption
  | MarkLineComponentOption
>

export interface ChartColors {
  readonly text: string
  readonly muted: string
  readonly border: string
  readonly kept: string
  readonly chosen: string
  readonly other: string
}

/** Tests (webdriver) get no animation, so screenshots show final frames. */
const animation = !navigator.webdriver

function readVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback
}

/** The theme's colours, read from the CSS variables so charts follow light and dark. */
export function themeColors(): ChartColors {
  return {
    text: readVar('--text', '#222'),
    muted: readVar('--muted', '#777'),
    border: readVar('--border', '#ccc'),
    kept: readVar('--kept', '#2f6fde'),
    chosen: readVar('--chosen', '#e8590c'),
    other: readVar('--muted', '#999'),
  }
}

const axisStyle = (c: ChartColors) => ({
  axisLine: { lineStyle: { color: c.border } },
  axisLabel: { color: c.muted },
  splitLine: { lineStyle: { color: c.border, opacity: 0.5 } },
  nameTextStyle: { color: c.muted },
})

/** Rounds up to two significant digits, so the axis ends on a readable tick (146.95 -> 150). */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 1
  const step = 10 ** (Math.floor(Math.log10(x)) - 1)
  return Math.ceil(x / step) * step
}

/** Candidates sorted by density, highest first; kept in the kept colour, the pick in its own. */
export function densityBarOption(sel: SelectionView, c: ChartColors): ChartOption {
  const kept = new Set(sel.kept)
  const order = sel.densities.map((d, n) => ({ n, d })).sort((a, b) => b.d - a.d)
  const mean = sel.densities.reduce((s, d) => s + d, 0) / Math.max(1, sel.densities.length)
  // Keep the α·mean threshold on the chart even when no candidate reaches it (the Random-k case):
  // the gap between the tallest bar and that line is the mode test.
  const top = Math.max(order.at(0)?.d ?? 0, sel.alpha * mean) * 1.08
  return {
    animation,
    grid: { left: 56, right: 16, top: 30, bottom: 40 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    xAxis: {
      type: 'category',
      name: 'candidate (sorted by density)',
      nameLocation: 'middle',
      nameGap: 26,
      data: order.map((o) => String(o.n)),
      ...axisStyle(c),
    },
    yAxis: { type: 'value', name: 'density D', max: (v) => niceCeil(Math.max(v.max, top)), ...axisStyle(c) },
    series: [
      {
        type: 'bar',
        name: 'density',
        data: order.map((o) => ({
          value: o.d,
          itemStyle: { color: o.n === sel.chosen ? c.chosen : kept.has(o.n) ? c.kept : c.other },
        })),
        markLine: {
          silent: true,
          symbol: 'none',
          lineStyle: { color: c.text, type: 'dashed' },
          label: {
            color: c.text,
            position: 'insideEndTop',
            formatter: (p) => `${p.name} ${num(Number(p.value))}`,
          },
          data: [
            { name: 'mean', yAxis: mean },
            { name: 'α·mean', yAxis: sel.alpha * mean },
          ],
        },
      },
    ],
  }
}

/** The 2-D PCA projection of the candidates, coloured by density; kept and pick drawn larger. */
export function pcaOption(sel: SelectionView, c: ChartColors): ChartOption {
  const kept = new Set(sel.kept)
  const min = Math.min(...sel.densities)
  const max = Math.max(...sel.densities)
  const points = sel.projection.map(([x, y], n) => ({
    value: [x, y, sel.densities[n] ?? 0, n],
    symbolSize: n === sel.chosen ? 18 : kept.has(n) ? 12 : 8,
    itemStyle:
      n === sel.chosen
        ? { borderColor: c.chosen, borderWidth: 3 }
        : kept.has(n)
          ? { borderColor: c.kept, borderWidth: 2 }
          : {},
  }))
  const pct = (v: number) => `${(v * 100).toFixed(0)} %`
  return {
    animation,
    grid: { left: 48, right: 90, top: 36, bottom: 40 },
    tooltip: {
      trigger: 'item',
      formatter: (p) => {
        const v = (p as { value: number[] }).value
        return `candidate ${v[3] ?? ''}<br/>density ${num(v[2] ?? 0)}`
      },
    },
    xAxis: {
      type: 'value',
      name: `PC1 (${pct(sel.explained[0])})`,
      nameLocation: 'middle',
      nameGap: 26,
      scale: true,
      ...axisStyle(c),
    },
    yAxis: { type: 'value', name: `PC2 (${pct(sel.explained[1])})`, scale: true, ...axisStyle(c) },
    visualMap: {
      type: 'continuous',
      dimension: 2,
      min,
      max: max > min ? max : min + 1,
      right: 0,
      top: 'middle',
      text: ['high D', 'low D'],
      textStyle: { color: c.muted },
      calculable: true,
      inRange: { color: ['#3b4cc0', '#8db0fe', '#f6bfa6', '#b40426'] },
    },
    series: [{ type: 'scatter', data: points }],
  }
}
