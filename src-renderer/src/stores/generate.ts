import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { SEED_MAX } from '../../../src-shared/engine/rng'
import type { ImageParams, JobSpec, SeedPolicy } from '../../../src-shared/ipc'
import {
  STRATEGY_KINDS,
  defaultConfigs,
  isStrategyKind,
  strategyIssues,
  withKind,
  type StrategyConfig,
  type StrategyKind,
} from '../lib/strategy'
import { strategySchema } from '../../../src-shared/engine/strategies'
import { useModelsStore } from './model-list'
import { useNoticesStore } from './notices'
import { useQueueStore } from './queue'

export interface Sampling {
  cfg: number
  top_k: number
  top_p: number
}

const MAX_ITEMS = 1000
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

/** The Generate form: everything needed to build a job, with checks that mirror the host's. */
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
  watch(model, (m, old) => {
    if (m && m.id !== old?.id) sampling.value = restoredSampling ?? { ...m.samplingDefaults }
    restoredSampling = undefined
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
    const invalid = m ? classIds.value.filter((c) => c >= m.classNames.length) : []
    if (invalid.length > 0) out.classes = `unknown class id ${invalid.join(', ')} for this model`
    if (!Number.isInteger(count.value) || count.value < 1) out.count = 'must be an integer >= 1'
    else if (count.value * Math.max(1, classIds.value.length) > MAX_ITEMS)
      out.count = `at most ${MAX_ITEMS} images per job`
    if (!Number.isInteger(seed.value) || seed.value < 0 || seed.value > SEED_MAX)
      out.seed = `must be an integer in [0, ${SEED_MAX}]`
    const s = sampling.value
    if (!(s.cfg >= 0 && s.cfg <= 100)) out.cfg = 'must be in [0, 100]'
    if (!(Number.isInteger(s.top_k) && s.top_k >= 0)) out.top_k = 'must be an integer >= 0 (0 turns it off)'
    else if (m && s.top_k > m.vocabSize) out.top_k = `must be at most ${m.vocabSize} (the vocabulary size)`
    if (!(s.top_p > 0 && s.top_p <= 1)) out.top_p = 'must be in (0, 1]'
    for (const [field, message] of Object.entries(strategyIssues(strategy.value, m?.patchNums.length)))
      out[`strategy.${field}`] = message
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
    if (params.modelId !== modelId.value) restoredSampling = { ...params.sampling }
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
    configs.value = { ...configs.value, [kind.value]: defaultConfigs()[kind.value] }
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
    setConfig,
  }
})
