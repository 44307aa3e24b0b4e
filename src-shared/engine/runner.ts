/**
 * What the generation loop needs from a loaded `var-onnx/1` model. The inference host implements it
 * on onnxruntime-node; the loop in this folder only sees typed arrays.
 * Shapes follow DESIGN section 3 (N = 2B rows with guidance: [0,B) conditional, [B,2B) null class).
 */
export interface VarStepFeeds {
  condLabel: BigInt64Array // [N]
  xCvae: Float32Array // [N, l, Cvae]
  pos: BigInt64Array // [l]
  attnBias: Float32Array // [l, T]
  pastK: Float32Array // [depth, N, H, P, hd]
  pastV: Float32Array // [depth, N, H, P, hd]
  N: number
  l: number
  P: number
}

export interface VarStepResult {
  logits: Float32Array // [N, l, V]
  presentK: Float32Array // [depth, N, H, P + l, hd]
  presentV: Float32Array
}

export interface VqStepFeeds {
  fHat: Float32Array // [B, Cvae, HW, HW]
  hTok: Float32Array // [B, l, Cvae]
  up: Float32Array // [HW, pn]
  phiSel: Float32Array // [K]
  down: Float32Array // [pn_next, HW]
  B: number
  pn: number
  pnNext: number
}

export interface VqStepResult {
  fHatOut: Float32Array // [B, Cvae, HW, HW]
  nextTok: Float32Array // [B, pn_next^2, Cvae]
}

export interface ClassifierResult {
  logits: Float32Array // [B, num_classes]
  features: Float32Array // [B, F]
  featureDim: number
}

/**
 * Feeds are only read during the call: the loop reuses its input buffers (and shares the constant
 * ones, pos and attn_bias, between requests), so a runner must neither keep, mutate nor transfer
 * them. Results may be fresh arrays; the loop keeps them without copying.
 */
export interface StepRunner {
  varStep(feeds: VarStepFeeds): Promise<VarStepResult>
  vqStep(feeds: VqStepFeeds): Promise<VqStepResult>
  /** f_hat [B, Cvae, HW, HW] -> image [B, C, H, W] in [0, 1] */
  decode(fHat: Float32Array, B: number): Promise<Float32Array>
  /** images [B, C, H, W] in [0, 1]; undefined when the model folder has no classifier */
  classify?(images: Float32Array, B: number): Promise<ClassifierResult>
}
