/**
 * Errors of the studio service. Each says what was wrong and what to do; the web host and Electron
 * main send `{ name, message, field? }` to the renderer, which shows the message as it is.
 */
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { IpcErrorPayload } from '../../src-shared/ipc'

/** An id from the renderer names no job, image or model (deleted meanwhile, or never existed). */
export class NotFoundError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'NotFoundError'
  }
}

/** A file or folder of the studio could not be read or written (permissions, full disk, ...). */
export class StorageError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StorageError'
  }
}

/** A batch file cannot be used as a whole (not UTF-8, too large, not a batch file, a YAML bomb). */
export class BatchFileError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BatchFileError'
  }
}

/** What crosses the boundary for any thrown value; stacks stay on the host. */
export function toIpcError(error: unknown): IpcErrorPayload {
  if (error instanceof InvalidRequestError)
    return { name: error.name, message: error.message, field: error.field }
  if (error instanceof Error) return { name: error.name, message: error.message }
  return { name: 'Error', message: String(error) }
}

/** Node's file-system error code, when there is one. */
export function fsCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

/** A sentence for a failed file operation: names the path and, for common codes, the likely fix. */
export function fsProblem(action: string, path: string, error: unknown): string {
  const code = fsCode(error)
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied; choose a folder you can write to'
      : code === 'ENOSPC'
        ? 'the disk is full'
        : code === 'EROFS'
          ? 'the file system is read-only; choose another folder'
          : code === 'ENOTDIR' || code === 'EEXIST'
            ? 'a file is in the way of the folder'
            : code === 'ENOENT'
              ? 'it does not exist'
              : error instanceof Error
                ? error.message
                : String(error)
  return `cannot ${action} ${path}: ${why}`
}
