/** The host's `decodeScales` method: an image's partial decodes from its saved token maps. */
import { decodeScales } from '../../src-shared/engine/residual'
import type { DecodeScalesResult, Params } from '../../src-shared/protocol'
import type { JobContext } from './host'
import type { ModelCache } from './model-cache'

export async function handleDecodeScales(
  params: Params<'decodeScales'>,
  ctx: JobContext<'decodeScales'>,
  models: ModelCache,
): Promise<DecodeScalesResult> {
  const { model, release } = await models.acquire(params.dir, params.device, (message) => {
    ctx.progress({ kind: 'load', message })
  })
  try {
    const m = model.manifest
    const scales = m.patch_nums.length
    const size = m.image_channels * m.image_size * m.image_size
    const images = new Float32Array(scales * size)
    await decodeScales(model.opened.runner, m, model.codebook, params.tokenMaps, {
      signal: ctx.signal,
      onScale: (si, image) => {
        images.set(image, si * size)
        ctx.progress({ kind: 'decode', si, scales })
      },
    })
    return {
      images,
      channels: m.image_channels,
      width: m.image_size,
      height: m.image_size,
      provider: model.opened.provider,
    }
  } finally {
    release()
  }
}
