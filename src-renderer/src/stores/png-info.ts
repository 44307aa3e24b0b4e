import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { PngInfo } from '../../../src-shared/ipc'
import { call, pathForFile } from '../api'
import { useGenerateStore } from './generate'
import { useNavStore } from './nav'

/** 16 MiB, as the contract allows; a larger file is refused here before it is read. */
const MAX_BYTES = 16 * 1024 * 1024

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** Whether a dropped file is meant for PNG Info rather than Batches. */
export function isPngFile(file: File): boolean {
  return file.type === 'image/png' || /\.png$/i.test(file.name)
}

/** PNG Info: a dropped or chosen PNG read by the host, and loading its parameters into Generate. */
export const usePngInfoStore = defineStore('png-info', () => {
  const info = ref<PngInfo>()
  const fileName = ref('')
  const error = ref('')
  const busy = ref(false)
  /** a preview of the chosen file (the page's own object URL, not sent anywhere) */
  const preview = ref('')

  async function openFile(file: File): Promise<void> {
    info.value = undefined
    error.value = ''
    fileName.value = file.name
    if (preview.value) URL.revokeObjectURL(preview.value)
    preview.value = ''
    const path = pathForFile(file)
    if (!path && file.size > MAX_BYTES) {
      error.value = `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; PNG Info reads up to 16 MiB.`
      return
    }
    busy.value = true
    try {
      const source = path
        ? ({ kind: 'path', path } as const)
        : ({
            kind: 'content',
            name: file.name || 'image.png',
            base64: toBase64(new Uint8Array(await file.arrayBuffer())),
          } as const)
      const modelId = useGenerateStore().modelId
      info.value = await call('png:info', { source, ...(modelId ? { modelId } : {}) })
      preview.value = URL.createObjectURL(file)
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    } finally {
      busy.value = false
    }
  }

  /** Loads what the PNG says into Generate and shows it there. */
  function load(): void {
    const found = info.value?.load
    if (!found) return
    useGenerateStore().loadFound(found)
    useNavStore().go('generate')
  }

  return { info, fileName, error, busy, preview, openFile, load }
})
