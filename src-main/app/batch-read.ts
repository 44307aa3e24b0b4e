/**
 * Where a batch file's bytes come from (the page's upload, or a path in Electron) and reading them
 * into raw rows in a worker thread, with a time limit, so a hostile file cannot stall the host.
 */
import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { StudioError } from '../../src-shared/errors'
import type { IpcParsedArgs } from '../../src-shared/ipc'
import { siblingEntry, startWorker } from '../host/loader'
import {
  type BatchFormat,
  decodeBatch,
  detectFormat,
  MAX_BATCH_BYTES,
  parseBatchText,
  type RawRow,
} from './batch-file'
import { BatchFileError, fsProblem } from './errors'

export type BatchSource = IpcParsedArgs<'batch:parse'>['source']

const PARSE_TIMEOUT_MS = 30_000

export async function sourceBytes(
  source: BatchSource,
  allowPaths: boolean,
): Promise<{ bytes: Uint8Array; name: string }> {
  if (source.kind === 'content') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(source.base64))
      throw new BatchFileError(`${source.name}: the upload is not valid base64`)
    return { bytes: Buffer.from(source.base64, 'base64'), name: basename(source.name) }
  }
  const name = basename(source.path)
  if (!allowPaths)
    throw new BatchFileError(
      'This host reads batch files from uploads only; drop or choose the file in the page',
    )
  try {
    const s = await stat(source.path)
    if (!s.isFile()) throw new BatchFileError(`${source.path} is not a file`)
    if (s.size > MAX_BATCH_BYTES) {
      throw new BatchFileError(
        `${name} is ${(s.size / 2 ** 20).toFixed(1)} MiB; batch files are limited to 16 MiB`,
      )
    }
    return { bytes: await readFile(source.path), name }
  } catch (error) {
    if (error instanceof StudioError) throw error
    throw new BatchFileError(fsProblem('read', source.path, error), { cause: error })
  }
}

type Reply = { format: BatchFormat; rows: RawRow[] } | { error: { name: string; message: string } }

/** Raw rows of a batch file; throws BatchFileError for a file that cannot be used as a whole. */
export function readRows(bytes: Uint8Array, name: string): Promise<{ format: BatchFormat; rows: RawRow[] }> {
  let worker
  try {
    worker = startWorker(siblingEntry('batch-worker', import.meta.url))
  } catch {
    // No worker entry (a bundle without it): read here; the size limits still apply.
    const text = decodeBatch(bytes, name)
    const format = detectFormat(name, text)
    return Promise.resolve({ format, rows: parseBatchText(text, name, format) })
  }
  const w = worker
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void w.terminate()
      reject(
        new BatchFileError(
          `${name} took more than ${PARSE_TIMEOUT_MS / 1000} s to read; it is not a usable batch file`,
        ),
      )
    }, PARSE_TIMEOUT_MS)
    w.once('message', (reply: Reply) => {
      clearTimeout(timer)
      void w.terminate()
      if ('error' in reply) {
        reject(
          reply.error.name === 'BatchFileError'
            ? new BatchFileError(reply.error.message)
            : new BatchFileError(`${name}: ${reply.error.message}`),
        )
      } else resolve(reply)
    })
    w.once('error', (error) => {
      clearTimeout(timer)
      reject(new BatchFileError(`${name} could not be read: ${error.message}`))
    })
    // Exiting without an answer (out of memory): rejecting twice is harmless.
    w.once('exit', () => {
      clearTimeout(timer)
      reject(
        new BatchFileError(`${name} could not be read (the reader stopped); it is not a usable batch file`),
      )
    })
    w.postMessage({ bytes, name })
  })
}
