/**
 * What the built bundles may load where they run, read from `out/` (fast, and naming the file and
 * the module when it fails), and the harness's own sandbox checked to refuse what Electron's does.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser } from '../e2e/harness'
import { builtApp, ROOT } from './harness'
// the harness's page runtime (plain JavaScript, shared with the stand-in)
import { preloadScript, runtimeScript } from './standin/renderer-runtime.cjs'

/** What Electron's sandboxed preload `require` knows. */
const SANDBOX_MODULES = new Set(['electron', 'events', 'timers', 'url'])
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
}
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))

/** Module names a bundle loads: `require("x")`, `import ... from "x"`, `import("x")`. */
function loads(file: string): string[] {
  const code = readFileSync(file, 'utf8')
  const names = new Set<string>()
  for (const re of [
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
    /^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/gm,
    /^\s*export\s+[^'"]*?\s+from\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ])
    for (const m of code.matchAll(re)) names.add(m[1])
  return [...names]
}

const packageOf = (name: string): string =>
  (name.startsWith('@') ? name.split('/').slice(0, 2) : name.split('/', 1)).join('/')

beforeAll(() => {
  builtApp()
})

describe('the built bundles', () => {
  it('the preload requires only what a sandboxed preload can load', () => {
    const file = join(ROOT, 'out', 'preload', 'preload.cjs')
    const outside = loads(file).filter((m) => !SANDBOX_MODULES.has(m))
    expect(outside, `${file} requires modules the sandbox refuses`).toEqual([])
  })

  it('the worker threads are self-contained: Node built-ins only', () => {
    const dir = join(ROOT, 'out', 'main')
    const workers = readdirSync(dir).filter((f) => f.endsWith('-worker.cjs'))
    expect(workers.sort()).toEqual(['batch-worker.cjs', 'kde-worker.cjs'])
    for (const w of workers) {
      const outside = loads(join(dir, w)).filter((m) => !builtins.has(m))
      expect(outside, `${w} loads modules outside itself`).toEqual([])
    }
  })

  it('main and the inference host load only Node, electron and production dependencies', () => {
    const dir = join(ROOT, 'out', 'main')
    const files = ['main.js', 'host.js', ...readdirSync(join(dir, 'chunks')).map((f) => `chunks/${f}`)]
    for (const f of files) {
      const bare = loads(join(dir, f)).filter((m) => !m.startsWith('.') && !builtins.has(m))
      const missing = bare.filter((m) => m !== 'electron' && !(packageOf(m) in pkg.dependencies))
      expect(missing, `out/main/${f} loads packages that are not production dependencies`).toEqual([])
    }
    // the inference host never loads electron (it also runs under plain Node for the CLI)
    expect(loads(join(dir, 'host.js'))).not.toContain('electron')
  })
})

describe("the harness's sandbox", () => {
  let browser: Browser
  beforeAll(async () => {
    browser = await launchBrowser()
  }, 60_000)
  afterAll(async () => {
    await browser.close()
  })

  async function runPreload(source: string): Promise<{ errors: string[]; exposed: string[] }> {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    await page.exposeBinding('__standinIpc', () => ({ $: 'o', v: { ok: { $: 'u' } } }))
    await page.addInitScript(runtimeScript({ versions: {}, platform: 'linux' }))
    await page.addInitScript(preloadScript({ file: '/app/preload.cjs', source }))
    await page.goto('data:text/html,<p>page</p>')
    const exposed = await page.evaluate(() => Object.keys(globalThis).filter((k) => k.startsWith('api')))
    await page.close()
    return { errors, exposed }
  }

  it('refuses a preload that requires a package, naming the file and the module', async () => {
    const { errors, exposed } = await runPreload(
      "const { z } = require('zod'); require('electron').contextBridge.exposeInMainWorld('api', {})",
    )
    expect(exposed).toEqual([])
    expect(errors.join('\n')).toMatch(
      /Unable to load preload script: \/app\/preload\.cjs: module not found: zod/,
    )
  }, 60_000)

  it('runs a preload that requires only electron, and exposes its API in the page', async () => {
    const { errors, exposed } = await runPreload(
      "const { contextBridge } = require('electron'); contextBridge.exposeInMainWorld('api', { ping: () => 'pong' })",
    )
    expect(errors).toEqual([])
    expect(exposed).toEqual(['api'])
  }, 60_000)
})
