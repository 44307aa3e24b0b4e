/**
 * Responsiveness of the process that serves the page while a batch generates: the event-loop lag
 * (perf_hooks.monitorEventLoopDelay) of (1) the studio service in-process, as Electron main runs it,
 * and (2) the web host, with a WebSocket client in another process queueing the batch and
 * receiving every event. Target: p99 <= 50 ms. The model runs in the inference host process; what
 * is measured here is everything around it (events, previews, PNG writing, timelines, history).
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createStudio, type Studio } from '../src-main/app/studio'
import { startWebHost } from '../src-main/web/server'
import { SOCKET_CLIENT as CLIENT } from './socket-client'

const IMAGES = 64
const TARGET_MS = 50
const MODEL = 'fashion-mnist-var-d4'
const job = {
  modelId: MODEL,
  items: Array.from({ length: IMAGES }, (_, i) => ({ classId: i % 10, seed: i })),
  strategy: { kind: 'var-scaling' },
  seedPolicy: 'increment',
}

function report(label: string, h: ReturnType<typeof monitorEventLoopDelay>, ms: number): void {
  const q = (p: number): string => (h.percentile(p) / 1e6).toFixed(1)
  const p99 = h.percentile(99) / 1e6
  console.log(
    `${label.padEnd(34)} ${IMAGES} images in ${(ms / 1000).toFixed(1)} s   lag p50 ${q(50)} ms  p99 ${q(99)} ms  max ${(h.max / 1e6).toFixed(1)} ms  ${p99 <= TARGET_MS ? 'ok' : `OVER the ${TARGET_MS} ms target`}`,
  )
}

async function measure(label: string, studio: Studio, run: () => Promise<void>): Promise<void> {
  // Warm the inference host and the model first: start-up is not what a user waits on mid-batch.
  await studio.handle('queue:add', { jobs: [{ ...job, items: job.items.slice(0, 2) }] })
  await studio.idle()
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  const t = performance.now()
  await run()
  const ms = performance.now() - t
  h.disable()
  report(label, h, ms)
}

export default async function responsivenessBench(): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'var-bench-'))
  try {
    const inProcess = await createStudio({
      home: join(home, 'a'),
      version: 'bench',
      hostName: 'electron',
      log: () => undefined,
    })
    await measure('studio service (Electron main)', inProcess, async () => {
      await inProcess.handle('queue:add', { jobs: [job] })
      await inProcess.idle()
    })
    await inProcess.close()

    const page = join(home, 'page')
    await mkdir(page)
    await writeFile(join(page, 'index.html'), '<!doctype html>')
    const studio = await createStudio({
      home: join(home, 'b'),
      version: 'bench',
      hostName: 'web',
      log: () => undefined,
    })
    const web = await startWebHost({ studio, rendererDir: page, port: 0 })
    await measure('web host + WebSocket client', studio, async () => {
      const url = `ws://127.0.0.1:${web.port}/ws?token=${web.token}`
      const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, url, JSON.stringify(job)], {
        cwd: join(import.meta.dirname, '..'),
        stdio: ['ignore', 'inherit', 'inherit'],
      })
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
      if (code !== 0) throw new Error(`the WebSocket client failed (exit ${String(code)})`)
    })
    await web.close()
    await studio.close()
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}
