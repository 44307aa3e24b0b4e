/**
 * The renderer's build on its own: the web host builds it with vite's `build()` API from this file,
 * and electron.vite.config.ts reuses `rendererOptions` so both ship the same page.
 */
import { resolve } from 'node:path'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type UserConfig } from 'vite'

const root = import.meta.dirname

export const rendererOptions = {
  root: resolve(root, 'src-renderer'),
  // Relative asset URLs: the page is loaded from file:// in Electron and from / on the web host.
  base: './',
  plugins: [vue()],
  build: {
    outDir: resolve(root, 'out/renderer'),
    emptyOutDir: true,
    // The Density view's chunk is ECharts (bar, scatter, visualMap: ~570 kB minified), loaded
    // from the local disk or 127.0.0.1 on first visit to that view: not worth splitting further.
    chunkSizeWarningLimit: 700,
    rolldownOptions: { input: { index: resolve(root, 'src-renderer/index.html') } },
  },
} satisfies UserConfig

export default defineConfig(rendererOptions)
