import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { seedSchema } from '../../../src-shared/engine/request'
import type { ImageParams, JobSpec, PngLoad, SeedPolicy } from '../../../src-shared/ipc'
import { DEFAULT_SEED_POLICY, randomSeed } from '../../../src-shared/seeds'
import { strategyName } from '../../../src-shared/strategy-names'
import { requestIssues, type Sampling } from '../lib/request-issues'
import {
  STRATEGY_ORDER,
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
import { type SearchDefaults, searchDefaultsAtCfg } from '../../../src-shared/engine/calibration'
import { useModelsStore } from './model-list'
import { useNoticesStore } from './notices'
import { useQueueStore } from './queue'

export type { Sampling }

/** Compare queues these in the one strategy order (best-of-N needs a classifier and is left out). */
const COMPARE_KINDS = STRATEGY_ORDER.filter((k) => k !== 'best-of-n')

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
  // random seeds by default, as the CLI's generate without --seed; the field's seed is a new one too
  const seed = ref(randomSeed())
  const seedPolicy = ref<SeedPolicy>(DEFAULT_SEED_POLICY)
  const kind = ref<StrategyKind>('var-scaling')
  const configs = ref<Record<StrategyKind, StrategyConfig>>(defaultConfigs())
  const sampling = ref<Sampling>({ cfg: 1, top_k: 0, top_p: 1 })
  const submitting = ref(false)
  const lastQueued = ref<string[]>([])
  /** the first seed of the last job queued from this form ("Reuse last") */
  const lastSeed = ref<number>()

  const model = computed(() => models.byId(modelId.value))
  const strategy = computed(() => configs.value[kind.value])
  /** the model's calibrated search defaults at the form's cfg (the nearest calibrated cfg's) */
  const searchDefaults = computed((): SearchDefaults | undefined => {
    const d = model.value?.searchDefaults
    return d ? searchDefaultsAtCfg(d, sampling.value.cfg) : undefined
  })
  // A cfg change brings that cfg's calibrated values to every search config still on the old ones.
  watch(searchDefaults, (now, before) => {
    if (!now || !before || (now.alpha === before.alpha && now.dedup === before.dedup)) return
    const next = { ...configs.value }
    for (const k of STRATEGY_ORDER) {
      const c = next[k]
      if ('alpha' in c && c.alpha === before.alpha && c.dedup === before.dedup) {
        next[k] = { ...c, alpha: now.alpha, dedup: now.dedup }
      }
    }
    configs.value = next
  })

  // A model change brings its own sampling defaults, unless Re-open parameters brought saved ones.
  let restoredSampling: Sampling | undefined
  let restoredConfig = false
  watch(model, (m, old) => {
    if (m && m.id !== old?.id) {
      sampling.value = restoredSampling ?? { ...m.samplingDefaults }
      // the model's calibrated alpha, dedup and search scale (or the paper's), unless Re-open brought a config
      if (!restoredConfig) configs.value = modelConfigs(searchDefaults.value)
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
    // random seeds are drawn when the job is queued: the field's seed is not used
    const random = seedPolicy.value === 'random'
    const seedCheck = seedSchema.safeParse(seed.value)
    if (!random && !seedCheck.success) out.seed = seedCheck.error.issues[0]?.message ?? 'must be a seed'
    const base = random ? 0 : seed.value
    const found = requestIssues(m, classIds.value, count.value, base, strategy.value, sampling.value)
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
    if (ids) {
      lastQueued.value = ids
      lastSeed.value = jobs[0]?.items[0]?.seed
    }
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
      label: `Compare: ${strategyName(k)}`,
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

  /** A seed typed into the field; typing one under the random policy means seed + i (as the CLI's --seed). */
  function typeSeed(text: string): void {
    seed.value = text.trim() === '' ? Number.NaN : Number(text)
    if (text.trim() !== '' && seedPolicy.value === 'random') seedPolicy.value = 'increment'
  }

  /** The dice: a new random seed in the field; a random policy becomes seed + i so the field counts. */
  function rollSeed(): void {
    seed.value = randomSeed()
    if (seedPolicy.value === 'random') seedPolicy.value = 'increment'
  }

  /**
   * The first seed of the last job (queued here, else the newest in the queue) back in the field, so
   * its first image comes out the same; a random policy becomes seed + i.
   */
  const reusableSeed = computed(() => lastSeed.value ?? queue.jobs.at(-1)?.seeds[0])
  function reuseLastSeed(): void {
    const s = reusableSeed.value
    if (s === undefined) return
    seed.value = s
    if (seedPolicy.value === 'random') seedPolicy.value = 'increment'
  }

  /**
   * Loads what a PNG's parameters say (PNG Info): only the fields it has; the rest stay as they are.
   * A model it names that is installed is chosen; its strategy replaces that kind's knobs.
   */
  function loadFound(found: PngLoad): void {
    const target = found.modelId ?? modelId.value
    const switching = target !== modelId.value
    const base = switching ? models.byId(target)?.samplingDefaults : sampling.value
    const next = { ...(base ?? sampling.value), ...found.sampling }
    const parsed = found.strategy === undefined ? undefined : strategySchema.safeParse(found.strategy)
    if (switching) {
      restoredSampling = next
      restoredConfig = parsed?.success === true
    }
    modelId.value = target
    sampling.value = next
    if (found.classId !== undefined) classIds.value = [found.classId]
    if (found.seed !== undefined) {
      count.value = 1
      seed.value = found.seed
      seedPolicy.value = 'fixed'
    }
    if (parsed?.success) {
      configs.value = { ...configs.value, [parsed.data.kind]: parsed.data }
      kind.value = parsed.data.kind
    }
  }

  function resetStrategy(): void {
    configs.value = { ...configs.value, [kind.value]: modelConfigs(searchDefaults.value)[kind.value] }
  }

  /** The search knobs of the paper (alpha 2.3, dedup 1.8) or the model's own, for the current kind. */
  function applySearchPreset(preset: 'paper' | 'model'): void {
    const d = preset === 'paper' ? PAPER_KNOBS : searchDefaults.value
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
    reusableSeed,
    model,
    strategy,
    searchDefaults,
    issues,
    valid,
    kinds: STRATEGY_ORDER,
    submit,
    compare,
    load,
    resetStrategy,
    typeSeed,
    rollSeed,
    reuseLastSeed,
    loadFound,
    applySearchPreset,
    setConfig,
  }
})
