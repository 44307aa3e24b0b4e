import type { JobProgressView, JobView } from '../../../src-shared/ipc'

type ProgressJob = Pick<JobView, 'progress' | 'state'> & Partial<Pick<JobView, 'imageIds'>>

/**
 * Whether `next` is further along than `shown`: ordered by (generation, batch, si), the order the
 * engine runs them in. Equal positions are not ahead, so a repeat changes nothing.
 */
export function progressAhead(next: JobProgressView, shown: JobProgressView | undefined): boolean {
  if (!shown) return true
  return (
    (next.generation - shown.generation ||
      next.batch - shown.batch ||
      next.si - shown.si ||
      next.done - shown.done) > 0
  )
}

/** The later of two progress reports: events can arrive out of order (see stores/queue.ts). */
export function laterProgress(
  shown: JobProgressView | undefined,
  next: JobProgressView | undefined,
): JobProgressView | undefined {
  if (!next) return shown
  return progressAhead(next, shown) ? next : shown
}

/**
 * A job from a `queue:changed` or `queue:get` snapshot with the progress to show, given what was shown:
 * never a step back (a `queue:get` reply can be older than events that came before it), and a finished
 * job keeps the last progress it had, which the host drops when the job ends, so that its row can still
 * say what it did. A job put back in the queue (the host closing mid-run) starts over.
 */
export function withShownProgress(job: JobView, shown: JobProgressView | undefined): JobView {
  if (job.state === 'queued') return job
  const progress = laterProgress(shown, job.progress)
  return progress === job.progress ? job : { ...job, progress }
}

/**
 * A job after a `job:scale` event: the host sends `queue:changed` at once at every scale and
 * `job:scale`, with the same progress, only after the previews are encoded, so a `job:scale` is often
 * older than what is shown. Only a step forward is taken, and only while the job runs: a finished job
 * keeps showing its final state.
 */
export function withScaleProgress(job: JobView, progress: JobProgressView): JobView {
  const finished = job.state !== 'running' && job.state !== 'queued'
  if (finished || !progressAhead(progress, job.progress)) return job
  return { ...job, progress }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/** Where a running job is: "scale i of S" with a 1-based i (a count of scales done, not an index). */
function position(p: JobProgressView): string {
  const parts = [`scale ${Math.min(p.si + 1, p.S)} of ${p.S}`]
  if (p.batches > 1) parts.push(`batch ${p.batch + 1} of ${p.batches}`)
  if (p.generations > 1) parts.push(`generation ${p.generation + 1} of ${p.generations}`)
  return parts.join(' · ')
}

/**
 * The queue's progress text. A running job says where it is ("scale 3 of 6"); a finished one says
 * what it did ("done · 6 of 6 scales · 48 images"), using the last progress it reported or, when
 * the page never saw one (opened after the job ran), the model's scale count `scales`.
 */
export function progressText(job: ProgressJob, scales?: number): string {
  const p = job.progress
  const images = job.imageIds ? plural(job.imageIds.length, 'image') : undefined
  if (job.state === 'done') {
    const S = p?.S ?? scales
    const parts = ['done']
    if (S !== undefined) parts.push(`${S} of ${S} scales`)
    if (p && p.batches > 1) parts.push(plural(p.batches, 'batch', 'batches'))
    if (p && p.generations > 1) parts.push(plural(p.generations, 'generation'))
    if (images) parts.push(images)
    return parts.join(' · ')
  }
  if (job.state === 'cancelled' || job.state === 'failed') {
    // Only say how far it got when it got anywhere; a job cancelled while queued never started.
    return p ? `${job.state} at ${position(p)}` : ''
  }
  if (!p) return job.state === 'running' ? 'starting…' : ''
  return position(p)
}

/** Fraction of the job done, counting scales within batches and generations. */
export function progressFraction(job: Pick<JobView, 'progress' | 'state'>): number {
  if (job.state === 'done') return 1
  const p = job.progress
  if (!p) return 0
  const steps = p.S * p.batches * p.generations
  const step = (p.generation * p.batches + p.batch) * p.S + p.si + 1
  return Math.max(0, Math.min(1, step / steps))
}
