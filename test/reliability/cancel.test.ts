/**
 * Cancel that really stops: the KDE worker drops an abandoned computation, the host's generate ends
 * within the scale when cancelled during the draws or the KDE, queue:cancel answers only once the job
 * has stopped, and a request the machine cannot hold is refused before it starts, with the estimate.
 */
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { estimateJobBytes } from '../../src-shared/engine/budget'
import type { KdeInput, KdeResult } from '../../src-shared/engine/kde'
import { parseParams, type Params } from '../../src-shared/protocol'
import type { Studio } from '../../src-main/app/studio'
import { createHandlers } from '../../src-main/host/handlers'
import type { JobContext } from '../../src-main/host/host'
import { KdeWorker } from '../../src-main/host/kde-pool'
import { readManifest } from '../../src-main/storage/model-folder'
import { call, job, nextEvent, openStudio, tempHome, STUDIO_HOOK_MS } from '../app/studio-helpers'

const MODEL_DIR = resolve(__dirname, '../../models/fashion-mnist-var')

/** A KDE input whose N² kernel takes seconds (explicit features: every candidate distinct). */
function slowInput(N = 40_000): KdeInput {
  const d = 8
  const features = Float32Array.from({ length: N * d }, (_, i) => Math.sin(i * 0.37) + (i % 13) * 0.01)
  return { B: 1, N, P: 1, d, features, kernel: 'gaussian', poolBandwidthOverBatch: false }
}

function smallInput(): KdeInput {
  return { ...slowInput(50) }
}

describe('KDE worker cancel', () => {
  const worker = new KdeWorker()
  afterAll(async () => {
    await worker.close()
  })

  it(
    'rejects at once when aborted and does not make the next job wait behind the abandoned one',
    { timeout: 60_000 },
    async () => {
      // warm: the worker's first start loads the TypeScript loader
      await worker.run(smallInput())
      const abort = new AbortController()
      const slow = worker.run(slowInput(), abort.signal)
      await new Promise((r) => setTimeout(r, 200))
      const t0 = performance.now()
      abort.abort()
      await expect(slow).rejects.toThrow(/Cancelled by request during the KDE/)
      expect(performance.now() - t0).toBeLessThan(1000)
      const t1 = performance.now()
      await worker.run(smallInput())
      // a fresh worker answers (a second or two to start); the abandoned kernel, about half a minute
      // of work on one core, was dropped with the old one
      expect(performance.now() - t1).toBeLessThan(10_000)
    },
  )
})

describe('host generate cancel', () => {
  let release: (() => void) | undefined
  const kdeCalls: number[] = []
  // a KDE that takes as long as it is let: only a cancel that does not wait for it ends the job
  const slowKde = (input: KdeInput): Promise<KdeResult> => {
    kdeCalls.push(performance.now())
    return new Promise((done) => {
      release = () => {
        done({
          densities: new Float64Array(input.B * input.N),
          bandwidths: new Float64Array(input.B * input.P),
        })
      }
    })
  }
  const { handlers, models } = createHandlers({ log: () => undefined, kde: slowKde })
  afterAll(async () => {
    release?.()
    await models.clear()
  })

  function ctx(signal: AbortSignal): JobContext<'generate'> {
    return { id: '1', signal, progress: () => undefined, log: () => undefined }
  }
  const params = (over: Record<string, unknown>): Params<'generate'> =>
    parseParams('generate', {
      dir: MODEL_DIR,
      items: [{ classId: 1, seed: 3 }],
      strategy: { kind: 'var-scaling', N: 64, k: 8 },
      batchSize: 1,
      ...over,
    })

  it('ends within the scale when cancelled during the KDE', async () => {
    const abort = new AbortController()
    const running = handlers.generate(params({}), ctx(abort.signal))
    await expect.poll(() => kdeCalls.length, { timeout: 20_000 }).toBe(1)
    const t0 = performance.now()
    abort.abort()
    await expect(running).rejects.toThrow(/Cancelled/)
    // the KDE would never end: only a cancel that does not wait for it ends the job
    expect(performance.now() - t0).toBeLessThan(1000)
  })

  it('refuses a request this machine cannot hold before loading the model, with the estimate', async () => {
    const manifest = await readManifest(MODEL_DIR)
    const request = { strategy: { kind: 'var-scaling', N: 4096 }, batchSize: 256, items: 256 }
    const need = estimateJobBytes(manifest, request).bytes
    const before = process.env.VAR_STUDIO_MEMORY_BYTES
    process.env.VAR_STUDIO_MEMORY_BYTES = String(Math.floor(need / 2))
    try {
      const items = Array.from({ length: 256 }, (_, i) => ({ classId: i % 10, seed: i }))
      await expect(
        handlers.generate(
          params({ items, strategy: { kind: 'var-scaling', N: 4096, k: 8 }, batchSize: 256 }),
          ctx(new AbortController().signal),
        ),
      ).rejects.toThrow(
        /This request would need about .* of memory \(model .*, model passes of 256 images .*, 4096 candidates per image .*\), more than the .* this machine can give it/,
      )
    } finally {
      if (before === undefined) delete process.env.VAR_STUDIO_MEMORY_BYTES
      else process.env.VAR_STUDIO_MEMORY_BYTES = before
    }
  })
})

describe('queue:cancel', () => {
  let home: string
  let cleanup: () => Promise<void>
  let studio: Studio
  beforeAll(async () => {
    ;({ home, cleanup } = await tempHome('cancel'))
    studio = await openStudio(home)
  }, STUDIO_HOOK_MS)
  afterAll(async () => {
    await studio.close()
    await cleanup()
  })

  it('answers cancelled only once the job has stopped', async () => {
    const { jobIds } = await call(studio, 'queue:add', {
      jobs: [
        job(
          Array.from({ length: 64 }, (_, i) => i % 10),
          40,
          { kind: 'var-scaling', N: 200, k: 8 },
        ),
      ],
    })
    await nextEvent(studio, 'job:scale', (e) => e.jobId === jobIds[0])
    expect(await call(studio, 'queue:cancel', { jobId: jobIds[0] })).toEqual({ cancelled: true })
    // no await between the answer and the look: the job is no longer running
    const q = await call(studio, 'queue:get', {})
    expect(q.runningId).toBeNull()
    expect(q.jobs.find((j) => j.id === jobIds[0])?.state).toBe('cancelled')
  })

  it('refuses a job this machine cannot hold when it is queued, with the estimate', async () => {
    const before = process.env.VAR_STUDIO_MEMORY_BYTES
    process.env.VAR_STUDIO_MEMORY_BYTES = String(30e6)
    try {
      await call(studio, 'settings:set', { batchSize: 256 })
      await expect(
        call(studio, 'queue:add', {
          jobs: [
            job(
              Array.from({ length: 256 }, (_, i) => i % 10),
              1,
              { kind: 'var-scaling', N: 4096, k: 8 },
            ),
          ],
        }),
      ).rejects.toThrow(
        /jobs\[0\]: this job would need about .* of memory .* more than the 30 MB this machine can give it; lower the batch size, N or the number of images/,
      )
      expect((await call(studio, 'queue:get', {})).jobs).toHaveLength(1)
    } finally {
      if (before === undefined) delete process.env.VAR_STUDIO_MEMORY_BYTES
      else process.env.VAR_STUDIO_MEMORY_BYTES = before
    }
  })
})
