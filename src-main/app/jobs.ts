/**
 * Turns a job spec from the renderer (or a batch file) into a queued job: the model must exist, and
 * the spec passes the request schema refined against the model's manifest (the same schema and
 * bounds as the form, the inference host and the engine: classes, strategy, sampling, candidates).
 * Errors name the job and the field.
 */
import { forModel, modelFacts } from '../../src-shared/engine/request'
import { InvalidRequestError } from '../../src-shared/errors'
import { jobSpecSchema, type IpcParsedArgs, type JobSpec } from '../../src-shared/ipc'
import { formatIssuePath } from '../../src-shared/manifest'
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
  input: JobSpec,
  at: string,
  resolve: (modelId: string) => Promise<ResolvedModel>,
): Promise<NewJob> {
  const model = await resolve(input.modelId)
  const m = model.manifest
  const parsed = forModel(jobSpecSchema, modelFacts(m)).safeParse(input)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: formatIssuePath(i.path), message: i.message }))
    const first = issues[0]?.path ?? '(root)'
    throw new InvalidRequestError(
      `${at}.${first}`,
      `${at}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    )
  }
  const spec = parsed.data
  return {
    modelId: m.id,
    label: labelOf(spec, m.class_names, spec.strategy.kind),
    strategy: { ...spec.strategy },
    sampling: { ...spec.sampling },
    items: spec.items,
    seedPolicy: spec.seedPolicy,
    ...(spec.source ? { source: spec.source } : {}),
  }
}
