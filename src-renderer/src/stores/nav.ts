import { defineStore } from 'pinia'
import { ref, watch } from 'vue'

export const VIEWS = [
  'generate',
  'timeline',
  'density',
  'gallery',
  'batches',
  'png-info',
  'export',
  'experiments',
  'history',
  'models',
  'settings',
] as const
export type ViewName = (typeof VIEWS)[number]

export const VIEW_LABELS = {
  generate: 'Generate',
  timeline: 'Timeline',
  density: 'Density',
  gallery: 'Gallery',
  batches: 'Batches',
  'png-info': 'PNG Info',
  export: 'Export',
  experiments: 'Experiments',
  history: 'History',
  models: 'Models',
  settings: 'Settings',
} as const satisfies Record<ViewName, string>

function fromHash(hash: string): ViewName {
  const name = hash.replace(/^#\/?/, '')
  return (VIEWS as readonly string[]).includes(name) ? (name as ViewName) : 'generate'
}

/** Which view is shown. Kept in the URL hash so a reload stays on the same view. */
export const useNavStore = defineStore('nav', () => {
  const view = ref<ViewName>(fromHash(window.location.hash))

  watch(view, (name) => {
    if (fromHash(window.location.hash) !== name) window.history.replaceState(null, '', `#/${name}`)
  })
  window.addEventListener('hashchange', () => {
    view.value = fromHash(window.location.hash)
  })

  function go(name: ViewName): void {
    view.value = name
  }

  return { view, go }
})
