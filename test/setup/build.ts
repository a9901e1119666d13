/** vitest global setup: builds dist/ once, for the tests that run keymount as a real process. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-info.js';

export default function setup(): void {
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    // tsc still emits on type errors; `npm test` type-checks separately and fails there. Only a missing build is fatal here.
    if (!existsSync(join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'))) throw error;
  }
}
