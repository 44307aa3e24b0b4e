/**
 * A KdeFn that runs in a worker thread. The worker is started on first use and restarted after it
 * dies; a death fails the jobs it held instead of leaving them pending.
 */
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

export class KdeWorker {
  private worker: Worker | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  constructor(private readonly entry: URL = siblingEntry('kde-worker', import.meta.url)) {}

  /**
   * The KdeFn to hand to the generation loop. Aborting `signal` rejects at once; when no other job
   * waits on the worker, the worker is stopped (it cannot be interrupted otherwise) and the next job
   * starts a fresh one, so an abandoned KDE does not keep a core busy.
   */
  readonly run = (input: KdeInput, signal?: AbortSignal): Promise<KdeResult> =>
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
      // The loop hands over a fresh copy of the ids, so their buffer can move; the codebook is copied.
      const ids = input.ids
      const movable = ids?.buffer instanceof ArrayBuffer && ids.byteLength === ids.buffer.byteLength
      this.ensure().postMessage({ id, input }, movable ? [ids.buffer] : [])
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
