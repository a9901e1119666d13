import { execFile } from 'node:child_process';
import { closeSync, constants, lstatSync, openSync, readFileSync, readdirSync, realpathSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeymountError } from '../errors.js';
import { settle } from './settle.js';

export interface TmpfsOptions {
  readonly sizeBytes: number;
  /** Permission bits of the volume root. */
  readonly mode: number;
  /** Group owning the volume root, so a non-root pod with that group can read it. */
  readonly gid: number | undefined;
  /** The mount's source name in the mount table; keymount names each volume's tmpfs after the volume. */
  readonly source: string;
}

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  /** The mount source from the table; undefined when the path itself answered (see CommandMounter.quickLook). */
  readonly source: string | undefined;
  /** From the mount table; empty when the path itself answered (a tmpfs found without reading the table). */
  readonly options: readonly string[];
}

/** Mounting, behind an interface so the volume manager does not run commands itself. */
export interface Mounter {
  mountTmpfs(target: string, options: TmpfsOptions): Promise<void>;
  /** Binds `source` (a mount) at `target` read-only, with the tmpfs flags, in one step. */
  bindReadOnly(source: string, target: string): Promise<void>;
  unmount(target: string): Promise<void>;
  /**
   * The mount at exactly this path (the topmost one when stacked), if any. With `fromTable`
   * the answer always comes from the mount table, so `source` and `options` are known.
   */
  findMount(target: string, fromTable?: 'fromTable'): Promise<MountEntry | undefined>;
  /** Whether anything is mounted strictly inside this directory. */
  hasMountsBelow(directory: string): Promise<boolean>;
}

/** tmpfs flags every keymount volume gets: nothing on it can run or act as a device. */
export const TMPFS_FLAGS = ['nosuid', 'nodev', 'noexec'] as const;

/**
 * Mounts with mount(8)/umount(8), the tools the kubelet's own mount helpers
 * use; reads the mount table from /proc/self/mountinfo when the path itself
 * cannot tell (see quickLook).
 */
export class CommandMounter implements Mounter {
  constructor(
    private readonly timeoutMs: number,
    private readonly mountinfoPath = '/proc/self/mountinfo',
  ) {}

  async mountTmpfs(target: string, options: TmpfsOptions): Promise<void> {
    const flags = [...TMPFS_FLAGS, `size=${options.sizeBytes}`, `mode=${options.mode.toString(8).padStart(4, '0')}`];
    if (options.gid !== undefined) flags.push('uid=0', `gid=${options.gid}`);
    await this.run('mount', ['-t', 'tmpfs', '-o', flags.join(','), options.source, target]);
  }

  async bindReadOnly(source: string, target: string): Promise<void> {
    // mount(8) binds, then remounts the bind read-only; flags not named there would be cleared.
    await this.run('mount', ['-o', ['bind', 'ro', ...TMPFS_FLAGS].join(','), source, target]);
  }

  async unmount(target: string): Promise<void> {
    await this.run('umount', [target]);
  }

  findMount(target: string, fromTable?: 'fromTable'): Promise<MountEntry | undefined> {
    return settle(() => {
      // The mount table holds resolved paths; the kubelet root may sit behind a symlink.
      const resolved = resolvedPath(target);
      const quick = fromTable === undefined ? this.quickLook(resolved) : UNKNOWN;
      if (quick !== UNKNOWN) return quick;
      // Later lines are mounted on top of earlier ones.
      return this.readTable().filter((entry) => entry.mountPoint === resolved).at(-1);
    });
  }

  hasMountsBelow(directory: string): Promise<boolean> {
    return settle(() => {
      const resolved = resolvedPath(directory);
      // Nothing can be mounted inside a directory that is missing, or empty while not itself a mount point (nothing hidden under one).
      if (this.readsLiveTable && (!exists(resolved) || (isEmptyDirectory(resolved) && !isMountPoint(resolved)))) return false;
      return this.readTable().some((entry) => entry.mountPoint.startsWith(`${resolved}/`));
    });
  }

  /** Whether the table is this process's own, so the paths themselves can answer for it. */
  private get readsLiveTable(): boolean {
    return this.mountinfoPath === '/proc/self/mountinfo';
  }

  /**
   * Answers from the path itself where it can, because reading and parsing the
   * mount table costs time in proportion to every mount on the node (3.6 ms
   * with 1,000 volumes, on each call): a missing path has nothing mounted on it,
   * a path on its parent's mount is no mount point, and a mount point's type
   * comes from statfs when it is a tmpfs. Anything else reads the table.
   */
  private quickLook(resolved: string): MountEntry | undefined | typeof UNKNOWN {
    if (!this.readsLiveTable) return UNKNOWN;
    const stat = lstatSync(resolved, { throwIfNoEntry: false });
    if (stat === undefined) return undefined;
    // Files can be bind-mounted too; the table knows about those.
    if (!stat.isDirectory()) return UNKNOWN;
    if (!isMountPoint(resolved)) return undefined;
    if (statfsSync(resolved).type !== TMPFS_MAGIC) return UNKNOWN;
    return { mountPoint: resolved, fsType: 'tmpfs', source: undefined, options: optionsUnknown };
  }

  /**
   * Synchronous on purpose: the kernel generates mountinfo in memory, so the read
   * takes microseconds, while an asynchronous read costs five thread-pool round trips.
   */
  private readTable(): MountEntry[] {
    return parseMountinfo(readFileSync(this.mountinfoPath, 'utf8'));
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

const UNKNOWN = Symbol('unknown');
export const TMPFS_MAGIC = 0x01021994;
const optionsUnknown: readonly string[] = [];

function exists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

function isEmptyDirectory(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/**
 * Whether a (resolved) path is the root of a mount: its mount ID differs from
 * its parent's. Exact for every kind of mount, bind mounts from the same
 * filesystem included, unlike comparing device numbers.
 */
export function isMountPoint(resolved: string): boolean {
  const parent = dirname(resolved);
  return parent !== resolved && mountIdOf(resolved) !== mountIdOf(parent);
}

/** The kernel's ID of the (topmost) mount a path is on, from /proc/self/fdinfo (Linux ≥ 3.15). */
function mountIdOf(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const id = /^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    if (id === undefined) throw new Error(`no mnt_id in /proc/self/fdinfo for ${path}`);
    return id;
  } finally {
    closeSync(fd);
  }
}

/** The path with every symlink resolved (lstat of cached directory entries), or the path itself when it does not exist. */
function resolvedPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
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
    const source = fields[separator + 2];
    if (separator < 0 || mountPoint === undefined || fsType === undefined) continue;
    const options = [...(fields[5] ?? '').split(','), ...(fields[separator + 3] ?? '').split(',')];
    entries.push({ mountPoint: unescapeMountPath(mountPoint), fsType, source: source === undefined ? undefined : unescapeMountPath(source), options });
  }
  return entries;
}
