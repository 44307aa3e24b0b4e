/**
 * A KdeFn that runs in worker threads. Each worker is started on first use and restarted after it
 * dies; a death fails the jobs it held instead of leaving them pending. A large Gaussian KDE
 * (Infinity's N = 3000 x 36 positions) is split by positions over the threads (two on our 2-core
 * machines) and their densities added; small ones (VAR's N = 50 x 4) stay on one thread, where
 * sending them twice would cost more than it saves.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import type { KdeInput, KdeResult } from '../../src-shared/engine/kde'
import { CancelledError } from '../../src-shared/errors'
import { errorFromWire, type WireError } from '../../src-shared/protocol'
import { siblingEntry, startWorker } from './loader'

interface Pending {
  resolve: (result: KdeResult) => void
  reject: (error: Error) => void
}

type WorkerReply = { id: number; result: KdeResult } | { id: number; error: WireError }

/** One worker thread. */
class KdeThread {
  private worker: Worker | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  constructor(private readonly entry: URL = siblingEntry('kde-worker', import.meta.url)) {}

  /**
   * The KdeFn to hand to the generation loop. Aborting `signal` rejects at once; when no other job
   * waits on the worker, the worker is stopped (it cannot be interrupted otherwise) and the next job
   * starts a fresh one, so an abandoned KDE does not keep a core busy.
   */
  readonly run = (input: KdeInput, signal?: AbortSignal, ownFeatures = false): Promise<KdeResult> =>
    new Promise<KdeResult>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new CancelledError('Cancelled before the KDE'))
        return
      }
      const id = ++this.nextId
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return
        reject(new CancelledError('Cancelled by request during the KDE'))
        if (this.pending.size === 0) void this.close()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: (result) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(result)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      })
      // The loop hands over a fresh copy of the ids (and the split its own copies of ids or features),
      // so their buffers can move; the codebook is copied.
      const moving: ArrayBuffer[] = []
      for (const a of [input.ids, ownFeatures ? input.features : undefined]) {
        if (a?.buffer instanceof ArrayBuffer && a.byteLength === a.buffer.byteLength) moving.push(a.buffer)
      }
      this.ensure().postMessage({ id, input }, moving)
    })

  /** Starts the worker ahead of its first job (it takes a moment to load). */
  warm(): void {
    this.ensure()
  }

  private ensure(): Worker {
    if (this.worker) return this.worker
    const worker = startWorker(this.entry)
    worker.on('message', (reply: WorkerReply) => {
      const job = this.pending.get(reply.id)
      if (!job) return
      this.pending.delete(reply.id)
      if ('error' in reply) job.reject(errorFromWire(reply.error))
      else job.resolve(reply.result)
    })
    const fail = (error: Error): void => {
      if (this.worker !== worker) return
      this.worker = undefined
      for (const job of this.pending.values()) job.reject(error)
      this.pending.clear()
    }
    worker.on('error', (error) => {
      fail(new Error(`KDE worker failed: ${error.message}`, { cause: error }))
    })
    worker.on('exit', (code) => {
      fail(new Error(`KDE worker exited with code ${code}`))
    })
    this.worker = worker
    return worker
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    if (worker) await worker.terminate()
  }
}

/**
 * The KDE of positions [from, to) alone: the same input with the ids or features of those positions
 * copied out ([B, N, to - from] and [B, N, to - from, d]). Positions are independent (each has its own
 * bandwidth), so the densities of the parts add up to those of the whole.
 */
export function positionsOf(input: KdeInput, from: number, to: number): KdeInput {
  const { B, N, P, d } = input
  const p = to - from
  const rows = B * N
  const part: KdeInput = { ...input, P: p }
  delete part.positions
  if (input.ids) {
    const ids = new Int32Array(rows * p)
    for (let r = 0; r < rows; r++) ids.set(input.ids.subarray(r * P + from, r * P + to), r * p)
    part.ids = ids
  }
  if (input.features) {
    const f = new Float32Array(rows * p * d)
    for (let r = 0; r < rows; r++)
      f.set(input.features.subarray((r * P + from) * d, (r * P + to) * d), r * p * d)
    part.features = f
  }
  return part
}

/** A KDE is split over the threads above this many B·N²·P·d (about 0.1 s of work on one thread). */
export const SPLIT_ABOVE = 1e8

export class KdeWorker {
  private readonly threads: KdeThread[]
  private readonly splitAbove: number
  /** how many threads the last KDE ran on (tests) */
  lastParts = 0

  constructor(options: { threads?: number; splitAbove?: number; entry?: URL } = {}) {
    const entry = options.entry ?? siblingEntry('kde-worker', import.meta.url)
    const count = Math.max(1, Math.min(options.threads ?? 2, availableParallelism()))
    this.threads = Array.from({ length: count }, () => new KdeThread(entry))
    this.splitAbove = options.splitAbove ?? SPLIT_ABOVE
  }

  /**
   * The KdeFn to hand to the generation loop. Aborting `signal` rejects at once and stops the
   * threads that were working on it (see KdeThread.run).
   */
  readonly run = async (input: KdeInput, signal?: AbortSignal): Promise<KdeResult> => {
    const { B, N, P, d } = input
    const parts = Math.min(this.threads.length, P)
    const small = B * N * N * P * d <= this.splitAbove
    if (input.kernel !== 'gaussian' || parts < 2 || small || input.positions) {
      this.lastParts = 1
      return this.threads[0].run(input, signal)
    }
    this.lastParts = parts
    // each thread gets its positions only, as a compact copy that moves to it (nothing cloned twice)
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * P) / parts))
    const results = await Promise.all(
      this.threads
        .slice(0, parts)
        .map((thread, i) => thread.run(positionsOf(input, bounds[i], bounds[i + 1]), signal, true)),
    )
    const densities = results[0].densities
    for (const r of results.slice(1))
      for (let i = 0; i < densities.length; i++) densities[i] += r.densities[i]
    const bandwidths = new Float64Array(B * P)
    results.forEach((r, i) => {
      const [from, to] = [bounds[i], bounds[i + 1]]
      for (let b = 0; b < B; b++)
        bandwidths.set(r.bandwidths.subarray(b * (to - from), (b + 1) * (to - from)), b * P + from)
    })
    return { densities, bandwidths }
  }

  /** Starts the threads ahead of their first job (they take a moment to load). */
  warm(): void {
    for (const t of this.threads) t.warm()
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()))
  }
}
