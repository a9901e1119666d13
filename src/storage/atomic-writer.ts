import { constants } from 'node:fs';
import { chown, lstat, mkdir, open, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode, resourceExhausted } from '../errors.js';
import type { Clock } from '../provider/contract.js';
import type { VolumeFile } from './volume-files.js';

export interface FileOwner {
  /** Group that owns every directory and file, or undefined to keep the driver's own group. */
  readonly gid: number | undefined;
}

/** Writes a volume's file set; implementations must never leave a half-written set visible. */
export interface VolumeWriter {
  /** Makes `files` the complete visible content of the volume rooted at `root`. */
  writeAll(root: string, files: readonly VolumeFile[], owner: FileOwner): Promise<void>;
}

export const DATA_LINK = '..data';
const DATA_LINK_TMP = '..data_tmp';
const DIRECTORY_MODE = 0o750;

/**
 * The Kubernetes atomic-writer layout: files go into a fresh hidden data
 * directory, then one rename of the `..data` symlink switches the whole set,
 * and each visible name is a symlink through `..data`. A reader sees either
 * the old set or the new one, never a mix.
 *
 * Files are created with O_EXCL|O_NOFOLLOW inside a directory made in this
 * call, so no write can follow a symlink planted in the volume.
 */
export class AtomicWriter implements VolumeWriter {
  constructor(private readonly clock: Clock) {}

  async writeAll(root: string, files: readonly VolumeFile[], owner: FileOwner): Promise<void> {
    const dataDirName = this.newDataDirName();
    const dataDir = join(root, dataDirName);
    try {
      await this.makeDirectory(dataDir, owner);
      for (const file of files) await this.writeFile(dataDir, file, owner);
      await rm(join(root, DATA_LINK_TMP), { force: true });
      await symlink(dataDirName, join(root, DATA_LINK_TMP));
      await rename(join(root, DATA_LINK_TMP), join(root, DATA_LINK));
    } catch (error) {
      await rm(dataDir, { recursive: true, force: true });
      throw translateWriteError(error);
    }
    const visible = new Set(files.map((file) => file.segments[0] ?? ''));
    await this.linkVisibleNames(root, visible);
    await this.removeStaleEntries(root, visible, dataDirName);
  }

  private newDataDirName(): string {
    const stamp = this.clock.now().toISOString().replace(/[-:]/g, '').replace('T', '_').replace('Z', '');
    return `..${stamp}.${randomBytes(4).toString('hex')}`;
  }

  private async makeDirectory(path: string, owner: FileOwner): Promise<void> {
    await mkdir(path, { mode: DIRECTORY_MODE });
    if (owner.gid !== undefined) await chown(path, 0, owner.gid);
  }

  private async writeFile(dataDir: string, file: VolumeFile, owner: FileOwner): Promise<void> {
    let parent = dataDir;
    for (const segment of file.segments.slice(0, -1)) {
      parent = join(parent, segment);
      const existing = await lstat(parent).catch(() => undefined);
      if (existing === undefined) await this.makeDirectory(parent, owner);
    }
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(join(dataDir, file.path), flags, file.mode);
    try {
      await handle.writeFile(file.contents);
      // The process umask may have cleared bits at open(); set the exact mode.
      await handle.chmod(file.mode);
      if (owner.gid !== undefined) await handle.chown(0, owner.gid);
    } finally {
      await handle.close();
    }
  }

  /** Each visible top-level name is a symlink into ..data; replaced atomically when it is anything else. */
  private async linkVisibleNames(root: string, names: ReadonlySet<string>): Promise<void> {
    for (const name of names) {
      const path = join(root, name);
      const wanted = join(DATA_LINK, name);
      const current = await readlink(path).catch(() => undefined);
      if (current === wanted) continue;
      const temporary = join(root, `..link_tmp.${randomBytes(4).toString('hex')}`);
      await symlink(wanted, temporary);
      await rename(temporary, path);
    }
  }

  private async removeStaleEntries(root: string, visible: ReadonlySet<string>, currentDataDir: string): Promise<void> {
    for (const entry of await readdir(root)) {
      if (entry === DATA_LINK || entry === currentDataDir || visible.has(entry)) continue;
      const path = join(root, entry);
      const stat = await lstat(path).catch(() => undefined);
      if (stat === undefined) continue;
      if (stat.isDirectory()) await rm(path, { recursive: true, force: true });
      else await unlink(path).catch(() => undefined);
    }
  }
}

function translateWriteError(error: unknown): unknown {
  if (errnoCode(error) === 'ENOSPC') {
    return resourceExhausted('the volume is full while writing its files; raise --max-volume-size or request fewer or smaller objects');
  }
  return error;
}
