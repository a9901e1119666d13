/**
 * Before any e2e file runs: the Debian packages (runc, busybox-static), the Kubernetes components built from the
 * module proxy into the version-keyed cache (minutes when cold, nothing when warm), the two OCI image archives,
 * the test peers (helm, moto, OpenBao) and keymount's dist/. Each step reports to the terminal.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { ensureHelm } from '../helpers/helm.js';
import { ensureMotoServer } from '../helpers/moto.js';
import { ensureOpenBao } from '../helpers/openbao.js';
import buildDist from '../setup/build.js';
import { E2E_ROOT } from './cluster/components.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory holding pause.tar and busybox.tar. */
    e2eImagesDir: string;
  }
}

/** Runs one install step and says how long it took (installs are slow only the first time). */
function timed<T>(name: string, step: () => T): T {
  const started = Date.now();
  const result = step();
  process.stderr.write(`[e2e setup] ${name} ready in ${Math.round((Date.now() - started) / 1000)}s\n`);
  return result;
}

/** Runs test/e2e/scripts/<name>; its progress goes to the terminal, its stdout is returned. */
function script(name: string): string {
  return timed(name, () =>
    execFileSync('bash', [join(E2E_ROOT, 'scripts', name)], { cwd: PACKAGE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim(),
  );
}

export default function setup(project: TestProject): void {
  script('install-debian.sh');
  script('build-components.sh');
  project.provide('e2eImagesDir', script('build-images.sh'));
  // The test peers install here rather than in a hook, where a cold install could outlast the hook's timeout.
  timed('helm', ensureHelm);
  timed('moto', ensureMotoServer);
  timed('OpenBao', ensureOpenBao);
  timed('dist/', buildDist);
}
