/**
 * The model folder host tests run on: VAR_TEST_MODEL, else the shipped model, else the untrained
 * tiny model the exporter writes to /tmp/vt/model. Copies let tests damage files safely.
 */
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { VarManifest } from '../../src-shared/manifest'

function findModel(): string {
  const candidates = [process.env.VAR_TEST_MODEL ?? 'models/fashion-mnist-var', '/tmp/vt/model'].map((p) =>
    resolve(p),
  )
  const dir = candidates.find((d) => existsSync(join(d, 'manifest.json')))
  if (!dir) {
    throw new Error(
      `no model folder for the host tests (looked in ${candidates.join(', ')}); set VAR_TEST_MODEL or export one with models/var_tools`,
    )
  }
  return dir
}

export const MODEL_DIR = findModel()

export async function readJsonManifest(dir: string): Promise<VarManifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as VarManifest
}

export async function writeJsonManifest(dir: string, manifest: VarManifest): Promise<void> {
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2))
}

/** A scratch copy of the test model; `cleanup` removes it. */
export async function copyModel(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'var-host-'))
  const dir = join(root, 'model')
  await cp(MODEL_DIR, dir, { recursive: true })
  return { dir, cleanup: () => rm(root, { recursive: true, force: true }) }
}
