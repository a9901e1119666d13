/**
 * A temporary directory for one benchmark or soak run, optionally on its own
 * tmpfs (so state records and directories cost what they cost on /run, not
 * on a disk), that never leaves a mount behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountsUnder } from '../../test/helpers/system.js';

export interface ScratchRoot {
  readonly path: string;
  /** Mount points below the root (the root's own tmpfs excluded). */
  mountsInside(): string[];
  /** Unmounts everything under the root, deepest first, and removes it. Safe to call twice. */
  cleanup(): void;
}

export function makeScratchRoot(prefix: string, options: { onTmpfs: boolean }): ScratchRoot {
  const path = mkdtempSync(join(tmpdir(), prefix));
  if (options.onTmpfs) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=0700', 'keymount-bench', path]);
  return {
    path,
    mountsInside: () => mountsUnder(path).filter((target) => target !== path),
    cleanup() {
      for (const mountPoint of mountsUnder(path).reverse()) {
        try {
          execFileSync('umount', [mountPoint], { stdio: 'pipe' });
        } catch {
          // Busy (a process still has a file open in it): detach it now, the kernel frees it when released.
          execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
        }
      }
      rmSync(path, { recursive: true, force: true });
    },
  };
}
