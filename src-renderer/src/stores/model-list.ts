import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ModelView } from '../../../src-shared/ipc'
import { call } from '../api'
import { useNoticesStore } from './notices'
import { useSettingsStore } from './settings'

export const useModelsStore = defineStore('models', () => {
  const notices = useNoticesStore()
  const models = ref<ModelView[]>([])
  const loaded = ref(false)

  async function load(): Promise<void> {
    const list = await notices.attempt('Listing models', () => call('models:list', {}))
    if (list) models.value = list
    loaded.value = true
  }

  const usable = computed(() => models.value.filter((m) => m.ok))

  /** The settings' default model when it is usable, else the first shipped one. */
  const defaultId = computed(() => {
    const wanted = useSettingsStore().settings?.defaultModel
    const pick =
      usable.value.find((m) => m.id === wanted) ??
      usable.value.find((m) => m.origin === 'shipped') ??
      usable.value.at(0)
    return pick?.id ?? ''
  })

  function byId(id: string): ModelView | undefined {
    return models.value.find((m) => m.id === id)
  }

  function className(modelId: string, classId: number): string {
    return byId(modelId)?.classNames[classId] ?? `class ${classId}`
  }

  return { models, loaded, usable, defaultId, load, byId, className }
})
