/**
 * The deliberate breakages of `npm run test:mutants` (run.ts). Each edit's text must occur exactly
 * once in its file, so a mutant that no longer applies fails loudly instead of testing nothing.
 * `tests` lists the files that should notice, the likeliest killer first (the run stops at the
 * first failure).
 */
export interface Mutant {
  readonly id: string
  readonly what: string
  readonly file: string
  /** [find, replace] pairs, applied in order */
  readonly edits: readonly (readonly [string, string])[]
  readonly tests: readonly string[]
}

const LOOP = ['test/engine/loop.test.ts', 'test/engine/free-running.test.ts']
const SAMPLING = ['test/engine/free-running.test.ts', 'test/engine/sampling.test.ts']
const KDE = ['test/engine/kde.test.ts', 'test/engine/selection.test.ts']

export const MUTANTS: readonly Mutant[] = [
  {
    id: 'runner-swap-kv',
    what: 'swap the past_k and past_v inputs of var_step',
    file: 'src-main/host/ort/runner.ts',
    edits: [
      ["tensor(g, 'past_k', f.pastK,", "tensor(g, 'past_k', f.pastV,"],
      ["tensor(g, 'past_v', f.pastV,", "tensor(g, 'past_v', f.pastK,"],
    ],
    tests: LOOP,
  },
  {
    id: 'wrong-scale-positions',
    what: "feed var_step the previous scale's positions",
    file: 'src-shared/engine/pass.ts',
    edits: [['pos[i] = BigInt(P + i)', 'pos[i] = BigInt(m.begin[Math.max(0, si - 1)] + i)']],
    tests: LOOP,
  },
  {
    id: 'null-row-label',
    what: 'give the unconditional rows the class label instead of the null class',
    file: 'src-shared/engine/pass.ts',
    edits: [['this.labels[this.B + b] = BigInt(m.null_class)', 'this.labels[this.B + b] = BigInt(c)']],
    tests: LOOP,
  },
  {
    id: 'uncond-input-zero',
    what: 'leave the unconditional half of the next-scale input at zero',
    file: 'src-shared/engine/pass.ts',
    edits: [['xCvae.set(vq.nextTok, half)', 'xCvae.fill(0, half)']],
    tests: LOOP,
  },
  {
    id: 'skip-residual-update',
    what: 'skip the residual update of f_hat after a scale',
    file: 'src-shared/engine/pass.ts',
    edits: [['      fHat = vq.fHatOut\n', '      fHat = fHat.slice()\n']],
    tests: LOOP,
  },
  {
    id: 'wrong-phi',
    what: "run every scale's residual through the first phi conv",
    file: 'src-shared/engine/residual.ts',
    edits: [['phiSel: k.phiSel[si],', 'phiSel: k.phiSel[0],']],
    tests: LOOP,
  },
  {
    id: 'guidance-sign',
    what: 'flip the sign of the guidance term (engine path)',
    file: 'src-shared/engine/sampling.ts',
    edits: [
      [
        'const v = Math.fround(a * logits[cond + i] - t * logits[uncond + i])',
        'const v = Math.fround(a * logits[cond + i] + t * logits[uncond + i])',
      ],
    ],
    tests: SAMPLING,
  },
  {
    id: 'guidance-sign-legacy',
    what: 'flip the sign of the guidance term (guideRow, the legacy nucleus path)',
    file: 'src-shared/engine/sampling.ts',
    edits: [
      [
        'out[i] = a * logits[cond + i] - t * logits[uncond + i]',
        'out[i] = a * logits[cond + i] + t * logits[uncond + i]',
      ],
    ],
    tests: ['test/engine/sampling.test.ts', 'test/engine/loop.test.ts'],
  },
  {
    id: 'guidance-ramp',
    what: 'guidance ramp t = cfg·si/S instead of cfg·si/(S-1)',
    file: 'src-shared/engine/sampling.ts',
    edits: [['return S > 1 ? (cfg * si) / (S - 1) : 0', 'return S > 1 ? (cfg * si) / S : 0']],
    tests: SAMPLING,
  },
  {
    id: 'topk-off-by-one',
    what: 'top-k keeps k+1 entries',
    file: 'src-shared/engine/sampling.ts',
    edits: [['kthLargest(vals, V, k, this.max', 'kthLargest(vals, V, k + 1, this.max']],
    tests: SAMPLING,
  },
  {
    id: 'inverse-cdf-flipped',
    what: 'draw tokens at 1-u instead of u',
    file: 'src-shared/engine/sampling.ts',
    edits: [
      [
        'return searchCdf(cum, base, n, u * total, total)',
        'return searchCdf(cum, base, n, (1 - u) * total, total)',
      ],
    ],
    tests: SAMPLING,
  },
  {
    id: 'kde-no-self-term',
    what: 'drop the KDE self term',
    file: 'src-shared/engine/kde-pairs.ts',
    edits: [
      [
        'for (let u = 0; u < U; u++) sums[u] = weight[u]',
        'for (let u = 0; u < U; u++) sums[u] = weight[u] - 1',
      ],
    ],
    tests: KDE,
  },
  {
    id: 'kde-screen-no-near-split',
    what: 'sum every pair that passes the float32 screen from its float32 exponent (no float64 recompute of near pairs)',
    file: 'src-shared/engine/kde-pairs.ts',
    edits: [['return { skip, near: Math.fround(Math.min(near, 0)) }', 'return { skip, near: 0 }']],
    tests: ['test/engine/kde.test.ts'],
  },
  {
    id: 'kde-screen-wrong-weight',
    what: "weight a near pair's column sum by its own multiplicity instead of its row's",
    file: 'src-shared/engine/kde-wasm.ts',
    edits: [['get(R_W),\n    get(S_I),', 'get(R_W),\n    get(S_K),']],
    tests: ['test/engine/kde.test.ts'],
  },
  {
    id: 'kde-exact-match-no-self',
    what: 'drop the self term of the exactMatch kernel',
    file: 'src-shared/engine/kde.ts',
    edits: [['densities[b * N + n] += g.counts[g.of[n]]', 'densities[b * N + n] += g.counts[g.of[n]] - 1']],
    tests: KDE,
  },
  {
    id: 'silverman-exponent',
    what: "Silverman's factor with exponent -1/(d+2)",
    file: 'src-shared/engine/kde.ts',
    edits: [['-1 / (d + 4))', '-1 / (d + 2))']],
    tests: KDE,
  },
  {
    id: 'mode-test-inverted',
    what: 'invert the mode test (Top-k when max/mean < alpha)',
    file: 'src-shared/engine/selection.ts',
    edits: [["(ratio >= alpha ? 'top-k' : 'random-k')", "(ratio < alpha ? 'top-k' : 'random-k')"]],
    tests: ['test/engine/selection.test.ts', 'test/engine/loop.test.ts'],
  },
  {
    id: 'dedup-keeps-duplicates',
    what: 'dedup keeps exact duplicates when the distance is 0',
    file: 'src-shared/engine/selection.ts',
    edits: [['if (dist === 0 || dist < dedup) {', 'if (dist < dedup) {']],
    tests: KDE,
  },
  {
    id: 'final-pick-flipped',
    what: 'final pick at 1-u instead of u',
    file: 'src-shared/engine/selection.ts',
    edits: [['const target = u * total', 'const target = (1 - u) * total']],
    tests: ['test/engine/selection.test.ts', 'test/engine/strategies.test.ts', 'test/engine/loop.test.ts'],
  },
  {
    id: 'host-decode-order',
    what: "the host's decodeScales stores each scale's image one slot early (the last one lost)",
    file: 'src-main/host/decode-scales.ts',
    edits: [['images.set(image, si * size)', 'images.set(image, Math.max(0, si - 1) * size)']],
    tests: ['test/host/host-process.test.ts'],
  },
  {
    id: 'ipc-channel-unregistered',
    what: 'register every IPC channel but the first',
    file: 'src-main/electron/ipc.ts',
    edits: [
      [
        'for (const channel of IPC_CHANNELS) {\n    ipcMain.handle',
        'for (const channel of IPC_CHANNELS.slice(1)) {\n    ipcMain.handle',
      ],
    ],
    tests: ['test/electron/ipc.test.ts'],
  },
]
