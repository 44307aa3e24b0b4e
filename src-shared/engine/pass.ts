/**
 * One full generation of B images (DESIGN section 3): KV cache, guidance ramp, per-row draws, the
 * strategy's candidate search, the residual quantizer update and the decode.
 */
import { CancelledError, ModelLoadError, StudioError } from '../errors'
import type { VarManifest } from '../manifest'
import { featureView, localKde, type KdeInput } from './kde'
import {
  constants,
  type Constants,
  type GenerateHooks,
  type GenerateRequest,
  type PreviewKind,
  type ScaleEvent,
  type StepOutputs,
} from './request'
import { projectPreview } from './preview'
import { residualStep } from './residual'
import { createRng, type Rng } from './rng'
import type { StepRunner } from './runner'
import { guidanceScale, guideRow, smoothRatio, TokenSampler, type SamplingParams } from './sampling'
import type { SelectionRecord } from './selection'
import type { Strategy } from './strategies'

/** Everything one full generation of B images produces. */
export interface Pass {
  images: Float32Array
  tokenMaps: Int32Array[]
  selections: (SelectionRecord[] | undefined)[]
}

/** Time spent awaiting the model, the KDE and the hooks. */
export class Clock {
  modelMs = 0
  kdeMs = 0
  hookMs = 0
  previewMs = 0
  constructor(readonly now: () => number) {}

  async time<T>(slot: 'modelMs' | 'kdeMs' | 'hookMs' | 'previewMs', work: () => Promise<T> | T): Promise<T> {
    const t = this.now()
    try {
      return await work()
    } finally {
      this[slot] += this.now() - t
    }
  }
}

/** performance.now() where the runtime has it (Node, browsers, workers), else Date.now(). */
export function defaultClock(): () => number {
  const perf = (globalThis as { performance?: { now(): number } }).performance
  return perf ? () => perf.now() : () => Date.now()
}

/** var_step's `pos` and (all-zero, with a cache) `attn_bias` of every scale: constants of a model. */
interface ScaleInputs {
  pos: BigInt64Array[]
  attnBias: Float32Array[]
}

const scaleInputsCache = new WeakMap<VarManifest, ScaleInputs>()

function scaleInputs(m: VarManifest): ScaleInputs {
  let c = scaleInputsCache.get(m)
  if (!c) {
    c = { pos: [], attnBias: [] }
    for (let si = 0; si < m.patch_nums.length; si++) {
      const l = m.patch_nums[si] * m.patch_nums[si]
      const P = m.begin[si]
      const pos = new BigInt64Array(l)
      for (let i = 0; i < l; i++) pos[i] = BigInt(P + i)
      c.pos.push(pos)
      c.attnBias.push(new Float32Array(l * (P + l)))
    }
    scaleInputsCache.set(m, c)
  }
  return c
}

/**
 * State shared by the passes of one request: constants and scratch buffers. Model inputs that only
 * this loop fills (h_tok, x_cvae) are allocated once per request and scale, not per pass: the ORT
 * runner reads them during the run and keeps no reference, and every allocation of the loop adds to
 * the garbage the large var_step outputs already make (a collection that lands in the loop is time
 * the loop pays).
 */
export class Engine {
  private readonly k: Constants
  private readonly B: number
  private readonly sampler: TokenSampler
  /** guided logits of one row, sized for the largest scale (legacy candidate search only) */
  private guided: Float32Array | undefined
  private readonly labels: BigInt64Array
  private readonly inputs: ScaleInputs
  /** h_tok [B, l, Cvae] of each scale */
  private readonly hToks: Float32Array[]
  /** x_cvae [2B, l, Cvae] of each scale (zeros at scale 0) */
  private readonly xCvaes: Float32Array[]

  constructor(
    private readonly runner: StepRunner,
    private readonly m: VarManifest,
    private readonly codebook: Float32Array,
    private readonly req: GenerateRequest,
    private readonly sampling: SamplingParams,
    private readonly strategy: Strategy,
    private readonly hooks: GenerateHooks,
    private readonly clock: Clock,
  ) {
    this.k = constants(m)
    this.B = req.classes.length
    this.sampler = new TokenSampler(this.k.V)
    this.labels = new BigInt64Array(2 * this.B)
    this.inputs = scaleInputs(m)
    const C = this.k.C
    this.hToks = m.patch_nums.map((pn) => new Float32Array(this.B * pn * pn * C))
    this.xCvaes = m.patch_nums.map(
      (pn, si) => new Float32Array(2 * this.B * (si === 0 ? m.first_l : pn * pn) * C),
    )
    req.classes.forEach((c, b) => {
      this.labels[b] = BigInt(c)
      this.labels[this.B + b] = BigInt(m.null_class)
    })
  }

  private checkCancel(): void {
    if (this.hooks.signal?.aborted) throw new CancelledError('Generation cancelled')
  }

  private model<T>(work: () => Promise<T>): Promise<T> {
    return this.clock.time('modelMs', work)
  }

  /**
   * The preview after scale si (see PreviewMode): the last scale's decodes every image and is the
   * result itself; before it, `projection` maps every image's f_hat through the model's projection
   * (or, without one, acts as `first`), `first` decodes only the batch's first image.
   */
  private async partialDecode(
    si: number,
    fHat: Float32Array,
  ): Promise<{ image: Float32Array; kind: PreviewKind } | undefined> {
    const mode = this.req.previews ?? 'off'
    if (mode === 'off') return undefined
    const { B, runner } = this
    if (si === this.k.S - 1) return { image: await this.model(() => runner.decode(fHat, B)), kind: 'decode' }
    const projection = this.hooks.projection
    if (mode === 'projection' && projection) {
      const { hw } = this.k
      const size = this.m.image_size
      const image = await this.clock.time('previewMs', () => projectPreview(fHat, B, hw, size, projection))
      return { image, kind: 'projection' }
    }
    const rows = mode === 'all' ? B : 1
    const input = rows === B ? fHat : fHat.slice(0, fHat.length / B)
    const image = await this.clock.time('previewMs', () => this.model(() => runner.decode(input, rows)))
    return { image, kind: 'decode' }
  }

  async pass(generation: number, generations: number): Promise<Pass> {
    const { B, k, m, runner } = this
    const { S, C, hw } = k
    const rngs = this.req.seeds.map((seed) => createRng(seed, generation))
    const { inputs, hToks, xCvaes, codebook } = this
    let pastK: Float32Array = new Float32Array(0)
    let pastV: Float32Array = new Float32Array(0)
    let fHat: Float32Array = new Float32Array(B * C * hw * hw)
    let preview: { image: Float32Array; kind: PreviewKind } | undefined
    const tokenMaps: Int32Array[] = []
    const selections: (SelectionRecord[] | undefined)[] = []

    for (let si = 0; si < S; si++) {
      this.checkCancel()
      const pn = m.patch_nums[si]
      const l = pn * pn
      const P = m.begin[si]
      const step = await this.model(() =>
        runner.varStep({
          condLabel: this.labels,
          xCvae: xCvaes[si],
          pos: inputs.pos[si],
          attnBias: inputs.attnBias[si],
          pastK,
          pastV,
          N: 2 * B,
          l,
          P,
        }),
      )
      if (step.logits.length !== 2 * B * l * k.V) {
        throw new ModelLoadError(
          `var_step returned ${step.logits.length} logits at scale ${si}, [${2 * B}, ${l}, ${k.V}] expected`,
        )
      }
      pastK = step.presentK
      pastV = step.presentV

      const tokenMap = new Int32Array(B * l)
      let selection: SelectionRecord[] | undefined
      const forced = this.req.forcedIds?.[si]
      // more_smooth: the draws also fill h_tok with Gumbel-softmax embeddings (ordinary scales only;
      // forced maps and a search scale's chosen map enter as their codebook rows)
      const smoothed = !forced && this.sampling.more_smooth === true && !this.strategy.search(si)
      if (forced) {
        for (let i = 0; i < B * l; i++) tokenMap[i] = forced[i]
      } else {
        selection = await this.drawScale(si, l, step.logits, rngs, tokenMap, smoothed ? hToks[si] : undefined)
      }

      const vq = await this.model(() =>
        residualStep(runner, m, k, codebook, si, B, fHat, smoothed ? null : tokenMap, hToks[si]),
      )
      fHat = vq.fHatOut
      const pnNext = m.patch_nums[si + 1] ?? hw
      if (si + 1 < S) {
        const half = B * pnNext * pnNext * C
        if (vq.nextTok.length !== half) {
          throw new ModelLoadError(
            `vq_step returned ${vq.nextTok.length} values of next_tok, ${half} expected`,
          )
        }
        const xCvae = xCvaes[si + 1]
        xCvae.set(vq.nextTok, 0)
        xCvae.set(vq.nextTok, half)
      }
      const onStep = this.hooks.onStep
      if (onStep) {
        const outputs: StepOutputs = {
          si,
          generation,
          logits: step.logits,
          hTok: hToks[si],
          fHat,
          nextTok: vq.nextTok,
        }
        await this.clock.time('hookMs', () => {
          onStep(outputs)
        })
      }
      preview = await this.partialDecode(si, fHat)
      tokenMaps.push(tokenMap)
      selections.push(selection)
      const onScale = this.hooks.onScale
      if (onScale) {
        const event: ScaleEvent = {
          si,
          S,
          generation,
          generations,
          tokenMap,
          selection,
          ...(preview ? { previewImage: preview.image, previewKind: preview.kind } : {}),
        }
        await this.clock.time('hookMs', () => onScale(event))
      }
    }
    this.checkCancel()
    const images = preview?.image ?? (await this.model(() => runner.decode(fHat, B)))
    return { images, tokenMaps, selections }
  }

  /**
   * Guidance, then either one draw per token or the strategy's candidate search. The sampler reads
   * the guided logits straight from var_step's output (see `sampleGuided`); only the legacy nuclei,
   * which re-filter the filtered logits in place, need a guided copy of each row. With `smoothInto`
   * (more_smooth, ordinary scales) the draws also write each token's smoothed embedding there.
   */
  private async drawScale(
    si: number,
    l: number,
    logits: Float32Array,
    rngs: Rng[],
    tokenMap: Int32Array,
    smoothInto?: Float32Array,
  ): Promise<SelectionRecord[] | undefined> {
    const { B, k, sampler } = this
    const { V, C } = k
    const { top_k: topK, top_p: topP } = this.sampling
    const t = guidanceScale(this.sampling.cfg, si, k.S)
    const spec = this.strategy.search(si)
    if (!spec) {
      const ratio = smoothRatio(si, k.S)
      for (let b = 0; b < B; b++) {
        const smooth = smoothInto && { ratio, codebook: this.codebook, C, out: smoothInto, outOff: b * l * C }
        sampler.sampleGuided(logits, B, l, t, b, topK, topP, rngs[b], tokenMap, b * l, smooth)
      }
      return undefined
    }
    const N = spec.N
    const candidates = new Int32Array(B * N * l)
    for (let b = 0; b < B; b++) {
      if (spec.legacyProgressiveNucleus) {
        const guided = (this.guided ??= new Float32Array(k.hw * k.hw * V))
        guideRow(logits, B, l, V, t, b, guided)
        sampler.sampleCandidates(guided, 0, l, N, topK, topP, true, rngs[b], candidates, b * N * l)
      } else {
        sampler.sampleGuidedCandidates(logits, B, l, t, b, N, topK, topP, rngs[b], candidates, b * N * l)
      }
      const between = this.hooks.betweenDraws
      if (between) {
        await between()
        this.checkCancel()
      }
    }
    const input: KdeInput = {
      B,
      N,
      P: l,
      d: k.C,
      ids: candidates.slice(),
      codebook: this.codebook,
      kernel: spec.kernel,
      poolBandwidthOverBatch: spec.poolBandwidthOverBatch,
    }
    const kde = this.hooks.kde ?? localKde
    const { densities, bandwidths } = await this.clock.time('kdeMs', () => kde(input))
    if (densities.length !== B * N || bandwidths.length !== B * l) {
      throw new StudioError(
        `the KDE returned ${densities.length} densities and ${bandwidths.length} bandwidths, ` +
          `[B, N] = ${B * N} and [B, l] = ${B * l} expected`,
      )
    }
    const view = featureView({ ...input, ids: candidates })
    const records: SelectionRecord[] = []
    for (let b = 0; b < B; b++) {
      const record = this.strategy.select(
        {
          densities: densities.subarray(b * N, (b + 1) * N),
          bandwidths: bandwidths.subarray(b * l, (b + 1) * l),
          features: view,
          row: b,
        },
        rngs[b],
      )
      record.candidates = candidates.slice(b * N * l, (b + 1) * N * l)
      tokenMap.set(candidates.subarray((b * N + record.chosen) * l, (b * N + record.chosen + 1) * l), b * l)
      records.push(record)
    }
    return records
  }
}
