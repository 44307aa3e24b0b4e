/**
 * The Generate form's check of a job: the request schema of src-shared/engine/request.ts refined
 * against the chosen model, the same schema and bounds as Electron main, the inference host, the CLI
 * and the engine, with each issue placed on the form field that shows it.
 */
import { MAX_ITEMS } from '../../../src-shared/engine/limits'
import { generateRequestFor, generateRequestSchema } from '../../../src-shared/engine/request'
import type { StrategyConfig } from '../../../src-shared/engine/strategies'
import type { ModelView } from '../../../src-shared/ipc'

export interface Sampling {
  cfg: number
  top_k: number
  top_p: number
  more_smooth?: boolean
}

/** The form field that shows an issue of the request schema at `path`. */
function fieldOf(path: readonly PropertyKey[]): string {
  const [head, next, last] = path.map(String)
  if (head === 'items') return path.length === 1 ? 'count' : last === 'seed' ? 'seed' : 'classes'
  if (head === 'sampling') return next
  if (head === 'strategy') return path.length === 1 ? 'strategy.kind' : `strategy.${next}`
  return path.length === 0 ? 'model' : head
}

/**
 * Field -> message of the request schema refined against the model (the same schema and bounds as
 * main, the inference host and the engine). The images are the form's classes times its count, with
 * the base seed: a count past the bound is checked as MAX_ITEMS + 1 images, never built in full.
 */
export function requestIssues(
  m: ModelView | undefined,
  classIds: readonly number[],
  count: number,
  seed: number,
  strategy: StrategyConfig,
  sampling: Sampling,
): Record<string, string> {
  const out: Record<string, string> = {}
  if (classIds.length === 0 || !(count >= 1)) return out
  const total = Math.min(classIds.length * count, MAX_ITEMS + 1)
  const items = Array.from({ length: total }, (_, i) => ({
    classId: classIds[Math.floor(i / count) % classIds.length] ?? 0,
    seed,
  }))
  const schema = m
    ? generateRequestFor({
        id: m.id,
        numClasses: m.classNames.length,
        vocabSize: m.vocabSize,
        patchNums: m.patchNums,
      })
    : generateRequestSchema
  const parsed = schema.safeParse({ items, strategy, sampling })
  if (!parsed.success) for (const issue of parsed.error.issues) out[fieldOf(issue.path)] ??= issue.message
  return out
}
