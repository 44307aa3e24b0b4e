import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { GridAxis, GridExport } from '../../../src-shared/ipc'
import { call } from '../api'
import { gridLayout } from '../lib/grid-axes'
import { useHistoryStore } from './history'
import { useNoticesStore } from './notices'

/** The grid builder: axes, the chosen images, and the last export. */
export const useExportStore = defineStore('export', () => {
  const notices = useNoticesStore()
  const history = useHistoryStore()
  const rows = ref<GridAxis>('class')
  const columns = ref<GridAxis>('strategy')
  const selected = ref<Set<string>>(new Set())
  const scale = ref(4)
  const title = ref('')
  const embedMetadata = ref(true)
  const busy = ref(false)
  const result = ref<GridExport>()

  const chosen = computed(() => history.images.filter((i) => selected.value.has(i.id)))
  const layout = computed(() => gridLayout(chosen.value, rows.value, columns.value))

  function toggle(id: string, on: boolean): void {
    const next = new Set(selected.value)
    if (on) next.add(id)
    else next.delete(id)
    selected.value = next
  }

  function setMany(ids: readonly string[], on: boolean): void {
    const next = new Set(selected.value)
    for (const id of ids) {
      if (on) next.add(id)
      else next.delete(id)
    }
    selected.value = next
  }

  async function run(): Promise<void> {
    const imageIds = chosen.value.map((i) => i.id)
    if (imageIds.length === 0 || busy.value) return
    busy.value = true
    result.value = undefined
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')
    const written = await notices.attempt('Exporting the grid', async () => {
      // Electron asks where to save; the web host answers null and writes into the output folder.
      const { path, cancelled } = await call('dialog:savePath', { defaultName: `grid-${stamp}.png` })
      if (cancelled) return undefined
      return call('export:grid', {
        rows: rows.value,
        columns: columns.value,
        imageIds,
        scale: scale.value,
        embedMetadata: embedMetadata.value,
        ...(title.value.trim() ? { title: title.value.trim() } : {}),
        ...(path ? { path } : {}),
      })
    })
    busy.value = false
    if (written) result.value = written
  }

  return {
    rows,
    columns,
    selected,
    scale,
    title,
    embedMetadata,
    busy,
    result,
    chosen,
    layout,
    toggle,
    setMany,
    run,
  }
})
