/**
 * A progress bar on stderr. On a terminal it redraws one line; elsewhere (a pipe, a log, CI) it
 * prints sparingly: a line when another tenth is done and at least SPARSE_MS passed since the last
 * one (or HEARTBEAT_MS passed without a new tenth, so a long run still shows it is alive), and the
 * final line. A run of quick bars prints one line each, not one per update.
 */
export interface ProgressSink {
  write(text: string): void
  readonly isTTY?: boolean
  readonly columns?: number
}

const WIDTH = 24
/** off a terminal: the least time between two lines of one bar */
export const SPARSE_MS = 5000
/** off a terminal: a line after this long even when no new tenth is done */
export const HEARTBEAT_MS = 30_000

function bar(fraction: number): string {
  const full = Math.round(fraction * WIDTH)
  return `[${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}]`
}

export class ProgressBar {
  private lastDecile = 0
  private lastDraw = 0
  private drawn = false
  private lastLine: number
  private ended = false

  constructor(
    private readonly sink: ProgressSink,
    private readonly label: string,
    /** milliseconds; tests pass their own clock */
    private readonly now: () => number = Date.now,
  ) {
    this.lastLine = now()
  }

  update(done: number, total: number, detail = ''): void {
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4)
    const text = `${this.label} ${bar(fraction)} ${pct}${detail ? ` ${detail}` : ''}`
    if (this.sink.isTTY) {
      const now = this.now()
      if (fraction < 1 && now - this.lastDraw < 80 && this.drawn) return
      this.lastDraw = now
      const max = (this.sink.columns ?? 100) - 1
      this.sink.write(`\r${text.slice(0, max).padEnd(max)}`)
      this.drawn = true
      return
    }
    if (this.ended) return
    const now = this.now()
    const decile = Math.floor(fraction * 10)
    const due =
      fraction >= 1 ||
      (decile > this.lastDecile && now - this.lastLine >= SPARSE_MS) ||
      now - this.lastLine >= HEARTBEAT_MS
    if (!due) return
    this.lastDecile = decile
    this.lastLine = now
    this.ended = fraction >= 1
    this.sink.write(`${text}\n`)
  }

  /** Ends the bar's line (terminal) so later output starts on a fresh line. */
  finish(): void {
    if (this.sink.isTTY && this.drawn) this.sink.write('\n')
    this.drawn = false
  }
}
