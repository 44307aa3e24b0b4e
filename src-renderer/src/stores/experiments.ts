import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { SweepDetail, SweepSummary } from '../../../src-shared/ipc'
import { MAX_AXES, parseSeeds, SWEEP_AXES, type SweepAxis } from '../../../src-shared/sweep'
import { call, getStudioApi } from '../api'
import { useModelsStore } from './model-list'
import { useNoticesStore } from './notices'

export interface AxisRow {
  axis: SweepAxis
  values: string
}

/** What a new axis starts with: values a first sweep of it would try. */
export const AXIS_START: Readonly<Record<SweepAxis, string>> = {
  strategy: 'baseline, var-scaling',
  N: '1, 10, 50',
  alpha: '1, 2.3, 4',
  dedup: '0, 0.6, 1.8',
  cfg: '1, 3',
  'top-p': '0.9, 1',
  'search-scale': '1, 2',
  'final-pick': 'density, rank, argmax',
}

/** The Experiments form (model, classes, seeds, up to three axes), the sweeps and the one on show. */
export const useExperimentsStore = defineStore('experiments', () => {
  const notices = useNoticesStore()
  const models = useModelsStore()
  const modelId = ref('')
  const classes = ref<number[]>([0, 1])
  const seeds = ref('4')
  const firstSeed = ref(0)
  const axes = ref<AxisRow[]>([
    { axis: 'strategy', values: AXIS_START.strategy },
    { axis: 'N', values: '1, 10' },
  ])
  const busy = ref(false)
  const error = ref('')
  const sweeps = ref<SweepSummary[]>([])
  const shownId = ref('')
  const detail = ref<SweepDetail>()
  let subscribed = false

  const model = computed(() => models.byId(modelId.value || models.defaultId))
  const seedList = computed(() => {
    try {
      return { seeds: parseSeeds(seeds.value, firstSeed.value, 'Seeds'), error: '' }
    } catch (e) {
      return { seeds: [], error: e instanceof Error ? e.message : String(e) }
    }
  })
  const cellCount = computed(() =>
    axes.value.reduce((n, a) => n * a.values.split(',').filter((v) => v.trim() !== '').length, 1),
  )
  const unusedAxes = computed(() => SWEEP_AXES.filter((a) => !axes.value.some((r) => r.axis === a)))

  function addAxis(): void {
    const axis = unusedAxes.value.at(0)
    if (axis !== undefined && axes.value.length < MAX_AXES)
      axes.value.push({ axis, values: AXIS_START[axis] })
  }
  function removeAxis(i: number): void {
    axes.value.splice(i, 1)
  }
  function setAxis(i: number, axis: SweepAxis): void {
    if (i < axes.value.length) axes.value[i] = { axis, values: AXIS_START[axis] }
  }

  async function load(): Promise<void> {
    if (!subscribed) {
      subscribed = true
      getStudioApi().on('experiments:changed', ({ sweepId }) => {
        void refresh(sweepId)
      })
    }
    const list = await notices.attempt('Listing sweeps', () => call('experiments:list', {}))
    if (list) sweeps.value = list
    if (!shownId.value && list?.[0]) await show(list[0].id)
  }

  async function refresh(sweepId: string): Promise<void> {
    const list = await call('experiments:list', {}).catch(() => undefined)
    if (list) sweeps.value = list
    if (sweepId === shownId.value) await show(sweepId)
  }

  async function show(sweepId: string): Promise<void> {
    shownId.value = sweepId
    const d = await notices.attempt('Reading the sweep', () => call('experiments:get', { sweepId }))
    if (d && shownId.value === sweepId) detail.value = d
  }

  async function run(): Promise<void> {
    const m = model.value
    if (!m || busy.value) return
    error.value = seedList.value.error
    if (error.value) return
    busy.value = true
    try {
      const { sweepId } = await call('experiments:run', {
        modelId: m.id,
        classes: [...classes.value],
        seeds: seedList.value.seeds,
        axes: axes.value.map((a) => ({
          axis: a.axis,
          values: a.values
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== ''),
        })),
      })
      await refresh(sweepId)
      await show(sweepId)
    } catch (e) {
      // the host names the axis and the value; shown beside the form, nothing is queued
      error.value = e instanceof Error ? e.message : String(e)
    } finally {
      busy.value = false
    }
  }

  async function cancel(): Promise<void> {
    const d = detail.value
    if (!d) return
    const jobs = new Set(
      d.cellList.filter((c) => c.state === 'queued' || c.state === 'running').map((c) => c.jobId),
    )
    for (const jobId of jobs)
      await notices.attempt('Cancelling a cell', () => call('queue:cancel', { jobId }))
  }

  async function resume(): Promise<void> {
    const d = detail.value
    if (!d) return
    const jobs = new Set(
      d.cellList.filter((c) => c.state === 'failed' || c.state === 'cancelled').map((c) => c.jobId),
    )
    for (const jobId of jobs) await notices.attempt('Resuming a cell', () => call('queue:resume', { jobId }))
  }

  return {
    modelId,
    classes,
    seeds,
    firstSeed,
    axes,
    busy,
    error,
    sweeps,
    shownId,
    detail,
    model,
    seedList,
    cellCount,
    unusedAxes,
    addAxis,
    removeAxis,
    setAxis,
    load,
    show,
    run,
    cancel,
    resume,
  }
})
