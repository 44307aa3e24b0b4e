import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import { rendererOptions } from './vite.renderer.config'

const root = import.meta.dirname

export default defineConfig({
  main: {
    build: {
      outDir: resolve(root, 'out/main'),
      // The inference host (a utilityProcess) and the two worker threads are entries of their own,
      // emitted beside main.js where `siblingEntry` (src-main/host/loader.ts) finds them.
      rolldownOptions: {
        input: {
          main: resolve(root, 'src-main/electron/main.ts'),
          host: resolve(root, 'src-main/host/entry.ts'),
          'kde-worker': resolve(root, 'src-main/host/kde-worker.ts'),
          'batch-worker': resolve(root, 'src-main/app/batch-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: resolve(root, 'out/preload'),
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
