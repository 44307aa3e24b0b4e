/** The host's `classify` method: the model's classifier on a block of images, in passes of batchSize. */
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { ClassifyResult, Params } from '../../src-shared/protocol'
import type { JobContext } from './host'
import { throwIfCancelled } from './host'
import type { ModelCache } from './model-cache'

export async function handleClassify(
  params: Params<'classify'>,
  ctx: JobContext<'classify'>,
  models: ModelCache,
): Promise<ClassifyResult> {
  const { model, release } = await models.acquire(params.dir, params.device, (message) => {
    ctx.progress({ kind: 'load', message })
  })
  try {
    const m = model.manifest
    const runner = model.opened.runner
    const classify = runner.classify?.bind(runner)
    if (!classify) throw new StudioError(`${m.id} has no classifier graph (classifier.onnx)`)
    const size = m.image_channels * m.image_size * m.image_size
    const { images, count, batchSize } = params
    if (images.length !== count * size) {
      throw new InvalidRequestError(
        'images',
        `classify: images holds ${images.length} values; ${count} images of ${m.image_channels}x${m.image_size}x${m.image_size} need ${count * size}`,
      )
    }
    const K = m.num_classes
    const logits = new Float32Array(count * K)
    let features = new Float32Array(0)
    let featureDim = 0
    for (let start = 0; start < count; start += batchSize) {
      throwIfCancelled(ctx.signal)
      const B = Math.min(batchSize, count - start)
      const out = await classify(images.slice(start * size, (start + B) * size), B)
      logits.set(out.logits, start * K)
      if (start === 0) {
        featureDim = out.featureDim
        features = new Float32Array(count * featureDim)
      }
      if (featureDim > 0) features.set(out.features, start * featureDim)
    }
    return {
      count,
      numClasses: K,
      logits,
      features,
      featureDim,
      provider: model.opened.provider,
    }
  } finally {
    release()
  }
}
