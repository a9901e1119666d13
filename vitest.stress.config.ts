/** `npm run test:stress`: long tests (test/stress/*.stress.ts), kept out of `npm test`; CI runs both. */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/stress/**/*.stress.ts'],
    // Builds dist/ once: the soak runs keymount as a real process.
    globalSetup: ['test/setup/build.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
