/**
 * The timeline of one image: its token map at every scale, the partial decode after every scale
 * (when previews were on), and at each search scale the numbers the sampler used, with a 2-D PCA
 * map of the candidates' features (codebook embeddings of their token ids, flattened over positions:
 * the same features the KDE scored).
 */
import type { ImageRecord } from '../../src-shared/engine/loop'
import type { SelectionView, Timeline, TimelineScale } from '../../src-shared/ipc'
import type { VarManifest } from '../../src-shared/manifest'
import { pca2 } from '../../src-shared/metrics/pca'

type Selection = ImageRecord['selections'][number]

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

/** The numbers of one search scale as the studio charts them, with the PCA map of the candidates. */
export function selectionView(s: Selection, manifest: VarManifest, codebook: Float32Array): SelectionView {
  const r = s.record
  const pn = manifest.patch_nums[s.si] ?? 0
  const l = pn * pn
  const N = r.densities.length
  const flat = r.candidates ?? new Int32Array(0)
  const candidates =
    flat.length === N * l
      ? Array.from({ length: N }, (_, n) => Array.from(flat.subarray(n * l, (n + 1) * l)))
      : []
  const projected =
    candidates.length === N
      ? pca2(features(flat, N, l, codebook, manifest.Cvae))
      : {
          points: Array.from({ length: N }, (): [number, number] => [0, 0]),
          explained: [0, 0] as [number, number],
        }
  return {
    si: s.si,
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
  }
}

/** `previews[si]` is the PNG data URL of the decode after scale si, when it was made. */
export function buildTimeline(
  imageId: string,
  record: ImageRecord,
  manifest: VarManifest,
  codebook: Float32Array,
  previews: readonly (string | undefined)[],
): Timeline {
  const scales: TimelineScale[] = record.tokenMaps.map((tokens, si) => {
    const preview = previews[si]
    return {
      si,
      pn: manifest.patch_nums[si] ?? Math.round(Math.sqrt(tokens.length)),
      tokens: Array.from(tokens),
      ...(preview ? { preview } : {}),
    }
  })
  return {
    imageId,
    vocabSize: manifest.vocab_size,
    scales,
    selections: record.selections.map((s) => selectionView(s, manifest, codebook)),
  }
}
