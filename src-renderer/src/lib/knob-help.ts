/**
 * What every knob does, where it is set: one line shown under it, and a longer note shown on hover
 * or keyboard focus (KnobHelp.vue). Worded for people who have not read the paper.
 */
export interface KnobHelpText {
  readonly line: string
  readonly note: string
}

export const KNOB_HELP = {
  count: {
    line: 'Images made for each chosen class.',
    note: 'Every class gets the same seeds, so images of different classes line up by seed.',
  },
  seed: {
    line: 'The first image’s seed; the policy gives the others theirs.',
    note: 'The same seed, model and settings make the same image. The dice draws a new one; “Reuse last” brings back the first seed of the last job. Typing a seed while the policy is random switches it to seed + i, as --seed does in the CLI.',
  },
  seedPolicy: {
    line: 'How each image gets its seed.',
    note: 'Random (the default, as the CLI’s generate without --seed): a new seed for every image, drawn when the job is queued and recorded in the job and every PNG, so any image can be made again. Increment: seed, seed + 1, … Fixed: the same seed for every image.',
  },
  strategy: {
    line: 'How each image is sampled: once, or with a candidate search.',
    note: 'Baseline samples every scale once. Top-k only and Random-k only search at the chosen scales and keep the densest or a random spread of candidates (the paper’s ablations). VAR-Scaling chooses between them per image by its mode test (α). Best of N makes N whole images and keeps the one the classifier likes best.',
  },
  searchScales: {
    line: 'Scales where candidates are drawn and one is chosen.',
    note: 'At each listed scale (index 0 is the 1×1 map) N candidate token maps are drawn and compared by a kernel density estimate (KDE), and one is chosen; every other scale is sampled once. Early scales decide the layout, later ones add detail and cost more per candidate.',
  },
  N: {
    line: 'Candidate token maps drawn at each search scale.',
    note: 'More candidates give the search more to choose from. Time and memory grow with N: the KDE compares every pair of candidates.',
  },
  k: {
    line: 'Candidates kept for the final pick (at most N).',
    note: 'Candidates are scanned (densest first for Top-k, in random order for Random-k); one closer than dedup to a kept candidate is skipped; the first k kept go to the final pick.',
  },
  alpha: {
    line: 'Mode test: max density ÷ mean density above α takes Top-k, else Random-k.',
    note: 'VAR-Scaling’s switch. When one candidate’s density stands far above the mean (a clear mode) it keeps the densest ones; otherwise a random spread, which keeps variety. The paper’s 2.3 is for VAR-d30 on ImageNet; Models › Calibrate measures values for this model.',
  },
  dedup: {
    line: 'Candidates closer than this (L2 over their embeddings) count as one.',
    note: 'While kept candidates are gathered, one within this distance of a kept one is skipped as a near-duplicate. 0 keeps duplicates; a value above every distance between candidates keeps only one, and the search does nothing (Density says so).',
  },
  finalPick: {
    line: 'How one of the kept candidates becomes the pick.',
    note: '∝ density: drawn with probability proportional to its density (the paper’s). By rank: drawn with weights k, k−1, …, 1 by scan position. Highest density: always the densest kept one, no draw.',
  },
  kernel: {
    line: 'How the KDE compares candidates.',
    note: 'Gaussian (the paper’s): a Gaussian kernel on the candidates’ codebook embeddings, with a bandwidth per position by Silverman’s rule. Exact match: two tokens either match or not; faster and cruder.',
  },
  poolBandwidthOverBatch: {
    line: 'One KDE bandwidth per position for the whole batch (as the authors’ code).',
    note: 'The authors’ code averages each position’s bandwidth over every image in the batch, so an image’s densities depend on the other images beside it. Off (the default): each image uses its own, and results do not depend on the batch size.',
  },
  legacyProgressiveNucleus: {
    line: 'Filter each candidate’s logits again after the last one (as the authors’ loop).',
    note: 'The authors’ loop writes top-k/top-p filtering back into the logits, so each further candidate is filtered again and comes from an ever narrower nucleus. Off (the default): every candidate is drawn from the same filtered distribution.',
  },
  bestOfN: {
    line: 'Whole images made per image; the best score is kept.',
    note: 'Score: the probability the model folder’s classifier gives the requested class (softmax). Needs a model with a classifier, and costs N full generations per image.',
  },
  cfg: {
    line: 'Classifier-free guidance: how strongly the class steers sampling.',
    note: 'The guidance weight ramps linearly over the scales, from 0 at the first to cfg at the last, as the official sampler. 0 turns guidance off; higher values follow the class more closely and vary less.',
  },
  top_k: {
    line: 'Sample only among the k most likely tokens; 0 turns it off.',
    note: 'Applied to each position’s guided logits before drawing. Must not exceed the vocabulary size.',
  },
  top_p: {
    line: 'Sample only from the smallest set of tokens holding this probability; 0 or 1 turn it off.',
    note: 'Nucleus sampling, applied after top-k. Lower values make images more typical and less varied.',
  },
  more_smooth: {
    line: 'Gumbel-softmax token embeddings (the official demo’s smoothing).',
    note: 'The official sampler’s more_smooth: each token enters the image as a Gumbel-softmax mixture of codebook vectors instead of the drawn token’s vector. Smoother, better-looking images; off for FID.',
  },
  samplingPresets: {
    line: 'The official release’s sampling settings, one click away.',
    note: 'FID: the settings of the official README’s FID numbers. Demo: the official notebook’s settings (stronger guidance, more_smooth). A preset that does not fit this model’s vocabulary is greyed out.',
  },
  searchPresets: {
    line: 'α and dedup from the paper or from this model.',
    note: 'The paper’s constants are for VAR-d30 on ImageNet and may keep one candidate or never switch branch on another model. A model’s calibrated values (Models › Calibrate) are measured on its own candidates.',
  },
} as const satisfies Record<string, KnobHelpText>

export type KnobName = keyof typeof KNOB_HELP

/** The Diagnostics timings, named and explained (keys as the host reports them). */
export const TIMING_HELP: Readonly<Record<string, KnobHelpText>> = {
  modelMs: {
    line: 'Model',
    note: 'Time awaiting the ONNX models: the transformer steps, the VQ steps, the final decode and the classifier.',
  },
  previewMs: {
    line: 'Previews',
    note: 'Time on the previews after each scale for the live view and the Timeline (Settings › Previews): whole-image decodes (part of Model) or the cheap preview map (part of JavaScript).',
  },
  jsMs: {
    line: 'JavaScript',
    note: 'Everything else in the engine: guidance, top-k/top-p filtering, token draws, the KDE, selection and bookkeeping.',
  },
  kdeMs: {
    line: 'KDE',
    note: 'The part of JavaScript spent awaiting the kernel density estimate of the candidates (in a worker thread).',
  },
  hookMs: {
    line: 'Live updates',
    note: 'Time the engine waited on progress hooks: sending each scale’s token map, preview and selection to the studio.',
  },
  totalMs: {
    line: 'Total',
    note: 'The whole job inside the inference host, from the first step to the last image.',
  },
  loadMs: { line: 'Model load', note: 'Loading the model’s ONNX sessions; 0 when they were already loaded.' },
  batches: { line: 'Batches', note: 'Model passes the job took (Settings › Batch size images each).' },
  images: { line: 'Images', note: 'Images the job made.' },
}
