/**
 * The selection data of a search scale ready to show, made in the inference host, which holds the
 * codebook: the sampler's numbers, the candidates' token maps and a 2-D PCA map of the candidates'
 * features (codebook embeddings of their token ids, flattened over positions: the same features the
 * KDE scored). Electron main stores and forwards these views and never opens the model's files.
 */
import type { SelectionRecord } from '../../src-shared/engine/selection'
import type { SelectionView } from '../../src-shared/ipc'
import { pca2 } from '../../src-shared/metrics/pca'
import { LARGEST_DISTANCE_WORK, largestDistance } from '../../src-shared/engine/search-summary'

/** Candidate n's features: the codebook row of each of its l token ids, concatenated. */
function features(
  candidates: Int32Array,
  N: number,
  l: number,
  codebook: Float32Array,
  cvae: number,
): Float64Array[] {
  return Array.from({ length: N }, (_, n) => {
    const out = new Float64Array(l * cvae)
    for (let p = 0; p < l; p++) {
      const id = candidates[n * l + p]
      for (let c = 0; c < cvae; c++) out[p * cvae + c] = codebook[id * cvae + c]
    }
    return out
  })
}

/** The view of row `r`'s selection at scale `si` (pn x pn tokens), with its PCA map. */
export function selectionView(
  si: number,
  pn: number,
  r: SelectionRecord,
  codebook: Float32Array,
  cvae: number,
): SelectionView {
  const l = pn * pn
  const N = r.densities.length
  const flat = r.candidates ?? new Int32Array(0)
  const whole = flat.length === N * l
  const candidates = whole
    ? Array.from({ length: N }, (_, n) => Array.from(flat.subarray(n * l, (n + 1) * l)))
    : []
  const projected = whole
    ? pca2(features(flat, N, l, codebook, cvae))
    : {
        points: Array.from({ length: N }, (): [number, number] => [0, 0]),
        explained: [0, 0] as [number, number],
      }
  return {
    si,
    pn,
    N,
    densities: Array.from(r.densities),
    ratio: r.ratio,
    alpha: r.alpha,
    branch: r.branch,
    order: Array.from(r.order),
    kept: [...r.kept],
    probs: [...r.probs],
    chosen: r.chosen,
    chosenProb: r.chosenProb,
    candidates,
    projection: projected.points,
    explained: projected.explained,
    // the largest distance between distinct candidates: what a dedup threshold is compared with
    ...(whole && (N * (N - 1) * l * cvae) / 2 <= LARGEST_DISTANCE_WORK
      ? { distanceMax: largestDistance(flat, N, l, codebook, cvae) }
      : {}),
  }
}

/**
 * Views made once per record: the live event shows the batch's first image's selection, and the same
 * record is in that image's result.
 */
export class SelectionViews {
  private readonly made = new WeakMap<SelectionRecord, SelectionView>()

  constructor(
    private readonly patchNums: readonly number[],
    private readonly codebook: Float32Array,
    private readonly cvae: number,
  ) {}

  of(si: number, record: SelectionRecord): SelectionView {
    let view = this.made.get(record)
    if (!view) {
      view = selectionView(si, this.patchNums[si] ?? 0, record, this.codebook, this.cvae)
      this.made.set(record, view)
    }
    return view
  }
}
