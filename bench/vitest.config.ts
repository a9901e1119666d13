/** `npm run bench`: the benchmark harness, run by vitest so it is typed and shares the test helpers. */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['bench/**/*.run.ts'],
    globalSetup: ['test/setup/build.ts'],
    // A full run takes a few minutes; speed is reported, never asserted.
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
