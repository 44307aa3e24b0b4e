/**
 * A job's batches are written while the host makes the next one (run-job.ts): the host does not wait
 * on PNG, timeline and index writes, which is what made the studio slower than the CLI. One batch's
 * writes still finish before the next one's, and all of them before the job ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settingsSchema } from '../../src-shared/ipc'
import { StudioEvents } from '../../src-main/app/events'
import { History } from '../../src-main/app/history'
import { Models } from '../../src-main/app/model-list'
import type { StoredJob } from '../../src-main/app/queue'
import { jobExecutor } from '../../src-main/app/run-job'
import { HostClient } from '../../src-main/host/client'
import { MODEL_ID, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
const host = new HostClient()

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('overlap'))
})
afterAll(async () => {
  await host.close()
  await cleanup()
})

const job: StoredJob = {
  id: 'job-overlap',
  state: 'running',
  modelId: MODEL_ID,
  label: 'overlap',
  strategy: { kind: 'baseline' },
  sampling: {},
  items: [0, 1, 2, 3, 4, 5].map((classId) => ({ classId, seed: classId })),
  seedPolicy: 'increment',
  createdAt: new Date().toISOString(),
  imageIds: [],
}

describe('batch writes overlap the next batch', () => {
  it('starts the host on batch k + 1 before batch k is committed, and commits in order', async () => {
    const events = new StudioEvents()
    const history = await History.open(`${home}/out`, events, () => undefined)
    const calls: number[] = []
    let secondCall: () => void = () => undefined
    const secondStarted = new Promise<void>((resolve) => (secondCall = resolve))
    // the real host, with the start of each generate call noted
    const client = new Proxy(host, {
      get(target, key) {
        if (key !== 'call') return Reflect.get(target, key) as unknown
        return (...args: Parameters<HostClient['call']>) => {
          calls.push(calls.length)
          if (calls.length === 2) secondCall()
          return target.call(...args)
        }
      },
    })
    const execute = jobExecutor({
      client: () => client,
      models: new Models(home, () => client, events),
      history: () => history,
      settings: () => settingsSchema.parse({ batchSize: 2, previews: 'off', embedMetadata: false }),
      events,
      version: 'test',
    })
    const committed: string[][] = []
    const ids = await execute(
      job,
      new AbortController().signal,
      () => undefined,
      async (batch) => {
        // batch 0's commit waits for the host to start batch 1: writing first and then calling the
        // host (the old order) never gets there
        if (committed.length === 0) {
          await Promise.race([
            secondStarted,
            new Promise((_, reject) =>
              setTimeout(() => {
                reject(new Error('the host was not called for batch 1 while batch 0 was being written'))
              }, 20_000),
            ),
          ])
        }
        committed.push([...batch])
      },
    )
    expect(calls).toEqual([0, 1, 2])
    expect(committed).toEqual([
      ['job-overlap-0000', 'job-overlap-0001'],
      ['job-overlap-0002', 'job-overlap-0003'],
      ['job-overlap-0004', 'job-overlap-0005'],
    ])
    // every batch is in the history by the time the job returns
    expect(ids).toEqual(committed.flat())
    expect(history.idsOfJob(job.id).sort()).toEqual(committed.flat())
  }, 120_000)
})
