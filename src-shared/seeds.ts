/**
 * The seed policy a run gets when no seed is given, shared by the CLI (`generate` without --seed)
 * and the studio's Generate form: random seeds, drawn when the job is made and recorded in it (and
 * in every PNG), so pressing Generate twice makes new images and each one can be made again.
 */
import type { SeedPolicy } from './ipc'

export const DEFAULT_SEED_POLICY: SeedPolicy = 'random'

/** Random seeds lie in [0, 2^32 - 1]: short enough to read and type, and any of them reproduces. */
export const RANDOM_SEED_MAX = 2 ** 32 - 1

/** Web Crypto, which Node (19+) and every page have; typed here since src-shared has no DOM or Node types. */
interface WebCrypto {
  getRandomValues(array: Uint32Array): Uint32Array
}

/** One random seed in [0, RANDOM_SEED_MAX] from the platform's CSPRNG (Node and the page alike). */
export function randomSeed(): number {
  const { crypto } = globalThis as unknown as { crypto: WebCrypto }
  return crypto.getRandomValues(new Uint32Array(1))[0]
}
