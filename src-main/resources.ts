/**
 * Where files that ship next to the code are at run time. In a checkout they sit in the repository
 * (`models/fashion-mnist-var`); in an installed app electron-builder copies them as `extraResources`
 * into `process.resourcesPath`, outside the asar archive, because onnxruntime opens graphs by path
 * and cannot read from inside an archive.
 *
 * No electron import: the Electron main passes `app.isPackaged` and `process.resourcesPath`, and the
 * CLI, web host and inference host (plain Node, or a utility process) fall back to what they can
 * see for themselves.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SHIPPED_MODEL = 'fashion-mnist-var'
/**
 * The shipped model's folder relative to the repository root and, in an installed app, to the
 * resources folder: electron-builder.yml's `extraResources` entry copies it to the same path.
 */
export const SHIPPED_MODEL_RESOURCE = `models/${SHIPPED_MODEL}`
const PACKAGE_NAME = 'var-studio'

export interface ResourceLayout {
  /**
   * Electron's `app.isPackaged`. True: only the resources folder counts (a stray checkout next to an
   * installed app must not win). False: only the checkout counts. Unknown: resources first, then the
   * checkout.
   */
  readonly isPackaged?: boolean | undefined
  /** Electron's `process.resourcesPath`; unset under plain Node. */
  readonly resourcesPath?: string | undefined
  /** The folder of this package's package.json (the repository root in a checkout). */
  readonly packageRoot?: string | undefined
}

/** The folder of this package's package.json, found by walking up from `from`. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  let dir = dirname(from)
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

/**
 * What this process can see without Electron: its own `process.resourcesPath` (set in Electron's
 * main and utility processes) and whether its code runs from inside an `app.asar` archive, which
 * only happens in an installed app.
 */
export function currentLayout(
  modulePath: string = fileURLToPath(import.meta.url),
  resourcesPath: string | undefined = (process as { resourcesPath?: string }).resourcesPath,
): ResourceLayout {
  const inAsar = modulePath.includes(`${sep}app.asar${sep}`)
  return { isPackaged: inAsar ? true : undefined, resourcesPath, packageRoot: packageRoot(modulePath) }
}

/** Where a shipped resource may be, most specific first. `relative` uses forward slashes. */
export function resourceCandidates(layout: ResourceLayout, relative: string): string[] {
  const parts = relative.split('/')
  const out: string[] = []
  if (layout.isPackaged !== false && layout.resourcesPath) out.push(join(layout.resourcesPath, ...parts))
  if (layout.isPackaged !== true && layout.packageRoot) out.push(join(layout.packageRoot, ...parts))
  return out
}

/** Where the shipped model may be: the packaged resources first, then the checkout. */
export function shippedModelCandidates(layout: ResourceLayout = currentLayout()): string[] {
  return resourceCandidates(layout, SHIPPED_MODEL_RESOURCE)
}

/** The shipped model's folder (the first candidate holding a manifest.json), if any. */
export function findShippedModel(layout: ResourceLayout = currentLayout()): string | undefined {
  return shippedModelCandidates(layout).find((dir) => existsSync(join(dir, 'manifest.json')))
}
