/**
 * Checks shared by the app process and its utility processes: a worker thread started from inside
 * an `app.asar` archive fails, naming the file. Electron documents asar support for CommonJS
 * `require` in workers but not for starting a worker's entry from inside the archive (ES modules
 * included), so a packaged app must start its workers from `app.asar.unpacked`.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const threads = require('node:worker_threads')
const NativeWorker = threads.Worker

class GuardedWorker extends NativeWorker {
  constructor(filename, options) {
    if (!options?.eval) {
      const file = filename instanceof URL ? fileURLToPath(filename) : String(filename)
      if (/[\\/]app\.asar[\\/]/.test(file)) {
        throw new Error(
          `worker entry ${file} is inside app.asar: start it from app.asar.unpacked (electron-builder asarUnpack)`,
        )
      }
    }
    super(filename, options)
  }
}
threads.Worker = GuardedWorker
syncBuiltinESMExports()
