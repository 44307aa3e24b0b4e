/**
 * Running TypeScript entries in place (CLI and tests): a `.ts` entry of a child process or worker
 * gets tsx as its loader, resolved from this package so it works from any working directory.
 * Built entries (`.js`, `.mjs`) run as they are.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

let tsxUrl: string | undefined

/**
 * The worker entry `name` beside the calling module: `name.ts` when running from source (tsx);
 * in the electron-vite build, `name.cjs`, a self-contained CommonJS bundle emitted next to main.js
 * and host.js (see electron.vite.config.ts). In an installed app the code runs from inside
 * `app.asar`, where workers are not documented to load; electron-builder.yml unpacks them, so they
 * are started from `app.asar.unpacked` instead.
 */
export function siblingEntry(name: string, callerUrl: string): URL {
  const fromSource = /\.[cm]?ts$/.test(new URL(callerUrl).pathname)
  const url = new URL(`./${name}.${fromSource ? 'ts' : 'cjs'}`, callerUrl)
  return unpackedUrl(url)
}

/** `url` moved from inside an `app.asar` archive to its `app.asar.unpacked` twin (else unchanged). */
export function unpackedUrl(url: URL): URL {
  if (url.protocol !== 'file:' || !/\/app\.asar\//.test(url.pathname)) return url
  return new URL(url.href.replace(/\/app\.asar\//, '/app.asar.unpacked/'))
}

export function loaderExecArgv(entry: string): string[] {
  if (!/\.[cm]?ts$/.test(entry)) return []
  tsxUrl ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  return ['--import', tsxUrl]
}

/** The ESM build of `tsx/esm/api` (createRequire would pick the CommonJS one). */
function tsxEsmApi(): string {
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json')
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports: Record<string, { import?: { default?: string } } | string>
  }
  const entry = pkg.exports['./esm/api']
  const rel = typeof entry === 'object' ? entry.import?.default : undefined
  if (!rel) throw new Error(`cannot find the ESM entry of tsx/esm/api in ${pkgPath}`)
  return pathToFileURL(join(dirname(pkgPath), rel)).href
}

/**
 * Starts a worker thread on `entry`. Node 20 does not apply `--import` loaders inside workers, so a
 * TypeScript entry is started through a one-line bootstrap that registers tsx in the worker first.
 */
export function startWorker(entry: URL): Worker {
  if (!/\.[cm]?ts$/.test(entry.pathname)) return new Worker(entry)
  const api = tsxEsmApi()
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(code, { eval: true })
}
