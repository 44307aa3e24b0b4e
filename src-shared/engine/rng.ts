/**
 * Seeded PRNG for the engine: pure-rand's xoroshiro128+. Its integer arithmetic is exact in every
 * JS engine, so a seed gives the same draws on every OS; uniform doubles use 53 random bits.
 *
 * Order of draws. Every image (row b of a batch) owns one stream, made from its own seed, so an
 * image's draws never depend on which other images share its batch:
 *
 *   stream(b) = xoroshiro128+ from seedState(seed_b), jumped `generation` times (2^64 steps each);
 *               generation is 0, except for best-of-n whose j-th full generation uses j jumps
 *               (so its generation 0 is exactly the baseline image of that seed).
 *
 * For each scale si = 0 .. S-1, in order, the stream of row b is consumed as follows:
 *   - ordinary scale: one uniform double per token, tokens in raster order p = 0 .. l-1; with
 *     more_smooth, each token's double is followed by one more per id that survives its top-k /
 *     top-p filter, in ascending id order (its Gumbel noise, see `TokenSampler.sampleGuided`);
 *   - search scale (var-scaling and its ablations): first the N candidate maps, candidate-major:
 *     candidate c = 0 .. N-1, then token p = 0 .. l-1, one uniform double each (N·l doubles);
 *     then, only when the Random-k branch is taken and no permutation is given, the Fisher-Yates
 *     permutation: for i = N-1 down to 1, j = nextInt(0, i) (pure-rand's unbiased uniformInt,
 *     which may consume more than one 32-bit output), swap(perm[i], perm[j]), starting from the
 *     identity; then the final pick: one uniform double, drawn for every pick rule (`argmax`
 *     included, so the stream position after a search scale does not depend on the rule);
 *   - teacher-forced scales (`forcedIds`) draw nothing.
 * The KDE draws nothing. A token is drawn by inverse CDF: with u the uniform double and W the kept
 * mass (weights exp(z - max) summed in id order), the token is the first id, in ascending id order,
 * whose cumulative weight exceeds u·W. The final pick does the same over the kept candidates in
 * kept order, with weights D (or the rank weights).
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus'
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator'

export interface Rng {
  /** Uniform double in [0, 1), a multiple of 2^-53; consumes two 32-bit outputs. */
  nextDouble(): number
  /** Uniform integer in [from, to], both included; unbiased (rejection sampling). */
  nextInt(from: number, to: number): number
  /** Advances 2^64 steps: independent sub-streams of one seed. */
  jump(): void
  clone(): Rng
  /** The generator state, enough to resume the stream with `rngFromState`. */
  state(): readonly number[]
}

class XoroshiroRng implements Rng {
  constructor(private readonly gen: JumpableRandomGenerator) {}

  nextDouble(): number {
    return uniformFloat64(this.gen)
  }

  nextInt(from: number, to: number): number {
    return uniformInt(this.gen, from, to)
  }

  jump(): void {
    this.gen.jump()
  }

  clone(): Rng {
    return new XoroshiroRng(this.gen.clone())
  }

  state(): readonly number[] {
    return this.gen.getState()
  }
}

/** Largest seed accepted: any non-negative safe integer. */
export const SEED_MAX = Number.MAX_SAFE_INTEGER

const GOLDEN = 0x9e3779b9

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function mix32(x: number): number {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x | 0
}

/**
 * The xoroshiro128+ state of a seed: base = lo ^ mix32(hi + 0x632be5ab) with lo, hi the low 32 and
 * high 21 bits of the seed, then word i = mix32(base + (i+1)·0x9e3779b9) for i = 0..3. Seeding
 * through a mixer matters: pure-rand's plain `xoroshiro128plus(seed)` puts the seed into the state
 * almost verbatim, so the first outputs of seeds 0, 1, 2, ... are nearly equal (the first double of
 * seed 0 is 0.99999999999), which would bias the first token of every image.
 */
export function seedState(seed: number): number[] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be an integer in [0, ${SEED_MAX}], got ${seed}`)
  }
  const lo = seed % 0x100000000
  const hi = Math.floor(seed / 0x100000000)
  const base = (lo ^ mix32(hi + 0x632be5ab)) | 0
  return [0, 1, 2, 3].map((i) => mix32((base + (i + 1) * GOLDEN) | 0))
}

/** A stream for `seed` (an integer in [0, 2^53 - 1]), jumped `jumps` times. */
export function createRng(seed: number, jumps = 0): Rng {
  const rng = new XoroshiroRng(xoroshiro128plusFromState(seedState(seed)))
  for (let i = 0; i < jumps; i++) rng.jump()
  return rng
}

/** Resumes a stream saved with `Rng.state()`. */
export function rngFromState(state: readonly number[]): Rng {
  return new XoroshiroRng(xoroshiro128plusFromState(state))
}

/** Fisher-Yates permutation of 0 .. n-1 in the draw order documented above. */
export function randomPermutation(rng: Rng, n: number): Int32Array {
  const perm = new Int32Array(n)
  for (let i = 0; i < n; i++) perm[i] = i
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.nextInt(0, i)
    const t = perm[i]
    perm[i] = perm[j]
    perm[j] = t
  }
  return perm
}
