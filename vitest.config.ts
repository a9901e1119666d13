import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration files mount real tmpfs under their own temp dirs; two cores run two files at once.
    pool: 'forks',
    maxWorkers: 2,
  },
});
