/**
 * Finished images are durable: committed batch by batch, kept by a cancelled or crashed job, which
 * can be resumed for the rest with the same seeds; the output folder is reconciled on start.
 */
import { existsSync } from 'node:fs'
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStudio, type Studio } from '../../src-main/app/studio'
import { call, job, nextEvent, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio
const logs: string[] = []

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('durable'))
  studio = await openStudio(home)
  await call(studio, 'settings:set', { batchSize: 2, previews: 'off' })
  // the host starts and runs the jobs: more than the default 10 s on a loaded machine
}, 120_000)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

const classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]

describe('durable jobs', () => {
  it('commits each batch before the next; a cancelled job keeps and shows what it finished, and resumes', async () => {
    const { jobIds } = await call(studio, 'queue:add', { jobs: [job(classes, 100)] })
    const [id] = jobIds
    // the first batch of two is committed while the job still runs
    const committed = await nextEvent(studio, 'queue:changed', (q) =>
      q.jobs.some((j) => j.id === id && j.state === 'running' && j.imageIds.length >= 2),
    )
    const running = committed.jobs.find((j) => j.id === id)!
    for (const imageId of running.imageIds) {
      const [entry] = (await call(studio, 'history:list', {})).filter((e) => e.id === imageId)
      expect(entry).toBeDefined()
      expect(existsSync(entry.file)).toBe(true)
    }
    expect(await call(studio, 'queue:cancel', { jobId: id })).toEqual({ cancelled: true })
    const after = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === id)!
    expect(after.state).toBe('cancelled')
    const done = after.imageIds.length
    expect(done).toBeGreaterThanOrEqual(2)
    expect(done).toBeLessThan(classes.length)
    expect(after.error).toBe(
      `${done} of ${classes.length} done before it was cancelled; Resume makes the other ${classes.length - done} with the same seeds`,
    )
    const kept = (await call(studio, 'history:list', {})).filter((e) => e.jobId === id)
    expect(kept.map((e) => e.id).sort()).toEqual([...after.imageIds].sort())

    expect(await call(studio, 'queue:resume', { jobId: id })).toEqual({ resumed: true })
    await studio.idle()
    const resumed = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === id)!
    expect(resumed.state).toBe('done')
    expect(resumed.error).toBeUndefined()
    expect(resumed.imageIds).toHaveLength(classes.length)
    const images = (await call(studio, 'history:list', {})).filter((e) => e.jobId === id)
    expect(images).toHaveLength(classes.length)
    // every image has the seed and class its item asked for, the first ones were not made again
    const bySeed = images.map((e) => [e.seed, e.classId]).sort((a, b) => a[0] - b[0])
    expect(bySeed).toEqual(classes.map((c, i) => [100 + i, c]))
    for (const e of kept) expect(images.find((x) => x.id === e.id)?.createdAt).toBe(e.createdAt)
    expect(await call(studio, 'queue:resume', { jobId: id })).toEqual({ resumed: false })
  })

  it('after a crash: adopts written images, moves orphans aside, and the job shows and resumes what is left', async () => {
    await call(studio, 'queue:pause', { paused: true })
    const { jobIds } = await call(studio, 'queue:add', { jobs: [job([3, 4, 5, 6], 300)] })
    const [id] = jobIds
    await call(studio, 'queue:pause', { paused: false })
    await studio.idle()
    await studio.close()
    const out = join(home, 'outputs')
    // What a kill -9 leaves: the job still "running" in queue.json, its last image written (PNG and
    // timeline) but not yet in the index, one of its images' files never recorded (PNG only), an
    // unrelated PNG, and a write cut short.
    const indexPath = join(out, 'history', 'index.json')
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { images: { id: string; file: string }[] }
    const mine = index.images.filter((e) => e.id.startsWith(id))
    expect(mine).toHaveLength(4)
    const [, , third, fourth] = mine
    index.images = index.images.filter((e) => e.id !== third.id && e.id !== fourth.id)
    await writeFile(indexPath, JSON.stringify(index))
    expect(existsSync(join(out, 'history', 'timelines', `${third.id}.json`))).toBe(true)
    // the fourth image's timeline was never written: only its PNG is on disk
    await rm(join(out, 'history', 'timelines', `${fourth.id}.json`))
    await copyFile(join(out, fourth.file), join(out, 'images', 'stray.png'))
    await writeFile(join(out, 'images', 'half.png.1-1.tmp'), 'cut short')
    const queuePath = join(home, 'queue.json')
    const queue = JSON.parse(await readFile(queuePath, 'utf8')) as {
      jobs: { id: string; state: string; imageIds: string[] }[]
    }
    const stored = queue.jobs.find((j) => j.id === id)!
    Object.assign(stored, { state: 'running', imageIds: [] })
    delete (stored as { finishedAt?: string }).finishedAt
    await writeFile(queuePath, JSON.stringify(queue))

    logs.length = 0
    studio = await createStudio({ home, version: '0.0.0-test', hostName: 'web', log: (l) => logs.push(l) })
    await call(studio, 'queue:pause', { paused: true })
    expect(logs.join('\n')).toMatch(
      /1 image\(s\) written before VAR Studio stopped were added to the history/,
    )
    expect(logs.join('\n')).toMatch(
      /2 image\(s\) and 0 timeline file\(s\) without a history record were moved to .*orphans/,
    )
    expect(logs.join('\n')).toMatch(/1 file\(s\) whose writing was cut short were removed/)
    expect(logs.join('\n')).not.toMatch(/name a PNG that is not there/)
    expect(existsSync(join(out, fourth.file))).toBe(false)
    expect(existsSync(join(out, 'orphans', fourth.file))).toBe(true)
    expect(existsSync(join(out, 'orphans', 'images', 'stray.png'))).toBe(true)
    const listed = (await call(studio, 'history:list', {})).filter((e) => e.jobId === id)
    expect(listed.map((e) => e.id).sort()).toEqual(
      mine
        .slice(0, 3)
        .map((e) => e.id)
        .sort(),
    )
    for (const e of listed) expect(existsSync(e.file)).toBe(true)
    // every PNG left in images/ has its record
    const files = new Set((await call(studio, 'history:list', { limit: 5000 })).map((e) => e.file))
    for (const day of await readdir(join(out, 'images'))) {
      for (const name of await readdir(join(out, 'images', day)))
        expect(files.has(join(out, 'images', day, name))).toBe(true)
    }

    const failed = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === id)!
    expect(failed.state).toBe('failed')
    expect(failed.imageIds).toHaveLength(3)
    expect(failed.error).toMatch(
      /^VAR Studio stopped while this job was running \(started .*\): 3 of 4 done before it stopped; Resume makes the other 1 with the same seeds$/,
    )
    expect(await call(studio, 'queue:resume', { jobId: id })).toEqual({ resumed: true })
    await call(studio, 'queue:pause', { paused: false })
    await studio.idle()
    const resumed = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === id)!
    expect(resumed.state).toBe('done')
    const all = (await call(studio, 'history:list', {})).filter((e) => e.jobId === id)
    expect(all.map((e) => e.seed).sort()).toEqual([300, 301, 302, 303])
  })
})
