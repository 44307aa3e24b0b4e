/**
 * A user-supplied feature network for ImageNet-grade metrics: an Inception-v3 (or a stand-in) exported
 * to ONNX. Contract:
 *
 * - one float32 input [batch, 3, H, W], RGB in [0, 1]. With a fixed H x W (299 x 299 for Inception)
 *   the images are resized here, bilinear with half-pixel centres and no antialiasing; with free H and
 *   W they go in at their own size (a network that resizes inside, like the PyTorch FID ports).
 *   Grey images are repeated to three channels.
 * - a pooled feature output [batch, D] or [batch, D, 1, 1] (D = 2048 for Inception's pool_3), found by
 *   name (features, pool, pool_3, pool3, pool_features, avgpool) or, failing that, as the one float
 *   output that is not the logits;
 * - optionally class logits [batch, K] (1008 for the TensorFlow graph, 1000 for torchvision), found by
 *   name (logits, logits_unbiased) or by a fixed second dimension of 1000 or 1008; IS needs them.
 */
import { basename } from 'node:path'
import { ModelLoadError, InferenceError } from '../../../src-shared/errors'
import { greyToRgb, resizeBilinear } from '../../../src-shared/metrics/resize'
import type {
  DeviceChoice,
  FeatureNetInfo,
  ProviderName,
  ProviderReport,
  TensorInfo,
} from '../../../src-shared/protocol'
import { platformLadder } from './model'
import { openWithLadder } from './providers'
import { Graph, type Logger, tensor } from './session'

const FEATURE_NAMES = ['features', 'pool', 'pool_3', 'pool3', 'pool_features', 'avgpool']
const LOGIT_NAMES = ['logits', 'logits_unbiased']
const LOGIT_SIZES = [1000, 1008]

const describe = (list: readonly TensorInfo[]): string =>
  list.map((t) => `${t.name} ${t.type} [${t.shape.join(', ')}]`).join('; ') || 'none'

const fixed = (d: number | string | undefined): number => (typeof d === 'number' && d > 0 ? d : 0)

/** Finds the input and the outputs a feature network is used through, or says what is wrong. */
export function featureNetLayout(
  file: string,
  inputs: readonly TensorInfo[],
  outputs: readonly TensorInfo[],
): FeatureNetInfo {
  const input = inputs.at(0)
  if (inputs.length !== 1 || !input || input.type !== 'float32' || input.shape.length !== 4) {
    throw new ModelLoadError(
      `${file}: a feature network takes one float32 input [batch, 3, H, W]; it has ${describe(inputs)}`,
    )
  }
  const C = fixed(input.shape[1])
  if (C !== 0 && C !== 3) {
    throw new ModelLoadError(
      `${file}: input ${input.name} has ${C} channels; a feature network takes RGB (3)`,
    )
  }
  const floats = outputs.filter((o) => o.type === 'float32')
  const byName = (names: readonly string[]): TensorInfo | undefined =>
    floats.find((o) => names.includes(o.name.toLowerCase()))
  const logits =
    byName(LOGIT_NAMES) ?? floats.find((o) => o.shape.length === 2 && LOGIT_SIZES.includes(fixed(o.shape[1])))
  const rest = floats.filter((o) => o !== logits)
  const features = byName(FEATURE_NAMES) ?? (rest.length === 1 ? rest[0] : undefined)
  const pooled = (t: TensorInfo): boolean =>
    t.shape.length === 2 ||
    (t.shape.length === 4 && [t.shape[2], t.shape[3]].every((d) => typeof d !== 'number' || d === 1))
  if (!features || !pooled(features)) {
    const why = features
      ? `output ${features.name} is [${features.shape.join(', ')}], not a pooled vector`
      : 'no pooled feature output'
    throw new ModelLoadError(
      `${file}: ${why}: a feature network gives [batch, D] or [batch, D, 1, 1] named ` +
        `${FEATURE_NAMES.join('/')} (or as its one output besides the logits); its outputs are ${describe(outputs)}`,
    )
  }
  if (logits && logits.shape.length !== 2) {
    throw new ModelLoadError(
      `${file}: output ${logits.name} is [${logits.shape.join(', ')}]; logits must be [batch, classes]`,
    )
  }
  return {
    file,
    input: input.name,
    inputShape: [3, fixed(input.shape[2]), fixed(input.shape[3])],
    featuresOutput: features.name,
    logitsOutput: logits?.name ?? null,
  }
}

export interface FeatureBatch {
  readonly features: Float32Array
  readonly featureDim: number
  readonly logits: Float32Array
  readonly numClasses: number
}

/** An opened feature network. */
export class FeatureNet {
  private constructor(
    readonly info: FeatureNetInfo,
    readonly provider: ProviderReport,
    private readonly graph: Graph,
  ) {}

  static async open(
    file: string,
    device: DeviceChoice,
    log: Logger,
    ladder: readonly ProviderName[] = platformLadder(),
  ): Promise<FeatureNet> {
    const { value: graph, report } = await openWithLadder(device, ladder, (provider, deviceId) =>
      Graph.open(file, `feature network ${basename(file)}`, provider, deviceId, log),
    )
    try {
      return new FeatureNet(featureNetLayout(file, graph.inputs, graph.outputs), report, graph)
    } catch (error) {
      await graph.release()
      throw error
    }
  }

  /** Runs `count` images [C, H, W] in [0, 1] (C = 1 or 3) through the network in one pass. */
  async run(images: Float32Array, count: number, C: number, H: number, W: number): Promise<FeatureBatch> {
    const [, h0, w0] = this.info.inputShape
    const h = h0 || H
    const w = w0 || W
    const rgb = C === 1 ? greyToRgb(images, count, H, W) : images
    const input = resizeBilinear(rgb, count, 3, H, W, h, w)
    const { file, featuresOutput, logitsOutput } = this.info
    const names = logitsOutput ? [featuresOutput, logitsOutput] : [featuresOutput]
    const out = await this.graph.run(
      { [this.info.input]: tensor(file, this.info.input, input, [count, 3, h, w]) },
      names,
    )
    const feats = out[featuresOutput]
    if (!feats || !(feats.data instanceof Float32Array)) {
      throw new InferenceError(`${file}: output ${featuresOutput} did not come back as float32`)
    }
    const dims = feats.dims
    const ok =
      dims[0] === count && (dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1))
    if (!ok) {
      throw new ModelLoadError(
        `${file}: output ${featuresOutput} gave [${dims.join(', ')}] for ${count} images; a pooled feature vector is [${count}, D] or [${count}, D, 1, 1]`,
      )
    }
    const featureDim = dims[1] ?? 0
    let logits: Float32Array = new Float32Array(0)
    let numClasses = 0
    if (logitsOutput) {
      const l = out[logitsOutput]
      if (!l || !(l.data instanceof Float32Array) || l.dims.length !== 2 || l.dims[0] !== count) {
        throw new ModelLoadError(
          `${file}: output ${logitsOutput} gave [${l?.dims.join(', ') ?? ''}] for ${count} images; logits are [${count}, classes]`,
        )
      }
      logits = l.data
      numClasses = l.dims[1] ?? 0
    }
    return { features: feats.data, featureDim, logits, numClasses }
  }

  release(): Promise<void> {
    return this.graph.release()
  }
}
