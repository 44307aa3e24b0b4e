/**
 * Memory over a long run of the studio service (what `serve` runs), printed every 500 images after a
 * full collection:
 *
 *   node --expose-gc --import tsx test/reliability/soak.ts [jobs of 100 images] [--delete]
 *
 * With --delete, each job's images are deleted after it (the history stays small). Measured on the
 * embedded model (var-scaling N = 8, previews `first`), 4000 images: the heap grows about 1.3 MB per
 * 1000 images when they are kept (14.6 -> 19.9 MB; RSS 140 -> 155 MB) and levels off at 15.8 MB when
 * they are deleted (RSS 144-151 MB throughout). The growth is the history index, which the studio
 * holds in memory (about 1.3 kB a record), not a leak.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStudio } from '../../src-main/app/studio'

const jobs = Number(process.argv[2] ?? 40)
const deleting = process.argv.includes('--delete')
const PER_JOB = 100
const home = await mkdtemp(join(tmpdir(), 'var-soak-'))
const studio = await createStudio({ home, version: 'soak', hostName: 'web', log: () => undefined })
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) console.warn('run with --expose-gc for comparable numbers')
const t0 = Date.now()
try {
  for (let j = 0; j < jobs; j++) {
    await studio.handle('queue:add', {
      jobs: [
        {
          modelId: 'fashion-mnist-var-d4',
          items: Array.from({ length: PER_JOB }, (_, i) => ({ classId: i % 10, seed: j * PER_JOB + i })),
          strategy: { kind: 'var-scaling', N: 8, k: 4 },
          seedPolicy: 'increment',
        },
      ],
    })
    await studio.idle()
    if (deleting) {
      const entries = (await studio.handle('history:list', { limit: 5000 })) as { id: string }[]
      for (const e of entries) await studio.handle('history:delete', { imageId: e.id })
      await studio.handle('queue:clear', {})
    }
    if (j === 0 || (j + 1) % 5 === 0) {
      gc?.()
      gc?.()
      const m = process.memoryUsage()
      const mb = (n: number): string => (n / 1e6).toFixed(1)
      console.log(
        `${(j + 1) * PER_JOB} images, ${((Date.now() - t0) / 1000).toFixed(0)} s: rss ${mb(m.rss)} MB, ` +
          `heap ${mb(m.heapUsed)} MB, external ${mb(m.external)} MB`,
      )
    }
  }
} finally {
  await studio.close()
  await rm(home, { recursive: true, force: true })
}
