/**
 * Batch-file rows that name another search strategy than the batch's default take the model's
 * calibrated alpha, dedup and search scale at the batch's cfg, as the form and the CLI do, not the
 * paper's constants (the strategy schema's defaults).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queueBatch } from '../../src-main/app/batch'
import { StudioEvents } from '../../src-main/app/events'
import { Models } from '../../src-main/app/model-list'
import type { NewJob, Queue } from '../../src-main/app/queue'
import { loadCalibration } from '../../src-main/storage/calibration-file'
import { PAPER_SEARCH } from '../../src-shared/engine/calibration'
import { batchDefaultsSchema } from '../../src-shared/ipc'
import { MODEL_DIR } from '../host/model'
import { MODEL_ID, tempHome } from './studio-helpers'

let cleanup: () => Promise<void>
let models: Models
const added: NewJob[] = []
const queue = {
  add: (jobs: readonly NewJob[]) => {
    added.push(...jobs)
    return Promise.resolve(jobs.map((_, i) => `job-${i}`))
  },
} as unknown as Queue

beforeAll(async () => {
  const t = await tempHome('batch-calibrated')
  cleanup = t.cleanup
  models = new Models(
    t.home,
    () => {
      throw new Error('queueing a batch needs no inference host')
    },
    new StudioEvents(),
  )
})
afterAll(async () => {
  await cleanup()
})

const file = (text: string) => ({
  kind: 'content' as const,
  name: 'rows.csv',
  base64: Buffer.from(text).toString('base64'),
})

async function queued(sampling: { cfg?: number }): Promise<Record<string, unknown>> {
  added.length = 0
  const defaults = batchDefaultsSchema.parse({
    modelId: MODEL_ID,
    strategy: { kind: 'var-scaling', alpha: 1.7, dedup: 0.5, searchScales: [1] },
    sampling,
    seedPolicy: 'increment',
  })
  await queueBatch(
    file('class,strategy\nBag,\nCoat,topk-only\nDress,randomk-only\nShirt,baseline\n'),
    defaults,
    models,
    queue,
    false,
  )
  return Object.fromEntries(added.map((j): [string, unknown] => [String(j.strategy.kind), j.strategy]))
}

describe('batch rows of another strategy', () => {
  it("take the model's calibrated values at the batch's cfg", async () => {
    const { record } = await loadCalibration(MODEL_DIR)
    if (!record) throw new Error('the embedded model ships calibrated')
    const row = (cfg: number) => record.measurements.find((m) => m.si === 1 && m.cfg === cfg)
    const cfg3 = row(3)
    const cfg1 = row(1)
    if (!cfg3 || !cfg1) throw new Error('the shipped calibration measures cfg 3 and cfg 1 at scale 1')
    expect(cfg1.alpha).not.toBe(cfg3.alpha)

    // the model's own cfg (3)
    const atDefault = await queued({})
    expect(atDefault['var-scaling']).toMatchObject({ alpha: 1.7, dedup: 0.5 })
    for (const kind of ['topk-only', 'randomk-only']) {
      expect(atDefault[kind]).toMatchObject({ alpha: cfg3.alpha, dedup: cfg3.dedup, searchScales: [1] })
      expect(atDefault[kind]).not.toMatchObject({ alpha: PAPER_SEARCH.alpha })
    }
    expect(atDefault.baseline).toEqual({ kind: 'baseline' })

    // cfg 1: the cfg-1 row; cfg 1.8: the nearest calibrated cfg (1)
    for (const cfg of [1, 1.8]) {
      const s = await queued({ cfg })
      expect(s['topk-only']).toMatchObject({ alpha: cfg1.alpha, dedup: cfg1.dedup })
      expect(s['randomk-only']).toMatchObject({ alpha: cfg1.alpha, dedup: cfg1.dedup })
    }
  }, 60_000)
})
