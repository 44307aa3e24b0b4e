import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Two cores here and on CI: keep workers bounded so tests do not starve each other.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
})
