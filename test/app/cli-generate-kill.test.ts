/**
 * `var-studio generate` writes each batch as it finishes: a run killed (SIGKILL) half-way leaves every
 * image it finished with a run.json saying how far it got, and Ctrl+C (SIGINT) keeps them and says
 * the run was cancelled. The CLI runs as its own process, as a person starts it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '../..')
const MODEL_DIR = join(ROOT, 'models/fashion-mnist-var')
const COUNT = 400

interface PartialRun {
  status: string
  done: number
  total: number
  imageRecords?: string
  images: { index: number; file: string; classId: number; seed: number }[]
}

let tmp: string
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-cli-kill-'))
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

/** Starts generate (node itself, so a signal reaches the process that runs the CLI). */
function start(out: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/var-studio.js'),
      'generate',
      '--model',
      MODEL_DIR,
      '--class',
      'Coat,Bag',
      '--count',
      String(COUNT / 2),
      '--batch-size',
      '2',
      '--seed',
      '7',
      '--strategy',
      'baseline',
      '--device',
      'cpu',
      '--no-verify',
      '--out',
      out,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let err = ''
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<number | null>((done) => {
    child.once('exit', (code) => {
      done(code)
    })
  })
  return { child, exited, stderr: () => err }
}

async function readRun(out: string): Promise<PartialRun | undefined> {
  try {
    return JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as PartialRun
  } catch {
    return undefined
  }
}

/** Waits until run.json says at least `images` are done. */
async function waitForImages(out: string, images: number, stderr: () => string): Promise<void> {
  const until = Date.now() + 120_000
  while (Date.now() < until) {
    const run = await readRun(out)
    if (run && run.done >= images) return
    await new Promise((r) => setTimeout(r, 30))
  }
  throw new Error(`run.json never reached ${images} images; stderr:\n${stderr()}`)
}

/** Every image run.json names is on disk, whole, with its position's seed. */
async function expectImagesOf(out: string, run: PartialRun): Promise<void> {
  expect(run.images.length).toBe(run.done)
  for (const image of run.images) {
    const meta = await sharp(join(out, image.file)).metadata()
    expect([meta.width, meta.height]).toEqual([28, 28])
    // --seed 7 increments by position; Coat (4) first, then Bag (8)
    expect(image.seed).toBe(7 + image.index)
    expect(image.classId).toBe(image.index < COUNT / 2 ? 4 : 8)
  }
  const pngs = (await readdir(out)).filter((f) => f.endsWith('.png'))
  // a batch killed between its PNGs and run.json may leave one batch more on disk, never fewer
  expect(pngs.length).toBeGreaterThanOrEqual(run.done)
  expect(pngs.length).toBeLessThanOrEqual(run.done + 2)
  expect(pngs).not.toContain('grid.png')
}

describe('generate --batch with a category spread over its classes', () => {
  it("gives the row's images the category's classes in turn", async () => {
    const out = join(tmp, 'spread')
    const file = join(tmp, 'spread.csv')
    await writeFile(file, 'prompt,seed,count,category\nsome footwear,40,3,spread\n')
    const run = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin/var-studio.js'),
        'generate',
        '--model',
        MODEL_DIR,
        '--batch',
        file,
        '--strategy',
        'baseline',
        '--device',
        'cpu',
        '--no-verify',
        '--out',
        out,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 170_000 },
    )
    expect(run.stderr).toContain(
      'spread.csv line 2: read as 3 classes in turn (WordNet: "footwear": a category of 3 classes (Sandal, Sneaker, Ankle boot))',
    )
    expect(run.status).toBe(0)
    expect((await readdir(out)).filter((f) => f.endsWith('.png')).sort()).toEqual([
      '0000-sandal-s40.png',
      '0001-sneaker-s41.png',
      '0002-ankle-boot-s42.png',
      'grid.png',
    ])
  }, 180_000)
})

describe('generate writes images as they are made', () => {
  it('a run killed with SIGKILL keeps every finished image and a run.json saying how far it got', async () => {
    const out = join(tmp, 'killed')
    const { child, exited, stderr } = start(out)
    await waitForImages(out, 6, stderr)
    child.kill('SIGKILL')
    await exited
    const run = await readRun(out)
    expect(run).toBeDefined()
    if (!run) return
    expect(run.status).toBe('running')
    expect(run.total).toBe(COUNT)
    expect(run.done).toBeGreaterThanOrEqual(6)
    expect(run.done).toBeLessThan(COUNT)
    await expectImagesOf(out, run)
    // the finished images' token maps are in the line log that run.json names
    expect(run.imageRecords).toBe('run-images.jsonl')
    const lines = (await readFile(join(out, 'run-images.jsonl'), 'utf8')).trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(run.done)
    const first = JSON.parse(lines[0]) as { index: number; tokenMaps: number[][] }
    expect(first.index).toBe(0)
    expect(first.tokenMaps.length).toBeGreaterThan(1)
  }, 180_000)

  it('Ctrl+C keeps the finished images and run.json says the run was cancelled', async () => {
    const out = join(tmp, 'cancelled')
    const { child, exited, stderr } = start(out)
    await waitForImages(out, 4, stderr)
    child.kill('SIGINT')
    const code = await exited
    expect(code).not.toBe(0)
    const run = await readRun(out)
    expect(run?.status).toBe('cancelled')
    if (!run) return
    expect(run.done).toBeLessThan(COUNT)
    await expectImagesOf(out, run)
    expect(stderr()).toContain(`${run.done} of ${COUNT} images were written to ${out}`)
    expect(existsSync(join(out, 'grid.png'))).toBe(false)
  }, 180_000)
})
