/**
 * The e2e suite's own vitest config (`npm run test:e2e`), kept apart so `npm test` never starts a cluster. One file
 * at a time: each starts its own control plane, and the machine has two cores.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Stage 1 before stage 2: the control plane is the cheaper thing to find broken. */
class ByFileName extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return Promise.resolve([...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId)));
  }
}

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.test.ts'],
    // Installs Debian packages, builds the components (cached) and the images, and builds dist/.
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: 5 * 60_000,
    hookTimeout: 10 * 60_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { sequencer: ByFileName },
  },
});
