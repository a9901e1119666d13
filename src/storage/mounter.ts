import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { KeymountError } from '../errors.js';

export interface TmpfsOptions {
  readonly sizeBytes: number;
  /** Permission bits of the volume root. */
  readonly mode: number;
  /** Group owning the volume root, so a non-root pod with that group can read it. */
  readonly gid: number | undefined;
}

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly options: readonly string[];
}

/** Mounting, behind an interface so the volume manager does not run commands itself. */
export interface Mounter {
  mountTmpfs(target: string, options: TmpfsOptions): Promise<void>;
  /** Switches an existing mount between read-only and read-write. */
  remount(target: string, readOnly: boolean): Promise<void>;
  unmount(target: string): Promise<void>;
  /** The mount at exactly this path (the topmost one when stacked), if any. */
  findMount(target: string): Promise<MountEntry | undefined>;
  /** Whether anything is mounted strictly inside this directory. */
  hasMountsBelow(directory: string): Promise<boolean>;
}

/** tmpfs flags every keymount volume gets: nothing on it can run or act as a device. */
export const TMPFS_FLAGS = ['nosuid', 'nodev', 'noexec'] as const;

/**
 * Mounts with mount(8)/umount(8), the tools the kubelet's own mount helpers
 * use; reads the mount table from /proc/self/mountinfo.
 */
export class CommandMounter implements Mounter {
  constructor(
    private readonly timeoutMs: number,
    private readonly mountinfoPath = '/proc/self/mountinfo',
  ) {}

  async mountTmpfs(target: string, options: TmpfsOptions): Promise<void> {
    const flags = [...TMPFS_FLAGS, `size=${options.sizeBytes}`, `mode=${options.mode.toString(8).padStart(4, '0')}`];
    if (options.gid !== undefined) flags.push('uid=0', `gid=${options.gid}`);
    await this.run('mount', ['-t', 'tmpfs', '-o', flags.join(','), 'keymount', target]);
  }

  async remount(target: string, readOnly: boolean): Promise<void> {
    await this.run('mount', ['-o', `remount,${readOnly ? 'ro' : 'rw'}`, target]);
  }

  async unmount(target: string): Promise<void> {
    await this.run('umount', [target]);
  }

  async findMount(target: string): Promise<MountEntry | undefined> {
    // The mount table holds resolved paths; the kubelet root may sit behind a symlink.
    const resolved = await realpath(target).catch(() => target);
    const table = parseMountinfo(await readFile(this.mountinfoPath, 'utf8'));
    // Later lines are mounted on top of earlier ones.
    return table.filter((entry) => entry.mountPoint === resolved).at(-1);
  }

  async hasMountsBelow(directory: string): Promise<boolean> {
    const resolved = await realpath(directory).catch(() => directory);
    const table = parseMountinfo(await readFile(this.mountinfoPath, 'utf8'));
    return table.some((entry) => entry.mountPoint.startsWith(`${resolved}/`));
  }

  private run(command: string, args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(command, args, { timeout: this.timeoutMs, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
        if (!error) {
          resolve();
          return;
        }
        const detail = stderr.trim() || error.message;
        const timedOut = error.killed === true;
        reject(
          new KeymountError(
            timedOut ? 'UNAVAILABLE' : 'INTERNAL',
            timedOut ? `${command} did not finish within ${this.timeoutMs} ms` : `${command} failed: ${detail}`,
            { cause: error },
          ),
        );
      });
    });
  }
}

/** Undoes the octal escapes (\040 for a space, …) the kernel uses in mountinfo paths. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses /proc/<pid>/mountinfo (see proc(5)). */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const mountPoint = fields[4];
    const fsType = fields[separator + 1];
    if (separator < 0 || mountPoint === undefined || fsType === undefined) continue;
    const options = [...(fields[5] ?? '').split(','), ...(fields[separator + 3] ?? '').split(',')];
    entries.push({ mountPoint: unescapeMountPath(mountPoint), fsType, options });
  }
  return entries;
}
