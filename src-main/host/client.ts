/**
 * Client of the inference host process. `call()` sends one request and resolves with its result;
 * progress events go to `onProgress`; aborting the signal sends a cancel message. If the host dies,
 * every pending call rejects with HostCrashedError and the next call starts a fresh host.
 */
import { fileURLToPath } from 'node:url'
import { CancelledError, HostCrashedError, ProtocolError } from '../../src-shared/errors'
import {
  errorFromWire,
  type HostMethod,
  type ParamsIn,
  parseHostMessage,
  type ProgressOf,
  type ResultOf,
} from '../../src-shared/protocol'
import { forkHost, type HostProcess, type SpawnHost } from './host-process'

export type CallableMethod = Exclude<HostMethod, 'cancel'>

export interface CallOptions<M extends CallableMethod> {
  onProgress?: (data: ProgressOf<M>) => void
  signal?: AbortSignal
}

export interface HostClientOptions {
  /** The host's entry file; defaults to ./entry.ts beside this file. */
  readonly entry?: string
  readonly env?: NodeJS.ProcessEnv
  /** Receives the host's stdout and stderr (onnxruntime logs there); defaults to this process's stderr. */
  readonly onLog?: (text: string) => void
  /** After a cancel, how long a job may take to stop before the host is killed (ms). */
  readonly cancelGraceMs?: number
  /** Starts the host process; child_process.fork by default. */
  readonly spawn?: SpawnHost
}

interface Pending {
  readonly method: CallableMethod
  resolve(value: unknown): void
  reject(error: Error): void
  onProgress?: ((data: never) => void) | undefined
  cancelled?: boolean
  cleanup(): void
}

interface Host {
  readonly child: HostProcess
  readonly ready: Promise<void>
  readonly exited: Promise<void>
  /** Why the client killed it, when it did. */
  killReason?: string
  tail: string
}

const DEFAULT_ENTRY = fileURLToPath(new URL('./entry.ts', import.meta.url))
const TAIL_CHARS = 2000

export class HostClient {
  private host: Host | undefined
  private readonly pending = new Map<string, Pending>()
  private nextId = 0
  private starts = 0
  private closed = false

  constructor(private readonly options: HostClientOptions = {}) {}

  /** Process id of the running host, if one is running. */
  get pid(): number | undefined {
    return this.host?.child.pid
  }

  /** How many times a host was started (1 + restarts). */
  get startCount(): number {
    return this.starts
  }

  call<M extends CallableMethod>(
    method: M,
    params: ParamsIn<M>,
    options: CallOptions<M> = {},
  ): Promise<ResultOf<M>> {
    if (this.closed) return Promise.reject(new HostCrashedError('the inference host client was closed'))
    const { signal, onProgress } = options
    if (signal?.aborted)
      return Promise.reject(new CancelledError(`${method} was cancelled before it started`))
    const id = String(++this.nextId)
    const host = this.ensure()
    return new Promise<ResultOf<M>>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined
      const onAbort = (): void => {
        const job = this.pending.get(id)
        if (job) job.cancelled = true
        this.send(host, { id: String(++this.nextId), method: 'cancel', params: { id } })
        graceTimer = setTimeout(() => {
          // The job did not stop (a long native run): kill the host so nothing hangs.
          host.killReason = `${method} did not stop within ${this.graceMs} ms of its cancel`
          host.child.kill()
        }, this.graceMs)
        graceTimer.unref()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        method,
        resolve: (value) => {
          resolve(value as ResultOf<M>)
        },
        reject,
        onProgress,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort)
          if (graceTimer) clearTimeout(graceTimer)
        },
      })
      this.send(host, { id, method, params })
    })
  }

  /** Stops the host; pending calls reject. */
  async close(): Promise<void> {
    this.closed = true
    const host = this.host
    if (!host) return
    host.killReason = 'the client was closed'
    const timer = setTimeout(() => {
      host.child.kill()
    }, 5000)
    host.child.close()
    await host.exited
    clearTimeout(timer)
  }

  private get graceMs(): number {
    return this.options.cancelGraceMs ?? 30_000
  }

  private send(host: Host, message: unknown): void {
    void host.ready.then(() => {
      if (this.host === host && !host.child.send(message)) {
        this.log('inference host client: the host channel is closed; the message was dropped\n')
      }
    })
  }

  private log(text: string): void {
    if (this.options.onLog) this.options.onLog(text)
    else process.stderr.write(text)
  }

  private ensure(): Host {
    if (this.host) return this.host
    const spawn = this.options.spawn ?? forkHost
    const child = spawn(this.options.entry ?? DEFAULT_ENTRY, this.options.env ?? process.env)
    this.starts++
    let markReady: () => void = () => undefined
    let markExited: () => void = () => undefined
    const host: Host = {
      child,
      ready: new Promise<void>((r) => (markReady = r)),
      exited: new Promise<void>((r) => (markExited = r)),
      tail: '',
    }
    child.onOutput((text) => {
      host.tail = (host.tail + text).slice(-TAIL_CHARS)
      this.log(text)
    })
    child.onMessage((raw) => {
      this.receive(raw, markReady)
    })
    child.onExit((how) => {
      markExited()
      this.lost(host, how)
    })
    this.host = host
    return host
  }

  private receive(raw: unknown, markReady: () => void): void {
    let message
    try {
      message = parseHostMessage(raw)
    } catch (error) {
      this.log(`inference host client: ${error instanceof ProtocolError ? error.message : String(error)}\n`)
      return
    }
    if (message.kind === 'ready') {
      markReady()
      return
    }
    const job = this.pending.get(message.id)
    if (!job) return // a cancel's own answer, or a job already failed by a crash
    if (message.kind === 'progress') {
      job.onProgress?.(message.data as never)
      return
    }
    this.pending.delete(message.id)
    job.cleanup()
    if (message.kind === 'result') job.resolve(message.result)
    else job.reject(errorFromWire(message.error))
  }

  /** The host is gone: fail everything it held and forget it, so the next call starts a new one. */
  private lost(host: Host, how: string): void {
    if (this.host !== host) return
    this.host = undefined
    const lastLines = host.tail.trim().split('\n').slice(-5).join('\n')
    for (const [id, job] of this.pending) {
      this.pending.delete(id)
      job.cleanup()
      if (job.cancelled) {
        job.reject(
          new CancelledError(`${job.method} was cancelled (the inference host was stopped to end it)`),
        )
        continue
      }
      const why = host.killReason ? ` (${host.killReason})` : ''
      const detail = !how.startsWith('signal') && lastLines ? `\nlast host output:\n${lastLines}` : ''
      job.reject(
        new HostCrashedError(`inference host exited with ${how} during ${job.method}${why}${detail}`),
      )
    }
  }
}
