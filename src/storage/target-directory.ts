import { lstat, mkdir, rm, rmdir } from 'node:fs/promises';
import { errnoCode, failedPrecondition } from '../errors.js';

/** Creating and removing the kubelet's target directory, behind an interface like the mounter. */
export interface TargetDirectories {
  /** Makes sure `target` is a real directory; tells whether this call created it. */
  prepare(target: string): Promise<{ created: boolean }>;
  /** Removes `target` if present. It must no longer be a mount point. */
  remove(target: string): Promise<void>;
}

export class FsTargetDirectories implements TargetDirectories {
  async prepare(target: string): Promise<{ created: boolean }> {
    const stat = await lstat(target).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (stat?.isSymbolicLink()) throw failedPrecondition(`target path ${target} is a symbolic link; keymount mounts only on real directories`);
    if (stat !== undefined && !stat.isDirectory()) throw failedPrecondition(`target path ${target} exists and is not a directory`);
    if (stat !== undefined) return { created: false };
    try {
      // The kubelet creates the parent; the driver creates the mount directory itself.
      await mkdir(target, { mode: 0o750 });
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw failedPrecondition(`the parent directory of target path ${target} does not exist`);
      throw error;
    }
    return { created: true };
  }

  async remove(target: string): Promise<void> {
    try {
      await rmdir(target);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') return;
      // Something wrote into the directory while nothing was mounted on it: remove that too, without following links.
      if (code === 'ENOTEMPTY') await rm(target, { recursive: true, force: true });
      else throw error;
    }
  }
}
