/**
 * Long tasks on the studio page while a VAR-Scaling job with N = 1000 candidates runs, with the
 * live Timeline open and, for comparison in the same run, with the Generate view open.
 *
 *   npx tsx docs/perf/timeline-longtasks.ts [images=48] [N=1000] >> docs/perf/timeline-longtasks.txt
 *
 * PROFILE=1 adds the page's busiest functions (CDP sampling profiler); SHOT=file.png saves the
 * Timeline at the job's end.
 *
 * Starts `var-studio serve --port 0` (the built renderer under out/renderer; it rebuilds it when
 * stale) in a temporary home, Debian's Chromium through playwright-core with the e2e suite's flags,
 * and records every PerformanceObserver 'longtask' entry (> 50 ms of main-thread work) between
 * queueing the job and the job's end. Jobs are queued over the studio's WebSocket, as the page would.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import WebSocket from 'ws'

const ROOT = resolve(import.meta.dirname, '..', '..')
const IMAGES = Number(process.argv[2] ?? 48)
const N = Number(process.argv[3] ?? 1000)
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
]

async function serve(base: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['bin/var-studio.js', 'serve', '--port', '0', '--home', join(base, 'home'), '--out', join(base, 'out')],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  )
  let output = ''
  const url = await new Promise<string>((done, fail) => {
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString()
    })
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString()
      const hit = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(output)
      if (hit) done(hit[0])
    })
    child.once('exit', (code) => {
      fail(new Error(`serve exited (${String(code)}):\n${output}`))
    })
  })
  return { url, child }
}

/** One call on the studio's contract over its WebSocket. */
function rpc(url: string, channel: string, args: unknown): Promise<unknown> {
  const u = new URL(url)
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token') ?? ''}`)
  return new Promise((done, fail) => {
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'call', id: 1, channel, args }))
    })
    ws.on('message', (data: Buffer) => {
      const r = JSON.parse(data.toString()) as {
        type: string
        id?: number
        result?: unknown
        error?: unknown
      }
      if (r.type === 'event' || r.id !== 1) return
      ws.close()
      if (r.type === 'error') fail(new Error(JSON.stringify(r.error)))
      else done(r.result)
    })
    ws.once('error', fail)
  })
}

interface Jobs {
  jobs: { id: string; state: string }[]
}

async function runJob(url: string, page: Page, view: string): Promise<string> {
  await page.getByTestId(`nav-${view}`).click()
  await page.evaluate(() => {
    ;(globalThis as unknown as { __long: number[] }).__long = []
  })
  const cdp = process.env.PROFILE ? await page.context().newCDPSession(page) : undefined
  if (cdp) {
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 1000 })
    await cdp.send('Profiler.start')
  }
  const t = performance.now()
  const { jobIds } = (await rpc(url, 'queue:add', {
    jobs: [
      {
        modelId: 'fashion-mnist-var-d4',
        items: Array.from({ length: IMAGES }, (_, i) => ({ classId: i % 10, seed: i })),
        strategy: { kind: 'var-scaling', N },
        seedPolicy: 'increment',
      },
    ],
  })) as { jobIds: string[] }
  for (;;) {
    const q = (await rpc(url, 'queue:get', {})) as Jobs
    const job = q.jobs.find((j) => j.id === jobIds[0])
    if (job && !['queued', 'running'].includes(job.state)) break
    await new Promise((r) => setTimeout(r, 200))
  }
  const seconds = (performance.now() - t) / 1000
  if (process.env.SHOT && view === 'timeline')
    await page.screenshot({ path: process.env.SHOT, fullPage: true })
  // the page may still be drawing the last event: give it a moment, then read
  await new Promise((r) => setTimeout(r, 1500))
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop')
    const self = new Map<string, number>()
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    for (const id of profile.samples ?? []) {
      const f = byId.get(id)?.callFrame
      const key = `${f?.functionName || '(anon)'} ${f?.url.split('/').pop() ?? ''}:${f?.lineNumber ?? 0}:${f?.columnNumber ?? 0}`
      self.set(key, (self.get(key) ?? 0) + 1)
    }
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)
    console.log(`# profile (${view}), samples of 1 ms:\n${top.map(([k, c]) => `#   ${c}  ${k}`).join('\n')}`)
  }
  const long = await page.evaluate(() => (globalThis as unknown as { __long: number[] }).__long)
  const total = long.reduce((a, b) => a + b, 0)
  const max = long.reduce((a, b) => Math.max(a, b), 0)
  const over100 = long.filter((d) => d > 100).length
  return (
    `${view.padEnd(9)} ${IMAGES} images, N=${N}: job ${seconds.toFixed(1)} s; long tasks ${long.length} ` +
    `(${over100} over 100 ms), ${(total / 1000).toFixed(2)} s in all, longest ${max.toFixed(0)} ms`
  )
}

const base = await mkdtemp(join(tmpdir(), 'var-longtasks-'))
const { url, child } = await serve(base)
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', ...FLAGS] })
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  await page.addInitScript(() => {
    // runs in the page: its PerformanceObserver, typed here by hand (no DOM types in this project)
    interface Entry {
      duration: number
    }
    type Observer = new (cb: (list: { getEntries(): Entry[] }) => void) => {
      observe(o: { type: string; buffered: boolean }): void
    }
    const w = globalThis as unknown as { __long: number[]; PerformanceObserver: Observer }
    w.__long = []
    new w.PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__long.push(e.duration)
    }).observe({ type: 'longtask', buffered: false })
  })
  await page.goto(url)
  await page.getByTestId('nav-generate').waitFor({ timeout: 60_000 })
  console.log(
    `# ${new Date().toISOString()} load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (2 cores)`,
  )
  // warm-up: the inference host and the model load, off the record
  await rpc(url, 'queue:add', {
    jobs: [
      {
        modelId: 'fashion-mnist-var-d4',
        items: [{ classId: 0, seed: 0 }],
        strategy: { kind: 'var-scaling', N },
        seedPolicy: 'fixed',
      },
    ],
  })
  for (;;) {
    const q = (await rpc(url, 'queue:get', {})) as Jobs
    if (q.jobs.every((j) => !['queued', 'running'].includes(j.state))) break
    await new Promise((r) => setTimeout(r, 200))
  }
  // two rounds, alternating, so that neither view always runs first
  for (let round = 0; round < 2; round++) {
    console.log(await runJob(url, page, round === 0 ? 'generate' : 'timeline'))
    console.log(await runJob(url, page, round === 0 ? 'timeline' : 'generate'))
  }
  console.log(
    `# load average after ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
} finally {
  await browser.close()
  if (child.pid) process.kill(-child.pid, 'SIGTERM')
  await new Promise((r) => setTimeout(r, 1000))
  await rm(base, { recursive: true, force: true })
}
