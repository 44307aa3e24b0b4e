import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { seedSchema } from '../../../src-shared/engine/request'
import type { ImageParams, JobSpec, SeedPolicy } from '../../../src-shared/ipc'
import { requestIssues, type Sampling } from '../lib/request-issues'
import {
  STRATEGY_KINDS,
  defaultConfigs,
  isStrategyKind,
  modelConfigs,
  PAPER_KNOBS,
  withKind,
  withSearchDefaults,
  type StrategyConfig,
  type StrategyKind,
} from '../lib/strategy'
import { strategySchema } from '../../../src-shared/engine/strategies'
import { useModelsStore } from './model-list'
import { useNoticesStore } from './notices'
import { useQueueStore } from './queue'

export type { Sampling }

const COMPARE_KINDS = ['baseline', 'topk-only', 'randomk-only', 'var-scaling'] as const

/** A random seed drawn in the page, so it is recorded in the job before the run. */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1)).at(0) ?? 0
}

/** Seeds per class for `count` images under a policy (the same seeds for every class). */
export function seedsFor(policy: SeedPolicy, base: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) =>
    policy === 'fixed' ? base : policy === 'increment' ? base + i : randomSeed(),
  )
}

/** The Generate form: everything needed to build a job, checked with the request schema. */
export const useGenerateStore = defineStore('generate', () => {
  const models = useModelsStore()
  const queue = useQueueStore()
  const notices = useNoticesStore()

  const modelId = ref('')
  const classIds = ref<number[]>([])
  const count = ref(1)
  const seed = ref(0)
  const seedPolicy = ref<SeedPolicy>('increment')
  const kind = ref<StrategyKind>('var-scaling')
  const configs = ref<Record<StrategyKind, StrategyConfig>>(defaultConfigs())
  const sampling = ref<Sampling>({ cfg: 1, top_k: 0, top_p: 1 })
  const submitting = ref(false)
  const lastQueued = ref<string[]>([])

  const model = computed(() => models.byId(modelId.value))
  const strategy = computed(() => configs.value[kind.value])

  // A model change brings its own sampling defaults, unless Re-open parameters brought saved ones.
  let restoredSampling: Sampling | undefined
  let restoredConfig = false
  watch(model, (m, old) => {
    if (m && m.id !== old?.id) {
      sampling.value = restoredSampling ?? { ...m.samplingDefaults }
      // the model's calibrated alpha, dedup and search scale (or the paper's), unless Re-open brought a config
      if (!restoredConfig) configs.value = modelConfigs(m.searchDefaults)
    }
    restoredSampling = undefined
    restoredConfig = false
  })
  watch(
    () => models.defaultId,
    (id) => {
      if (!modelId.value && id) modelId.value = id
    },
    { immediate: true },
  )

  const issues = computed(() => {
    const out: Record<string, string> = {}
    const m = model.value
    if (!m) out.model = 'choose a model'
    else if (!m.ok) out.model = m.error ?? 'this model failed its checks'
    if (classIds.value.length === 0) out.classes = 'add at least one class'
    if (!Number.isInteger(count.value) || count.value < 1) out.count = 'must be an integer >= 1'
    const seedCheck = seedSchema.safeParse(seed.value)
    if (!seedCheck.success) out.seed = seedCheck.error.issues[0]?.message ?? 'must be a seed'
    const found = requestIssues(m, classIds.value, count.value, seed.value, strategy.value, sampling.value)
    for (const [field, message] of Object.entries(found)) out[field] ??= message
    return out
  })
  const valid = computed(() => Object.keys(issues.value).length === 0)

  function spec(config: StrategyConfig, source: 'generate' | 'compare', label?: string): JobSpec {
    const seeds = seedsFor(seedPolicy.value, seed.value, count.value)
    return {
      modelId: modelId.value,
      items: classIds.value.flatMap((classId) => seeds.map((s) => ({ classId, seed: s }))),
      strategy: config,
      sampling: { ...sampling.value },
      seedPolicy: seedPolicy.value,
      source: { kind: source },
      ...(label ? { label } : {}),
    }
  }

  async function enqueue(jobs: JobSpec[]): Promise<void> {
    if (!valid.value || submitting.value) return
    submitting.value = true
    const ids = await notices.attempt('Queueing', () => queue.add(jobs))
    submitting.value = false
    if (ids) lastQueued.value = ids
  }

  /** Generate: one job for the chosen classes. */
  const submit = () => enqueue([spec(strategy.value, 'generate')])

  /** Compare: the same classes and seeds under baseline, Top-k, Random-k and VAR-Scaling. */
  function compare(): Promise<void> {
    // Random seeds are drawn once so all four strategies really share them.
    const base = spec(strategy.value, 'compare')
    const jobs = COMPARE_KINDS.map((k) => ({
      ...base,
      strategy: withKind(strategy.value, k),
      label: `compare: ${k}`,
    }))
    return enqueue(jobs)
  }

  /** Loads a past image's parameters (Gallery, History: "Re-open parameters"). */
  function load(params: ImageParams): void {
    if (params.modelId !== modelId.value) {
      restoredSampling = { ...params.sampling }
      restoredConfig = true
    }
    modelId.value = params.modelId
    sampling.value = { ...params.sampling }
    classIds.value = [params.classId]
    count.value = 1
    seed.value = params.seed
    seedPolicy.value = 'fixed'
    const parsed = strategySchema.safeParse(params.strategy)
    const restoredKind = parsed.success ? parsed.data.kind : String(params.strategy.kind)
    if (parsed.success) configs.value = { ...configs.value, [parsed.data.kind]: parsed.data }
    if (isStrategyKind(restoredKind)) kind.value = restoredKind
  }

  function resetStrategy(): void {
    configs.value = { ...configs.value, [kind.value]: modelConfigs(model.value?.searchDefaults)[kind.value] }
  }

  /** The search knobs of the paper (alpha 2.3, dedup 1.8) or the model's own, for the current kind. */
  function applySearchPreset(preset: 'paper' | 'model'): void {
    const d = preset === 'paper' ? PAPER_KNOBS : model.value?.searchDefaults
    configs.value = { ...configs.value, [kind.value]: withSearchDefaults(strategy.value, d) }
  }

  function setConfig(config: StrategyConfig): void {
    configs.value = { ...configs.value, [config.kind]: config }
  }

  return {
    modelId,
    classIds,
    count,
    seed,
    seedPolicy,
    kind,
    configs,
    sampling,
    submitting,
    lastQueued,
    model,
    strategy,
    issues,
    valid,
    kinds: STRATEGY_KINDS,
    submit,
    compare,
    load,
    resetStrategy,
    applySearchPreset,
    setConfig,
  }
})
