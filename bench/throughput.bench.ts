/**
 * Studio vs CLI throughput on the same work, side by side in one run: var-scaling N = 50 on the
 * embedded model, the same classes and seeds, batch size 16, PNGs with metadata.
 *
 * - CLI: `var-studio generate` as a user runs it. Its start-up (process, inference host, model load)
 *   is taken out by running it twice, with SMALL and with IMAGES images: rate = (IMAGES - SMALL) /
 *   (t_IMAGES - t_SMALL).
 * - Web host: `startWebHost` on a studio, warmed by a 2-image job, then the job queued by a WebSocket
 *   client in its own process (as a browser would be) that reads every event until the job is done;
 *   once with the Settings default for partial decodes (`first`: every scale of each batch's first
 *   image) and once with them off, which is what the CLI does.
 *
 * The machine is shared, so the measurements are interleaved in rounds (CLI then web host, then web
 * host then CLI, ...), each round's ratio taken against its own CLI rate, and the median ratio is
 * printed with the spread over the rounds. THROUGHPUT_IMAGES (default 500) sets IMAGES; SMALL is 32;
 * THROUGHPUT_ROUNDS (default 4) the rounds. The studio's output folder holds THROUGHPUT_HISTORY
 * (default 5000) earlier images, as after some use.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { StudioEvents } from '../src-main/app/events'
import { History, HISTORY_FORMAT, type StoredEntry } from '../src-main/app/history'
import { JsonFile } from '../src-main/app/json-file'
import { createStudio } from '../src-main/app/studio'
import { startWebHost } from '../src-main/web/server'
import { SOCKET_CLIENT as CLIENT } from './socket-client'

const ROOT = join(import.meta.dirname, '..')
const IMAGES = Number(process.env.THROUGHPUT_IMAGES ?? 500)
const SMALL = 32
const ROUNDS = Number(process.env.THROUGHPUT_ROUNDS ?? 4)
const MODEL = 'fashion-mnist-var-d4'
const HISTORY = Number(process.env.THROUGHPUT_HISTORY ?? 5000)

function items(count: number): { classId: number; seed: number }[] {
  return Array.from({ length: count }, (_, i) => ({ classId: i % 10, seed: i }))
}

function run(cmd: string, args: string[]): Promise<number> {
  const t = performance.now()
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString()
  })
  return new Promise((done, fail) => {
    child.on('exit', (code) => {
      if (code === 0) done(performance.now() - t)
      else fail(new Error(`${args.join(' ')} exited ${String(code)}:\n${err.slice(-2000)}`))
    })
  })
}

/** The CLI on `count` images: a batch file with the same classes and seeds as the studio's job. */
async function cli(dir: string, count: number): Promise<number> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, `batch-${count}.json`)
  await writeFile(file, JSON.stringify(items(count).map((it) => ({ class: it.classId, seed: it.seed }))))
  const out = join(dir, `cli-${count}`)
  return run(process.execPath, [
    'bin/var-studio.js',
    'generate',
    '--batch',
    file,
    '--strategy',
    'var-scaling',
    '--N',
    '50',
    '--batch-size',
    '16',
    '--out',
    out,
  ])
}

/**
 * What recording one batch of 16 images costs the history as it grows, at RECORDS records: the
 * index rewritten in full (what History.add did before the journal: index.json written aside and
 * renamed) against one line appended to history/index.journal (now), the rewrite amortised in.
 * Both on the event loop that serves the page.
 */
async function historyWrites(dir: string, records: number): Promise<void> {
  const out = join(dir, `history-${records}`)
  await priorHistory(out, records)
  const index = JSON.parse(await readFile(join(out, 'outputs', 'history', 'index.json'), 'utf8')) as {
    images: StoredEntry[]
  }
  const batches = 20
  const batch = (k: number): StoredEntry[] =>
    index.images.slice(0, 16).map((e, i) => ({ ...e, id: `new-${k}-${i}`, file: e.file }))
  const file = new JsonFile(join(out, 'rewrite.json'))
  let images = [...index.images]
  let t = performance.now()
  for (let k = 0; k < batches; k++) {
    images = [...images, ...batch(k)]
    await file.write({ format: HISTORY_FORMAT, images })
  }
  const rewrite = (performance.now() - t) / batches
  const history = await History.open(join(out, 'outputs'), new StudioEvents(), () => undefined)
  t = performance.now()
  for (let k = 0; k < batches; k++) {
    await history.add(batch(k).map((entry) => ({ entry, timeline: { imageId: entry.id } as never })))
  }
  const append = (performance.now() - t) / batches
  await history.flush()
  console.log(
    `  history writes per batch of 16 at ${records} records: index rewritten ${rewrite.toFixed(1)} ms, ` +
      `journal (16 timeline files and one line) ${append.toFixed(1)} ms`,
  )
}

/**
 * An output folder that already holds HISTORY images, as a user's does after some use: their PNGs
 * (stand-in bytes) and their records in history/index.json. The CLI writes no history, so without
 * them the bench would leave out what the studio's history costs as it grows.
 */
async function priorHistory(home: string, count = HISTORY): Promise<void> {
  const out = join(home, 'outputs')
  await mkdir(join(out, 'images', 'earlier'), { recursive: true })
  await mkdir(join(out, 'history', 'timelines'), { recursive: true })
  const images = []
  for (let i = 0; i < count; i++) {
    const id = `earlier-${String(i).padStart(5, '0')}`
    const file = join('images', 'earlier', `${id}.png`)
    await writeFile(join(out, file), 'png')
    images.push({
      id,
      jobId: `earlier-${Math.floor(i / 16)}`,
      modelId: MODEL,
      classId: i % 10,
      className: 'T-shirt/top',
      seed: i,
      strategyKind: 'var-scaling',
      strategy: { kind: 'var-scaling', N: 50, k: 10, alpha: 2.3, dedup: 1.8, searchScale: 1 },
      sampling: { cfg: 1.5, top_k: 0, top_p: 0, more_smooth: false },
      N: 50,
      provider: 'cpu',
      createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      file,
      width: 28,
      height: 28,
      // about the size of a real record's A1111-style parameters text
      parameters: `T-shirt/top\nSteps: 6, Sampler: VAR, CFG scale: 1.5, Seed: ${i}, Size: 28x28, Model: ${MODEL}, ${'x'.repeat(400)}`,
    })
  }
  await writeFile(
    join(out, 'history', 'index.json'),
    JSON.stringify({ format: 'var-studio-history/1', images }),
  )
}

async function webHost(home: string, previews: 'first' | 'off'): Promise<number> {
  await priorHistory(home)
  const page = join(home, 'page')
  await mkdir(page, { recursive: true })
  await writeFile(join(page, 'index.html'), '<!doctype html>')
  const studio = await createStudio({ home, version: 'bench', hostName: 'web', log: () => undefined })
  try {
    await studio.handle('settings:set', { previews, batchSize: 16 })
    const job = { modelId: MODEL, strategy: { kind: 'var-scaling', N: 50 }, seedPolicy: 'fixed' }
    await studio.handle('queue:add', { jobs: [{ ...job, items: items(2) }] })
    await studio.idle()
    const web = await startWebHost({ studio, rendererDir: page, port: 0 })
    try {
      const url = `ws://127.0.0.1:${web.port}/ws?token=${web.token}`
      return await run(process.execPath, [
        '--input-type=module',
        '-e',
        CLIENT,
        url,
        JSON.stringify({ ...job, items: items(IMAGES) }),
      ])
    } finally {
      await web.close()
    }
  } finally {
    await studio.close()
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export default async function throughputBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'var-throughput-'))
  const ratios: Record<'first' | 'off', number[]> = { first: [], off: [] }
  try {
    console.log(
      `throughput: var-scaling N=50, ${IMAGES} images, batch 16, ${ROUNDS} rounds, ${HISTORY} earlier images in the studio's history; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (2 cores)`,
    )
    for (const records of [HISTORY, 4 * HISTORY]) await historyWrites(dir, records)
    for (let round = 1; round <= ROUNDS; round++) {
      // Each round's ratios are against that round's CLI rate; odd rounds run the CLI first, even
      // rounds last, so a load that rises or falls through a round does not favour one side.
      const measureCli = async (): Promise<number> => {
        const small = await cli(join(dir, `r${round}`), SMALL)
        const big = await cli(join(dir, `r${round}`), IMAGES)
        const rate = (IMAGES - SMALL) / ((big - small) / 1000)
        console.log(
          `  round ${round} CLI generate            ${SMALL} images ${(small / 1000).toFixed(1)} s, ${IMAGES} images ${(big / 1000).toFixed(1)} s: ${rate.toFixed(1)} images/s after start-up`,
        )
        return rate
      }
      const web: Partial<Record<'first' | 'off', number>> = {}
      const measureWeb = async (): Promise<void> => {
        for (const previews of ['off', 'first'] as const) {
          const ms = await webHost(join(dir, `r${round}-web-${previews}`), previews)
          web[previews] = IMAGES / (ms / 1000)
          console.log(
            `  round ${round} web host, previews ${previews.padEnd(5)} ${IMAGES} images ${(ms / 1000).toFixed(1)} s: ${(web[previews] ?? 0).toFixed(1)} images/s`,
          )
        }
      }
      let cliRate: number
      if (round % 2 === 1) {
        cliRate = await measureCli()
        await measureWeb()
      } else {
        await measureWeb()
        cliRate = await measureCli()
      }
      for (const previews of ['off', 'first'] as const) ratios[previews].push((web[previews] ?? 0) / cliRate)
      console.log(
        `  round ${round} ratio web host / CLI: previews off ${ratios.off[round - 1].toFixed(2)}x, previews first ${ratios.first[round - 1].toFixed(2)}x`,
      )
    }
    for (const previews of ['off', 'first'] as const) {
      const r = ratios[previews]
      if (r.length === 0) continue
      console.log(
        `throughput web host / CLI, previews ${previews.padEnd(5)}: median ${median(r).toFixed(2)}x over ${r.length} rounds ` +
          `(spread ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}x)`,
      )
    }
    console.log(
      `  load average after ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
