import { defineConfig } from 'vitest/config';

/**
 * The tests that need no root, no mounts, no Go, no Python and no dist/ build:
 * pure units and the volume lifecycle on in-memory ports (npm run test:unit).
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/lifecycle/**/*.test.ts'],
    testTimeout: 10_000,
  },
});
