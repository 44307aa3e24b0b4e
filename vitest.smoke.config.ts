import { defineConfig } from 'vitest/config'

/** `npm run smoke:electron`: the desktop journey against the real Electron binary, when there is one. */
export default defineConfig({
  test: {
    include: ['test/desktop/**/*.smoke.ts'],
    environment: 'node',
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 240_000,
    expect: { poll: { timeout: 30_000, interval: 100 } },
  },
})
