/**
 * Refuses a generate request whose memory estimate (../../src-shared/engine/budget) exceeds what this
 * machine can hold, before it starts: the studio when a job is queued, the inference host when a
 * call arrives (the CLI's way in). VAR_STUDIO_MEMORY_BYTES overrides the machine's memory (tests,
 * or to keep the studio within less).
 */
import { totalmem } from 'node:os'
import {
  type BudgetModel,
  type BudgetRequest,
  estimateJobBytes,
  formatBytes,
} from '../../src-shared/engine/budget'
import { InvalidRequestError } from '../../src-shared/errors'

/** Share of the memory a job may plan to use: the app, the page and the system need the rest. */
const SHARE = 0.85

/** The bytes a job may use on this machine. */
export function memoryLimit(): number {
  const override = Number(process.env.VAR_STUDIO_MEMORY_BYTES)
  if (Number.isFinite(override) && override > 0) return override
  // a container's or cgroup's limit, where Node can see one (0 or undefined otherwise)
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0
  const total = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem()
  return total * SHARE
}

/** Throws InvalidRequestError (naming `field`) when the request's estimate exceeds memoryLimit(). */
export function checkJobMemory(model: BudgetModel, req: BudgetRequest, field: string, what: string): void {
  const estimate = estimateJobBytes(model, req)
  const limit = memoryLimit()
  if (estimate.bytes <= limit) return
  const parts = estimate.parts.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ')
  throw new InvalidRequestError(
    field,
    `${what} would need about ${formatBytes(estimate.bytes)} of memory (${parts}), more than the ` +
      `${formatBytes(limit)} this machine can give it; lower the batch size, N or the number of images`,
  )
}
