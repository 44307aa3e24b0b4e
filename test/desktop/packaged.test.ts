/**
 * The packaged app, built offline: `electron-builder --dir --linux` with a placeholder Electron
 * distribution (no download), then what is inside it, then one job run from that layout under the
 * `electron` stand-in, with `app.isPackaged` and `process.resourcesPath` as an installed app has
 * them and the archive seen as Electron sees it (packed files inside `app.asar`, unpacked ones
 * reached through it). Worker threads must start from `app.asar.unpacked` (guards.mjs refuses a
 * worker entry inside the archive).
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { extractFile, listPackage, statFile } from '@electron/asar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fillGenerate, queueBy, tid } from '../e2e/harness'
import { alive, BOOT_MS, builtApp, type DesktopApp, launchDesktop, ROOT } from './harness'

const run = promisify(execFile)
let dist: string
let resources: string
let entries: string[]

interface LockPackage {
  readonly dev?: boolean
  readonly optional?: boolean
}

/** Every package the app needs at run time: package-lock's entries that are not dev-only. */
function productionPackages(): Set<string> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>
  }
  const out = new Set<string>()
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || p.dev) continue
    out.add(path.replace(/^.*node_modules\//, ''))
  }
  return out
}

/** The size of everything under `dir`, in bytes. */
function sizeOf(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.size
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0)
}

/**
 * `resources/app.asar` as Electron's file system shows it to the app: a folder of that name with
 * the packed files, in which every unpacked file is a link to its copy in `app.asar.unpacked`.
 */
async function archiveView(resourcesDir: string): Promise<void> {
  const archive = join(resourcesDir, 'app.asar.archive')
  await rename(join(resourcesDir, 'app.asar'), archive)
  const view = join(resourcesDir, 'app.asar')
  for (const entry of listPackage(archive, { isPack: false })) {
    const rel = entry.replace(/^[\\/]/, '')
    const target = join(view, rel)
    const node = statFile(archive, rel, false)
    if ('files' in node) {
      await mkdir(target, { recursive: true })
    } else if ('link' in node) {
      await mkdir(dirname(target), { recursive: true })
      await symlink(join(view, node.link), target)
    } else if (node.unpacked) {
      await mkdir(dirname(target), { recursive: true })
      await symlink(join(resourcesDir, 'app.asar.unpacked', rel), target)
    } else {
      await mkdir(dirname(target), { recursive: true })
      await writeFile(target, extractFile(archive, rel, false))
      if (node.executable) await chmod(target, 0o755)
    }
  }
}

beforeAll(async () => {
  builtApp()
  dist = await mkdtemp(join(tmpdir(), 'var-packaged-'))
  // electron-builder copies this folder as the Electron distribution and renames its binary.
  const placeholder = join(dist, 'electron-dist')
  await mkdir(placeholder)
  await writeFile(join(placeholder, 'electron'), '#!/bin/sh\necho "placeholder for the Electron binary"\n')
  await chmod(join(placeholder, 'electron'), 0o755)
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'electron-builder', 'cli.js'),
      '--dir',
      '--linux',
      '--x64',
      `-c.electronDist=${placeholder}`,
      `-c.directories.output=${join(dist, 'out')}`,
    ],
    { cwd: ROOT, env: { ...process.env, CI: 'true' }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
  )
  resources = join(dist, 'out', 'linux-unpacked', 'resources')
  entries = listPackage(join(resources, 'app.asar'), { isPack: false }).map((e) => e.replace(/^[\\/]/, ''))
}, 360_000)

afterAll(async () => {
  await rm(dist, { recursive: true, force: true })
}, 60_000)

describe('the packaged app (electron-builder --dir --linux, offline)', () => {
  it('holds only the build output, package.json and production node_modules in app.asar', () => {
    const production = productionPackages()
    const outside = entries.filter((e) => {
      if (e === 'package.json' || e === 'out' || e.startsWith('out/') || e === 'node_modules') return false
      const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(e)
      return !(m && production.has(m[1]))
    })
    expect(outside.filter((e) => !/^node_modules\/@[^/]+$/.test(e))).toEqual([])
    for (const absent of [
      'src-main',
      'src-shared',
      'src-renderer',
      'test',
      'models',
      'docs',
      'bench',
      'README.md',
    ])
      expect(
        entries.some((e) => e === absent || e.startsWith(`${absent}/`)),
        absent,
      ).toBe(false)
    // renderer-only packages ship inside the renderer bundle, not as modules
    for (const uiOnly of ['vue', 'echarts', 'zrender', 'pinia', 'vue-echarts', 'tsx', 'esbuild'])
      expect(
        entries.some((e) => e.startsWith(`node_modules/${uiOnly}/`)),
        uiOnly,
      ).toBe(false)
    for (const needed of [
      'out/main/main.js',
      'out/main/host.js',
      'out/preload/preload.cjs',
      'out/renderer/index.html',
    ])
      expect(entries, needed).toContain(needed)
    const pkg = JSON.parse(extractFile(join(resources, 'app.asar'), 'package.json').toString('utf8')) as {
      productName?: string
      main?: string
    }
    expect(pkg.productName).toBe('VAR Studio')
    expect(pkg.main).toBe('./out/main/main.js')
    console.log(
      `packaged: app.asar ${(sizeOf(join(resources, 'app.asar')) / 1e6).toFixed(1)} MB, app.asar.unpacked ${(
        sizeOf(join(resources, 'app.asar.unpacked')) / 1e6
      ).toFixed(1)} MB, models ${(sizeOf(join(resources, 'models')) / 1e6).toFixed(1)} MB`,
    )
  })

  it("unpacks the native modules and the workers, and keeps only this platform's onnxruntime", () => {
    const unpacked = join(resources, 'app.asar.unpacked')
    const ortBin = join(unpacked, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6')
    expect(readdirSync(ortBin)).toEqual(['linux'])
    expect(readdirSync(join(ortBin, 'linux'))).toEqual(['x64'])
    const linux = readdirSync(join(ortBin, 'linux', 'x64'))
    expect(linux).toContain('onnxruntime_binding.node')
    expect(linux.some((f) => /^libonnxruntime\.so/.test(f))).toBe(true)
    const sharpNative = readdirSync(join(unpacked, 'node_modules', '@img'))
    expect(sharpNative).toEqual(expect.arrayContaining(['sharp-linux-x64', 'sharp-libvips-linux-x64']))
    for (const worker of ['kde-worker.cjs', 'batch-worker.cjs'])
      expect(existsSync(join(unpacked, 'out', 'main', worker)), worker).toBe(true)
    // every native binary of the archive is outside it
    const packedNatives = entries.filter(
      (e) =>
        /\.(node|so(\.\d+)*)$/.test(e) &&
        !(
          'unpacked' in statFile(join(resources, 'app.asar'), e) &&
          statFile(join(resources, 'app.asar'), e).unpacked
        ),
    )
    expect(packedNatives).toEqual([])
    expect(existsSync(join(resources, 'models', 'fashion-mnist-var', 'manifest.json'))).toBe(true)
  })

  describe('one job from the packaged layout', () => {
    let app: DesktopApp | undefined

    beforeAll(async () => {
      await archiveView(resources)
      app = await launchDesktop({
        main: join(resources, 'app.asar', 'out', 'main', 'main.js'),
        resourcesPath: resources,
        preserveSymlinks: true,
        prefix: 'packaged',
      })
      await app.page.getByTestId('nav-generate').waitFor({ timeout: 60_000 })
    }, BOOT_MS)

    afterAll(async () => {
      await app?.dispose()
    }, 60_000)

    it('finds the shipped model in resources and runs VAR-Scaling with the KDE worker from app.asar.unpacked', async () => {
      const a = app!
      const page = a.page
      page.setDefaultTimeout(20_000)
      await page
        .locator('[data-testid="model-select"] option', { hasText: 'Fashion-MNIST' })
        .first()
        .waitFor({ state: 'attached', timeout: 60_000 })
      await fillGenerate(page, { classes: ['Bag'], kind: 'var-scaling', seed: 3, N: 8, k: 2 })
      const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
      const job = page.locator(`[data-testid="queue-item"][data-job-id="${jobId}"]`)
      await expect
        .poll(() => job.getAttribute('data-state'), { timeout: 120_000, interval: 200 })
        .toMatch(/^(done|failed)$/)
      expect(await job.getAttribute('data-state'), `${await job.textContent()}\n${a.log()}`).toBe('done')
      const host = (await a.report()).utility[0]
      expect(host.modulePath).toBe(join(resources, 'app.asar', 'out', 'main', 'host.js'))
      await a.control({ type: 'quit' })
      expect(await a.exited()).toBe(0)
      expect(alive(host.pid)).toBe(false)
    }, 180_000)
  })
})
