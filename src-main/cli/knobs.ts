/**
 * Command-line knobs of `generate`: strategy, sampling and device flags turned into the engine's
 * configs. Every error names the flag and its allowed range.
 */
import {
  SettingsError,
  parseSampling,
  parseStrategy,
  validateForModel,
} from '../../src-shared/engine/strategies'
import { PRESET_IDS, presetById, presetIssue } from '../../src-shared/engine/presets'
import { generateRequestFor, type GenerateRequestInput, modelFacts } from '../../src-shared/engine/request'
import type { SamplingParams } from '../../src-shared/engine/sampling'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import type { SearchDefaults } from '../../src-shared/engine/calibration'
import { InvalidRequestError } from '../../src-shared/errors'
import { formatIssuePath, type VarManifest } from '../../src-shared/manifest'
import { type DeviceChoice, PROVIDER_NAMES } from '../../src-shared/protocol'

/** The execution-provider flags (read by `deviceFromFlags`), for commands that run a model. */
export const DEVICE_OPTIONS = {
  device: { type: 'string' },
  'device-id': { type: 'string' },
  fallback: { type: 'boolean' },
} as const

/** parseArgs option table for the knobs (merged into the generate command's table). */
export const KNOB_OPTIONS = {
  strategy: { type: 'string' },
  'search-scales': { type: 'string' },
  N: { type: 'string' },
  k: { type: 'string' },
  alpha: { type: 'string' },
  dedup: { type: 'string' },
  'final-pick': { type: 'string' },
  kernel: { type: 'string' },
  'legacy-progressive-nucleus': { type: 'boolean' },
  'pool-bandwidth': { type: 'boolean' },
  cfg: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'more-smooth': { type: 'boolean' },
  preset: { type: 'string' },
  ...DEVICE_OPTIONS,
} as const

export type KnobValues = Partial<Record<keyof typeof KNOB_OPTIONS, string | boolean>>

/** Engine setting path -> the flag that sets it. */
const FLAG_OF: Record<string, string> = {
  kind: '--strategy',
  searchScales: '--search-scales',
  N: '--N',
  k: '--k',
  alpha: '--alpha',
  dedup: '--dedup',
  finalPick: '--final-pick',
  kernel: '--kernel',
  legacyProgressiveNucleus: '--legacy-progressive-nucleus',
  poolBandwidthOverBatch: '--pool-bandwidth',
  cfg: '--cfg',
  top_k: '--top-k',
  top_p: '--top-p',
  more_smooth: '--more-smooth',
  items: '--count',
  batchSize: '--batch-size',
}

function flagOf(path: string): string {
  const root = path.split(/[.[]/)[0] ?? path
  return FLAG_OF[root] ?? path
}

/**
 * Checks the whole request (images, strategy, sampling, batch size) with the request schema refined
 * against the model, as the studio and the inference host do, before the model is loaded; each
 * problem is named by its flag: `--count: must hold at most 10000 images (...) (got 20000 images)`.
 */
export function checkRequestFlags(request: GenerateRequestInput, manifest: VarManifest): void {
  const parsed = generateRequestFor(modelFacts(manifest)).safeParse(request)
  if (parsed.success) return
  const problems = parsed.error.issues.map((i) => {
    // the knob's own name, below the request's `strategy` / `sampling` level
    const nested = i.path[0] === 'strategy' || i.path[0] === 'sampling'
    const image = i.path[0] === 'items' && i.path.length > 1
    const flag = image
      ? i.path[2] === 'seed'
        ? '--seed'
        : '--class'
      : flagOf(formatIssuePath(nested ? i.path.slice(1) : i.path))
    const got = flag === '--count' ? ` (got ${request.items.length} images)` : ''
    return { flag, line: `${flag}: ${i.message}${got}` }
  })
  throw new InvalidRequestError(problems[0]?.flag ?? '--class', problems.map((p) => p.line).join('\n'))
}

/** A number flag; `integer` also rejects fractions. */
export function numberFlag(flag: string, value: string, integer = false): number {
  const n = Number(value.trim())
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new InvalidRequestError(
      flag,
      `${flag}: must be ${integer ? 'an integer' : 'a number'}, got "${value}"`,
    )
  }
  return n
}

/** Re-labels engine setting errors with flag names: `--top-p: must be a number in (0, 1] (got 1.5)`. */
function asFlagError(error: unknown, given: Record<string, unknown>, strategy: string): never {
  if (!(error instanceof SettingsError)) throw error
  const lines = error.issues.map((i) => {
    const flag = flagOf(i.path)
    const root = i.path.split(/[.[]/)[0] ?? i.path
    if (i.message === 'unknown setting') return `${flag}: does not apply to --strategy ${strategy}`
    const got = given[root]
    return `${flag}: ${i.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`
  })
  const first = error.issues.at(0)
  throw new InvalidRequestError(first ? flagOf(first.path) : '--strategy', lines.join('\n'), { cause: error })
}

/** Search knobs a model supplies when the flags leave them out (its calibration, or the paper's). */
export type SearchKnobDefaults = Pick<SearchDefaults, 'alpha' | 'dedup' | 'searchScales'>

/**
 * The strategy config of the flags, validated against the model's schedule. With `defaults` (the
 * model's calibrated values, see storage/calibration-file.ts), a search strategy takes alpha, dedup
 * and the search scales from them unless a flag gives them.
 */
export function strategyFromFlags(
  v: KnobValues,
  manifest: VarManifest,
  defaults?: SearchKnobDefaults,
): StrategyConfig {
  const kind = typeof v.strategy === 'string' ? v.strategy : 'var-scaling'
  const raw: Record<string, unknown> = { kind }
  if (defaults && (kind === 'var-scaling' || kind === 'topk-only' || kind === 'randomk-only')) {
    raw.alpha = defaults.alpha
    raw.dedup = defaults.dedup
    raw.searchScales = [...defaults.searchScales]
  }
  const num = (key: keyof KnobValues, field: string, integer: boolean): void => {
    const value = v[key]
    if (typeof value === 'string') raw[field] = numberFlag(`--${key}`, value, integer)
  }
  if (typeof v['search-scales'] === 'string') {
    raw.searchScales = v['search-scales'].split(',').map((s) => numberFlag('--search-scales', s, true))
  }
  num('N', 'N', true)
  num('k', 'k', true)
  num('alpha', 'alpha', false)
  num('dedup', 'dedup', false)
  if (typeof v['final-pick'] === 'string') raw.finalPick = v['final-pick']
  if (typeof v.kernel === 'string') raw.kernel = v.kernel
  if (v['legacy-progressive-nucleus'] === true) raw.legacyProgressiveNucleus = true
  if (v['pool-bandwidth'] === true) raw.poolBandwidthOverBatch = true
  try {
    return validateForModel(parseStrategy(raw), manifest.patch_nums.length)
  } catch (error) {
    asFlagError(error, raw, kind)
  }
}

/**
 * The model's sampling defaults, then `--preset`'s settings, then the flags, validated (top_k also
 * against the vocabulary).
 */
export function samplingFromFlags(v: KnobValues, manifest: VarManifest): SamplingParams {
  const raw: Record<string, unknown> = { ...manifest.sampling_defaults }
  if (typeof v.preset === 'string') {
    const preset = presetById(v.preset)
    if (!preset) {
      throw new InvalidRequestError(
        '--preset',
        `--preset: must be one of ${PRESET_IDS.join(', ')}, got "${v.preset}"`,
      )
    }
    const issue = presetIssue(preset, manifest.vocab_size)
    if (issue) throw new InvalidRequestError('--preset', `--preset: ${issue}`)
    Object.assign(raw, preset.sampling)
  }
  if (v['more-smooth'] === true) raw.more_smooth = true
  if (typeof v.cfg === 'string') raw.cfg = numberFlag('--cfg', v.cfg)
  if (typeof v['top-k'] === 'string') raw.top_k = numberFlag('--top-k', v['top-k'], true)
  if (typeof v['top-p'] === 'string') raw.top_p = numberFlag('--top-p', v['top-p'])
  try {
    return parseSampling(raw, manifest.vocab_size)
  } catch (error) {
    asFlagError(error, raw, typeof v.strategy === 'string' ? v.strategy : 'var-scaling')
  }
}

export function deviceFromFlags(v: KnobValues): DeviceChoice {
  const provider = typeof v.device === 'string' ? v.device : 'auto'
  const allowed = ['auto', ...PROVIDER_NAMES] as const
  if (!(allowed as readonly string[]).includes(provider)) {
    throw new InvalidRequestError(
      '--device',
      `--device: must be one of ${allowed.join(', ')}, got "${provider}"`,
    )
  }
  const device: DeviceChoice = {
    provider: provider as DeviceChoice['provider'],
    fallback: v.fallback === true,
  }
  if (typeof v['device-id'] === 'string') {
    const id = numberFlag('--device-id', v['device-id'], true)
    if (id < 0 || id > 63)
      throw new InvalidRequestError('--device-id', `--device-id: must be in [0, 63], got ${id}`)
    device.deviceId = id
  }
  return device
}
