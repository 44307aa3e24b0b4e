/**
 * The persistent job queue (`<home>/queue.json`): one job runs at a time; cancelling a queued job
 * only marks it, cancelling the running one aborts it through the host's cancel; pause stops after
 * the running job; run-next moves a job to the front; clear removes queued and finished jobs.
 * Every change is pushed as `queue:changed`.
 *
 * Images are committed batch by batch (see run-job.ts): a job's `imageIds` grow as they are. After
 * a restart, queued jobs wait as before. A job that was running when the app died comes back as
 * failed, saying how many of its images were finished (counted from the history, which is written
 * first); re-running it silently could surprise. A failed or cancelled job with images left can be
 * resumed: it is queued again and makes only the rest, with their own seeds. When the studio is
 * closed normally, the running job is stopped and put back at the head of the queue.
 *
 * Cancelling the running job answers once the job has stopped, not when it was asked to.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { z } from 'zod'
import { CancelledError } from '../../src-shared/errors'
import type { JobProgressView, JobState, JobView, QueueSnapshot } from '../../src-shared/ipc'
import { NotFoundError } from './errors'
import type { StudioEvents } from './events'
import { JsonFile, loadJson } from './json-file'

const storedJobSchema = z.object({
  id: z.string().min(1),
  state: z.enum(['queued', 'running', 'done', 'failed', 'cancelled']),
  modelId: z.string(),
  label: z.string(),
  strategy: z.record(z.string(), z.unknown()),
  sampling: z.record(z.string(), z.union([z.number(), z.boolean()])),
  items: z.array(z.object({ classId: z.number(), seed: z.number() })),
  seedPolicy: z.string(),
  source: z.object({ kind: z.string(), file: z.string().optional(), line: z.number().optional() }).optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  imageIds: z.array(z.string()),
})
const queueFileSchema = z.object({
  version: z.literal(1),
  paused: z.boolean(),
  jobs: z.array(storedJobSchema),
})

export type StoredJob = z.output<typeof storedJobSchema>
export type NewJob = Omit<StoredJob, 'id' | 'state' | 'createdAt' | 'imageIds'>
export type Execute = (
  job: StoredJob,
  signal: AbortSignal,
  progress: (p: JobProgressView) => void,
  /** called with the ids of each batch's images once they are on disk and in the history */
  committed: (imageIds: readonly string[]) => Promise<void>,
) => Promise<string[]>

/** "42 of 200 done before it was cancelled; Resume makes the other 158 with the same seeds" */
function doneBefore(job: StoredJob, what: string): string {
  const n = job.imageIds.length
  const total = job.items.length
  const rest = total - n
  const resume = n > 0 && rest > 0 ? `; Resume makes the other ${rest} with the same seeds` : ''
  return `${n} of ${total} done before ${what}${resume}`
}

/** Finished jobs kept in the list (and the file) before the oldest are dropped. */
const KEEP_FINISHED = 200
/** abort reasons: the user cancelled the job, or the studio is closing (the job runs again later) */
const USER_CANCEL = 'cancelled by the user'
const CLOSING = 'the studio is closing'

const now = (): string => new Date().toISOString()
const isFinished = (s: JobState): boolean => s === 'done' || s === 'failed' || s === 'cancelled'

export class Queue {
  private running: { job: StoredJob; abort: AbortController; ended: Promise<void> } | undefined
  private readonly progress = new Map<string, JobProgressView>()
  private closing = false
  private idleWaiters: (() => void)[] = []

  private constructor(
    private jobs: StoredJob[],
    private paused: boolean,
    private readonly file: JsonFile,
    private readonly events: StudioEvents,
    private readonly execute: Execute,
  ) {}

  /**
   * `finished(jobId)` lists a job's images in the history: the history is written before the queue,
   * so after a crash it is the one that knows what was finished.
   */
  static async open(
    home: string,
    events: StudioEvents,
    execute: Execute,
    log: (line: string) => void,
    finished: (jobId: string) => string[] = () => [],
  ): Promise<Queue> {
    const path = join(home, 'queue.json')
    const loaded = await loadJson(path, queueFileSchema)
    if (loaded.problem) log(`${loaded.problem}; the queue starts empty`)
    const jobs = (loaded.value?.jobs ?? []).map((j): StoredJob => {
      if (j.state === 'done') return j
      const recorded = finished(j.id)
      const withIds = recorded.length > 0 ? { ...j, imageIds: recorded } : j
      if (j.state !== 'running') return withIds
      const failed = { ...withIds, state: 'failed' as const, finishedAt: now() }
      const stopped = `VAR Studio stopped while this job was running (started ${j.startedAt ?? 'earlier'})`
      return {
        ...failed,
        error:
          failed.imageIds.length > 0
            ? `${stopped}: ${doneBefore(failed, 'it stopped')}`
            : `${stopped}; no images were finished. Resume runs it again with the same seeds.`,
      }
    })
    const queue = new Queue(jobs, loaded.value?.paused ?? false, new JsonFile(path), events, execute)
    await queue.changed()
    return queue
  }

  snapshot(): QueueSnapshot {
    return {
      jobs: this.jobs.map((j) => this.view(j)),
      paused: this.paused,
      runningId: this.running?.job.id ?? null,
    }
  }

  async add(jobs: readonly NewJob[]): Promise<string[]> {
    const created = jobs.map((j): StoredJob => ({
      ...j,
      id: `job-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
      state: 'queued',
      createdAt: now(),
      imageIds: [],
    }))
    this.jobs.push(...created)
    await this.changed()
    return created.map((j) => j.id)
  }

  async cancel(jobId: string): Promise<{ cancelled: boolean }> {
    const job = this.find(jobId)
    if (job.state === 'queued') {
      Object.assign(job, { state: 'cancelled', finishedAt: now() })
      await this.changed()
      return { cancelled: true }
    }
    if (job.state === 'running' && this.running?.job === job) {
      // Answered once the job has really stopped (the host ends it within a scale, or is stopped).
      const { abort, ended } = this.running
      abort.abort(USER_CANCEL)
      await ended
      return { cancelled: (job.state as JobState) === 'cancelled' }
    }
    return { cancelled: false }
  }

  /**
   * Queues a failed or cancelled job again; it makes only the images it has not finished, with the
   * same seeds. Answers false for a job with nothing left to make.
   */
  async resume(jobId: string): Promise<{ resumed: boolean }> {
    const job = this.find(jobId)
    if ((job.state !== 'failed' && job.state !== 'cancelled') || job.imageIds.length >= job.items.length)
      return { resumed: false }
    Object.assign(job, { state: 'queued', error: undefined, finishedAt: undefined, startedAt: undefined })
    delete job.error
    delete job.finishedAt
    delete job.startedAt
    await this.changed()
    return { resumed: true }
  }

  async runNext(jobId: string): Promise<{ moved: boolean }> {
    const job = this.find(jobId)
    if (job.state !== 'queued') return { moved: false }
    const rest = this.jobs.filter((j) => j !== job)
    const at = rest.findIndex((j) => j.state === 'queued')
    rest.splice(at < 0 ? rest.length : at, 0, job)
    this.jobs = rest
    await this.changed()
    return { moved: true }
  }

  async pause(paused: boolean): Promise<QueueSnapshot> {
    this.paused = paused
    await this.changed()
    return this.snapshot()
  }

  async clear(): Promise<{ removed: number }> {
    const before = this.jobs.length
    this.jobs = this.jobs.filter((j) => j.state === 'running')
    await this.changed()
    return { removed: before - this.jobs.length }
  }

  /** Resolves when no job runs and none can start (empty, or paused). For tests and the bench. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Stops the running job and puts it back at the head of the queue; saves. */
  async close(): Promise<void> {
    this.closing = true
    const running = this.running
    if (running) {
      running.abort.abort(CLOSING)
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    }
    await this.file.flush()
  }

  private find(jobId: string): StoredJob {
    const job = this.jobs.find((j) => j.id === jobId)
    if (!job) throw new NotFoundError(`No job "${jobId}" in the queue (it may have been cleared)`)
    return job
  }

  private isIdle(): boolean {
    return !this.running && (this.paused || this.closing || !this.jobs.some((j) => j.state === 'queued'))
  }

  /**
   * Saves (unless `save` is false), pushes the snapshot and starts the next job when it can. A batch
   * committed by the running job is not saved: its images are in the history, which is what a
   * restart counts a job's finished images from, and rewriting queue.json after every batch cost a
   * file of every job's items each time.
   */
  private async changed(save = true): Promise<void> {
    const finished = this.jobs.filter((j) => isFinished(j.state))
    if (finished.length > KEEP_FINISHED) {
      const drop = new Set(finished.slice(0, finished.length - KEEP_FINISHED))
      this.jobs = this.jobs.filter((j) => !drop.has(j))
    }
    this.events.emit('queue:changed', this.snapshot())
    const saved = save ? this.file.write({ version: 1, paused: this.paused, jobs: this.jobs }) : undefined
    this.pump()
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w()
    await saved
  }

  private pump(): void {
    if (this.running || this.paused || this.closing) return
    const job = this.jobs.find((j) => j.state === 'queued')
    if (!job) return
    const abort = new AbortController()
    let end: () => void = () => undefined
    const ended = new Promise<void>((resolve) => (end = resolve))
    this.running = { job, abort, ended }
    Object.assign(job, { state: 'running', startedAt: now() })
    void this.run(job, abort).finally(end)
  }

  private async run(job: StoredJob, abort: AbortController): Promise<void> {
    await this.changed().catch(() => undefined)
    try {
      // Progress reaches the views through job:scale; the whole queue is pushed only when a job's
      // state changes or a batch is committed (a snapshot per scale would resend every job, seeds
      // and all, many times a second).
      const imageIds = await this.execute(
        job,
        abort.signal,
        (p) => {
          this.progress.set(job.id, p)
        },
        async (ids) => {
          const have = new Set(job.imageIds)
          job.imageIds = [...job.imageIds, ...ids.filter((id) => !have.has(id))]
          await this.changed(false)
        },
      )
      // the committed ones stay listed even when the output folder was switched during the job
      const have = new Set(job.imageIds)
      Object.assign(job, {
        state: 'done',
        imageIds: [...job.imageIds, ...imageIds.filter((id) => !have.has(id))],
      })
    } catch (error) {
      // Stopped by closing the studio: it runs again first next time. Cancelled by the user, even
      // while the studio was closing: it stays cancelled.
      if (abort.signal.aborted && abort.signal.reason === CLOSING) {
        Object.assign(job, { state: 'queued', startedAt: undefined })
        this.jobs = [job, ...this.jobs.filter((j) => j !== job)]
      } else if (abort.signal.aborted || error instanceof CancelledError) {
        job.state = 'cancelled'
        if (job.imageIds.length > 0) job.error = doneBefore(job, 'it was cancelled')
      } else {
        const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        Object.assign(job, {
          state: 'failed',
          error: job.imageIds.length > 0 ? doneBefore(job, `it failed (${why})`) : why,
        })
      }
    }
    if (job.state !== 'queued') job.finishedAt = now()
    this.progress.delete(job.id)
    this.running = undefined
    await this.changed().catch((error: unknown) => {
      console.error('queue: could not save', error)
    })
  }

  private view(j: StoredJob): JobView {
    const progress = this.progress.get(j.id)
    return {
      id: j.id,
      state: j.state,
      modelId: j.modelId,
      label: j.label,
      strategyKind: typeof j.strategy.kind === 'string' ? j.strategy.kind : 'unknown',
      count: j.items.length,
      classIds: j.items.map((i) => i.classId),
      seeds: j.items.map((i) => i.seed),
      seedPolicy: j.seedPolicy,
      ...(j.source ? { source: j.source } : {}),
      createdAt: j.createdAt,
      ...(j.startedAt ? { startedAt: j.startedAt } : {}),
      ...(j.finishedAt ? { finishedAt: j.finishedAt } : {}),
      ...(progress ? { progress } : {}),
      ...(j.error ? { error: j.error } : {}),
      imageIds: j.imageIds,
    }
  }
}
