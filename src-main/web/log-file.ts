/**
 * The web host's log file, `<home>/logs/web-host.log`: what `serve` prints on stderr, with the
 * time, so that what happened while nobody watched the terminal can still be read (Settings shows
 * the folder). A file over LOG_LIMIT bytes is kept as web-host.log.1 and a new one begun.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'

export const LOG_NAME = 'web-host.log'
export const LOG_LIMIT = 5 * 1024 * 1024

export interface LogFile {
  readonly dir: string
  readonly path: string
  write(line: string): void
  close(): Promise<void>
}

export async function openLogFile(dir: string): Promise<LogFile> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, LOG_NAME)
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  )
  if (size > LOG_LIMIT) await rename(path, `${path}.1`)
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 })
  let broken = false
  stream.on('error', () => {
    broken = true // a full disk must not stop the studio; stderr still has every line
  })
  return {
    dir,
    path,
    write(line) {
      if (!broken) stream.write(`${new Date().toISOString()} ${line}\n`)
    },
    close: () =>
      new Promise<void>((done) => {
        stream.end(() => {
          done()
        })
      }),
  }
}
