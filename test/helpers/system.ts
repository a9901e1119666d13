/** What a user would look at on the node: the mount table and the files. */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const IS_ROOT = process.getuid?.() === 0;
/** Shown in the skip reason of every suite that needs real mounts. */
export const ROOT_REASON = 'needs root for real tmpfs mounts (run as root, or: unshare --user --map-root-user --mount npm test)';

export interface FindmntEntry {
  target: string;
  source: string;
  fstype: string;
  options: string;
}

/** findmnt's view of a mount point, or undefined when nothing is mounted there. */
export function findmnt(path: string): FindmntEntry | undefined {
  try {
    const output = execFileSync('findmnt', ['-J', '--mountpoint', path], { encoding: 'utf8' });
    const parsed = JSON.parse(output) as { filesystems: FindmntEntry[] };
    return parsed.filesystems.at(-1);
  } catch {
    return undefined;
  }
}

/** Every mount point at or below a directory. */
export function mountsUnder(directory: string): string[] {
  const output = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  return output
    .split('\n')
    .map((line) => line.replace(/\\x20/g, ' '))
    .filter((target) => target === directory || target.startsWith(`${directory}/`));
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

export function visibleFiles(root: string): string[] {
  return readdirSync(root)
    .filter((name) => !name.startsWith('..'))
    .sort();
}

export function entriesIn(root: string): string[] {
  return readdirSync(root).sort();
}

export { join };
