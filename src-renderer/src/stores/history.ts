import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ImageEntry } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { useNoticesStore } from './notices'

const LIMIT = 5000

/** Every image the host has recorded (survives restarts), newest first. */
export const useHistoryStore = defineStore('history', () => {
  const notices = useNoticesStore()
  const images = ref<ImageEntry[]>([])
  const loaded = ref(false)
  let subscribed = false

  async function load(): Promise<void> {
    const list = await notices.attempt('Loading history', () => call('history:list', { limit: LIMIT }))
    if (list) images.value = [...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    loaded.value = true
    if (subscribed) return
    subscribed = true
    getStudioApi().on('history:changed', ({ added, removed }) => {
      if (removed.length > 0) {
        const gone = new Set(removed)
        images.value = images.value.filter((i) => !gone.has(i.id))
      }
      // Added ids carry no entry: fetch the list again (it is small and sorted by the host). An
      // event with neither means the host switched to another output folder: a whole new list.
      if (added.length > 0 || removed.length === 0) void load()
    })
  }

  const byId = computed(() => new Map(images.value.map((i) => [i.id, i])))

  async function remove(imageId: string): Promise<boolean> {
    const result = await notices.attempt('Deleting an image', () => call('history:delete', { imageId }))
    if (result?.deleted) images.value = images.value.filter((i) => i.id !== imageId)
    return result?.deleted ?? false
  }

  return { images, loaded, byId, load, remove }
})
