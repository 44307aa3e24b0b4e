import type { JobView } from '../../../src-shared/ipc'

/** "scale i of S" with a 1-based i, as the queue shows it. */
export function progressText(job: Pick<JobView, 'progress' | 'state'>): string {
  const p = job.progress
  if (!p) return job.state === 'running' ? 'starting…' : ''
  const parts = [`scale ${Math.min(p.si + 1, p.S)} of ${p.S}`]
  if (p.batches > 1) parts.push(`batch ${p.batch + 1} of ${p.batches}`)
  if (p.generations > 1) parts.push(`generation ${p.generation + 1} of ${p.generations}`)
  return parts.join(' · ')
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
