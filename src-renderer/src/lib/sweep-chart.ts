/**
 * The Experiments view's curves (Figure-4 style): a metric against N (or alpha, ...), one line per
 * strategy, the 95 % bootstrap interval as a shaded band: a transparent lower line with the band's
 * height stacked on it. The curves come from src-shared/sweep.ts, as in the CLI's chart.
 */
import { LineChart, type LineSeriesOption } from 'echarts/charts'
import {
  GridComponent,
  type GridComponentOption,
  LegendComponent,
  type LegendComponentOption,
  TitleComponent,
  type TitleComponentOption,
  TooltipComponent,
  type TooltipComponentOption,
} from 'echarts/components'
import { type ComposeOption, use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import {
  AXIS_INFO,
  curvesOf,
  METRIC_LABELS,
  type SweepMetricName,
  type SweepMetricRow,
  type SweepPlan,
} from '../../../src-shared/sweep'
import type { ChartColors } from './charts'

use([CanvasRenderer, LineChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent])

export type CurveOption = ComposeOption<
  | LineSeriesOption
  | GridComponentOption
  | LegendComponentOption
  | TitleComponentOption
  | TooltipComponentOption
>

const LINE_COLOURS = ['#6b6b6b', '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2']
const animation = !navigator.webdriver

const finite = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null)

export function curveOption(
  plan: SweepPlan,
  rows: readonly SweepMetricRow[],
  metric: SweepMetricName,
  c: ChartColors,
): CurveOption {
  const curves = curvesOf(plan, rows, metric)
  const digits = metric === 'accuracy' ? 3 : 2
  const series: LineSeriesOption[] = curves.lines.flatMap((line, i) => {
    const colour = LINE_COLOURS[i % LINE_COLOURS.length] ?? c.text
    const stack = `band-${i}`
    return [
      {
        type: 'line',
        name: `${line.name} low`,
        data: line.points.map((p) => finite(p.lo)),
        stack,
        lineStyle: { opacity: 0 },
        symbol: 'none',
        silent: true,
        tooltip: { show: false },
        animation,
      },
      {
        type: 'line',
        name: `${line.name} band`,
        data: line.points.map((p) => {
          const lo = finite(p.lo)
          const hi = finite(p.hi)
          return lo !== null && hi !== null ? hi - lo : null
        }),
        stack,
        lineStyle: { opacity: 0 },
        areaStyle: { color: colour, opacity: 0.16 },
        symbol: 'none',
        silent: true,
        tooltip: { show: false },
        animation,
      },
      {
        type: 'line',
        name: line.name,
        data: line.points.map((p) => finite(p.value)),
        itemStyle: { color: colour },
        lineStyle: { color: colour, width: 2 },
        symbolSize: 6,
        animation,
      },
    ]
  })
  return {
    animation,
    title: {
      text: METRIC_LABELS[metric],
      left: 'center',
      textStyle: { color: c.text, fontSize: 13, fontWeight: 600 },
    },
    legend: {
      bottom: 0,
      data: curves.lines.map((l) => l.name),
      textStyle: { color: c.text },
    },
    tooltip: {
      trigger: 'axis',
      formatter: (params: unknown) => {
        const list = (Array.isArray(params) ? params : [params]) as {
          seriesName: string
          dataIndex: number
        }[]
        const x = curves.xLabels[list[0]?.dataIndex ?? 0] ?? ''
        const lines = curves.lines.map((l) => {
          const p = l.points[list[0]?.dataIndex ?? 0] as (typeof l.points)[number] | undefined
          if (!p || !Number.isFinite(p.value)) return `${l.name}: -`
          const ci =
            p.lo !== undefined && p.hi !== undefined
              ? ` [${p.lo.toFixed(digits)}, ${p.hi.toFixed(digits)}]`
              : ''
          return `${l.name}: ${p.value.toFixed(digits)}${ci}`
        })
        return [`${AXIS_INFO[curves.xAxis].label} ${x}`, ...lines].join('<br/>')
      },
    },
    grid: { left: 56, right: 16, top: 36, bottom: 64 },
    xAxis: {
      type: 'category',
      data: [...curves.xLabels],
      name: AXIS_INFO[curves.xAxis].label,
      nameLocation: 'middle',
      nameGap: 26,
      boundaryGap: false,
      axisLine: { lineStyle: { color: c.border } },
      axisLabel: { color: c.muted },
      nameTextStyle: { color: c.muted },
    },
    yAxis: {
      type: 'value',
      scale: true,
      // a share: never drawn past 1
      ...(metric === 'accuracy' ? { max: 1 } : {}),
      axisLine: { lineStyle: { color: c.border } },
      axisLabel: { color: c.muted },
      splitLine: { lineStyle: { color: c.border, opacity: 0.5 } },
    },
    series,
  }
}

/** Saves a data URL as a file through the page (a browser download; Electron asks where). */
export function downloadUrl(name: string, href: string): void {
  const a = document.createElement('a')
  a.href = href
  a.download = name
  a.click()
}
