/** vitest global setup: builds dist/ once, for the tests that run keymount as a real process. */
import { execFileSync } from 'node:child_process';
import { PACKAGE_ROOT } from '../../src/package-info.js';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
}
