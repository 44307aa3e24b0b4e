/**
 * The export grid's layout as the user will see it, worked out in the renderer so the builder can
 * show rows, columns and empty cells before anything is written. The host lays out the PNG itself.
 */
import type { GridAxis, ImageEntry } from '../../../src-shared/ipc'
import { strategyName, strategyRank } from '../../../src-shared/strategy-names'

export type GridImage = Pick<ImageEntry, 'id' | 'classId' | 'className' | 'seed' | 'strategyKind' | 'N'>

export interface AxisValue {
  readonly key: string
  readonly label: string
  readonly order: number
}

export const AXIS_LABELS = {
  class: 'Class',
  seed: 'Seed',
  strategy: 'Strategy',
  N: 'Candidates (N)',
} as const satisfies Record<GridAxis, string>

/** Where one image sits along one axis. */
export function axisValue(image: GridImage, axis: GridAxis): AxisValue {
  switch (axis) {
    case 'class':
      return { key: `c${image.classId}`, label: image.className, order: image.classId }
    case 'seed':
      return { key: `s${image.seed}`, label: `seed ${image.seed}`, order: image.seed }
    case 'strategy':
      return {
        key: image.strategyKind,
        label: strategyName(image.strategyKind),
        order: strategyRank(image.strategyKind),
      }
    case 'N':
      return { key: `n${image.N}`, label: `N = ${image.N}`, order: image.N }
  }
}

function distinct(values: AxisValue[]): AxisValue[] {
  const byKey = new Map(values.map((v) => [v.key, v]))
  return [...byKey.values()].sort((a, b) => a.order - b.order || a.label.localeCompare(b.label))
}

export interface GridLayout {
  readonly rows: readonly AxisValue[]
  readonly columns: readonly AxisValue[]
  /** image id per cell, null when empty */
  readonly cells: readonly (readonly (string | null)[])[]
  readonly empty: number
  /** images that share a cell with an earlier one (only one image shows per cell) */
  readonly hidden: number
}

export function gridLayout(images: readonly GridImage[], rows: GridAxis, columns: GridAxis): GridLayout {
  const rowValues = distinct(images.map((i) => axisValue(i, rows)))
  const colValues = distinct(images.map((i) => axisValue(i, columns)))
  const rowIndex = new Map(rowValues.map((v, i) => [v.key, i]))
  const colIndex = new Map(colValues.map((v, i) => [v.key, i]))
  const cells = rowValues.map(() => colValues.map((): string | null => null))
  let hidden = 0
  for (const image of images) {
    const r = rowIndex.get(axisValue(image, rows).key) ?? 0
    const c = colIndex.get(axisValue(image, columns).key) ?? 0
    const row = cells[r]
    if (row[c] === null) row[c] = image.id
    else hidden += 1
  }
  const empty = cells.reduce((n, row) => n + row.filter((cell) => cell === null).length, 0)
  return { rows: rowValues, columns: colValues, cells, empty, hidden }
}
