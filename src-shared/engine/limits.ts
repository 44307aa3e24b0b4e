/**
 * Upper bounds on the size knobs of a generate request (images, images per model pass, candidates,
 * kept candidates, best-of-n generations, guidance), and the memory arithmetic they come from. Every
 * layer checks a request with the one schema of request.ts, which uses these constants, so the
 * renderer's form, Electron main, the inference host, the CLI and the engine refuse the same values
 * with the same words.
 *
 * The arithmetic is done for the largest supported model, VAR-d30 (`LARGEST_MODEL`), in float32 and
 * int32 as the engine holds them, with classifier-free guidance (2 rows per image):
 *
 * - batchSize (images per model pass): the KV cache of the last scale, past (P = L - l_last) and
 *   present (T = L) alive together, k and v, both guidance rows: 2·2·depth·heads·head_dim·(P+T)·4
 *   bytes = 1.017 GB per image at d30, plus its logits [2, l, V] and f_hat: 1.026 GB. Within
 *   `BATCH_BUDGET_BYTES` (16 GiB) that is 16 images at d30; the request schema's refinement computes
 *   the same bound for the model at hand (57 at d16, the wire cap `MAX_BATCH_SIZE` = 256 for small
 *   models such as the embedded one).
 * - N (candidates per search scale): a row's candidate set is N·l token ids held three times (the
 *   draws, the KDE's copy, the record), and the Density view's PCA reads their features, N·l·Cvae
 *   float64 values, twice (features and centred copy). At d30's largest scale (l = 256, Cvae = 32)
 *   that is 134 kB per candidate; `CANDIDATE_BUDGET_BYTES` (1 GiB per row) allows 8004, so
 *   `MAX_CANDIDATES` = 4096 (the Infinity variant of the paper uses 3000).
 * - k (candidates kept): at most N, so `MAX_KEPT` = `MAX_CANDIDATES`; its own cost is k indices and
 *   probabilities per row.
 * - best-of-n N (full generations per image): every generation's images and token maps stay alive
 *   until the classifier has scored them all, (C·H·W + L)·4 = 789 kB per image at d30, times the
 *   d30 batch bound of 16: `GENERATION_BUDGET_BYTES` (1 GiB) allows 85, so `MAX_GENERATIONS` = 64.
 * - count (images per request: a queued job, one host call, one CLI run): the host returns every
 *   image with its pixels and token maps, 789 kB at d30; `RESULT_BUDGET_BYTES` (8 GiB) allows 10885,
 *   so `MAX_ITEMS` = 10000.
 * - candidate ids kept per request: every image keeps its candidate maps (N·l ids per search scale)
 *   for its timeline, as int32 in the host's result and again as numbers in the selection views and
 *   the timeline files: images · Σ N·l at most `MAX_CANDIDATE_IDS` = 2^26 (256 MiB as int32), e.g.
 *   64 images at d30's last scale with N = 4096, or every one of 10000 images with the defaults.
 *
 * `src-main` adds a check against the host's actual free memory before a job starts; these bounds are
 * what no request may exceed whatever the machine.
 */

/** What the bounds need of a model (a `VarManifest` has all of it). */
export interface ModelShape {
  readonly depth: number
  readonly num_heads: number
  readonly head_dim: number
  readonly vocab_size: number
  readonly Cvae: number
  readonly patch_nums: readonly number[]
  readonly latent_hw: number
  readonly image_size: number
  readonly image_channels: number
}

/** VAR-d30, the largest official checkpoint (`var_d30.pth` with `vae_ch160v4096z32.pth`). */
export const LARGEST_MODEL: ModelShape = {
  depth: 30,
  num_heads: 30,
  head_dim: 64,
  vocab_size: 4096,
  Cvae: 32,
  patch_nums: [1, 2, 3, 4, 5, 6, 8, 10, 13, 16],
  latent_hw: 16,
  image_size: 256,
  image_channels: 3,
}

const GiB = 1024 ** 3
const F32 = 4
const I32 = 4
const F64 = 8

export const BATCH_BUDGET_BYTES = 16 * GiB
export const CANDIDATE_BUDGET_BYTES = 1 * GiB
export const GENERATION_BUDGET_BYTES = 1 * GiB
export const RESULT_BUDGET_BYTES = 8 * GiB

/** Images per request (job, host call, CLI run). */
export const MAX_ITEMS = 10_000
/** Images per model pass on any model (the wire cap); `batchLimit` is the model's own. */
export const MAX_BATCH_SIZE = 256
/** Candidates per search scale (N of the search strategies). */
export const MAX_CANDIDATES = 4096
/** Candidates kept after the dedup scan (k <= N). */
export const MAX_KEPT = MAX_CANDIDATES
/** Full generations per image (N of best-of-n). */
export const MAX_GENERATIONS = 64
/** Candidate token ids kept for the timelines of one request: images · Σ over search scales N·l. */
export const MAX_CANDIDATE_IDS = 2 ** 26
/** Guidance strength (cfg): far past any useful value, it only turns the ramp into noise. */
export const MAX_CFG = 100

const tokens = (m: ModelShape): number => m.patch_nums.reduce((s, pn) => s + pn * pn, 0)
const lastScale = (m: ModelShape): number => (m.patch_nums.at(-1) ?? 1) ** 2

/** KV cache, logits and f_hat of one image in a model pass at the last scale, in bytes. */
export function batchBytesPerImage(m: ModelShape): number {
  const L = tokens(m)
  const l = lastScale(m)
  const kv = 2 * 2 * m.depth * m.num_heads * m.head_dim * (L - l + L) * F32
  const logits = 2 * l * m.vocab_size * F32
  const fHat = m.Cvae * m.latent_hw * m.latent_hw * F32
  return kv + logits + fHat
}

/** One candidate's ids (three copies) and PCA features (two) at a scale of `l` tokens, in bytes. */
export function candidateBytesAt(m: Pick<ModelShape, 'Cvae'>, l: number): number {
  return l * (3 * I32 + 2 * F64 * m.Cvae)
}

/** One candidate's bytes at the model's largest scale. */
export function candidateBytes(m: ModelShape): number {
  return candidateBytesAt(m, lastScale(m))
}

/** One image's pixels and token maps in a result, in bytes. */
export function imageResultBytes(m: ModelShape): number {
  return (m.image_channels * m.image_size * m.image_size + tokens(m)) * F32
}

/** The most images per model pass `BATCH_BUDGET_BYTES` allows for a model, at most `MAX_BATCH_SIZE`. */
export function batchLimit(m: ModelShape): number {
  return Math.max(1, Math.min(MAX_BATCH_SIZE, Math.floor(BATCH_BUDGET_BYTES / batchBytesPerImage(m))))
}

/** The bounds as the budgets allow them at the largest model, before rounding down to the constants. */
export function derivedBounds(m: ModelShape = LARGEST_MODEL): {
  batchSize: number
  candidates: number
  generations: number
  items: number
} {
  const batchSize = batchLimit(m)
  return {
    batchSize,
    candidates: Math.floor(CANDIDATE_BUDGET_BYTES / candidateBytes(m)),
    generations: Math.floor(GENERATION_BUDGET_BYTES / (batchSize * imageResultBytes(m))),
    items: Math.floor(RESULT_BUDGET_BYTES / imageResultBytes(m)),
  }
}
