/**
 * A studio in its own process, for kill -9 tests: opens the home folder given as argv[2], queues one
 * job of argv[3] images (two per batch, previews off) unless one is queued already, and prints
 * `committed <n>` each time the running job's images grow, `idle` when the queue has nothing to run.
 */
import { createStudio } from '../../src-main/app/studio'

const home = process.argv[2]
const count = Number(process.argv[3] ?? '12')
const studio = await createStudio({ home, version: '0.0.0-test', hostName: 'web', log: () => undefined })
studio.on('queue:changed', (q) => {
  const running = q.jobs.find((j) => j.state === 'running')
  if (running) process.stdout.write(`committed ${running.imageIds.length}\n`)
})
await studio.handle('settings:set', { batchSize: 2, previews: 'off' })
const queued = (await studio.handle('queue:get', {})) as { jobs: { state: string }[] }
if (!queued.jobs.some((j) => j.state === 'queued')) {
  await studio.handle('queue:add', {
    jobs: [
      {
        modelId: 'fashion-mnist-var-d4',
        items: Array.from({ length: count }, (_, i) => ({ classId: i % 10, seed: 1000 + i })),
        strategy: { kind: 'var-scaling', N: 16, k: 4 },
        seedPolicy: 'increment',
      },
    ],
  })
}
await studio.idle()
process.stdout.write('idle\n')
await studio.close()
