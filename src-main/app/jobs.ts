/**
 * Turns a job spec from the renderer (or a batch file) into a queued job: the model must exist, the
 * strategy passes the engine's own schema and fits the model, the classes are the model's and the
 * sampling overrides are checked against its vocabulary. Errors name the job and the field.
 */
import { parseSampling, parseStrategy, validateForModel } from '../../src-shared/engine/strategies'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { IpcParsedArgs } from '../../src-shared/ipc'
import type { ResolvedModel } from './model-list'
import type { NewJob } from './queue'

type Spec = IpcParsedArgs<'queue:add'>['jobs'][number]

function labelOf(spec: Spec, names: readonly string[], kind: string): string {
  if (spec.label) return spec.label
  const classes = [...new Set(spec.items.map((i) => names[i.classId] ?? String(i.classId)))]
  const what = classes.length <= 3 ? classes.join(', ') : `${classes.length} classes`
  return `${what} x${spec.items.length} (${kind})`
}

export async function toNewJob(
  spec: Spec,
  at: string,
  resolve: (modelId: string) => Promise<ResolvedModel>,
): Promise<NewJob> {
  const model = await resolve(spec.modelId)
  const m = model.manifest
  const prefix = (e: unknown): never => {
    if (e instanceof StudioError) {
      e.message = `${at}: ${e.message}`
    }
    throw e
  }
  const strategy = (() => {
    try {
      return validateForModel(parseStrategy(spec.strategy ?? { kind: 'var-scaling' }), m.patch_nums.length)
    } catch (e) {
      return prefix(e)
    }
  })()
  try {
    parseSampling({ ...m.sampling_defaults, ...spec.sampling }, m.vocab_size)
  } catch (e) {
    prefix(e)
  }
  spec.items.forEach((item, i) => {
    if (item.classId >= m.num_classes) {
      throw new InvalidRequestError(
        `${at}.items[${i}].classId`,
        `${at}: image ${i + 1}: class ${item.classId} is not a class of ${m.id}; must be in [0, ${m.num_classes - 1}]`,
      )
    }
  })
  return {
    modelId: m.id,
    label: labelOf(spec, m.class_names, strategy.kind),
    strategy: { ...strategy },
    sampling: { ...spec.sampling },
    items: spec.items,
    seedPolicy: spec.seedPolicy,
    ...(spec.source ? { source: spec.source } : {}),
  }
}
