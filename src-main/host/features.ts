/**
 * The host's `features` method: a user's feature network (ONNX) on a block of images, in passes of
 * batchSize. Opened networks stay open per (file, size, mtime, device) for the next block.
 */
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { FeaturesResult, Params, ProviderName } from '../../src-shared/protocol'
import { type JobContext, throwIfCancelled } from './host'
import { FeatureNet } from './ort/feature-net'
import type { Logger } from './ort/session'

export class FeatureNets {
  private readonly open = new Map<string, Promise<FeatureNet>>()

  constructor(
    private readonly log: Logger,
    private readonly ladder?: readonly ProviderName[],
  ) {}

  private async get(params: Params<'features'>): Promise<FeatureNet> {
    const file = resolve(params.file)
    let key: string
    try {
      const s = await stat(file)
      key = [file, s.size, Math.round(s.mtimeMs), JSON.stringify(params.device)].join('|')
    } catch {
      throw new StudioError(`${file}: the feature network file does not exist`)
    }
    let net = this.open.get(key)
    if (!net) {
      net = FeatureNet.open(file, params.device, this.log, this.ladder)
      this.open.set(key, net)
      net.catch(() => this.open.delete(key))
    }
    return net
  }

  async handle(params: Params<'features'>, ctx: JobContext<'features'>): Promise<FeaturesResult> {
    const { images, count, channels: C, height: H, width: W, batchSize } = params
    const size = C * H * W
    if (images.length !== count * size) {
      throw new InvalidRequestError(
        'images',
        `features: images holds ${images.length} values; ${count} images of ${C}x${H}x${W} need ${count * size}`,
      )
    }
    ctx.progress({ kind: 'load', message: `opening ${params.file}` })
    const net = await this.get(params)
    let features = new Float32Array(0)
    let logits = new Float32Array(0)
    let featureDim = 0
    let numClasses = 0
    for (let start = 0; start < count; start += batchSize) {
      throwIfCancelled(ctx.signal)
      const B = Math.min(batchSize, count - start)
      const out = await net.run(images.slice(start * size, (start + B) * size), B, C, H, W)
      if (start === 0) {
        featureDim = out.featureDim
        numClasses = out.numClasses
        features = new Float32Array(count * featureDim)
        logits = new Float32Array(count * numClasses)
      }
      features.set(out.features, start * featureDim)
      logits.set(out.logits, start * numClasses)
    }
    return { count, features, featureDim, logits, numClasses, network: net.info, provider: net.provider }
  }

  async releaseAll(): Promise<void> {
    const nets = [...this.open.values()]
    this.open.clear()
    for (const n of nets) await (await n.catch(() => undefined))?.release()
  }
}
