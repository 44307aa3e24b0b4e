/**
 * The residual quantizer's side of a scale: a token map's codebook vectors go through vq_step, which
 * adds them into f_hat and makes the next scale's input. The loop calls it after drawing each scale;
 * `decodeScales` replays it from saved token maps to decode an image's partial images afterwards,
 * without any transformer step.
 */
import { CancelledError, ModelLoadError } from '../errors'
import type { VarManifest } from '../manifest'
import { type CancelSignal, type Constants, constants, refuse, tokenMapIssues } from './request'
import type { StepRunner, VqStepResult } from './runner'

/**
 * vq_step for scale si of B images: fills `hTok` [B, l, Cvae] with the codebook rows of `tokenMap`
 * [B, l] (or, with `tokenMap` null, takes `hTok` as already filled: more_smooth's embeddings) and
 * adds them into `fHat`. Checks the returned f_hat's size.
 */
export async function residualStep(
  runner: StepRunner,
  m: VarManifest,
  k: Constants,
  codebook: Float32Array,
  si: number,
  B: number,
  fHat: Float32Array,
  tokenMap: ArrayLike<number> | null,
  hTok: Float32Array,
): Promise<VqStepResult> {
  const C = k.C
  const pn = m.patch_nums[si]
  for (let i = 0; tokenMap && i < B * pn * pn; i++) {
    const row = tokenMap[i] * C
    for (let j = 0; j < C; j++) hTok[i * C + j] = codebook[row + j]
  }
  const vq = await runner.vqStep({
    fHat,
    hTok,
    up: k.ups[si],
    phiSel: k.phiSel[si],
    down: k.downs[si],
    B,
    pn,
    pnNext: m.patch_nums[si + 1] ?? k.hw,
  })
  if (vq.fHatOut.length !== fHat.length) {
    throw new ModelLoadError(`vq_step returned ${vq.fHatOut.length} values of f_hat, ${fHat.length} expected`)
  }
  return vq
}

export interface DecodeScalesHooks {
  signal?: CancelSignal
  /** after each scale's decode, [C, H, W] in [0, 1] */
  onScale?: (si: number, image: Float32Array) => void | Promise<void>
}

/**
 * The partial decode after every scale of one image, from its token maps (one [pn²] map per scale):
 * f_hat rebuilt scale by scale and decoded. The loop's previews run the same graphs on the same
 * inputs, so these are the images it would have shown. Returns one [C, H, W] image per scale.
 * (An image made with more_smooth mixed codebook rows at its ordinary scales: its token maps hold
 * the drawn ids, so their replay is the unsmoothed counterpart, not the image itself.)
 */
export async function decodeScales(
  runner: StepRunner,
  m: VarManifest,
  codebook: Float32Array,
  tokenMaps: readonly ArrayLike<number>[],
  hooks: DecodeScalesHooks = {},
): Promise<Float32Array[]> {
  const k = constants(m)
  const issues = tokenMapIssues(m, k, codebook, tokenMaps, 1, 'tokenMaps', 'pn²')
  if (issues.length > 0) refuse(issues, 'invalid token maps')
  let fHat: Float32Array = new Float32Array(k.C * k.hw * k.hw)
  const images: Float32Array[] = []
  for (let si = 0; si < k.S; si++) {
    if (hooks.signal?.aborted) throw new CancelledError('Decoding cancelled')
    const l = m.patch_nums[si] ** 2
    const vq = await residualStep(
      runner,
      m,
      k,
      codebook,
      si,
      1,
      fHat,
      tokenMaps[si],
      new Float32Array(l * k.C),
    )
    fHat = vq.fHatOut
    const image = await runner.decode(fHat, 1)
    images.push(image)
    await hooks.onScale?.(si, image)
  }
  return images
}
