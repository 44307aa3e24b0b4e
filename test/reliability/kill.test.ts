/**
 * kill -9 of the studio's process, or of its inference host, at any point of a job: what was
 * finished stays, the history, the PNGs and the queue agree when the studio starts again, and the
 * job resumes for the rest with the same seeds.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { call, job, nextEvent, openStudio, tempHome } from '../app/studio-helpers'

const ROOT = resolve(__dirname, '../..')
const COUNT = 12

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** Starts the child studio; resolves with it once `committed >= after` (or `idle`) was printed. */
function startChild(home: string, after: number): Promise<{ child: ChildProcess; seen: number }> {
  // node itself (not the tsx wrapper), so the kill reaches the process that holds the studio
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'studio-child.ts'), home, String(COUNT)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  return new Promise((done, fail) => {
    let text = ''
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      const counts = [...text.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]))
      const seen = Math.max(0, ...counts)
      if (seen >= after || text.includes('idle')) done({ child, seen })
    })
    child.once('exit', (code) => {
      fail(new Error(`the studio process exited (${code}) before ${after} images were committed`))
    })
  })
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    child.once('exit', () => {
      done()
    })
    child.kill('SIGKILL')
  })
}

/** Every PNG under images/ has a record and every record its PNG and timeline. */
async function expectConsistent(studio: Studio): Promise<void> {
  const out = studio.outputDir()
  const entries = await call(studio, 'history:list', { limit: 5000 })
  const files = new Set(entries.map((e) => e.file))
  for (const e of entries) {
    expect(existsSync(e.file)).toBe(true)
    expect(existsSync(join(out, 'history', 'timelines', `${e.id}.json`))).toBe(true)
  }
  const images = join(out, 'images')
  for (const day of existsSync(images) ? await readdir(images) : []) {
    for (const name of await readdir(join(images, day))) expect(files.has(join(images, day, name))).toBe(true)
  }
}

describe('kill -9', () => {
  for (const [after, delay] of [
    [2, 0],
    [4, 37],
    [6, 120],
  ] as const) {
    it(`of the studio after ${after} images (+${delay} ms): nothing finished is lost and the job resumes`, async () => {
      const { home, cleanup } = await tempHome('kill')
      cleanups.push(cleanup)
      const { child, seen } = await startChild(home, after)
      await new Promise((r) => setTimeout(r, delay))
      await killed(child)
      expect(seen).toBeGreaterThanOrEqual(after)

      const studio = await openStudio(home)
      cleanups.unshift(() => studio.close())
      await call(studio, 'queue:pause', { paused: true })
      await expectConsistent(studio)
      const [stopped] = (await call(studio, 'queue:get', {})).jobs
      const kept = await call(studio, 'history:list', { limit: 5000 })
      // every image committed before the kill was kept, and the job says how many
      expect(kept.length).toBeGreaterThanOrEqual(seen)
      expect(stopped.imageIds).toHaveLength(kept.length)
      if (kept.length < COUNT) {
        expect(stopped.state).toBe('failed')
        expect(stopped.error).toMatch(
          new RegExp(
            `stopped while this job was running .*${kept.length} of ${COUNT} done before it stopped`,
          ),
        )
        expect(await call(studio, 'queue:resume', { jobId: stopped.id })).toEqual({ resumed: true })
        await call(studio, 'queue:pause', { paused: false })
        await studio.idle()
      }
      const done = (await call(studio, 'queue:get', {})).jobs[0]
      expect(done.state).toBe('done')
      const all = await call(studio, 'history:list', { limit: 5000 })
      expect(all.map((e) => e.seed).sort((a, b) => a - b)).toEqual(
        Array.from({ length: COUNT }, (_, i) => 1000 + i),
      )
      // the images made before the kill are the ones kept, not made again
      for (const e of kept) expect(all.find((x) => x.id === e.id)?.createdAt).toBe(e.createdAt)
      await expectConsistent(studio)
    }, 120_000)
  }

  it('of the inference host mid-job: the job keeps its finished images and resumes', async () => {
    const { home, cleanup } = await tempHome('kill-host')
    cleanups.push(cleanup)
    const studio = await openStudio(home)
    cleanups.unshift(() => studio.close())
    await call(studio, 'settings:set', { batchSize: 2, previews: 'off' })
    const { jobIds } = await call(studio, 'queue:add', {
      jobs: [
        job(
          Array.from({ length: COUNT }, (_, i) => i % 10),
          2000,
          { kind: 'var-scaling', N: 16, k: 4 },
        ),
      ],
    })
    await nextEvent(studio, 'queue:changed', (q) => (q.jobs[0]?.imageIds.length ?? 0) >= 4)
    // the host is the child process of this one running the host entry
    const host = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .find((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
          return ppid === process.pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('entry')
        } catch {
          return false
        }
      })
    expect(host).toBeDefined()
    process.kill(Number(host), 'SIGKILL')
    await studio.idle()
    const failed = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === jobIds[0])!
    expect(failed.state).toBe('failed')
    const n = failed.imageIds.length
    expect(n).toBeGreaterThanOrEqual(4)
    expect(failed.error).toMatch(
      new RegExp(
        `^${n} of ${COUNT} done before it failed \\(HostCrashedError: .*\\); Resume makes the other ${COUNT - n} with the same seeds$`,
      ),
    )
    await expectConsistent(studio)
    expect(await call(studio, 'queue:resume', { jobId: jobIds[0] })).toEqual({ resumed: true })
    await studio.idle()
    const done = (await call(studio, 'queue:get', {})).jobs.find((j) => j.id === jobIds[0])!
    expect(done.state).toBe('done')
    expect(done.imageIds).toHaveLength(COUNT)
    await expectConsistent(studio)
  }, 120_000)
})
