/**
 * Named sampling presets of the official VAR release, for models exported from its checkpoints
 * (vocabulary 4096): the settings its README gives for FID evaluation, and those of its sampling
 * notebook (demo_sample.ipynb) with more_smooth on, which the README suggests for better-looking
 * images. A preset fills cfg, top_k, top_p and more_smooth; settings given beside it win.
 */
import type { SamplingParams } from './sampling'

export const PRESET_IDS = ['fid', 'demo'] as const
export type PresetId = (typeof PRESET_IDS)[number]

export interface SamplingPreset {
  readonly id: PresetId
  readonly label: string
  readonly sampling: Readonly<Required<SamplingParams>>
  readonly about: string
}

export const SAMPLING_PRESETS: readonly SamplingPreset[] = [
  {
    id: 'fid',
    label: 'FID (official README): cfg 1.5, top-k 900, top-p 0.96',
    sampling: { cfg: 1.5, top_k: 900, top_p: 0.96, more_smooth: false },
    about:
      'what the official README uses for FID/IS evaluation (also the exporter’s defaults for official checkpoints)',
  },
  {
    id: 'demo',
    label: 'demo (official notebook): cfg 4, top-k 900, top-p 0.95, more_smooth',
    sampling: { cfg: 4, top_k: 900, top_p: 0.95, more_smooth: true },
    about:
      'the official notebook’s call (cfg 4, top_k 900, top_p 0.95) with more_smooth on, for better-looking images',
  },
]

export function presetById(id: string): SamplingPreset | undefined {
  return SAMPLING_PRESETS.find((p) => p.id === id)
}

/** Why a preset does not fit a model (its top_k exceeds the vocabulary), or undefined when it does. */
export function presetIssue(preset: SamplingPreset, vocabSize: number): string | undefined {
  if (preset.sampling.top_k <= vocabSize) return undefined
  return (
    `the ${preset.id} preset is for official VAR exports: its top-k ${preset.sampling.top_k} exceeds ` +
    `this model's vocabulary of ${vocabSize}`
  )
}
