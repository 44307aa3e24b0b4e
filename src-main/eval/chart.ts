/**
 * The evaluation chart in the style of the paper's Figure 4: FID (lower is better) and IS (higher is
 * better) against N, or against alpha when a run varies alpha at one N; one line per search strategy
 * with its 95 % interval as a shaded band (an error bar for a lone point), and the baseline as a
 * dashed horizontal line over its own band. Drawn as SVG and rendered to PNG with sharp.
 */
import sharp from 'sharp'

export interface ChartRow {
  readonly strategy: string
  /** undefined for strategies that ignore N (the baseline) */
  readonly N: number | undefined
  /** the density threshold of a search row (the x axis when the rows vary alpha at one N) */
  readonly alpha?: number
  readonly fid: number
  readonly is: number
  /** 95 % intervals, drawn as error bars (a band for the baseline) */
  readonly fidCi?: { readonly lo: number; readonly hi: number }
  readonly isCi?: { readonly lo: number; readonly hi: number }
}

const COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']
const BASELINE_COLOUR = '#555555'
const PANEL_W = 460
const PANEL_H = 360
const M = { left: 64, right: 16, top: 40, bottom: 52 }

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return []
  if (hi - lo < 1e-9) {
    const pad = Math.abs(lo) * 0.05 || 1
    lo -= pad
    hi += pad
  }
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw
  const first = Math.floor(lo / step)
  const last = Math.ceil(hi / step)
  const ticks: number[] = []
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(10)))
  return ticks
}

/** The fewest decimals that show every tick exactly (at most 3). */
function decimalsFor(ticks: readonly number[]): number {
  for (let d = 0; d < 3; d++) if (ticks.every((t) => Math.abs(Number(t.toFixed(d)) - t) < 1e-9)) return d
  return 3
}

/** The x axis: N (evenly spaced, as the paper draws it) or alpha (to scale). */
interface Axis {
  readonly kind: 'N' | 'alpha'
  /** the measured values, ascending */
  readonly values: readonly number[]
  readonly of: (r: ChartRow) => number | undefined
}

interface Series {
  readonly label: string
  readonly rows: readonly ChartRow[]
}

function panel(
  rows: readonly ChartRow[],
  metric: 'fid' | 'is',
  title: string,
  axis: Axis,
  series: readonly Series[],
  offsetX: number,
): string {
  const ciOf = (r: ChartRow): { lo: number; hi: number } | undefined => (metric === 'fid' ? r.fidCi : r.isCi)
  const values = rows
    .flatMap((r) => [r[metric], ciOf(r)?.lo ?? Number.NaN, ciOf(r)?.hi ?? Number.NaN])
    .filter((v) => Number.isFinite(v))
  const ticks = niceTicks(Math.min(...values), Math.max(...values))
  const digits = decimalsFor(ticks)
  const yLo = ticks[0] ?? 0
  const yHi = ticks.at(-1) ?? 1
  const w = PANEL_W - M.left - M.right
  const h = PANEL_H - M.top - M.bottom
  const inner = w * 0.9
  const xs = axis.values
  const lo = xs[0] ?? 0
  const hi = xs.at(-1) ?? 1
  const x = (v: number): number => {
    const left = offsetX + M.left + w * 0.05
    if (xs.length === 1) return left + inner / 2
    if (axis.kind === 'alpha') return left + ((v - lo) / (hi - lo || 1)) * inner
    return left + (xs.indexOf(v) / (xs.length - 1)) * inner
  }
  const y = (v: number): number => M.top + h - ((v - yLo) / (yHi - yLo || 1)) * h
  const parts: string[] = []
  parts.push(
    `<text x="${offsetX + PANEL_W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
  )
  for (const t of ticks) {
    parts.push(
      `<line x1="${offsetX + M.left}" x2="${offsetX + M.left + w}" y1="${y(t)}" y2="${y(t)}" stroke="#e4e4e4"/>`,
      `<text x="${offsetX + M.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="12">${t.toFixed(digits)}</text>`,
    )
  }
  for (const v of xs) {
    parts.push(
      `<line x1="${x(v)}" x2="${x(v)}" y1="${M.top + h}" y2="${M.top + h + 5}" stroke="#333"/>`,
      `<text x="${x(v)}" y="${M.top + h + 20}" text-anchor="middle" font-size="12">${v}</text>`,
    )
  }
  const xLabel =
    axis.kind === 'alpha' ? 'alpha (max/mean density threshold)' : 'N (candidates per search scale)'
  parts.push(
    `<rect x="${offsetX + M.left}" y="${M.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`,
    `<text x="${offsetX + M.left + w / 2}" y="${PANEL_H - 12}" text-anchor="middle" font-size="13">${xLabel}</text>`,
    `<text x="${offsetX + 16}" y="${M.top + h / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 ${offsetX + 16} ${M.top + h / 2})">${metric === 'fid' ? 'FID' : 'IS'}</text>`,
  )
  for (const r of rows.filter((r) => r.N === undefined && Number.isFinite(r[metric]))) {
    const ci = ciOf(r)
    if (ci && Number.isFinite(ci.lo) && Number.isFinite(ci.hi)) {
      parts.push(
        `<rect x="${offsetX + M.left}" y="${y(ci.hi)}" width="${w}" height="${Math.max(0, y(ci.lo) - y(ci.hi))}" fill="${BASELINE_COLOUR}" fill-opacity="0.12"/>`,
      )
    }
    parts.push(
      `<line x1="${offsetX + M.left}" x2="${offsetX + M.left + w}" y1="${y(r[metric])}" y2="${y(r[metric])}" stroke="${BASELINE_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>`,
    )
  }
  series.forEach((s, si) => {
    const colour = COLOURS[si % COLOURS.length] ?? '#000'
    const pts = s.rows
      .filter((r) => Number.isFinite(r[metric]))
      .flatMap((r) => {
        const at = axis.of(r)
        return at === undefined ? [] : [{ at, v: r[metric], ci: ciOf(r) }]
      })
      .sort((a, b) => a.at - b.at)
    const banded = pts.filter((p) => p.ci && Number.isFinite(p.ci.lo) && Number.isFinite(p.ci.hi))
    if (pts.length > 1 && banded.length === pts.length) {
      // the 95 % band: along the upper ends, back along the lower ends
      const band = [
        ...banded.map((p) => `${x(p.at).toFixed(1)},${y(p.ci?.hi ?? p.v).toFixed(1)}`),
        ...[...banded].reverse().map((p) => `${x(p.at).toFixed(1)},${y(p.ci?.lo ?? p.v).toFixed(1)}`),
      ].join(' ')
      parts.push(
        `<polygon class="ci-band" points="${band}" fill="${colour}" fill-opacity="0.15" stroke="${colour}" stroke-opacity="0.35" stroke-width="0.5"/>`,
      )
    } else {
      for (const p of banded) {
        const cx = x(p.at) + (si - (series.length - 1) / 2) * 3
        parts.push(
          `<line x1="${cx}" x2="${cx}" y1="${y(p.ci?.lo ?? p.v)}" y2="${y(p.ci?.hi ?? p.v)}" stroke="${colour}" stroke-width="1.5"/>`,
        )
      }
    }
    if (pts.length > 1) {
      const d = pts.map((p) => `${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')
      parts.push(`<polyline points="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`)
    }
    for (const p of pts) parts.push(`<circle cx="${x(p.at)}" cy="${y(p.v)}" r="4" fill="${colour}"/>`)
  })
  return parts.join('\n')
}

/**
 * The x axis and the lines of a set of rows: against alpha when the search rows vary alpha at one N,
 * else against N; one line per strategy (and per alpha, when both vary).
 */
export function chartLayout(rows: readonly ChartRow[]): { axis: Axis; series: Series[] } {
  const search = rows.filter((r) => r.N !== undefined)
  const Ns = [...new Set(search.map((r) => r.N ?? 0))].sort((a, b) => a - b)
  const alphas = [...new Set(search.flatMap((r) => (r.alpha === undefined ? [] : [r.alpha])))].sort(
    (a, b) => a - b,
  )
  const byAlpha = alphas.length > 1 && Ns.length === 1
  const axis: Axis = byAlpha
    ? { kind: 'alpha', values: alphas, of: (r) => r.alpha }
    : { kind: 'N', values: Ns, of: (r) => r.N }
  const labelOf = (r: ChartRow): string =>
    !byAlpha && alphas.length > 1 && r.alpha !== undefined ? `${r.strategy} alpha=${r.alpha}` : r.strategy
  const series = new Map<string, ChartRow[]>()
  for (const r of search) series.set(labelOf(r), [...(series.get(labelOf(r)) ?? []), r])
  return { axis, series: [...series].map(([label, list]) => ({ label, rows: list })) }
}

/** The chart as SVG text (two panels: FID and IS against N or alpha). */
export function chartSvg(rows: readonly ChartRow[], title: string): string {
  const { axis, series } = chartLayout(rows)
  const strategies = series.map((s) => s.label)
  const hasBaseline = rows.some((r) => r.N === undefined)
  const width = PANEL_W * 2
  const legendY = PANEL_H + 18
  const height = PANEL_H + 76
  const legend: string[] = []
  let lx = 24
  for (const [i, s] of strategies.entries()) {
    const colour = COLOURS[i % COLOURS.length] ?? '#000'
    legend.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${legendY + 24}" y2="${legendY + 24}" stroke="${colour}" stroke-width="2"/>`,
      `<circle cx="${lx + 12}" cy="${legendY + 24}" r="4" fill="${colour}"/>`,
      `<text x="${lx + 30}" y="${legendY + 28}" font-size="13">${esc(s)}</text>`,
    )
    lx += 40 + s.length * 8
  }
  legend.push(
    `<text x="${width - 24}" y="${legendY + 28}" text-anchor="end" font-size="12" fill="#666">shaded: 95 % interval</text>`,
  )
  if (hasBaseline) {
    legend.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${legendY + 24}" y2="${legendY + 24}" stroke="${BASELINE_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>`,
      `<text x="${lx + 30}" y="${legendY + 28}" font-size="13">baseline</text>`,
    )
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="${height - 4}" text-anchor="middle" font-size="11" fill="#666">${esc(title)}</text>`,
    panel(rows, 'fid', 'FID (lower is better)', axis, series, 0),
    panel(rows, 'is', 'Inception Score (higher is better)', axis, series, PANEL_W),
    ...legend,
    '</svg>',
  ].join('\n')
}

/** Writes the chart as PNG. */
export async function writeChart(path: string, rows: readonly ChartRow[], title: string): Promise<void> {
  await sharp(Buffer.from(chartSvg(rows, title)), { density: 96 })
    .png()
    .toFile(path)
}

/** The chart's rows of an eval.json's rows (the first seed block; no real-image row). */
export function chartRowsOfEval(
  rows: readonly {
    strategy: string
    block: number
    N: number | null
    alpha: number | null
    FID: { value: number; ci?: { lo: number; hi: number } }
    IS: { value: number; ci?: { lo: number; hi: number } }
  }[],
): ChartRow[] {
  return rows
    .filter((r) => r.strategy !== 'real' && r.block === 1)
    .map((r) => ({
      strategy: r.strategy,
      N: r.strategy === 'baseline' ? undefined : (r.N ?? undefined),
      ...(r.strategy !== 'baseline' && r.alpha !== null ? { alpha: r.alpha } : {}),
      fid: r.FID.value,
      is: r.IS.value,
      ...(r.FID.ci ? { fidCi: r.FID.ci } : {}),
      ...(r.IS.ci ? { isCi: r.IS.ci } : {}),
    }))
}
