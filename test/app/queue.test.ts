import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { call, job, nextEvent, openStudio, STUDIO_HOOK_MS, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('queue'))
  studio = await openStudio(home)
}, STUDIO_HOOK_MS)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

describe('queue', () => {
  it('runs jobs in order, one at a time, and records their images', async () => {
    const started: string[] = []
    const off = studio.on('queue:changed', (q) => {
      if (q.runningId && started.at(-1) !== q.runningId) started.push(q.runningId)
      expect(q.jobs.filter((j) => j.state === 'running').length).toBeLessThanOrEqual(1)
    })
    const { jobIds } = await call(studio, 'queue:add', { jobs: [job([1, 2]), job([3]), job([4])] })
    await studio.idle()
    off()
    expect(started).toEqual(jobIds)
    const q = await call(studio, 'queue:get', {})
    expect(q.jobs.filter((j) => jobIds.includes(j.id)).map((j) => [j.state, j.imageIds.length])).toEqual([
      ['done', 2],
      ['done', 1],
      ['done', 1],
    ])
  })

  it('cancels one queued job while another runs: only it stops', async () => {
    const scale = nextEvent(studio, 'job:scale')
    const { jobIds } = await call(studio, 'queue:add', {
      jobs: [
        job([0, 1, 2, 3, 4, 5, 6, 7], 10, { kind: 'var-scaling', N: 8, k: 3 }),
        job([5], 20),
        job([6], 30),
      ],
    })
    const [a, b, c] = jobIds
    await scale
    expect(await call(studio, 'queue:cancel', { jobId: b })).toEqual({ cancelled: true })
    await studio.idle()
    const byId = new Map((await call(studio, 'queue:get', {})).jobs.map((j) => [j.id, j]))
    expect(byId.get(a)?.state).toBe('done')
    expect(byId.get(a)?.imageIds).toHaveLength(8)
    expect(byId.get(b)?.state).toBe('cancelled')
    expect(byId.get(b)?.startedAt).toBeUndefined()
    expect(byId.get(c)?.state).toBe('done')
  })

  it('cancels the running job through the host and goes on with the next', async () => {
    const { jobIds } = await call(studio, 'queue:add', {
      jobs: [
        job(
          Array.from({ length: 64 }, (_, i) => i % 10),
          40,
        ),
        job([2], 50),
      ],
    })
    await nextEvent(studio, 'job:scale', (e) => e.jobId === jobIds[0])
    expect(await call(studio, 'queue:cancel', { jobId: jobIds[0] })).toEqual({ cancelled: true })
    await studio.idle()
    const byId = new Map((await call(studio, 'queue:get', {})).jobs.map((j) => [j.id, j]))
    expect(byId.get(jobIds[0])?.state).toBe('cancelled')
    expect(byId.get(jobIds[1])?.state).toBe('done')
    // A finished job cannot be cancelled; an unknown one is an error that says so.
    expect(await call(studio, 'queue:cancel', { jobId: jobIds[1] })).toEqual({ cancelled: false })
    await expect(call(studio, 'queue:cancel', { jobId: 'job-nope' })).rejects.toThrow(/No job "job-nope"/)
  })

  it('pauses, runs a job next, clears, and refuses bad jobs with the field named', async () => {
    await call(studio, 'queue:pause', { paused: true })
    const { jobIds } = await call(studio, 'queue:add', { jobs: [job([1]), job([2]), job([3])] })
    expect(await call(studio, 'queue:runNext', { jobId: jobIds[2] })).toEqual({ moved: true })
    const queued = (await call(studio, 'queue:get', {})).jobs
      .filter((j) => j.state === 'queued')
      .map((j) => j.id)
    expect(queued).toEqual([jobIds[2], jobIds[0], jobIds[1]])
    const { removed } = await call(studio, 'queue:clear', {})
    expect(removed).toBeGreaterThanOrEqual(3)
    expect((await call(studio, 'queue:get', {})).jobs).toEqual([])
    await call(studio, 'queue:pause', { paused: false })

    await expect(call(studio, 'queue:add', { jobs: [job([12])] })).rejects.toThrow(
      /jobs\[0\]: items\[0\]\.classId: must be a class id in \[0, 9\] \(12 is not a class of/,
    )
    await expect(
      call(studio, 'queue:add', { jobs: [job([1], 1, { kind: 'var-scaling', N: 0 })] }),
    ).rejects.toThrow(/N: must be an integer >= 1/)
    await expect(studio.handle('queue:add', { jobs: [] })).rejects.toMatchObject({
      name: 'InvalidRequestError',
      field: 'jobs',
    })
    await expect(studio.handle('queue:nope', {})).rejects.toThrow(/Unknown call "queue:nope"/)
  })

  it('keeps queued jobs across a restart; a job that was running comes back as failed', async () => {
    await call(studio, 'queue:pause', { paused: true })
    const { jobIds } = await call(studio, 'queue:add', { jobs: [job([7]), job([8])] })
    await studio.close()
    // Simulate a crash mid-job: the file says the first job was running.
    const path = join(home, 'queue.json')
    const file = JSON.parse(await readFile(path, 'utf8')) as { jobs: { id: string; state: string }[] }
    file.jobs[0].state = 'running'
    await writeFile(path, JSON.stringify(file))

    studio = await openStudio(home)
    const q = await call(studio, 'queue:get', {})
    expect(q.paused).toBe(true)
    expect(q.jobs.map((j) => [j.id, j.state])).toEqual([
      [jobIds[0], 'failed'],
      [jobIds[1], 'queued'],
    ])
    expect(q.jobs[0].error).toMatch(/stopped while this job was running/)
    await call(studio, 'queue:pause', { paused: false })
    await studio.idle()
    expect((await call(studio, 'queue:get', {})).jobs[1].state).toBe('done')
  })
})
