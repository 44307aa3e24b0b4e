/**
 * The inference host's request loop: validates every message, runs one job per request id, sends
 * progress events and one response per request, and cancels a job when asked. A malformed message
 * gets an error response when it carries an id and is logged otherwise; the host stays up.
 */
import { CancelledError, ProtocolError } from '../../src-shared/errors'
import {
  describe,
  errorToWire,
  HOST_METHODS,
  type HostMethod,
  isHostMethod,
  type Params,
  parseParams,
  type ProgressOf,
  requestSchema,
  type ResultOf,
} from '../../src-shared/protocol'
import type { Logger } from './ort/session'
import type { HostTransport } from './transport'

export interface JobContext<M extends HostMethod> {
  readonly id: string
  readonly signal: AbortSignal
  progress(data: ProgressOf<M>): void
  readonly log: Logger
}

export type Handler<M extends HostMethod> = (params: Params<M>, ctx: JobContext<M>) => Promise<ResultOf<M>>
export type Handlers = { [M in Exclude<HostMethod, 'cancel'>]: Handler<M> }

/** Throws CancelledError when the job was cancelled; call it between units of work. */
export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError('Cancelled by request')
}

export class InferenceHost {
  private readonly jobs = new Map<string, AbortController>()

  constructor(
    private readonly transport: HostTransport,
    private readonly handlers: Handlers,
    private readonly log: Logger,
  ) {}

  /** Starts listening and tells the parent the host is ready. */
  start(): void {
    this.transport.onMessage((message) => {
      this.receive(message)
    })
    this.transport.send({ event: 'ready', data: { pid: process.pid } })
  }

  /** Ids of the jobs still running. */
  get running(): string[] {
    return [...this.jobs.keys()]
  }

  receive(raw: unknown): void {
    const parsed = requestSchema.safeParse(raw)
    if (!parsed.success) {
      const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined
      const error = new ProtocolError(
        `malformed request (${describe(raw)}): ${parsed.error.issues[0]?.message ?? ''}`,
      )
      if (typeof id === 'string' && id.length > 0) this.reply(id, { error: errorToWire(error) })
      else this.log(`inference host: dropped a message without a usable id: ${error.message}`)
      return
    }
    const { id, method, params } = parsed.data
    if (!isHostMethod(method)) {
      const error = new ProtocolError(`unknown method "${method}" (known: ${HOST_METHODS.join(', ')})`)
      this.reply(id, { error: errorToWire(error) })
      return
    }
    if (this.jobs.has(id)) {
      this.reply(id, { error: errorToWire(new ProtocolError(`request id "${id}" is already running`)) })
      return
    }
    if (method === 'cancel') {
      this.cancel(id, params)
      return
    }
    void this.run(id, method, params)
  }

  private cancel(id: string, params: unknown): void {
    try {
      const { id: target } = parseParams('cancel', params)
      const job = this.jobs.get(target)
      job?.abort()
      this.reply(id, { result: { cancelled: job !== undefined } })
    } catch (error) {
      this.reply(id, { error: errorToWire(error) })
    }
  }

  private async run(id: string, method: Exclude<HostMethod, 'cancel'>, raw: unknown): Promise<void> {
    const controller = new AbortController()
    this.jobs.set(id, controller)
    try {
      const params = parseParams(method, raw)
      // The method picks its own handler; the map's type ties each handler to its params.
      const handler = this.handlers[method] as unknown as Handler<HostMethod>
      const ctx: JobContext<HostMethod> = {
        id,
        signal: controller.signal,
        progress: (data) => {
          if (!controller.signal.aborted) this.transport.send({ id, event: 'progress', data })
        },
        log: this.log,
      }
      const result = await handler(params, ctx)
      this.reply(id, { result })
    } catch (error) {
      this.reply(id, { error: errorToWire(error) })
    } finally {
      this.jobs.delete(id)
    }
  }

  private reply(id: string, body: { result: unknown } | { error: unknown }): void {
    try {
      this.transport.send({ id, ...body })
    } catch (error) {
      // A result that cannot be cloned still gets an answer, so the caller never waits forever.
      this.log(`inference host: could not send the response to ${id}: ${String(error)}`)
      this.transport.send({
        id,
        error: errorToWire(new ProtocolError(`response could not be sent: ${String(error)}`)),
      })
    }
  }
}
