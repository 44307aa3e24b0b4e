/**
 * One generate-request schema: every entry point (the renderer's form, Electron main's IPC boundary
 * and the web socket behind it, the CLI, the inference host's protocol and its model check, the
 * engine's loop) refuses the same out-of-bound values with the same bound named, and the bounds are
 * what limits.ts derives from the memory they need at the largest supported model.
 */
import { describe, expect, it } from 'vitest'
import {
  batchBytesPerImage,
  batchLimit,
  derivedBounds,
  LARGEST_MODEL,
  MAX_BATCH_SIZE,
  MAX_CANDIDATE_IDS,
  MAX_CANDIDATES,
  MAX_CFG,
  MAX_GENERATIONS,
  MAX_ITEMS,
  MAX_KEPT,
} from '../../src-shared/engine/limits'
import { generate } from '../../src-shared/engine/loop'
import {
  generateRequestFor,
  generateRequestSchema,
  modelFacts,
  type GenerateRequestInput,
} from '../../src-shared/engine/request'
import type { StepRunner } from '../../src-shared/engine/runner'
import { SettingsError } from '../../src-shared/engine/strategies'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import { callSchemas, jobSpecSchema, type JobSpec, type ModelView } from '../../src-shared/ipc'
import type { VarManifest } from '../../src-shared/manifest'
import { paramSchemas, parseParams } from '../../src-shared/protocol'
import { toNewJob } from '../../src-main/app/jobs'
import { checkRequestFlags, strategyFromFlags } from '../../src-main/cli/knobs'
import { main } from '../../src-main/cli/main'
import { handleGenerate } from '../../src-main/host/generate'
import type { LoadedModel, ModelCache } from '../../src-main/host/model-cache'
import { requestIssues } from '../../src-renderer/src/lib/request-issues'
import { captureIo } from '../helpers/io'
import { validManifest } from '../fixtures/manifest'

const TOO_MANY_N = MAX_CANDIDATES + 1
const ABSURD = 1e9
const item = { classId: 1, seed: 7 }

/** A manifest with VAR-d30's shape (the model the bounds are derived at) and 10 classes. */
function d30Manifest(): VarManifest {
  return {
    ...validManifest(),
    ...LARGEST_MODEL,
    patch_nums: [...LARGEST_MODEL.patch_nums],
    id: 'var-d30-like',
  }
}

/** A runner that must never run: every request below is refused before a model pass. */
const noRunner = new Proxy({} as StepRunner, {
  get: () => {
    throw new Error('the runner was used: the request should have been refused first')
  },
})

/** A message line naming a bound: "... must be at most <bound> (..., see limits.ts)". */
const names = (bound: number): RegExp => new RegExp(`at most ${bound}\\b[^\\n]*limits\\.ts`)

function refusal(f: () => unknown): Error {
  try {
    f()
  } catch (error) {
    return error as Error
  }
  throw new Error('accepted')
}

/** The field an InvalidRequestError names. */
function fieldOf(error: Error): string | undefined {
  return error instanceof InvalidRequestError ? error.field : undefined
}

async function asyncRefusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (error) {
    return error as Error
  }
  throw new Error('accepted')
}

describe('limits', () => {
  it('the constants are within what the memory budgets allow at VAR-d30', () => {
    const d = derivedBounds(LARGEST_MODEL)
    expect(d.batchSize).toBe(16)
    expect(MAX_CANDIDATES).toBeLessThanOrEqual(d.candidates)
    expect(MAX_KEPT).toBeLessThanOrEqual(MAX_CANDIDATES)
    expect(MAX_GENERATIONS).toBeLessThanOrEqual(d.generations)
    expect(MAX_ITEMS).toBeLessThanOrEqual(d.items)
    // d30's KV cache of one image in a pass: 2 (k, v) x 2 rows x 30 x 30 x 64 x (424 + 680) x 4 B
    expect(batchBytesPerImage(LARGEST_MODEL)).toBeGreaterThan(2 * 2 * 30 * 30 * 64 * 1104 * 4)
    expect(batchBytesPerImage(LARGEST_MODEL)).toBeLessThan(1.03e9)
  })

  it('the batch bound follows the model: 16 at d30, the wire cap for the embedded model', () => {
    expect(batchLimit(d30Manifest())).toBe(16)
    expect(batchLimit(validManifest())).toBe(MAX_BATCH_SIZE)
  })
})

describe('the request schema', () => {
  const parse = (patch: Partial<GenerateRequestInput>) =>
    generateRequestSchema.safeParse({ items: [item], ...patch })
  const message = (r: ReturnType<typeof parse>): string =>
    r.success ? 'accepted' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')

  it.each([
    ['N', { strategy: { kind: 'var-scaling', N: ABSURD } }, 'strategy.N', MAX_CANDIDATES],
    ['k', { strategy: { kind: 'var-scaling', N: 50, k: ABSURD } }, 'strategy.k', MAX_KEPT],
    ['best-of-n N', { strategy: { kind: 'best-of-n', N: ABSURD } }, 'strategy.N', MAX_GENERATIONS],
    ['count', { items: Array.from({ length: MAX_ITEMS + 1 }, () => item) }, 'items', MAX_ITEMS],
  ] as const)('refuses an absurd %s, naming the bound', (_, patch, path, bound) => {
    const r = parse(patch)
    expect(r.success).toBe(false)
    expect(message(r)).toMatch(new RegExp(`^${path.replace('.', '\\.')}: `, 'm'))
    expect(message(r)).toMatch(names(bound))
  })

  it('refuses an absurd batch size and guidance, naming the range', () => {
    expect(message(parse({ batchSize: ABSURD }))).toMatch(/batchSize: must be in \[1, 256\]/)
    expect(message(parse({ sampling: { cfg: ABSURD } }))).toMatch(
      new RegExp(`sampling\\.cfg: must be a number in \\[0, ${MAX_CFG}\\]`),
    )
  })

  it('accepts the bounds themselves and fills the defaults', () => {
    const r = parse({
      items: Array.from({ length: MAX_ITEMS }, () => item),
      strategy: { kind: 'var-scaling', N: MAX_CANDIDATES, k: MAX_KEPT },
      batchSize: MAX_BATCH_SIZE,
    })
    expect(message(r)).toBe('accepted')
    const d = generateRequestSchema.parse({ items: [item] })
    expect(d.strategy).toMatchObject({ kind: 'var-scaling', N: 50, k: 10 })
    expect(d.sampling).toEqual({})
  })

  it('the strategy is a discriminated union, not unknown', () => {
    expect(message(parse({ strategy: { kind: 'greedy' } as never }))).toMatch(
      /strategy\.kind: must be 'baseline'/,
    )
    expect(message(parse({ strategy: { kind: 'baseline', N: 4 } as never }))).toMatch(/unrecognized|N/)
  })

  it('the refinement checks the model: classes, top_k, search scales, batch, candidate ids', () => {
    const m = validManifest()
    const refined = generateRequestFor(modelFacts(m))
    const issues = (req: GenerateRequestInput): string[] => {
      const r = refined.safeParse(req)
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    }
    expect(issues({ items: [{ classId: 10, seed: 0 }] })).toEqual([
      'items.0.classId: must be a class id in [0, 9] (10 is not a class of fashion-mnist-var-d4)',
    ])
    expect(issues({ items: [item], sampling: { top_k: 513 } })[0]).toMatch(/^sampling\.top_k: .*\[0, 512\]/)
    expect(issues({ items: [item], strategy: { kind: 'topk-only', searchScales: [6] } })[0]).toMatch(
      /^strategy\.searchScales\.0: must be a scale index in \[0, 5\]/,
    )
    // candidate ids kept for the timelines: images x N x l over the search scales
    const many = Array.from({ length: 10_000 }, () => item)
    const ids = issues({ items: many, strategy: { kind: 'var-scaling', N: 4096, searchScales: [5] } })
    expect(ids[0]).toMatch(new RegExp(`^strategy\\.N: .*more than the bound of ${MAX_CANDIDATE_IDS}`))
    expect(issues({ items: many, strategy: { kind: 'var-scaling', N: 50 } })).toEqual([])

    const d30 = generateRequestFor(modelFacts(d30Manifest()))
    const batch = (n: number, batchSize: number) =>
      d30.safeParse({ items: Array.from({ length: n }, () => item), batchSize })
    expect(batch(17, 17).success).toBe(false)
    expect(batch(17, 17).error?.issues[0]?.message).toMatch(
      /must be at most 16 for var-d30-like: .*GB per image/,
    )
    expect(batch(16, 17).success).toBe(true) // a pass never holds more images than the request
    expect(batch(40, 16).success).toBe(true)
  })
})

describe('every entry point uses the same schema and bound', () => {
  const tooMany = { kind: 'var-scaling', N: TOO_MANY_N } as const
  const spec = (strategy: unknown): JobSpec => ({
    modelId: 'fashion-mnist-var-d4',
    items: [item],
    strategy: strategy as JobSpec['strategy'],
    seedPolicy: 'fixed',
  })

  it('the layers embed the request schema itself', () => {
    for (const key of ['items', 'strategy', 'sampling'] as const) {
      expect(jobSpecSchema.shape[key]).toBe(generateRequestSchema.shape[key])
      expect(paramSchemas.generate.shape[key]).toBe(generateRequestSchema.shape[key])
    }
    expect(callSchemas['queue:add'].shape.jobs.element).toBe(jobSpecSchema)
  })

  it('main IPC boundary (queue:add, which the web socket calls too)', () => {
    const r = callSchemas['queue:add'].safeParse({ jobs: [spec(tooMany)] })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]?.path).toEqual(['jobs', 0, 'strategy', 'N'])
    expect(r.error?.issues[0]?.message).toMatch(names(MAX_CANDIDATES))
    expect(
      callSchemas['queue:add'].safeParse({ jobs: [spec({ ...tooMany, N: MAX_CANDIDATES })] }).success,
    ).toBe(true)
  })

  it("main's queueing against the model (toNewJob)", async () => {
    const manifest = validManifest()
    const resolve = () => Promise.resolve({ dir: '/m', manifest })
    const error = await asyncRefusal(toNewJob(spec(tooMany), 'jobs[0]', resolve))
    expect(error).toBeInstanceOf(InvalidRequestError)
    expect(fieldOf(error)).toBe('jobs[0].strategy.N')
    expect(error.message).toMatch(names(MAX_CANDIDATES))
    const job = await toNewJob(spec({ kind: 'var-scaling' }), 'jobs[0]', resolve)
    expect(job.strategy).toMatchObject({ kind: 'var-scaling', N: 50 })
  })

  it('the host protocol (parseParams of generate)', () => {
    const error = refusal(() => parseParams('generate', { dir: '/m', items: [item], strategy: tooMany }))
    expect(error).toBeInstanceOf(InvalidRequestError)
    expect(fieldOf(error)).toBe('strategy.N')
    expect(error.message).toMatch(names(MAX_CANDIDATES))
    const absurd = refusal(() =>
      parseParams('generate', { dir: '/m', items: Array.from({ length: MAX_ITEMS + 1 }, () => item) }),
    )
    expect(absurd.message).toMatch(names(MAX_ITEMS))
  })

  it("the host's check against the loaded model, before any model pass", async () => {
    const manifest = d30Manifest()
    const model = { dir: '/m', manifest, codebook: new Float32Array(0), opened: {}, loadMs: 0 }
    const models = {
      acquire: () =>
        Promise.resolve({ model: model as unknown as LoadedModel, cached: true, release: () => {} }),
    } as unknown as ModelCache
    const ctx = { id: '1', signal: new AbortController().signal, progress: () => {}, log: () => {} }
    const params = parseParams('generate', {
      dir: '/m',
      items: Array.from({ length: 32 }, () => item),
      strategy: { kind: 'baseline' },
      batchSize: 32,
    })
    const error = await asyncRefusal(
      handleGenerate(params, ctx, {
        models,
        kde: () => Promise.reject(new Error('no KDE for a refused request')),
      }),
    )
    expect(error).toBeInstanceOf(InvalidRequestError)
    expect(fieldOf(error)).toBe('batchSize')
    expect(error.message).toMatch(/batchSize: must be at most 16 for var-d30-like/)
  })

  it('the engine (generate), before the runner is touched', async () => {
    const m = validManifest()
    const codebook = new Float32Array(m.vocab_size * m.Cvae)
    const run = (strategy: unknown, classes = [1]) =>
      asyncRefusal(
        generate(noRunner, m, codebook, {
          classes,
          seeds: classes.map(() => 7),
          sampling: { cfg: 1, top_k: 0, top_p: 1 },
          strategy: strategy as never,
        }),
      )
    const error = await run(tooMany)
    expect(error).toBeInstanceOf(SettingsError)
    expect(error.message).toMatch(/strategy\.N: /)
    expect(error.message).toMatch(names(MAX_CANDIDATES))
    const batch = await run(
      { kind: 'baseline' },
      Array.from({ length: MAX_BATCH_SIZE + 1 }, () => 1),
    )
    expect(batch.message).toMatch(/classes: must be in \[1, 256\]/)
  })

  it('the CLI flags, and the whole request before the model loads', () => {
    const m = validManifest()
    const error = refusal(() => strategyFromFlags({ N: String(ABSURD) }, m))
    expect(error).toBeInstanceOf(InvalidRequestError)
    expect(error.message).toMatch(/^--N: must be at most 4096 .*limits\.ts.* \(got 1000000000\)$/)
    const k = refusal(() => strategyFromFlags({ N: '50', k: String(ABSURD) }, m))
    expect(k.message).toMatch(/^--k: must be at most 4096 /m)
    const count = refusal(() => {
      checkRequestFlags({ items: Array.from({ length: MAX_ITEMS + 1 }, () => item), batchSize: 16 }, m)
    })
    expect(fieldOf(count)).toBe('--count')
    expect(count.message).toMatch(names(MAX_ITEMS))
    const batch = refusal(() => {
      checkRequestFlags({ items: [item], batchSize: ABSURD }, m)
    })
    expect(batch.message).toMatch(/^--batch-size: must be in \[1, 256\]/)
  })

  it('the CLI command refuses N = 1e9 before a model or host is touched', async () => {
    const c = captureIo()
    const code = await main(
      ['generate', '--model', 'models/fashion-mnist-var', '--class', '0', '--N', String(ABSURD)],
      c.io,
      {
        createClient: () => {
          throw new StudioError('no host should start for a refused request')
        },
      },
    )
    expect(code).toBe(1)
    expect(c.err.join('\n')).toMatch(/--N: must be at most 4096 .*limits\.ts/)
  })

  it("the renderer's form", () => {
    const m = validManifest()
    const view = {
      id: m.id,
      classNames: m.class_names,
      vocabSize: m.vocab_size,
      patchNums: m.patch_nums,
    } as unknown as ModelView
    const sampling = { cfg: 1, top_k: 0, top_p: 1 }
    const base = generateRequestSchema.shape.strategy.parse({ kind: 'var-scaling' })
    const n = requestIssues(view, [1], 1, 0, { ...base, N: TOO_MANY_N } as never, sampling)
    expect(n['strategy.N']).toMatch(names(MAX_CANDIDATES))
    // a count of 1e9 is checked as MAX_ITEMS + 1 images, never built
    const count = requestIssues(view, [1, 2], ABSURD, 0, base, sampling)
    expect(count.count).toMatch(names(MAX_ITEMS))
    expect(requestIssues(view, [12], 1, 0, base, sampling).classes).toMatch(/must be a class id in \[0, 9\]/)
    expect(requestIssues(view, [1], 1, 0, base, { ...sampling, cfg: ABSURD }).cfg).toMatch(/\[0, 100\]/)
    expect(requestIssues(view, [1], 10, 0, base, sampling)).toEqual({})
  })
})

describe('model knowledge stays in the inference host', () => {
  it('Electron main neither reads the codebook nor runs the PCA: the host sends selections ready to show', async () => {
    const { readdir, readFile } = await import('node:fs/promises')
    const dir = 'src-main/app'
    for (const name of await readdir(dir)) {
      const text = await readFile(`${dir}/${name}`, 'utf8')
      expect(text, name).not.toMatch(/readCodebook|codebook\.f32|metrics\/pca|pca2\(/)
    }
    const host = await readFile('src-main/host/generate.ts', 'utf8')
    expect(host).toMatch(/SelectionViews/)
  })
})
