/**
 * What an evaluation record carries so that a result can be traced to exact files and code: the
 * model (the manifest's sha256 and the file hashes it lists), the code (package version and git
 * commit), and, from the caller, the settings, seeds and shard layout.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { VarManifest } from '../../src-shared/manifest'
import { packageRoot } from '../resources'

export interface ModelProvenance {
  readonly id: string
  /** sha256 of manifest.json as stored */
  readonly manifestSha256: string
  /** every file the manifest lists, with the sha256 it declares (checked when the model loads) */
  readonly files: Readonly<Record<string, string>>
}

export interface CodeProvenance {
  readonly version: string
  /** the git commit of the checkout the CLI ran from, or "unknown" (an installed package) */
  readonly commit: string
}

export async function modelProvenance(dir: string, manifest: VarManifest): Promise<ModelProvenance> {
  const bytes = await readFile(join(dir, 'manifest.json'))
  const files: Record<string, string> = {}
  for (const name of Object.keys(manifest.files).sort()) {
    const entry = Object.hasOwn(manifest.files, name) ? manifest.files[name] : undefined
    if (entry) files[name] = entry.sha256
  }
  return {
    id: manifest.id,
    manifestSha256: createHash('sha256').update(bytes).digest('hex'),
    files,
  }
}

let commitCache: string | undefined

/** The checkout's HEAD commit; "unknown" without git (an installed package). */
export function codeCommit(): string {
  if (commitCache !== undefined) return commitCache
  const root = packageRoot()
  let commit = 'unknown'
  if (root) {
    try {
      const git = (args: string[]): string =>
        execFileSync('git', ['-C', root, ...args], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
          timeout: 10_000,
        }).trim()
      const head = git(['rev-parse', 'HEAD'])
      if (/^[0-9a-f]{40}$/.test(head)) commit = head
    } catch {
      commit = 'unknown'
    }
  }
  commitCache = commit
  return commit
}

export function codeProvenance(version: string): CodeProvenance {
  return { version, commit: codeCommit() }
}

/** sha256 of a value's canonical JSON (keys sorted), to compare settings between records. */
export function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  )
}
