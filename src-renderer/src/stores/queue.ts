import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { IpcEventData, JobState, JobView, QueueSnapshot, SelectionView } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { withScaleProgress, withShownProgress } from '../lib/progress'
import { useNoticesStore } from './notices'

export { progressFraction, progressText } from '../lib/progress'

export const JOB_STATES = {
  queued: { label: 'Queued', tone: 'muted', active: true },
  running: { label: 'Running', tone: 'accent', active: true },
  done: { label: 'Done', tone: 'ok', active: false },
  failed: { label: 'Failed', tone: 'bad', active: false },
  cancelled: { label: 'Cancelled', tone: 'muted', active: false },
} as const satisfies Record<JobState, { label: string; tone: string; active: boolean }>

/** One scale of the running job as it arrived, for the live timeline (first image of the batch). */
export interface LiveScale {
  readonly si: number
  readonly pn: number
  readonly tokens: readonly number[]
  readonly preview?: string
  /** how `preview` was made: the model's cheap preview map, or the image decoder */
  readonly previewKind?: 'projection' | 'decode'
  /** why the model's preview map is not used (its preview.json named) */
  readonly previewNote?: string
  /** at a search scale: the candidates, densities and pick of the first image */
  readonly selection?: SelectionView
}

export interface LiveRun {
  readonly jobId: string
  readonly batch: number
  readonly generation: number
  readonly itemOffset: number
  readonly S: number
  readonly scales: readonly LiveScale[]
}

/** The job queue: a snapshot from `queue:get`, then `queue:changed`; `job:scale` drives live views. */
export const useQueueStore = defineStore('queue', () => {
  const notices = useNoticesStore()
  const jobs = ref<JobView[]>([])
  const paused = ref(false)
  const runningId = ref<string | null>(null)
  const selectedId = ref<string | null>(null)
  const live = ref<LiveRun>()
  let subscribed = false

  function apply(snapshot: QueueSnapshot): void {
    const before = new Map(jobs.value.map((j) => [j.id, j.progress]))
    jobs.value = snapshot.jobs.map((job) => withShownProgress(job, before.get(job.id)))
    paused.value = snapshot.paused
    runningId.value = snapshot.runningId
  }

  function onScale(event: IpcEventData<'job:scale'>): void {
    const { jobId, progress, pn, itemOffset, tokens, previews, previewKind, previewNote, selection } = event
    const first = tokens.at(0)
    if (!first) return
    const current = live.value
    const same =
      current?.jobId === jobId &&
      current.batch === progress.batch &&
      current.generation === progress.generation
    const scale: LiveScale = {
      si: progress.si,
      pn,
      tokens: first,
      ...(previews?.[0] ? { preview: previews[0], previewKind: previewKind ?? 'decode' } : {}),
      ...(previewNote ? { previewNote } : {}),
      ...(selection ? { selection } : {}),
    }
    const kept = same ? current.scales.filter((s) => s.si < progress.si) : []
    live.value = {
      jobId,
      batch: progress.batch,
      generation: progress.generation,
      itemOffset,
      S: progress.S,
      scales: [...kept, scale],
    }
    // Progress also arrives in queue:changed, at once, while job:scale waits for the previews to be
    // encoded: a job:scale can be older than what is shown, so only a step forward is taken, and a
    // finished job keeps its final state.
    jobs.value = jobs.value.map((j) => (j.id === jobId ? withScaleProgress(j, progress) : j))
  }

  async function load(): Promise<void> {
    const snapshot = await notices.attempt('Loading the queue', () => call('queue:get', {}))
    if (snapshot) apply(snapshot)
    if (subscribed) return
    subscribed = true
    const api = getStudioApi()
    api.on('queue:changed', apply)
    api.on('job:scale', onScale)
  }

  const running = computed(() => jobs.value.find((j) => j.id === runningId.value))
  const hasFinished = computed(() => jobs.value.some((j) => !JOB_STATES[j.state].active))

  async function add(jobsToAdd: Parameters<typeof call<'queue:add'>>[1]['jobs']): Promise<string[]> {
    const result = await call('queue:add', { jobs: jobsToAdd })
    return result.jobIds
  }

  const act = (context: string, work: () => Promise<unknown>) => notices.attempt(context, work)

  return {
    jobs,
    paused,
    runningId,
    selectedId,
    live,
    running,
    hasFinished,
    load,
    add,
    cancel: (jobId: string) => act('Cancelling a job', () => call('queue:cancel', { jobId })),
    runNext: (jobId: string) => act('Moving a job to the front', () => call('queue:runNext', { jobId })),
    resume: (jobId: string) => act('Resuming a job', () => call('queue:resume', { jobId })),
    setPaused: async (value: boolean) => {
      const snapshot = await notices.attempt('Pausing the queue', () =>
        call('queue:pause', { paused: value }),
      )
      if (snapshot) apply(snapshot)
    },
    clear: () => act('Clearing the queue', () => call('queue:clear', {})),
    /** CmdOrCtrl+Shift+Enter: the selected queued job, else the first queued one. */
    runSelectedNext: async () => {
      const queued = jobs.value.filter((j) => j.state === 'queued')
      const target = queued.find((j) => j.id === selectedId.value) ?? queued.at(0)
      if (target) await act('Moving a job to the front', () => call('queue:runNext', { jobId: target.id }))
    },
  }
})
