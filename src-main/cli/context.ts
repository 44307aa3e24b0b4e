/** What every CLI command gets: output streams, the progress sink, the host client and the model lookup. */
import { delimiter } from 'node:path'
import type { HostClient } from '../host/client'
import { resolveModel } from '../storage/model-registry'
import type { ProgressSink } from './progress'

export interface CliIo {
  out: (line: string) => void
  err: (line: string) => void
}

export interface CliContext {
  readonly io: CliIo
  readonly progress: ProgressSink
  /** The inference host client, started on first use and closed when the command ends. */
  readonly client: () => HostClient
  readonly version: string
}

/** Options every command that takes a model understands. */
export const modelOptions = {
  model: { type: 'string' },
  'models-dir': { type: 'string', multiple: true },
} as const

/** User model folders: --models-dir flags, then VAR_STUDIO_MODELS (a path list). */
export function userModelDirs(flags: readonly string[] | undefined): string[] {
  const env = process.env.VAR_STUDIO_MODELS
  return [...(flags ?? []), ...(env ? env.split(delimiter).filter((p) => p !== '') : [])]
}

/** The folder of --model (a path or an id), or the shipped model. */
export function resolveModelDir(v: { model?: string; 'models-dir'?: string[] }): Promise<string> {
  return resolveModel(v.model, { userDirs: userModelDirs(v['models-dir']) })
}
