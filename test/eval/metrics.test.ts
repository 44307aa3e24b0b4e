import { describe, expect, it } from 'vitest'
import { IdxFormatError, parseIdxImages, toUnitFloats } from '../../src-shared/metrics/idx'
import {
  argmaxRows,
  classAccuracy,
  frechetDistance,
  type GaussianStats,
  gaussianStats,
  inceptionScore,
  softmaxRows,
} from '../../src-shared/metrics/metrics'

const gauss = (mean: number[], cov: number[][]): GaussianStats => ({
  dim: mean.length,
  count: 100,
  mean,
  cov,
})
const identity = (d: number, s = 1): number[][] =>
  Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? s : 0)))

describe('class accuracy and softmax', () => {
  it('softmax rows sum to one and keep the order', () => {
    const p = softmaxRows([0, Math.log(3), 1000, 1000], 2, 2)
    expect(p[0]).toBeCloseTo(0.25, 12)
    expect(p[1]).toBeCloseTo(0.75, 12)
    expect(p[2]).toBeCloseTo(0.5, 12)
    expect(argmaxRows([0.1, 0.9, 0.7, 0.3], 2, 2)).toEqual([1, 0])
  })

  it('counts the rows whose argmax is the requested class', () => {
    const logits = [5, 0, 0, 0, 5, 0, 0, 0, 5, 5, 0, 0]
    expect(classAccuracy(logits, [0, 1, 2, 2], 3)).toBe(0.75)
  })
})

describe('Inception Score', () => {
  it('is 1 for uniform predictions', () => {
    const n = 7
    const k = 10
    expect(inceptionScore(new Array<number>(n * k).fill(1 / k), n, k)).toBeCloseTo(1, 12)
  })

  it('is the number of classes for confident, balanced predictions', () => {
    const k = 10
    const probs = new Float64Array(3 * k * k)
    for (let i = 0; i < 3 * k; i++) probs[i * k + (i % k)] = 1
    expect(inceptionScore(probs, 3 * k, k)).toBeCloseTo(k, 10)
  })

  it('matches a hand-computed two-class case', () => {
    // p1 = (1, 0), p2 = (1/2, 1/2); marginal (3/4, 1/4)
    // KL1 = ln(4/3); KL2 = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3); IS = exp(3/4 ln(4/3))
    expect(inceptionScore([1, 0, 0.5, 0.5], 2, 2)).toBeCloseTo((4 / 3) ** 0.75, 12)
  })
})

describe('Gaussian statistics and FID', () => {
  it('computes mean and unbiased covariance', () => {
    const s = gaussianStats([1, 2, 3, 6, 5, 4], 3, 2)
    expect(s.mean).toEqual([3, 4])
    // deviations (-2,-2), (0,2), (2,0): cov = [[8, 4], [4, 8]] / 2
    expect(s.cov).toEqual([
      [4, 2],
      [2, 4],
    ])
  })

  it('is about 0 for identical Gaussians', () => {
    const s = gaussianStats(
      Array.from({ length: 40 * 5 }, (_, i) => Math.sin(i * 1.7) + (i % 5)),
      40,
      5,
    )
    expect(frechetDistance(s, s)).toBeLessThan(1e-9)
  })

  it('is the squared shift for shifted means with equal covariances', () => {
    const a = gauss([0, 0, 0], identity(3, 2))
    const b = gauss([1, 2, -2], identity(3, 2))
    expect(frechetDistance(a, b)).toBeCloseTo(9, 10)
  })

  it('matches a 2x2 covariance case computed by hand', () => {
    // C1 = diag(1, 4), C2 = diag(4, 1): sqrt(C1) C2 sqrt(C1) = diag(4, 4), trace of its root = 4.
    // FID = |mu|^2 + 5 + 5 - 2 * 4 = 1 + 2 = 3 with mu shift (1, 0).
    const a = gauss(
      [0, 0],
      [
        [1, 0],
        [0, 4],
      ],
    )
    const b = gauss(
      [1, 0],
      [
        [4, 0],
        [0, 1],
      ],
    )
    expect(frechetDistance(a, b)).toBeCloseTo(3, 10)
    // Non-diagonal: C1 = I, C2 = [[2, 1], [1, 2]] (eigenvalues 3 and 1):
    // tr sqrt(C2) = sqrt(3) + 1, FID = 2 + 4 - 2 (sqrt(3) + 1) = 4 - 2 sqrt(3).
    const c = gauss([0, 0], identity(2))
    const d = gauss(
      [0, 0],
      [
        [2, 1],
        [1, 2],
      ],
    )
    expect(frechetDistance(c, d)).toBeCloseTo(4 - 2 * Math.sqrt(3), 10)
    expect(frechetDistance(d, c)).toBeCloseTo(4 - 2 * Math.sqrt(3), 10)
  })

  it('rejects mismatched dimensions', () => {
    expect(() => frechetDistance(gauss([0], identity(1)), gauss([0, 0], identity(2)))).toThrow(/differ/)
  })
})

function idx(count: number, rows: number, cols: number, magic = 0x803, extra = 0): Uint8Array {
  const bytes = new Uint8Array(16 + count * rows * cols + extra)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, magic)
  view.setUint32(4, count)
  view.setUint32(8, rows)
  view.setUint32(12, cols)
  for (let i = 16; i < bytes.length; i++) bytes[i] = i % 256
  return bytes
}

describe('IDX images', () => {
  it('parses the header and the pixels', () => {
    const parsed = parseIdxImages(idx(2, 3, 4))
    expect(parsed).toMatchObject({ count: 2, rows: 3, cols: 4 })
    expect(parsed.pixels.length).toBe(24)
    expect(parsed.pixels[0]).toBe(16)
    expect(toUnitFloats(new Uint8Array([0, 255, 51]))).toEqual(new Float32Array([0, 1, 0.2]))
  })

  it('names what is wrong with a bad file', () => {
    const bad = (bytes: Uint8Array): string => {
      try {
        parseIdxImages(bytes, 'x.idx')
      } catch (error) {
        expect(error).toBeInstanceOf(IdxFormatError)
        return (error as Error).message
      }
      throw new Error('accepted')
    }
    expect(bad(new Uint8Array(10))).toMatch(/^x\.idx: 10 bytes is too short/)
    expect(bad(idx(1, 2, 2, 0x801))).toMatch(/magic number 0x00000801 is not 0x00000803/)
    expect(bad(idx(3, 2, 2).subarray(0, 20))).toMatch(
      /truncated: header promises 3 images of 2x2 \(28 bytes\)/,
    )
    expect(bad(idx(0, 28, 28))).toMatch(/empty image set/)
  })
})
