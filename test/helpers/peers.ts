/**
 * Installs the real test peers into .peers/ (git-ignored) the first time a
 * test needs them, pinned, from the registries this machine reaches. Test
 * files run in parallel processes, so every install holds a lock directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-info.js';

export const PEERS_DIR = join(PACKAGE_ROOT, '.peers');
const CSI_SANITY_MODULE = 'github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0';
const INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * Runs `install` unless `product` exists, holding `lock` (default: next to the
 * product) across processes, so parallel test files install once.
 */
export function installOnce(product: string, install: () => void, lock = `${product}.lock`): void {
  if (existsSync(product)) return;
  // The lock's directory may not exist yet (.peers/py/bin before the venv).
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(product)) return;
      // A lock older than the install timeout belongs to a run that died.
      const lockedAt = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - lockedAt > INSTALL_TIMEOUT_MS) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process installing ${product}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (!existsSync(product)) install();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** `go install`s csi-sanity v5.4.0 into .peers/bin unless it is already there. */
export function ensureCsiSanity(): string {
  const binDir = join(PEERS_DIR, 'bin');
  const binary = join(binDir, 'csi-sanity');
  installOnce(binary, () => {
    mkdirSync(binDir, { recursive: true });
    execFileSync('go', ['install', CSI_SANITY_MODULE], {
      env: { ...process.env, GOBIN: binDir },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: INSTALL_TIMEOUT_MS,
    });
  });
  return binary;
}

/** A Python virtual environment in .peers/py holding the pinned pip packages (e.g. 'moto[server]==5.2.5'). */
export function ensurePythonPackages(requirements: readonly string[], marker: string): string {
  const venv = join(PEERS_DIR, 'py');
  installOnce(join(venv, 'bin', 'python'), () => {
    execFileSync('python3', ['-m', 'venv', venv], { stdio: ['ignore', 'inherit', 'inherit'], timeout: INSTALL_TIMEOUT_MS });
  });
  // One lock for the whole venv: two pip runs must not install into it at the same time.
  installOnce(join(venv, marker), () => {
    execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...requirements], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: INSTALL_TIMEOUT_MS,
    });
    execFileSync('touch', [join(venv, marker)]);
  }, join(venv, 'pip.lock'));
  return venv;
}
