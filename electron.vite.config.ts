import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'
import { build as rolldownBuild } from 'rolldown'
import { rendererOptions } from './vite.renderer.config'

const root = import.meta.dirname
const mainOut = resolve(root, 'out/main')

/**
 * The two worker threads as self-contained CommonJS files (`<name>.cjs`, every dependency inlined),
 * emitted beside main.js where `siblingEntry` (src-main/host/loader.ts) finds them. A packaged app
 * starts them from `app.asar.unpacked` (electron-builder.yml unpacks them): Electron documents
 * neither ES-module workers nor workers importing shared chunks from inside an asar archive, and a
 * file outside the archive cannot resolve `node_modules` inside it.
 */
function standaloneWorkers(): Plugin {
  return {
    name: 'var-studio:standalone-workers',
    apply: 'build',
    async closeBundle() {
      const workers = {
        'kde-worker': 'src-main/host/kde-worker.ts',
        'batch-worker': 'src-main/app/batch-worker.ts',
      }
      for (const [name, source] of Object.entries(workers)) {
        await rolldownBuild({
          input: { [name]: resolve(root, source) },
          platform: 'node',
          logLevel: 'warn',
          output: { dir: mainOut, format: 'cjs', entryFileNames: '[name].cjs', codeSplitting: false },
        })
      }
    },
  }
}

export default defineConfig({
  main: {
    plugins: [standaloneWorkers()],
    build: {
      outDir: mainOut,
      // The inference host (a utilityProcess) is an entry of its own, emitted beside main.js.
      rolldownOptions: {
        input: {
          main: resolve(root, 'src-main/electron/main.ts'),
          host: resolve(root, 'src-main/host/entry.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: resolve(root, 'out/preload'),
      // A sandboxed preload can require only `electron`, `events`, `timers` and `url`: every other
      // module (zod, pure-rand through src-shared) must be inside the bundle.
      externalizeDeps: false,
      rolldownOptions: {
        input: { preload: resolve(root, 'src-main/electron/preload.ts') },
        // Sandboxed preload scripts cannot be ES modules.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  // The same options as the web host's standalone renderer build.
  renderer: rendererOptions,
})
