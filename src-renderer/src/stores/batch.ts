import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { z } from 'zod'
import type { BatchQueued, BatchTable, SeedPolicy } from '../../../src-shared/ipc'
import type { batchSourceSchema } from '../../../src-shared/ipc'
import { call, pathForFile } from '../api'
import { modelConfigs, type StrategyKind } from '../lib/strategy'
import { useModelsStore } from './model-list'
import { useNoticesStore } from './notices'

export type BatchSource = z.input<typeof batchSourceSchema>

/** 16 MiB, as the contract allows; larger files are refused here before reading them. */
const MAX_BYTES = 16 * 1024 * 1024

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  // Chunked: String.fromCharCode with a huge spread overflows the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

/** A dropped or chosen file as the host wants it: a path in Electron, its bytes in a browser. */
export async function sourceOf(file: File): Promise<BatchSource> {
  const path = pathForFile(file)
  if (path) return { kind: 'path', path }
  if (file.size > MAX_BYTES) {
    throw new Error(
      `${file.name} is ${(file.size / 1048576).toFixed(1)} MiB; batch files may be at most 16 MiB.`,
    )
  }
  return {
    kind: 'content',
    name: file.name || 'batch.txt',
    base64: toBase64(new Uint8Array(await file.arrayBuffer())),
  }
}

/** Batch-from-file: the host parses (and re-parses before queueing); this keeps its table. */
export const useBatchStore = defineStore('batch', () => {
  const notices = useNoticesStore()
  const source = ref<BatchSource>()
  const fileName = ref('')
  /** the file last opened (a PNG given here can go on to PNG Info) */
  const file = shallowRef<File>()
  const table = ref<BatchTable>()
  const busy = ref(false)
  const error = ref('')
  const queued = ref<BatchQueued>()
  const modelId = ref('')
  const kind = ref<StrategyKind>('var-scaling')
  const seedPolicy = ref<SeedPolicy>('increment')
  const baseSeed = ref(0)

  const fileRef = file
  async function openFile(file: File): Promise<void> {
    error.value = ''
    table.value = undefined
    queued.value = undefined
    fileName.value = file.name
    fileRef.value = file
    try {
      source.value = await sourceOf(file)
    } catch (e) {
      source.value = undefined
      error.value = e instanceof Error ? e.message : String(e)
      return
    }
    await parse()
  }

  async function parse(): Promise<void> {
    const src = source.value
    if (!src || !modelId.value) return
    busy.value = true
    try {
      table.value = await call('batch:parse', { source: src, modelId: modelId.value })
      error.value = table.value.fileError ?? ''
    } catch (e) {
      // A file that is not a batch file: the host's message goes in the file-level banner.
      table.value = undefined
      error.value = e instanceof Error ? e.message : String(e)
    } finally {
      busy.value = false
    }
  }

  const validRows = computed(() => (table.value?.fileError ? 0 : (table.value?.valid ?? 0)))

  async function queueRows(): Promise<void> {
    const src = source.value
    if (!src || validRows.value === 0) return
    busy.value = true
    const result = await notices.attempt('Queueing the batch', () =>
      call('batch:queue', {
        source: src,
        defaults: {
          modelId: modelId.value,
          // the model's calibrated search defaults (or the paper's), as the Generate form uses them
          strategy: modelConfigs(useModelsStore().byId(modelId.value)?.searchDefaults)[kind.value],
          seedPolicy: seedPolicy.value,
          baseSeed: baseSeed.value,
        },
      }),
    )
    busy.value = false
    if (result) {
      queued.value = result
      table.value = result.table
    }
  }

  return {
    source,
    fileName,
    file,
    table,
    busy,
    error,
    queued,
    modelId,
    kind,
    seedPolicy,
    baseSeed,
    validRows,
    openFile,
    parse,
    queueRows,
  }
})
