import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AppInfo, Diagnostics, Settings, SettingsPatch } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { useNoticesStore } from './notices'

/** Settings live on the host; this store mirrors them and sends patches. */
export const useSettingsStore = defineStore('settings', () => {
  const notices = useNoticesStore()
  const settings = ref<Settings>()
  const info = ref<AppInfo>()
  const diagnostics = ref<Diagnostics>()
  let subscribed = false

  async function load(): Promise<void> {
    const [s, i] = await Promise.all([
      notices.attempt('Loading settings', () => call('settings:get', {})),
      notices.attempt('Reading app info', () => call('app:info', {})),
    ])
    if (s) settings.value = s
    if (i) info.value = i
    if (!subscribed) {
      subscribed = true
      getStudioApi().on('settings:changed', (next) => {
        const moved = next.outputDir !== settings.value?.outputDir
        settings.value = next
        // app:info says where the host writes now (the folder it could open)
        if (moved) {
          void call('app:info', {}).then(
            (i) => (info.value = i),
            () => undefined,
          )
        }
      })
    }
  }

  async function update(patch: SettingsPatch): Promise<boolean> {
    const next = await notices.attempt('Saving settings', () => call('settings:set', patch))
    if (next) settings.value = next
    return next !== undefined
  }

  async function loadDiagnostics(): Promise<void> {
    const d = await notices.attempt('Reading diagnostics', () => call('diagnostics:get', {}))
    if (d) diagnostics.value = d
  }

  return { settings, info, diagnostics, load, update, loadDiagnostics }
})
