/**
 * What can be checked of the installers without the network: electron-builder.yml is valid for the
 * installed electron-builder, every path and glob in it resolves to real files, each platform has
 * its targets and options, each keeps only its own onnxruntime binaries, and the shipped model is
 * found both in a checkout and in the packaged layout the config produces.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
// electron-builder's own validator and matcher library (dependencies of the electron-builder dev
// dependency): the test then judges the config the way packaging will.
import type { Configuration, FileSet, TargetConfiguration } from 'app-builder-lib'
import { validateConfiguration } from 'app-builder-lib/out/util/config/config.js'
import { DebugLogger } from 'builder-util'
import { Minimatch } from 'minimatch'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import {
  currentLayout,
  findShippedModel,
  packageRoot,
  SHIPPED_MODEL_RESOURCE,
  shippedModelCandidates,
} from '../../src-main/resources'
import { resolveModel } from '../../src-main/storage/model-registry'

const ROOT = packageRoot()!
const CONFIG_FILE = join(ROOT, 'electron-builder.yml')
const config = parse(readFileSync(CONFIG_FILE, 'utf8')) as Configuration
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main: string
  dependencies: Record<string, string>
}

// electron-builder matches with { dot: true } against paths relative to the app directory.
const glob = (pattern: string): Minimatch => new Minimatch(pattern, { dot: true })

/** Every file under `dir` (relative to ROOT, forward slashes), following no symlinks. */
function walk(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = []
  const visit = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name)
      const rel = relative(ROOT, path).split('\\').join('/')
      if (skip(rel)) continue
      if (entry.isDirectory()) visit(path)
      else if (entry.isFile()) out.push(rel)
    }
  }
  if (existsSync(dir)) visit(dir)
  return out
}

/** The fixed folder a glob starts from, so a walk need not cover the whole repository. */
function staticPrefix(pattern: string): string {
  const parts = pattern.split('/')
  const fixed: string[] = []
  for (const part of parts.slice(0, -1)) {
    if (/[*?[\]{}()!]/.test(part)) break
    fixed.push(part)
  }
  return fixed.join('/')
}

/** Files a glob matches; node_modules is walked only when the glob starts inside it. */
function matches(pattern: string): string[] {
  const prefix = staticPrefix(pattern)
  const inModules = prefix.startsWith('node_modules')
  const files = walk(join(ROOT, prefix), (rel) =>
    inModules ? false : /^(node_modules|\.git|dist)(\/|$)/.test(rel),
  )
  const m = glob(pattern)
  return files.filter((f) => m.match(f))
}

const stringPatterns = (value: Configuration['files']): string[] =>
  (Array.isArray(value) ? value : value == null ? [] : [value]).filter(
    (p): p is string => typeof p === 'string',
  )

/** Whether a file survives a `files` list: the last matching pattern decides, as in electron-builder. */
function kept(file: string, patterns: readonly string[]): boolean {
  let keep = false
  for (const p of patterns) {
    const negate = p.startsWith('!')
    if (glob(negate ? p.slice(1) : p).match(file)) keep = !negate
  }
  return keep
}

/** Installed packages the app ships: production dependencies and theirs (optional ones included). */
function productionClosure(): Set<string> {
  const seen = new Set<string>()
  const queue = Object.keys(pkg.dependencies)
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const dir = `node_modules/${name}`
    if (seen.has(dir) || !existsSync(join(ROOT, dir, 'package.json'))) continue
    seen.add(dir)
    const meta = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    queue.push(...Object.keys(meta.dependencies ?? {}), ...Object.keys(meta.optionalDependencies ?? {}))
  }
  return seen
}

type Platform = 'linux' | 'win' | 'mac'
const ORT_OS: Record<Platform, string> = { linux: 'linux', win: 'win32', mac: 'darwin' }
const ORT_BIN = 'node_modules/onnxruntime-node/bin'

function targetsOf(platform: Platform): { target: string; arch: string[] }[] {
  const raw = config[platform]?.target
  const list = Array.isArray(raw) ? raw : raw == null ? [] : [raw]
  return list.map((t: string | TargetConfiguration) =>
    typeof t === 'string'
      ? { target: t, arch: [] }
      : { target: t.target, arch: t.arch == null ? [] : Array.isArray(t.arch) ? t.arch : [t.arch] },
  )
}

describe('electron-builder.yml', () => {
  it('is valid for the installed electron-builder', async () => {
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined()
    // and the validator does reject what it should, so the pass above means something
    const wrong = { ...config, nsis: { ...config.nsis, oneclick: false } } as Configuration
    await expect(validateConfiguration(wrong, new DebugLogger(false))).rejects.toThrow(/nsis/)
  })

  it('builds AppImage and deb, an NSIS installer with a choosable folder, and dmg and zip', () => {
    expect(targetsOf('linux').map((t) => t.target)).toEqual(expect.arrayContaining(['AppImage', 'deb']))
    expect(targetsOf('win').map((t) => t.target)).toEqual(['nsis'])
    expect(config.nsis).toMatchObject({ oneClick: false, allowToChangeInstallationDirectory: true })
    expect(targetsOf('mac').map((t) => t.target)).toEqual(expect.arrayContaining(['dmg', 'zip']))
    expect(pkg.main).toBeDefined()
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts
    expect(scripts.dist).toMatch(/npm run build && electron-builder/)
  })

  it('has what the deb target and Electron read from package.json: homepage, maintainer, productName', () => {
    const meta = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      homepage?: string
      productName?: string
      name: string
      author?: { name?: string; email?: string }
    }
    // electron-builder's deb target stops with "Please specify project homepage" without it
    expect(meta.homepage).toMatch(/^https:\/\//)
    expect(config.linux?.maintainer ?? `${meta.author?.name} <${meta.author?.email}>`).toMatch(
      /^.+ <[^@\s]+@[^@\s]+>$/,
    )
    // Electron names userData after productName: it must differ from the studio home's `var-studio`
    expect(meta.productName).toBe(config.productName)
    expect(meta.productName).not.toBe(meta.name)
  })

  it('packs the built app: the files globs cover package.json main and every electron-vite output', async () => {
    const files = stringPatterns(config.files)
    const positive = files.filter((p) => !p.startsWith('!'))
    expect(positive.length).toBeGreaterThan(0)
    const main = pkg.main.replace(/^\.\//, '')
    expect(kept(main, files)).toBe(true)
    expect(kept('package.json', files)).toBe(true)
    // out/ exists only after a build; electron-vite's config says where each part lands.
    const viteConfig = (await import('../../electron.vite.config')).default as Record<
      'main' | 'preload' | 'renderer',
      { build: { outDir: string } }
    >
    for (const part of ['main', 'preload', 'renderer'] as const) {
      const outDir = relative(ROOT, viteConfig[part].build.outDir).split('\\').join('/')
      expect(kept(`${outDir}/index.js`, files), `${part} output ${outDir}`).toBe(true)
    }
    expect(main.startsWith(relative(ROOT, viteConfig.main.build.outDir).split('\\').join('/') + '/')).toBe(
      true,
    )
    // after a build the globs must match real files too
    if (existsSync(join(ROOT, 'out'))) {
      for (const p of positive) expect(matches(p).length, p).toBeGreaterThan(0)
    }
  })

  it('unpacks every native binary of the production dependencies from the asar, and each glob matches', () => {
    const unpack = Array.isArray(config.asarUnpack) ? config.asarUnpack : [config.asarUnpack ?? '']
    const packages: string[] = []
    for (const pattern of unpack) {
      // the build output (the worker bundles) exists only after a build
      if (pattern.startsWith('out/')) {
        if (existsSync(join(ROOT, 'out', 'main')))
          expect(matches(pattern).length, `asarUnpack ${pattern}`).toBeGreaterThan(0)
        continue
      }
      const hits = matches(pattern)
      expect(hits.length, `asarUnpack ${pattern}`).toBeGreaterThan(0)
      packages.push(
        ...hits.map((f) =>
          f
            .split('/')
            .slice(0, f.split('/')[1]?.startsWith('@') ? 3 : 2)
            .join('/'),
        ),
      )
    }
    // every unpacked package is shipped: in the closure of the production dependencies
    const shipped = productionClosure()
    for (const p of new Set(packages)) expect(shipped.has(p), `${p} is unpacked but not shipped`).toBe(true)
    const natives = ['onnxruntime-node', 'sharp', '@img']
      .flatMap((d) => walk(join(ROOT, 'node_modules', d)))
      .filter((f) => /\.(node|so(\.\d+)*|dll|dylib)$/.test(f))
    expect(natives.length).toBeGreaterThan(0)
    for (const f of natives)
      expect(
        unpack.some((p) => glob(p).match(f)),
        f,
      ).toBe(true)
  })

  it.each(['linux', 'win', 'mac'] as const)(
    "keeps only its own platform's and architecture's onnxruntime binaries on %s",
    (platform) => {
      // the shared list, checked above, is repeated by each platform: a platform list replaces it,
      // and one holding only `!` patterns makes electron-builder add `**/*` (the whole repository)
      const shared = new Set(stringPatterns(config.files))
      const own = stringPatterns(config[platform]?.files)
      for (const p of shared) expect(own, `${platform}.files lacks ${p}`).toContain(p)
      expect(own.some((p) => !p.startsWith('!'))).toBe(true)
      // electron-builder expands `${arch}` per build; a target without an arch builds the host's (x64 here)
      const targetArches = [...new Set(targetsOf(platform).flatMap((t) => t.arch))]
      const arches = targetArches.length > 0 ? targetArches : ['x64']
      const binaries = walk(join(ROOT, ORT_BIN))
      const part = (f: string, i: number): string | undefined => f.slice(ORT_BIN.length + 1).split('/')[i]
      for (const arch of arches) {
        const expand = (p: string): string => p.split('${arch}').join(arch)
        const exclusions = own.filter((p) => p.startsWith('!') && !shared.has(p)).map(expand)
        expect(exclusions.length).toBeGreaterThan(0)
        for (const p of exclusions) expect(matches(p.slice(1)).length, p).toBeGreaterThan(0)
        const patterns = ['**/*', ...stringPatterns(config.files), ...own].map(expand)
        const left = binaries.filter((f) => kept(f, patterns))
        expect(left.length, arch).toBeGreaterThan(0)
        // exactly this platform's binaries for this architecture stay
        expect(left).toEqual(binaries.filter((f) => part(f, 1) === ORT_OS[platform] && part(f, 2) === arch))
      }
    },
  )

  it('ships the embedded model as an extra resource at the path the run-time lookup uses', () => {
    const extra = (
      Array.isArray(config.extraResources) ? config.extraResources : [config.extraResources]
    ).filter((e): e is FileSet => typeof e === 'object' && e !== null)
    const model = extra.find((e) => e.to === SHIPPED_MODEL_RESOURCE)
    expect(model).toBeDefined()
    for (const e of extra) {
      const from = join(ROOT, e.from ?? '.')
      expect(statSync(from).isDirectory(), e.from).toBe(true)
    }
    expect(existsSync(join(ROOT, model!.from!, 'manifest.json'))).toBe(true)
  })

  it('has a 512x512 icon where electron-builder looks, and every icon it names exists', async () => {
    const buildResources = config.directories?.buildResources ?? 'build'
    const icon = join(ROOT, buildResources, 'icon.png')
    const meta = await sharp(icon).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 512])
    const named = [
      config.mac?.icon,
      config.win?.icon,
      config.linux?.icon,
      config.nsis?.installerIcon,
      config.nsis?.uninstallerIcon,
      config.dmg?.icon,
    ].filter((p): p is string => typeof p === 'string')
    for (const p of named) {
      expect(existsSync(join(ROOT, p)) || existsSync(join(ROOT, buildResources, p)), p).toBe(true)
    }
  })
})

describe('shipped model lookup', () => {
  let tmp: string
  let resources: string
  let asarMain: string

  beforeAll(async () => {
    // The layout an installer produces: resources/app.asar/{package.json,out/...} and the
    // extraResources beside it. (app.asar is a file in reality; Electron's fs shows it as a folder.)
    tmp = await mkdtemp(join(tmpdir(), 'var-packaged-'))
    resources = join(tmp, 'VAR Studio', 'resources')
    const asar = join(resources, 'app.asar')
    asarMain = join(asar, 'out', 'main', 'main.js')
    await mkdir(dirname(asarMain), { recursive: true })
    await writeFile(join(asar, 'package.json'), JSON.stringify({ name: 'var-studio', main: pkg.main }))
    await writeFile(asarMain, '')
    const extra = (
      Array.isArray(config.extraResources) ? config.extraResources : [config.extraResources]
    ).filter((e): e is FileSet => typeof e === 'object' && e !== null)
    for (const e of extra) {
      const to = join(resources, e.to ?? '.')
      await mkdir(dirname(to), { recursive: true })
      await symlink(resolve(ROOT, e.from ?? '.'), to, 'dir')
    }
  })
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true })
  })

  it('finds the model in the packaged layout, from what Electron passes or what the code sees', async () => {
    const expected = join(resources, ...SHIPPED_MODEL_RESOURCE.split('/'))
    expect(findShippedModel({ isPackaged: true, resourcesPath: resources })).toBe(expected)
    // an installed app never falls back to a checkout, even one that has the model
    expect(findShippedModel({ isPackaged: true, resourcesPath: resources, packageRoot: ROOT })).toBe(expected)
    expect(
      findShippedModel({ isPackaged: true, resourcesPath: join(tmp, 'nowhere'), packageRoot: ROOT }),
    ).toBe(undefined)
    // without Electron's word: code inside app.asar knows it is packaged
    const seen = currentLayout(asarMain, resources)
    expect(seen).toEqual({
      isPackaged: true,
      resourcesPath: resources,
      packageRoot: join(resources, 'app.asar'),
    })
    expect(findShippedModel(seen)).toBe(expected)
    expect(await resolveModel(undefined, { shipped: seen })).toBe(expected)
    expect(existsSync(join(expected, 'manifest.json'))).toBe(true)
  })

  it('finds the model in a checkout', async () => {
    const inRepo = join(ROOT, ...SHIPPED_MODEL_RESOURCE.split('/'))
    // `electron .` in development: resourcesPath is Electron's own folder, which holds no model
    const electronResources = join(ROOT, 'node_modules', 'electron', 'dist', 'resources')
    expect(findShippedModel({ isPackaged: false, resourcesPath: electronResources, packageRoot: ROOT })).toBe(
      inRepo,
    )
    expect(
      shippedModelCandidates({ isPackaged: false, resourcesPath: electronResources, packageRoot: ROOT }),
    ).toEqual([inRepo])
    // the CLI and the host under plain Node: no resourcesPath, not in an asar
    const here = currentLayout(join(ROOT, 'src-main', 'resources.ts'), undefined)
    expect(here).toEqual({ isPackaged: undefined, resourcesPath: undefined, packageRoot: ROOT })
    expect(findShippedModel(here)).toBe(inRepo)
    expect(findShippedModel()).toBe(inRepo)
    expect(await resolveModel(undefined)).toBe(inRepo)
  })
})
