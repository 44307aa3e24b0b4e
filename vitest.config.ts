import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Two cores here and on CI: keep workers bounded so tests do not starve each other.
    maxWorkers: 2,
    testTimeout: 30_000,
    // expect.poll waits 1 s by default; a page on a busy 2-core CI runner can need longer (the
    // batch-file reader starts a worker thread, and the first one loads the TypeScript loader).
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
})
