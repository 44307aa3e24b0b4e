import type { Diagnostics } from '../../../src-shared/ipc'

type LastRun = NonNullable<Diagnostics['lastRun']>

export interface SkippedAttempt {
  readonly provider: string
  /** the reason's first line, cut to `max` characters */
  readonly line: string
  /** the whole reason, for the expanded view */
  readonly reason: string
  /** whether `line` leaves something out */
  readonly cut: boolean
}

export interface AttemptSummary {
  /** the provider that ran, undefined when none did */
  readonly ran?: string
  /** the providers tried and failed before it (all of them when none ran) */
  readonly skipped: readonly SkippedAttempt[]
  /**
   * A problem worth red: the provider that was asked for by name failed and another ran in its place
   * (the host's fallbackNote), or nothing ran. Otherwise the failures are just the `auto` ladder
   * finding out what this machine has, e.g. no CUDA library on a CPU-only machine.
   */
  readonly alarming: boolean
}

/** The first line of `text`, at most `max` characters, with an ellipsis when cut. */
export function oneLine(text: string, max = 120): { line: string; cut: boolean } {
  const trimmed = text.trim()
  const first = trimmed.split(/\r?\n/, 1)[0] ?? ''
  if (first.length <= max) return { line: first, cut: first !== trimmed }
  return { line: `${first.slice(0, max - 1).trimEnd()}…`, cut: true }
}

/** The provider attempts of the last run, split into the one that ran and the ones skipped before it. */
export function summariseAttempts(run: LastRun, max = 120): AttemptSummary {
  const ranAt = run.attempts.findIndex((a) => a.ok)
  const before = ranAt < 0 ? run.attempts : run.attempts.slice(0, ranAt)
  const skipped = before
    .filter((a) => !a.ok)
    .map((a) => {
      const reason = a.reason?.trim() || 'no reason given'
      return { provider: a.provider, reason, ...oneLine(reason, max) }
    })
  // The attempts are the report of record; `provider` backs it up should they be empty.
  const ran = ranAt >= 0 ? run.attempts[ranAt].provider : run.attempts.length ? undefined : run.provider
  return {
    ...(ran ? { ran } : {}),
    skipped,
    alarming: ran === undefined || run.fallbackNote !== undefined,
  }
}
