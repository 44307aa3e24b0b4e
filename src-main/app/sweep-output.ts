/**
 * What a sweep writes and computes, for `var-studio sweep` and the studio's Experiments alike: the
 * hash of each cell (model files, images, settings: a rerun skips a cell whose hash it finds
 * finished), the classifier's scores of a cell's PNGs, the metrics per cell with bootstrap 95 %
 * intervals (the same resamples for every cell, so cells are paired, as in `var-studio eval`), the
 * labelled grids per axis pair and the curve chart with its bands.
 */
import { createHash } from 'node:crypto'
import sharp from 'sharp'
import type { VarManifest } from '../../src-shared/manifest'
import { bootstrapIndices, centredInterval } from '../../src-shared/metrics/bootstrap'
import { type GaussianStats, softmaxRows } from '../../src-shared/metrics/metrics'
import { metricValues, type MetricValues } from '../../src-shared/metrics/values'
import type { DeviceChoice } from '../../src-shared/protocol'
import {
  AXIS_INFO,
  axisPairs,
  canonicalJson,
  cellAt,
  curvesOf,
  METRIC_LABELS,
  orderedValues,
  SWEEP_METRICS,
  type SweepMetric,
  type SweepMetricRow,
  type SweepPlan,
  valueLabel,
} from '../../src-shared/sweep'
import type { HostClient } from '../host/client'
import { composeGrid, type GridTile } from '../storage/grid'
import { encodePng, type RawImage } from '../storage/png'

export const SWEEP_FORMAT = 'var-studio-sweep/1'

/** Every file of the model folder with its sha256 (from the manifest, checked when the model loads). */
export function modelHashes(m: VarManifest): Record<string, string> {
  return Object.fromEntries(Object.entries(m.files).map(([name, f]) => [name, f.sha256]))
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** The hash a finished cell is recognised by: the model's files, the images (classes, seeds), the settings. */
export function cellHash(m: VarManifest, plan: SweepPlan, identity: string): string {
  return sha256(canonicalJson({ model: modelHashes(m), items: plan.items, identity }))
}

/** The hash of the whole plan (every cell's hash in order, and the axes). */
export function planHash(m: VarManifest, plan: SweepPlan): string {
  return sha256(
    canonicalJson({ axes: plan.axes, cells: plan.cells.map((c) => cellHash(m, plan, c.identity)) }),
  )
}

/** A PNG read back as the classifier takes it (values in [0, 1]) and as a grid tile. */
export async function readPng(file: string): Promise<RawImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  if (info.channels !== 1 && info.channels !== 3) throw new RangeError(`${file}: ${info.channels} channels`)
  return { data, width: info.width, height: info.height, channels: info.channels }
}

export interface CellScores {
  readonly n: number
  readonly K: number
  readonly dim: number
  /** 1 where the classifier's argmax is the image's class */
  readonly correct: number[]
  readonly probs: Float64Array
  readonly features: Float32Array
}

/**
 * The classifier's view of a cell's images, read from their PNGs (so the CLI and the studio score
 * exactly the saved images). `channels` is the model's.
 */
export async function scoreCell(
  client: HostClient,
  dir: string,
  device: DeviceChoice,
  files: readonly string[],
  classIds: readonly number[],
  channels: number,
  signal?: AbortSignal,
): Promise<CellScores> {
  const raws = await Promise.all(files.map(readPng))
  if (raws.length === 0) throw new RangeError('a cell has no images')
  const first = raws[0]
  const size = first.width * first.height * channels
  const images = new Float32Array(raws.length * size)
  raws.forEach((raw, i) => {
    const plane = first.width * first.height
    // PNG stores HWC; the classifier takes CHW
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) {
        images[i * size + c * plane + p] =
          (raw.data[p * raw.channels + Math.min(c, raw.channels - 1)] ?? 0) / 255
      }
    }
  })
  const out = await client.call(
    'classify',
    { dir, device, images, count: raws.length },
    signal ? { signal } : {},
  )
  const K = out.numClasses
  const probs = softmaxRows(out.logits, out.count, K)
  const correct = classIds.map((classId, i) => {
    let best = 0
    for (let c = 1; c < K; c++) if ((probs[i * K + c] ?? 0) > (probs[i * K + best] ?? 0)) best = c
    return best === classId ? 1 : 0
  })
  return { n: out.count, K, dim: out.featureDim, correct, probs, features: out.features }
}

/** Scores as a JSON file keeps them (float arrays as base64). */
export function scoresJson(s: CellScores): unknown {
  const b64 = (a: Float32Array | Float64Array): string =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')
  return { n: s.n, K: s.K, dim: s.dim, correct: s.correct, probs: b64(s.probs), features: b64(s.features) }
}

export function scoresFromJson(json: unknown): CellScores | undefined {
  const j = json as Partial<{
    n: number
    K: number
    dim: number
    correct: number[]
    probs: string
    features: string
  }>
  if (typeof j.n !== 'number' || typeof j.K !== 'number' || typeof j.dim !== 'number') return undefined
  if (!Array.isArray(j.correct) || typeof j.probs !== 'string' || typeof j.features !== 'string')
    return undefined
  const p = Buffer.from(j.probs, 'base64')
  const f = Buffer.from(j.features, 'base64')
  const probs = new Float64Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength))
  const features = new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength))
  if (probs.length !== j.n * j.K || features.length !== j.n * j.dim) return undefined
  return { n: j.n, K: j.K, dim: j.dim, correct: j.correct, probs, features }
}

/**
 * Class accuracy, IS and FID per scored cell, each with a 95 % bootstrap interval (B resamples of the
 * image indices, the same for every cell: the cells are paired by class and seed). Without a
 * reference FID is NaN.
 */
export function sweepMetrics(
  scored: readonly { readonly cell: number; readonly hash: string; readonly scores: CellScores }[],
  ref: GaussianStats | undefined,
  B: number,
  seed: number,
): SweepMetricRow[] {
  const n = scored[0]?.scores.n ?? 0
  const resamples = B > 0 && n > 0 ? bootstrapIndices(n, B, seed) : []
  return scored.map(({ cell, hash, scores }) => {
    const point = metricValues(scores, ref, undefined)
    const boots = resamples.map((idx) => metricValues(scores, ref, idx))
    const metric = (key: keyof MetricValues, clamp01 = false): SweepMetric => {
      const value = point[key]
      if (boots.length === 0 || !Number.isFinite(value)) return { value }
      const ci = centredInterval(
        value,
        boots.map((b) => b[key]),
      )
      return clamp01
        ? { value, lo: Math.max(0, ci.lo), hi: Math.min(1, ci.hi) }
        : { value, lo: ci.lo, hi: ci.hi }
    }
    return {
      cell,
      hash,
      n: scores.n,
      accuracy: metric('accuracy', true),
      IS: metric('IS'),
      FID: metric('FID'),
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Grids

export interface GridFile {
  readonly name: string
  readonly title: string
  readonly png: Buffer
}

/** The images a grid shows of every cell: one per class first (seed 1 of each), then the rest, at most `max`. */
export function shownItems(plan: SweepPlan, max: number): number[] {
  const firstOfClass = new Map<number, number>()
  plan.items.forEach((it, i) => {
    if (!firstOfClass.has(it.classId)) firstOfClass.set(it.classId, i)
  })
  const first = [...firstOfClass.values()]
  const rest = plan.items.map((_, i) => i).filter((i) => !first.includes(i))
  return [...first, ...rest].slice(0, max)
}

/** Images side by side with a 2 px white gap, as one tile. */
function strip(images: readonly RawImage[]): RawImage {
  const first = images[0]
  const gap = 2
  const width = images.length * first.width + (images.length - 1) * gap
  const data = new Uint8Array(width * first.height * 3).fill(255)
  images.forEach((img, k) => {
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const si = (y * img.width + x) * img.channels
        const o = (y * width + k * (first.width + gap) + x) * 3
        for (let c = 0; c < 3; c++) data[o + c] = img.data[si + (img.channels >= 3 ? c : 0)] ?? 0
      }
    }
  })
  return { data, width, height: first.height, channels: 3 }
}

/**
 * One labelled grid per axis pair (columns: the first axis of the pair, rows: the second, a third
 * axis at its first value), each tile the cell's shown images side by side; a single axis gives one
 * grid of its values against the shown images.
 */
export async function sweepGrids(
  plan: SweepPlan,
  image: (cell: number, item: number) => Promise<RawImage>,
  classNames: readonly string[],
  title: string,
): Promise<GridFile[]> {
  const itemText = (i: number): string => {
    const it = plan.items[i] as { classId: number; seed: number } | undefined
    return it ? `${classNames[it.classId] ?? `class ${it.classId}`} seed ${it.seed}` : ''
  }
  const out: GridFile[] = []
  if (plan.axes.length === 1) {
    const axis = plan.axes[0]
    const shown = shownItems(plan, 8)
    const values = orderedValues(axis)
    const tiles: GridTile[] = []
    for (const item of shown) {
      for (const v of values) {
        const cell = cellAt(plan, [v])
        if (cell) tiles.push({ image: await image(cell.index, item), caption: [] })
      }
    }
    const png = await encodePng(
      composeGrid(tiles, {
        columns: values.length,
        columnHeaders: values.map((v) => valueLabel(axis.axis, v)),
        rowHeaders: shown.map(itemText),
        title: `${title}: ${AXIS_INFO[axis.axis].label} across, images down`,
      }),
    )
    out.push({ name: `grid-${axis.axis}.png`, title: AXIS_INFO[axis.axis].label, png })
    return out
  }
  const shown = shownItems(plan, 4)
  for (const [a, b] of axisPairs(plan)) {
    const ax = plan.axes[a]
    const ay = plan.axes[b]
    const cols = orderedValues(ax)
    const rows = orderedValues(ay)
    const fixed = plan.axes
      .map((o, i) => (i === a || i === b ? undefined : valueLabel(o.axis, o.values[0])))
      .filter((s): s is string => s !== undefined)
    const tiles: GridTile[] = []
    for (const rv of rows) {
      for (const cv of cols) {
        const coords = plan.axes.map((o, i) => (i === a ? cv : i === b ? rv : o.values[0]))
        const cell = cellAt(plan, coords)
        if (!cell) continue
        tiles.push({
          image: strip(await Promise.all(shown.map((item) => image(cell.index, item)))),
          caption: [],
        })
      }
    }
    const what = `${AXIS_INFO[ax.axis].label} across, ${AXIS_INFO[ay.axis].label} down`
    const png = await encodePng(
      composeGrid(tiles, {
        columns: cols.length,
        columnHeaders: cols.map((v) => valueLabel(ax.axis, v)),
        rowHeaders: rows.map((v) => valueLabel(ay.axis, v)),
        title: `${title}: ${what}${fixed.length > 0 ? ` (${fixed.join(', ')})` : ''}; each tile: ${shown.map(itemText).join(', ')}`,
        scale: 2,
      }),
    )
    out.push({ name: `grid-${ax.axis}-by-${ay.axis}.png`, title: what, png })
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The curve chart as PNG (the studio draws the same curves with ECharts)

const COLOURS = ['#555555', '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2']
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function ticks(lo: number, hi: number): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return []
  if (hi - lo < 1e-9) {
    const pad = Math.abs(lo) * 0.05 || 1
    lo -= pad
    hi += pad
  }
  const raw = (hi - lo) / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let i = Math.floor(lo / step); i <= Math.ceil(hi / step); i++)
    out.push(Number((i * step).toPrecision(10)))
  return out
}

/** Three panels (accuracy, IS, FID) of metric vs the x axis, one line per strategy, shaded 95 % bands. */
export function sweepChartSvg(plan: SweepPlan, rows: readonly SweepMetricRow[], title: string): string {
  const W = 420
  const H = 320
  const M = { left: 60, right: 14, top: 36, bottom: 48 }
  const parts: string[] = []
  let legend: string[] = []
  SWEEP_METRICS.forEach((metric, p) => {
    const curves = curvesOf(plan, rows, metric)
    const x0 = p * W
    const all = curves.lines.flatMap((l) =>
      l.points.flatMap((q) => [q.value, q.lo ?? q.value, q.hi ?? q.value]),
    )
    const finite = all.filter(Number.isFinite)
    const t = ticks(Math.min(...finite), Math.max(...finite))
    const lo = t[0] ?? 0
    const hi = t.at(-1) ?? 1
    const pw = W - M.left - M.right
    const ph = H - M.top - M.bottom
    const n = curves.xLabels.length
    const px = (i: number): number => x0 + M.left + (n === 1 ? pw / 2 : (i / (n - 1)) * pw)
    const py = (v: number): number => M.top + ph - ((v - lo) / (hi - lo || 1)) * ph
    parts.push(
      `<text x="${x0 + W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(METRIC_LABELS[metric])}</text>`,
    )
    parts.push(
      `<rect x="${x0 + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    )
    for (const v of t) {
      const digits = Math.abs(hi - lo) < 0.1 ? 3 : Math.abs(hi - lo) < 2 ? 2 : 1
      parts.push(
        `<line x1="${x0 + M.left}" x2="${x0 + M.left + pw}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
      )
      parts.push(
        `<text x="${x0 + M.left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(digits)}</text>`,
      )
    }
    curves.xLabels.forEach((label, i) => {
      parts.push(
        `<text x="${px(i)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${esc(label)}</text>`,
      )
    })
    parts.push(
      `<text x="${x0 + M.left + pw / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(AXIS_INFO[curves.xAxis].label)}</text>`,
    )
    curves.lines.forEach((line, li) => {
      const colour = COLOURS[li % COLOURS.length] ?? '#000'
      const pts = line.points.map((q, i) => ({ ...q, i })).filter((q) => Number.isFinite(q.value))
      const band = pts.filter(
        (q) => q.lo !== undefined && q.hi !== undefined && Number.isFinite(q.lo) && Number.isFinite(q.hi),
      )
      if (band.length > 0) {
        const upper = band.map((q) => `${px(q.i)},${py(q.hi ?? q.value)}`)
        const lower = [...band].reverse().map((q) => `${px(q.i)},${py(q.lo ?? q.value)}`)
        const poly =
          band.length === 1
            ? [
                `${px(band[0]?.i ?? 0) - 6},${py(band[0]?.hi ?? 0)}`,
                `${px(band[0]?.i ?? 0) + 6},${py(band[0]?.hi ?? 0)}`,
                `${px(band[0]?.i ?? 0) + 6},${py(band[0]?.lo ?? 0)}`,
                `${px(band[0]?.i ?? 0) - 6},${py(band[0]?.lo ?? 0)}`,
              ]
            : [...upper, ...lower]
        parts.push(`<polygon points="${poly.join(' ')}" fill="${colour}" fill-opacity="0.15" stroke="none"/>`)
      }
      if (pts.length > 1) {
        parts.push(
          `<polyline points="${pts.map((q) => `${px(q.i)},${py(q.value)}`).join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`,
        )
      }
      for (const q of pts) parts.push(`<circle cx="${px(q.i)}" cy="${py(q.value)}" r="3" fill="${colour}"/>`)
    })
    if (p === 0) {
      legend = curves.lines.map((line, li) => {
        const x = 20 + li * 150
        const colour = COLOURS[li % COLOURS.length] ?? '#000'
        return `<rect x="${x}" y="${H + 8}" width="14" height="10" fill="${colour}"/><text x="${x + 20}" y="${H + 18}" font-size="12">${esc(line.name)}</text>`
      })
      if (curves.fixed.length > 0)
        legend.push(
          `<text x="${3 * W - 20}" y="${H + 18}" text-anchor="end" font-size="12">${esc(curves.fixed.join(', '))}</text>`,
        )
    }
  })
  const width = 3 * W
  const height = H + 56
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...parts,
    ...legend,
    `<text x="20" y="${H + 44}" font-size="12" fill="#444">${esc(title)}; shaded: 95 % bootstrap interval</text>`,
    '</svg>',
  ].join('\n')
}

export async function sweepChartPng(
  plan: SweepPlan,
  rows: readonly SweepMetricRow[],
  title: string,
): Promise<Buffer> {
  return sharp(Buffer.from(sweepChartSvg(plan, rows, title)), { density: 96 })
    .png()
    .toBuffer()
}
