/**
 * The inference host as a real child process: calls, progress, crash and restart, cancel, a stuck
 * host, a host that dies at start, and garbage on the channel.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from '../../src-shared/engine/loop'
import { localKde } from '../../src-shared/engine/kde'
import { CancelledError, HostCrashedError, InvalidRequestError } from '../../src-shared/errors'
import type { ScaleProgress, VerifyProgress } from '../../src-shared/protocol'
import { HostClient } from '../../src-main/host/client'
import { loaderExecArgv } from '../../src-main/host/loader'
import { openModel } from '../../src-main/host/ort/model'
import { readCodebook, readManifest } from '../../src-main/storage/model-folder'
import { loadFreeRunning, loadTeacherForced, maxAbsDiff, TINY_DIR } from '../engine/fixtures'
import { MODEL_DIR } from './model'

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const quiet = { onLog: () => undefined }
const cpu = { provider: 'cpu' as const }

let client: HostClient
beforeAll(() => {
  client = new HostClient(quiet)
})
afterAll(async () => {
  await client.close()
})

/** Many small batches, so a job is still running when the test acts on its first progress event. */
const longJob = Array.from({ length: 60 }, (_, i) => ({ classId: i % 3, seed: i }))

describe('inference host process', () => {
  it('answers host.info and verifies a model with progress over files and graphs', async () => {
    const info = await client.call('host.info', {})
    expect(info.pid).toBe(client.pid)
    expect(info.ladder.at(-1)).toBe('cpu')
    expect(info.versions.onnxruntime).toBe('1.30.0')

    const events: VerifyProgress[] = []
    const result = await client.call(
      'models.verify',
      { dir: MODEL_DIR },
      { onProgress: (p) => events.push(p) },
    )
    expect(result.ok).toBe(true)
    expect(result.files.every((f) => f.ok)).toBe(true)
    expect(result.graphs.map((g) => g.ok)).toEqual(result.graphs.map(() => true))
    const hashing = events.filter((e) => e.phase === 'hash')
    expect(hashing.at(-1)?.bytesDone).toBe(hashing.at(-1)?.bytesTotal)
    expect(events.filter((e) => e.phase === 'graph').map((e) => e.file)).toEqual(
      result.graphs.map((g) => g.file),
    )

    const again = await client.call('models.verify', { dir: MODEL_DIR, graphs: false })
    expect(again.files.every((f) => f.cached === true)).toBe(true)
  }, 120_000)

  it('generates, reports the provider, and repeats itself bit for bit', async () => {
    const items = [
      { classId: 0, seed: 11 },
      { classId: 7, seed: 12 },
      { classId: 7, seed: 13 },
    ]
    const scales: ScaleProgress[] = []
    const a = await client.call(
      'generate',
      { dir: MODEL_DIR, items, device: cpu, strategy: { kind: 'baseline' }, batchSize: 2 },
      { onProgress: (p) => p.kind === 'scale' && scales.push(p) },
    )
    const m = await readManifest(MODEL_DIR)
    expect(a.provider).toMatchObject({ provider: 'cpu', requested: 'cpu' })
    expect(a.images.map((i) => [i.classId, i.className, i.seed])).toEqual(
      items.map((i) => [i.classId, m.class_names[i.classId], i.seed]),
    )
    expect(a.images[0]?.pixels.length).toBe(m.image_channels * m.image_size * m.image_size)
    expect(a.timings.batches).toBe(2)
    expect(scales).toHaveLength(2 * m.patch_nums.length)
    expect(scales[1]).toMatchObject({ batch: 0, batches: 2, B: 2, si: 1, pn: m.patch_nums[1] })
    expect(scales[1]?.tokens).toBeInstanceOf(Int32Array)

    const b = await client.call('generate', {
      dir: MODEL_DIR,
      items,
      device: cpu,
      strategy: { kind: 'baseline' },
    })
    expect(b.timings.loadMs).toBe(0)
    for (const [i, image] of b.images.entries()) expect(image.pixels).toEqual(a.images[i]?.pixels)
  }, 120_000)

  it('draws PyTorch’s free-running token maps and image (tiny-var fixture) through the host', async () => {
    const fx = loadFreeRunning()
    const result = await client.call('generate', {
      dir: TINY_DIR,
      items: fx.labels.map((classId, b) => ({ classId, seed: fx.seeds[b] ?? 0 })),
      device: cpu,
      sampling: fx.sampling,
      strategy: { kind: 'baseline' },
      batchSize: 2,
    })
    expect(result.sampling).toEqual(fx.sampling)
    fx.tokens.forEach((want, si) => {
      const got = result.images.flatMap((image) => Array.from(image.record.tokenMaps[si] ?? []))
      expect(got, `token maps at scale ${si}`).toEqual(want)
    })
    const pixels = result.images.flatMap((image) => Array.from(image.pixels))
    expect(maxAbsDiff(pixels, fx.image)).toBeLessThanOrEqual(fx.tolerance.image)
  }, 120_000)

  it('decodes the teacher-forced ids into PyTorch’s image through the host', async () => {
    const fx = loadTeacherForced()
    const result = await client.call('decodeScales', {
      dir: MODEL_DIR,
      device: cpu,
      tokenMaps: fx.scales.map((s) => s.ids),
    })
    const size = fx.image.length
    expect(result.images.length).toBe(fx.scales.length * size)
    const last = result.images.subarray((fx.scales.length - 1) * size)
    expect(maxAbsDiff(last, fx.image)).toBeLessThanOrEqual(fx.tolerance.image)
  }, 120_000)

  it('runs the KDE in its worker with the same result as the pure function', async () => {
    const items = [
      { classId: 2, seed: 5 },
      { classId: 4, seed: 6 },
    ]
    const strategy = { kind: 'var-scaling' as const, N: 12, k: 4 }
    const remote = await client.call('generate', { dir: MODEL_DIR, items, device: cpu, strategy })

    const m = await readManifest(MODEL_DIR)
    const local = await openModel(MODEL_DIR, m, { provider: 'cpu', fallback: false })
    try {
      const out = await generate(
        local.runner,
        m,
        await readCodebook(MODEL_DIR, m),
        {
          classes: items.map((i) => i.classId),
          seeds: items.map((i) => i.seed),
          sampling: remote.sampling,
          strategy,
        },
        { kde: localKde },
      )
      const size = out.images.length / items.length
      remote.images.forEach((image, b) => {
        expect(image.pixels).toEqual(out.images.slice(b * size, (b + 1) * size))
        expect(Array.from(image.record.selections[0]?.record.densities ?? [])).toEqual(
          Array.from(out.records[b]?.selections[0]?.record.densities ?? []),
        )
      })
    } finally {
      await local.release()
    }
  }, 120_000)

  it('reports bad requests with the field named and stays up', async () => {
    const bad = client.call('generate', { dir: MODEL_DIR, items: [{ classId: 99, seed: 1 }], device: cpu })
    await expect(bad).rejects.toThrow(InvalidRequestError)
    await expect(bad).rejects.toThrow(
      /items\[0\]\.classId: must be a class id in \[0, 9\] \(99 is not a class/,
    )
    const knob = client.call('generate', {
      dir: MODEL_DIR,
      items: [{ classId: 1, seed: 1 }],
      strategy: { kind: 'var-scaling', N: 4, k: 5 },
    })
    // the strategy is part of the request schema: refused at the protocol boundary, field named
    await expect(knob).rejects.toThrow(InvalidRequestError)
    await expect(knob).rejects.toThrow('strategy.k: must be an integer in [1, N] = [1, 4]')
    expect((await client.call('host.info', {})).pid).toBe(client.pid)
  }, 60_000)

  it('cancels a running job between scales and keeps the host', async () => {
    const pid = (await client.call('host.info', {})).pid
    const abort = new AbortController()
    const job = client.call(
      'generate',
      { dir: MODEL_DIR, items: longJob, device: cpu, strategy: { kind: 'baseline' }, batchSize: 1 },
      {
        signal: abort.signal,
        onProgress: (p) => {
          if (p.kind === 'scale') abort.abort()
        },
      },
    )
    await expect(job).rejects.toThrow(CancelledError)
    expect((await client.call('host.info', {})).pid).toBe(pid)
  }, 120_000)

  it('fails the running job when the host is killed, and restarts it for the next call', async () => {
    const before = client.startCount
    const pid = client.pid
    expect(pid).toBeDefined()
    const job = client.call(
      'generate',
      { dir: MODEL_DIR, items: longJob, device: cpu, strategy: { kind: 'baseline' }, batchSize: 1 },
      { onProgress: (p) => p.kind === 'scale' && pid !== undefined && process.kill(pid, 'SIGKILL') },
    )
    const error = await job.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HostCrashedError)
    expect((error as Error).message).toBe('inference host exited with signal SIGKILL during generate')

    const next = await client.call('generate', {
      dir: MODEL_DIR,
      items: [{ classId: 1, seed: 1 }],
      device: cpu,
      strategy: { kind: 'baseline' },
    })
    expect(next.images).toHaveLength(1)
    expect(client.startCount).toBe(before + 1)
    expect(client.pid).not.toBe(pid)
  }, 120_000)
})

describe('hosts that misbehave', () => {
  it('kills a host that does not stop after a cancel, so the caller never hangs', async () => {
    const stuck = new HostClient({ ...quiet, entry: fixture('stuck-host.ts'), cancelGraceMs: 300 })
    try {
      const abort = new AbortController()
      const call = stuck.call('host.info', {}, { signal: abort.signal })
      setTimeout(() => {
        abort.abort()
      }, 200)
      await expect(call).rejects.toThrow(CancelledError)
      const first = stuck.startCount
      const again = stuck.call('host.info', {}, { signal: AbortSignal.timeout(200) })
      await expect(again).rejects.toThrow(CancelledError)
      expect(stuck.startCount).toBe(first + 1)
    } finally {
      await stuck.close()
    }
  }, 60_000)

  it('says how a host that dies at start exited, quoting its last output', async () => {
    const broken = new HostClient({ ...quiet, entry: fixture('crash-host.ts') })
    try {
      const error = await broken.call('host.info', {}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(HostCrashedError)
      expect((error as Error).message).toMatch(/^inference host exited with code 3 during host\.info/)
      expect((error as Error).message).toContain('native library exploded')
    } finally {
      await broken.close()
    }
  }, 60_000)

  it('answers garbage on the channel with an error and keeps serving', async () => {
    const entry = fileURLToPath(new URL('../../src-main/host/entry.ts', import.meta.url))
    const child = fork(entry, [], {
      execArgv: loaderExecArgv(entry),
      serialization: 'advanced',
      stdio: 'ignore',
    })
    const messages: unknown[] = []
    const next = (pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
      new Promise((resolve) => {
        const check = (m: unknown): void => {
          messages.push(m)
          if (pred(m as Record<string, unknown>)) {
            child.off('message', check)
            resolve(m as Record<string, unknown>)
          }
        }
        child.on('message', check)
      })
    try {
      await next((m) => m.event === 'ready')
      const reply = next((m) => m.id === 'g1')
      child.send('garbage')
      child.send({ nonsense: true })
      child.send({ id: 'g1', method: 'models.verify', params: 'all of them' })
      expect(await reply).toMatchObject({ id: 'g1', error: { name: 'InvalidRequestError' } })
      const ok = next((m) => m.id === 'ok')
      child.send({ id: 'ok', method: 'host.info', params: {} })
      expect(await ok).toMatchObject({ id: 'ok', result: { pid: child.pid } })
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)
})
