/**
 * StepRunner on onnxruntime-node: typed arrays in, typed arrays out, tensor names and dims from the
 * `var-onnx/1` contract (DESIGN section 3). Zero-length past tensors at scale 0 are fine.
 */
import { InferenceError } from '../../../src-shared/errors'
import type {
  ClassifierResult,
  StepRunner,
  VarStepFeeds,
  VarStepResult,
  VqStepFeeds,
  VqStepResult,
} from '../../../src-shared/engine/runner'
import type { VarManifest } from '../../../src-shared/manifest'
import { floatOutput, type Graph, tensor } from './session'

export interface ModelGraphs {
  readonly var_step: Graph
  readonly vq_step: Graph
  readonly vae_decode: Graph
  readonly classifier?: Graph
}

export class OrtStepRunner implements StepRunner {
  readonly classify?: (images: Float32Array, B: number) => Promise<ClassifierResult>

  constructor(
    private readonly m: VarManifest,
    private readonly graphs: ModelGraphs,
  ) {
    const classifier = graphs.classifier
    if (classifier) this.classify = (images, B) => this.runClassifier(classifier, images, B)
  }

  async varStep(f: VarStepFeeds): Promise<VarStepResult> {
    const { depth, num_heads: H, head_dim: hd, Cvae, vocab_size: V } = this.m
    const { N, l, P } = f
    const T = P + l
    const g = 'var_step'
    const out = await this.graphs.var_step.run({
      cond_label: tensor(g, 'cond_label', f.condLabel, [N]),
      x_cvae: tensor(g, 'x_cvae', f.xCvae, [N, l, Cvae]),
      pos: tensor(g, 'pos', f.pos, [l]),
      attn_bias: tensor(g, 'attn_bias', f.attnBias, [l, T]),
      past_k: tensor(g, 'past_k', f.pastK, [depth, N, H, P, hd]),
      past_v: tensor(g, 'past_v', f.pastV, [depth, N, H, P, hd]),
    })
    const kv = depth * N * H * T * hd
    return {
      logits: floatOutput(out, g, 'logits', N * l * V),
      presentK: floatOutput(out, g, 'present_k', kv),
      presentV: floatOutput(out, g, 'present_v', kv),
    }
  }

  async vqStep(f: VqStepFeeds): Promise<VqStepResult> {
    const { Cvae, latent_hw: hw, phi_count: K } = this.m
    const { B, pn, pnNext } = f
    const g = 'vq_step'
    const out = await this.graphs.vq_step.run({
      f_hat: tensor(g, 'f_hat', f.fHat, [B, Cvae, hw, hw]),
      h_tok: tensor(g, 'h_tok', f.hTok, [B, pn * pn, Cvae]),
      up: tensor(g, 'up', f.up, [hw, pn]),
      phi_sel: tensor(g, 'phi_sel', f.phiSel, [K]),
      down: tensor(g, 'down', f.down, [pnNext, hw]),
    })
    return {
      fHatOut: floatOutput(out, g, 'f_hat_out', B * Cvae * hw * hw),
      nextTok: floatOutput(out, g, 'next_tok', B * pnNext * pnNext * Cvae),
    }
  }

  async decode(fHat: Float32Array, B: number): Promise<Float32Array> {
    const { Cvae, latent_hw: hw, image_channels: C, image_size: S } = this.m
    const out = await this.graphs.vae_decode.run({
      f_hat: tensor('vae_decode', 'f_hat', fHat, [B, Cvae, hw, hw]),
    })
    return floatOutput(out, 'vae_decode', 'image', B * C * S * S)
  }

  private async runClassifier(graph: Graph, images: Float32Array, B: number): Promise<ClassifierResult> {
    const { image_channels: C, image_size: S, num_classes } = this.m
    const input = graph.inputs[0]?.name ?? 'image'
    const out = await graph.run({ [input]: tensor('classifier', input, images, [B, C, S, S]) })
    const logits = floatOutput(out, 'classifier', 'logits', B * num_classes)
    const feats = out.features
    if (!feats) return { logits, features: new Float32Array(0), featureDim: 0 }
    const featureDim = B > 0 ? feats.data.length / B : 0
    if (!Number.isInteger(featureDim)) {
      throw new InferenceError(`classifier output features has ${feats.data.length} values for ${B} images`)
    }
    return { logits, features: floatOutput(out, 'classifier', 'features', B * featureDim), featureDim }
  }
}
