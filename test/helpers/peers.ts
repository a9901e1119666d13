/**
 * Installs the real test peers into .peers/ (git-ignored) the first time a
 * test needs them, pinned, from the registries this machine reaches.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-info.js';

export const PEERS_DIR = join(PACKAGE_ROOT, '.peers');
const CSI_SANITY_MODULE = 'github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0';

/** `go install`s csi-sanity v5.4.0 into .peers/bin unless it is already there. */
export function ensureCsiSanity(): string {
  const binDir = join(PEERS_DIR, 'bin');
  const binary = join(binDir, 'csi-sanity');
  if (existsSync(binary)) return binary;
  mkdirSync(binDir, { recursive: true });
  execFileSync('go', ['install', CSI_SANITY_MODULE], {
    env: { ...process.env, GOBIN: binDir, GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 15 * 60_000,
  });
  return binary;
}
