import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { IpcEventData, ModelDetails } from '../../../src-shared/ipc'
import { call, getStudioApi } from '../api'
import { errorMessage } from '../lib/host-error'
import { useModelsStore } from './model-list'

export type AddProgress = Pick<IpcEventData<'models:progress'>, 'phase' | 'file' | 'fraction'>

/**
 * The Models view: adding, showing and removing models and choosing the models directory. The list
 * itself stays in the models store (Generate and Batches read it), which this store reloads after
 * every change. Failures are kept here and shown next to the control that caused them, not in the
 * banner: the host's message (a missing graph, a duplicate id) is the answer the user is waiting for.
 */
export const useModelsManagerStore = defineStore('models-manager', () => {
  const models = useModelsStore()

  const selectedId = ref<string>()
  const details = ref<ModelDetails>()
  const detailsError = ref('')

  const addPath = ref('')
  const adding = ref(false)
  const progress = ref<AddProgress>()
  const addError = ref('')
  const addedId = ref('')

  const modelsDir = ref<string | null>(null)
  const dirInput = ref('')
  const dirError = ref('')
  const dirBusy = ref(false)

  const calibrating = ref(false)
  const calibrateProgress = ref<AddProgress>()
  const calibrateError = ref('')

  const removeError = ref('')
  /** after a removal: the same folder may still be listed (it is also in the models directory) */
  const removeNote = ref('')
  const removing = ref(false)
  /** the web host has no folder dialog: say so once, next to the field to type into */
  const noDialog = ref(false)
  let subscribed = false

  // A refusal belongs to the path it was about: typing another one clears it.
  watch(addPath, () => {
    addError.value = ''
  })

  async function load(): Promise<void> {
    if (!subscribed) {
      subscribed = true
      // Verification of one folder at a time is started from this page, so any progress is ours.
      getStudioApi().on('models:progress', ({ phase, file, fraction }) => {
        if (adding.value) progress.value = { phase, file, fraction }
        if (calibrating.value && phase === 'calibrate') calibrateProgress.value = { phase, file, fraction }
      })
    }
    await Promise.all([models.load(), readDir()])
    const keep = models.models.some((m) => m.id === selectedId.value)
    await select(keep ? selectedId.value : models.models.at(0)?.id)
  }

  async function readDir(): Promise<void> {
    try {
      modelsDir.value = (await call('models:dir', {})).dir
      dirInput.value = modelsDir.value ?? ''
      dirError.value = ''
    } catch (error) {
      dirError.value = errorMessage(error)
    }
  }

  async function select(id: string | undefined): Promise<void> {
    selectedId.value = id
    removeError.value = ''
    removeNote.value = ''
    if (id === undefined) {
      details.value = undefined
      return
    }
    try {
      const shown = await call('models:show', { id })
      // A slower answer for an earlier click must not replace the model now selected.
      if (selectedId.value !== id) return
      details.value = shown
      detailsError.value = ''
    } catch (error) {
      if (selectedId.value !== id) return
      details.value = undefined
      detailsError.value = errorMessage(error)
    }
  }

  /** The native folder dialog; null on the web host (or cancelled), where the text field is the way. */
  async function chooseFolder(title: string): Promise<string | null> {
    try {
      const { path } = await call('dialog:chooseFolder', { title })
      noDialog.value = path === null
      return path
    } catch {
      noDialog.value = true
      return null
    }
  }

  async function add(): Promise<void> {
    const dir = addPath.value.trim()
    if (!dir || adding.value) return
    adding.value = true
    addError.value = ''
    addedId.value = ''
    progress.value = { phase: 'start', file: '', fraction: 0 }
    try {
      const view = await call('models:add', { dir })
      addedId.value = view.id
      addPath.value = ''
      await models.load()
      await select(view.id)
    } catch (error) {
      addError.value = errorMessage(error)
    } finally {
      adding.value = false
      progress.value = undefined
    }
  }

  /** Calibrates a model's search defaults on the host (a calibration batch; about a minute on the shipped model). */
  async function calibrate(id: string): Promise<void> {
    if (calibrating.value) return
    calibrating.value = true
    calibrateError.value = ''
    calibrateProgress.value = { phase: 'calibrate', file: '', fraction: 0 }
    try {
      await call('models:calibrate', { id })
      await models.load()
      await select(id)
    } catch (error) {
      calibrateError.value = errorMessage(error)
    } finally {
      calibrating.value = false
      calibrateProgress.value = undefined
    }
  }

  async function remove(id: string): Promise<boolean> {
    removing.value = true
    removeError.value = ''
    try {
      await call('models:remove', { id })
      if (addedId.value === id) addedId.value = ''
      await models.load()
      const still = models.models.find((m) => m.id === id)
      await select(still ? id : models.models.at(0)?.id)
      // select() clears the note fields; set it after
      removeNote.value = still
        ? `Removed from the registered models. It stays listed because its folder (${still.dir}) is in ` +
          'the models directory; move the folder out of that directory to drop it from the list.'
        : ''
      return true
    } catch (error) {
      removeError.value = errorMessage(error)
      return false
    } finally {
      removing.value = false
    }
  }

  async function setDir(dir: string | null): Promise<void> {
    dirBusy.value = true
    dirError.value = ''
    try {
      modelsDir.value = (await call('models:dir', { dir })).dir
      dirInput.value = modelsDir.value ?? ''
      await models.load()
      const keep = models.models.some((m) => m.id === selectedId.value)
      await select(keep ? selectedId.value : models.models.at(0)?.id)
    } catch (error) {
      dirError.value = errorMessage(error)
    } finally {
      dirBusy.value = false
    }
  }

  return {
    selectedId,
    details,
    detailsError,
    addPath,
    adding,
    progress,
    addError,
    addedId,
    modelsDir,
    dirInput,
    dirError,
    dirBusy,
    calibrating,
    calibrateProgress,
    calibrateError,
    calibrate,
    removeError,
    removeNote,
    removing,
    noDialog,
    load,
    select,
    chooseFolder,
    add,
    remove,
    setDir,
  }
})
