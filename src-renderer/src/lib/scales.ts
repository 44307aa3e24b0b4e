/**
 * How the studio names a scale. The engine counts scales by a 0-based index `si` (the strategies'
 * `searchScales` are such indices) and each scale is a pn×pn token map, so a scale is shown by its map
 * size and its index, never by a 1-based number that could be read as either.
 */

/** "2×2" */
export const mapSize = (pn: number): string => `${pn}×${pn}`

/** "0–5", the valid indices of S scales. */
export const indexRange = (S: number): string => (S <= 1 ? '0' : `0–${S - 1}`)

/** "2×2 · index 1 of 0–5": one scale of a model with S scales. */
export function scaleName(si: number, pn: number, S?: number): string {
  return S === undefined ? `${mapSize(pn)} · index ${si}` : `${mapSize(pn)} · index ${si} of ${indexRange(S)}`
}

/** "maps 1×1, 2×2, 3×3, 4×4, 5×5, 7×7 (6 scales, index 0–5)": a model's scales, coarse to fine. */
export function scaleMaps(patchNums: readonly number[]): string {
  const S = patchNums.length
  if (S === 0) return 'no scales'
  const sizes = patchNums.map(mapSize)
  // Long ladders are shortened to the first two and the last, which still shows the pattern.
  const list = S > 8 ? `${sizes[0]}, ${sizes[1]}, …, ${sizes[S - 1]}` : sizes.join(', ')
  return `maps ${list} (${S} ${S === 1 ? 'scale' : 'scales'}, index ${indexRange(S)})`
}

/** "index 1 = the 2×2 map": what the search-scale indices typed into the knob stand for. */
export function searchScalesHint(searchScales: readonly number[], patchNums: readonly number[]): string {
  return searchScales
    .map((si) => {
      const pn = Number.isInteger(si) ? patchNums[si] : undefined
      return pn === undefined
        ? `index ${si}: no such scale (this model has ${indexRange(patchNums.length)})`
        : `index ${si} = the ${mapSize(pn)} map`
    })
    .join(', ')
}
