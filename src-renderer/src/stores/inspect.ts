import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Timeline } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { useHistoryStore } from './history'
import { useNoticesStore } from './notices'
import { useQueueStore } from './queue'

/**
 * The image that Timeline and Density look at: a recorded one (its timeline from the host) or
 * the running job, followed live until it finishes and then replaced by its first image.
 */
export const useInspectStore = defineStore('inspect', () => {
  const notices = useNoticesStore()
  const queue = useQueueStore()
  const history = useHistoryStore()
  const imageId = ref<string | null>(null)
  const followLive = ref(false)
  const timeline = ref<Timeline>()
  const loading = ref(false)
  const cache = new Map<string, Timeline>()
  let liveJobId: string | null = null

  async function open(id: string): Promise<void> {
    followLive.value = false
    imageId.value = id
    const cached = cache.get(id)
    if (cached) {
      timeline.value = cached
      return
    }
    loading.value = true
    timeline.value = undefined
    const result = await notices.attempt('Loading the timeline', () =>
      call('history:timeline', { imageId: id }),
    )
    loading.value = false
    // The user may have picked another image while this one loaded.
    if (imageId.value !== id) return
    if (result) {
      if (cache.size > 20) cache.clear()
      cache.set(id, result)
      timeline.value = result
    }
  }

  function watchLive(): void {
    followLive.value = true
    imageId.value = null
    timeline.value = undefined
    liveJobId = queue.live?.jobId ?? queue.runningId
  }

  // Nothing chosen yet: the first job that runs is followed live, as if "Live" had been picked, so
  // pressing Generate and opening the Timeline shows the job forming.
  watch(
    () => queue.runningId,
    (id) => {
      if (id && imageId.value === null && !followLive.value) watchLive()
    },
    { immediate: true },
  )

  // When the followed job finishes, show its first image with the full timeline (candidates too).
  watch(
    () => queue.jobs.find((j) => j.id === (queue.live?.jobId ?? liveJobId)),
    (job) => {
      if (!followLive.value || !job) return
      liveJobId = job.id
      const first = job.imageIds[0]
      if (job.state === 'done' && first) {
        void open(first).then(() => {
          followLive.value = true
        })
      }
    },
  )

  const entry = computed(() => (imageId.value ? history.byId.get(imageId.value) : undefined))

  /** The image whose partial decodes are being made, if any, and how far the host is. */
  const decoding = ref<string | null>(null)
  const decoded = ref<{ done: number; scales: number }>()
  let progressSubscribed = false

  /** Decodes the partial images the shown timeline lacks (the host keeps them in the timeline). */
  async function decodeScales(): Promise<void> {
    const id = imageId.value
    if (!id || decoding.value) return
    if (!progressSubscribed) {
      progressSubscribed = true
      getStudioApi().on('history:decodeProgress', (p) => {
        if (p.imageId === decoding.value) decoded.value = { done: p.done, scales: p.scales }
      })
    }
    decoding.value = id
    decoded.value = undefined
    try {
      const result = await notices.attempt('Decoding the partial images', () =>
        call('history:decodeScales', { imageId: id }),
      )
      if (result) {
        cache.set(id, result)
        if (imageId.value === id) timeline.value = result
      }
    } finally {
      decoding.value = null
    }
  }

  return { imageId, followLive, timeline, loading, entry, decoding, decoded, open, watchLive, decodeScales }
})
