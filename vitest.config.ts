import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**'],
    // Builds dist/ once for the tests that run keymount as a real process.
    globalSetup: ['test/setup/build.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration files mount real tmpfs under their own temp dirs; two cores run two files at once.
    pool: 'forks',
    maxWorkers: 2,
  },
});
