/**
 * A progress bar on stderr. On a terminal it redraws one line; elsewhere (logs, CI) it prints a line
 * each time another tenth is done, so long runs still show they are alive.
 */
export interface ProgressSink {
  write(text: string): void
  readonly isTTY?: boolean
  readonly columns?: number
}

const WIDTH = 24

function bar(fraction: number): string {
  const full = Math.round(fraction * WIDTH)
  return `[${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}]`
}

export class ProgressBar {
  private lastDecile = -1
  private lastDraw = 0
  private drawn = false

  constructor(
    private readonly sink: ProgressSink,
    private readonly label: string,
  ) {}

  update(done: number, total: number, detail = ''): void {
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4)
    const text = `${this.label} ${bar(fraction)} ${pct}${detail ? ` ${detail}` : ''}`
    if (this.sink.isTTY) {
      const now = Date.now()
      if (fraction < 1 && now - this.lastDraw < 80 && this.drawn) return
      this.lastDraw = now
      const max = (this.sink.columns ?? 100) - 1
      this.sink.write(`\r${text.slice(0, max).padEnd(max)}`)
      this.drawn = true
      return
    }
    const decile = Math.floor(fraction * 10)
    if (decile > this.lastDecile) {
      this.lastDecile = decile
      this.sink.write(`${text}\n`)
    }
  }

  /** Ends the bar's line (terminal) so later output starts on a fresh line. */
  finish(): void {
    if (this.sink.isTTY && this.drawn) this.sink.write('\n')
    this.drawn = false
  }
}
