/**
 * One studio per home folder: the queue, the settings and the history index are each written
 * whole, so two studios on one folder (the app and `var-studio serve`, or two `serve`s) would
 * overwrite each other's files. A lock file names the process that holds the folder; a lock left
 * by a process that is gone is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { StudioError } from '../../src-shared/errors'
import { fsProblem, StorageError } from './errors'

export class HomeInUseError extends StudioError {
  override readonly name = 'HomeInUseError'
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes `<home>/studio.lock`; resolves to its release. */
export async function lockHome(home: string): Promise<() => Promise<void>> {
  const path = join(home, 'studio.lock')
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(path, 'wx')
      await file.writeFile(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }))
      await file.close()
      return () => rm(path, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new StorageError(fsProblem('create', path, error), { cause: error })
      }
    }
    let pid = NaN
    try {
      pid = Number((JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown }).pid)
    } catch {
      // unreadable: a lock cut short by a crash, taken over below
    }
    // Pid 1 is the system's init and 0 or less names process groups (kill(-1, 0) answers for every
    // process there is): no studio holds a lock by them, so such a lock is taken over.
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && alive(pid)) {
      throw new HomeInUseError(
        `Another VAR Studio (process ${pid}) is using ${home}. Close it, or start this one with another ` +
          'home folder (--home, or VAR_STUDIO_HOME).',
      )
    }
    await rm(path, { force: true })
  }
}
