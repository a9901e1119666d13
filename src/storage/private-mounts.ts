/**
 * Where the driver writes. Each volume's tmpfs is mounted in a directory only
 * root can reach (<state-dir>/mounts/<sha256 of the volume ID>), and the pod
 * sees it through a read-only bind at the kubelet's target path. Whatever the
 * pod's (possibly root) container does in its volume, it cannot create,
 * rename or delete an entry the writer works through, so no write, chown or
 * removal of the driver's can be steered outside the volume (SECURITY.md).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, rmdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { isMountPoint, TMPFS_MAGIC } from './mounter.js';
import { settle } from './settle.js';

/** The mount source every keymount tmpfs of an earlier version carried. */
export const LEGACY_MOUNT_SOURCE = 'keymount';

/**
 * The source name of a volume's tmpfs in the mount table: it ties a mount to
 * the volume that made it without trusting any record.
 */
export function mountSourceOf(volumeId: string): string {
  return `keymount-${createHash('sha256').update(volumeId).digest('hex').slice(0, 24)}`;
}

/** Private mount points of the volumes, behind an interface like the mounter. */
export interface PrivateMounts {
  /** The volume's private mount point; derived from the volume ID, never read from a record. */
  pathOf(volumeId: string): string;
  /** Makes the (empty) mount point; an existing empty directory is fine. */
  create(volumeId: string): Promise<void>;
  /** Removes the mount point once nothing is mounted on it; never anything below it. */
  remove(volumeId: string): Promise<void>;
  /**
   * Whether the private mount point holds a tmpfs of its own. Checked before
   * every write: if the tmpfs vanished, a write would land on the state dir's
   * filesystem (possibly a disk) instead.
   */
  isOwnTmpfs(volumeId: string): boolean;
  /** Whether `target` shows the volume's private tmpfs (the same filesystem, seen through the bind). */
  showsVolume(volumeId: string, target: string): boolean;
}

export class StateDirPrivateMounts implements PrivateMounts {
  private readonly directory: string;

  constructor(stateDir: string) {
    this.directory = join(stateDir, 'mounts');
  }

  /** Creates <state-dir>/mounts, readable by root alone. */
  init(): void {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
  }

  pathOf(volumeId: string): string {
    return join(this.directory, createHash('sha256').update(volumeId).digest('hex'));
  }

  create(volumeId: string): Promise<void> {
    return settle(() => {
      try {
        mkdirSync(this.pathOf(volumeId), { mode: 0o700 });
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error;
      }
    });
  }

  remove(volumeId: string): Promise<void> {
    return settle(() => {
      try {
        rmdirSync(this.pathOf(volumeId));
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    });
  }

  isOwnTmpfs(volumeId: string): boolean {
    const path = this.pathOf(volumeId);
    try {
      return lstatSync(path).isDirectory() && isMountPoint(path) && statfsSync(path).type === TMPFS_MAGIC;
    } catch {
      return false;
    }
  }

  showsVolume(volumeId: string, target: string): boolean {
    if (!this.isOwnTmpfs(volumeId)) return false;
    const volume = lstatSync(this.pathOf(volumeId));
    const shown = lstatSync(target, { throwIfNoEntry: false });
    // The root of a mounted filesystem: same device, same inode, through any bind of it.
    return shown !== undefined && shown.isDirectory() && shown.dev === volume.dev && shown.ino === volume.ino;
  }
}
