/**
 * Makes sure `out/renderer` holds a build of the current renderer sources: builds it with vite's
 * `build()` when it is missing or older than any file under src-renderer (or the config), so
 * `npm run web` works from a fresh clone without a separate build step.
 */
import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

export interface RendererPaths {
  readonly root: string
  readonly outDir: string
  readonly srcDir: string
  readonly configFile: string
}

export function rendererPaths(root: string): RendererPaths {
  return {
    root,
    outDir: join(root, 'out', 'renderer'),
    srcDir: join(root, 'src-renderer'),
    configFile: join(root, 'vite.renderer.config.ts'),
  }
}

/** Newest modification time of the files under `dir` (0 when there are none). */
async function newest(dir: string): Promise<number> {
  let latest = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue
    const path = join(dir, e.name)
    latest = Math.max(latest, e.isDirectory() ? await newest(path) : (await stat(path)).mtimeMs)
  }
  return latest
}

/** Also the shared contract: the renderer bundles src-shared. */
async function sourcesTime(p: RendererPaths): Promise<number> {
  const config = existsSync(p.configFile) ? (await stat(p.configFile)).mtimeMs : 0
  return Math.max(config, await newest(p.srcDir), await newest(join(p.root, 'src-shared')))
}

export async function rendererIsStale(p: RendererPaths): Promise<boolean> {
  const index = join(p.outDir, 'index.html')
  if (!existsSync(index)) return true
  return (await stat(index)).mtimeMs < (await sourcesTime(p))
}

/** Builds when needed; returns whether it built. */
export async function ensureRenderer(p: RendererPaths, say: (line: string) => void): Promise<boolean> {
  if (!(await rendererIsStale(p))) return false
  say('Building the studio page (out/renderer is missing or older than src-renderer)...')
  const vite = await import('vite')
  if (existsSync(p.configFile)) {
    await vite.build({ configFile: p.configFile, logLevel: 'warn' })
  } else {
    // Until the renderer's own config exists: the same essentials (Vue, relative base, our outDir).
    const vue = (await import('@vitejs/plugin-vue')).default
    await vite.build({
      configFile: false,
      root: p.srcDir,
      base: './',
      plugins: [vue()],
      logLevel: 'warn',
      build: { outDir: p.outDir, emptyOutDir: true },
    })
  }
  return true
}
