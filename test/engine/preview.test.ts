/**
 * Cheap previews on the shipped model: its preview.json read and checked (src-main/storage/preview-file.ts),
 * `previews: 'projection'` giving every image a preview at every scale close to the full decode of the
 * same f_hat, and the fallback to full partial decodes where the map is missing or does not apply.
 */
import { createHash } from 'node:crypto'
import { cp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdtemp } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate, type GenerateRequest, type PreviewKind } from '../../src-shared/engine/loop'
import { previewDigestText } from '../../src-shared/engine/preview'
import type { StepRunner } from '../../src-shared/engine/runner'
import { loadPreview } from '../../src-main/storage/preview-file'
import { openShipped, type ShippedModel } from './fixtures'

let model: ShippedModel
const timeout = 180_000

beforeAll(async () => {
  model = await openShipped()
}, timeout)
afterAll(async () => {
  await model.release()
})

function request(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    classes: [0, 3, 7, 9],
    seeds: [11, 12, 13, 14],
    sampling: { ...model.manifest.sampling_defaults },
    strategy: { kind: 'baseline' },
    ...over,
  }
}

function countingDecodes(inner: StepRunner): { runner: StepRunner; decodes: number[] } {
  const decodes: number[] = []
  const runner: StepRunner = {
    varStep: (f) => inner.varStep(f),
    vqStep: (f) => inner.vqStep(f),
    decode: (fHat, B) => {
      decodes.push(B)
      return inner.decode(fHat, B)
    },
  }
  return { runner, decodes }
}

/** [n, C, H, W] -> [n, C, hw, hw] block means */
function areaDown(img: Float32Array, n: number, C: number, H: number, hw: number): Float64Array {
  const f = H / hw
  const out = new Float64Array(n * C * hw * hw)
  for (let p = 0; p < n * C; p++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < H; x++) {
        out[p * hw * hw + Math.floor(y / f) * hw + Math.floor(x / f)] += img[p * H * H + y * H + x] / (f * f)
      }
    }
  }
  return out
}

function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let se = 0
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2
  return 10 * Math.log10(1 / Math.max(se / a.length, 1e-10))
}

describe('projection previews', { timeout }, () => {
  it('every image at every scale, close to the full decode of the same f_hat; one decode at the end', async () => {
    const m = model.manifest
    const { projection, warning } = await loadPreview(model.dir, m)
    expect(warning).toBeUndefined()
    expect(projection).toBeDefined()
    const req = request({ previews: 'projection' })
    const B = req.classes.length
    const S = m.patch_nums.length
    const fHats: Float32Array[] = []
    const previews: { image: Float32Array; kind: PreviewKind | undefined }[] = []
    const { runner, decodes } = countingDecodes(model.runner)
    const result = await generate(runner, m, model.codebook, req, {
      ...(projection ? { projection } : {}),
      onStep: (s) => fHats.push(s.fHat.slice()),
      onScale: (e) => {
        previews.push({ image: e.previewImage!, kind: e.previewKind })
      },
    })
    expect(decodes).toEqual([B])
    expect(previews.map((p) => p.kind)).toEqual([...new Array<string>(S - 1).fill('projection'), 'decode'])
    expect(previews.every((p) => p.image.length === result.images.length)).toBe(true)
    expect(previews[S - 1].image).toEqual(result.images)
    // the same images and maps as without previews
    const plain = await generate(model.runner, m, model.codebook, request())
    expect(plain.images).toEqual(result.images)
    // quality at the latent size against the decoder on the same f_hat
    const { image_channels: C, image_size: H, latent_hw: hw } = m
    const scores: number[] = []
    for (let si = 0; si < S - 1; si++) {
      const full = await model.runner.decode(fHats[si], B)
      scores.push(psnr(areaDown(previews[si].image, B, C, H, hw), areaDown(full, B, C, H, hw)))
    }
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length
    // the shipped map scores about 26 dB on held-out latents; a broken one (a linear map at the
    // conv's place, a transposed kernel, no bias) scores well under 20
    expect(mean, `PSNR per scale ${scores.map((s) => s.toFixed(1)).join(', ')}`).toBeGreaterThan(20)
  })

  it('without a map, `projection` acts as `first`: full decodes of the first image', async () => {
    const B = 4
    const S = model.manifest.patch_nums.length
    const { runner, decodes } = countingDecodes(model.runner)
    const kinds: (PreviewKind | undefined)[] = []
    await generate(runner, model.manifest, model.codebook, request({ previews: 'projection' }), {
      onScale: (e) => {
        kinds.push(e.previewKind)
      },
    })
    expect(decodes).toEqual([...new Array<number>(S - 1).fill(1), B])
    expect(kinds.every((k) => k === 'decode')).toBe(true)
  })
})

describe('preview.json checks', { timeout }, () => {
  let dir: string
  let original: Record<string, unknown>
  const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')
  const write = async (record: Record<string, unknown>, reseal = true): Promise<void> => {
    const { digest, ...body } = record
    const sealed = reseal ? { ...body, digest: sha(previewDigestText(body)) } : { ...body, digest }
    await writeFile(join(dir, 'preview.json'), JSON.stringify(sealed, null, 1))
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'var-preview-'))
    await cp(model.dir, dir, { recursive: true })
    original = JSON.parse(await readFile(join(dir, 'preview.json'), 'utf8')) as Record<string, unknown>
  })

  it('a folder without one has no map and no warning', async () => {
    const bare = await mkdtemp(join(tmpdir(), 'var-preview-bare-'))
    await cp(join(model.dir, 'manifest.json'), join(bare, 'manifest.json'))
    expect(await loadPreview(bare, model.manifest)).toEqual({})
  })

  it('an edited file (digest), a NaN, a shape that does not fit, another manifest: named, not used', async () => {
    const path = join(dir, 'preview.json')
    const expectIgnored = async (why: RegExp): Promise<void> => {
      const got = await loadPreview(dir, model.manifest)
      expect(got.projection).toBeUndefined()
      expect(got.warning).toContain(path)
      expect(got.warning).toMatch(why)
      expect(got.warning).toMatch(/full partial decodes apply/)
    }
    const bias = original.bias as number[]
    await write({ ...original, bias: [bias[0] + 0.01, ...bias.slice(1)] }, false)
    await expectIgnored(/was changed after it was written \(its digest does not match/)

    await writeFile(path, JSON.stringify(original).replace(/"bias":\[[^\]]*\]/, '"bias":[NaN]'))
    await expectIgnored(/is not valid JSON/)

    await write({ ...original, Cvae: 8 })
    await expectIgnored(/is for 8 latent channels, the model has Cvae = 16/)

    const conv = original.conv as Record<string, number[]>
    await write({ ...original, conv: { ...conv, w1: conv.w1.slice(1) } })
    await expectIgnored(/conv\.w1 has \d+ values, \d+ expected/)

    await write({ ...original, model: { ...(original.model as object), manifestSha256: sha('another') } })
    await expectIgnored(/was fitted on another version of this model/)

    await write(original, false)
    expect((await loadPreview(dir, model.manifest)).projection).toBeDefined()
  })
})
