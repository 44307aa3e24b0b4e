/** What every CLI command gets: output streams, the progress sink, the host client and the model lookup. */
import { delimiter } from 'node:path'
import type { HostClient } from '../host/client'
import { resolveModel } from '../storage/model-registry'
import { defaultHome, loadUserModels, userModelFolders } from '../storage/user-models'
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

/** Registered models and the models directory (`models add`, `models dir`); none when the list is unreadable. */
async function registeredDirs(): Promise<string[]> {
  try {
    return userModelFolders(await loadUserModels(defaultHome()))
  } catch {
    return [] // `models list` reports a damaged list; a path or the shipped model still works
  }
}

/** The folder of --model (a path or an id), or the shipped model. */
export async function resolveModelDir(v: { model?: string; 'models-dir'?: string[] }): Promise<string> {
  return resolveModel(v.model, { userDirs: [...userModelDirs(v['models-dir']), ...(await registeredDirs())] })
}
