/**
 * Worker thread that reads one batch file: YAML parsing of a few MiB takes seconds, which must not
 * stall the process that serves the page (Electron main or the web host).
 */
import { parentPort } from 'node:worker_threads'
import { decodeBatch, detectFormat, parseBatchText } from './batch-file'

interface Request {
  readonly bytes: Uint8Array
  readonly name: string
}

parentPort?.once('message', (req: Request) => {
  try {
    const text = decodeBatch(req.bytes, req.name)
    const format = detectFormat(req.name, text)
    parentPort?.postMessage({ format, rows: parseBatchText(text, req.name, format) })
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    parentPort?.postMessage({ error: { name: e.name, message: e.message } })
  }
})
