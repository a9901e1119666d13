import { lstat, mkdir, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, failedPrecondition } from '../errors.js';

/** Creating and removing the kubelet's target directory, behind an interface like the mounter. */
export interface TargetDirectories {
  /** Whether `target` is missing or a real directory; anything else (a symlink, a file) is refused. */
  inspect(target: string): Promise<'missing' | 'directory'>;
  /** Creates the missing `target` (its parent must exist, as the kubelet makes it). */
  create(target: string): Promise<void>;
  /**
   * Removes `target` if present and empty; false when something is inside it
   * (then it stays: nothing is ever deleted recursively by path). It must no
   * longer be a mount point.
   */
  remove(target: string): Promise<boolean>;
}

export class FsTargetDirectories implements TargetDirectories {
  async inspect(target: string): Promise<'missing' | 'directory'> {
    // The kubelet makes the parent a real directory; a symlink there would redirect the mount elsewhere on the host.
    const parent = await lstat(dirname(target)).catch(() => undefined);
    if (parent?.isSymbolicLink()) {
      throw failedPrecondition(`the parent of target path ${target} is a symbolic link; keymount mounts only under real directories`);
    }
    const stat = await lstat(target).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (stat?.isSymbolicLink()) throw failedPrecondition(`target path ${target} is a symbolic link; keymount mounts only on real directories`);
    if (stat !== undefined && !stat.isDirectory()) throw failedPrecondition(`target path ${target} exists and is not a directory`);
    return stat === undefined ? 'missing' : 'directory';
  }

  async create(target: string): Promise<void> {
    try {
      // The kubelet creates the parent; the driver creates the mount directory itself.
      await mkdir(target, { mode: 0o750 });
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw failedPrecondition(`the parent directory of target path ${target} does not exist`);
      throw error;
    }
  }

  async remove(target: string): Promise<boolean> {
    try {
      await rmdir(target);
      return true;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') return true;
      // Something wrote into the directory while nothing was mounted on it. A recursive removal by path
      // could be redirected by whoever wrote there, so it stays; the kubelet removes its pod's directories.
      // Busy (a mount point), not a directory, not ours to remove: left alone as well.
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return false;
      throw error;
    }
  }
}
