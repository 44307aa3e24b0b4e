/**
 * The timeline of one image: its token map at every scale, the partial decode after every scale
 * (when previews were on), and at each search scale the selection data the inference host made
 * (the sampler's numbers and the candidates' PCA map). Main only assembles what the host sent.
 */
import type { GeneratedImage } from '../../src-shared/protocol'
import type { Timeline, TimelineScale } from '../../src-shared/ipc'

/**
 * `previews[si]` is the PNG data URL of the preview after scale si, when it was made, and
 * `kinds[si]` how (the cheap projection or the decoder; left out: the decoder).
 */
export function buildTimeline(
  imageId: string,
  image: Pick<GeneratedImage, 'record' | 'selections'>,
  model: { readonly vocabSize: number; readonly patchNums: readonly number[] },
  previews: readonly (string | undefined)[],
  kinds: readonly (TimelineScale['previewKind'] | undefined)[] = [],
): Timeline {
  const scales: TimelineScale[] = image.record.tokenMaps.map((tokens, si) => {
    const preview = previews[si]
    const kind = kinds[si]
    return {
      si,
      pn: model.patchNums[si] ?? Math.round(Math.sqrt(tokens.length)),
      tokens: Array.from(tokens),
      ...(preview ? { preview } : {}),
      ...(preview && kind === 'projection' ? { previewKind: kind } : {}),
    }
  })
  return { imageId, vocabSize: model.vocabSize, scales, selections: [...image.selections] }
}
