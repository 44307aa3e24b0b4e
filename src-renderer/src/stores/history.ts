import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ImageEntry } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { useNoticesStore } from './notices'

const LIMIT = 10_000

const newestFirst = (list: ImageEntry[]): ImageEntry[] =>
  list.sort((a, b) => b.createdAt.localeCompare(a.createdAt))

/** Every image the host has recorded (survives restarts), newest first. */
export const useHistoryStore = defineStore('history', () => {
  const notices = useNoticesStore()
  const images = ref<ImageEntry[]>([])
  const loaded = ref(false)
  let subscribed = false

  async function load(): Promise<void> {
    const list = await notices.attempt('Loading history', () => call('history:list', { limit: LIMIT }))
    if (list) images.value = newestFirst([...list])
    loaded.value = true
    if (subscribed) return
    subscribed = true
    getStudioApi().on('history:changed', ({ added, removed }) => {
      // Neither: the host switched to another output folder, whose list is a whole new one.
      if (added.length === 0 && removed.length === 0) {
        void load()
        return
      }
      const gone = new Set(removed)
      const known = new Set(images.value.map((i) => i.id))
      const fresh = added.filter((e) => !known.has(e.id) && !gone.has(e.id))
      const kept = gone.size > 0 ? images.value.filter((i) => !gone.has(i.id)) : images.value
      images.value = fresh.length === 0 ? kept : newestFirst([...fresh, ...kept]).slice(0, LIMIT)
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
