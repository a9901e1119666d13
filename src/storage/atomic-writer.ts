import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode, resourceExhausted } from '../errors.js';
import type { Clock } from '../provider/contract.js';
import { settle } from './settle.js';
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
 * The root is the volume's private tmpfs, which no pod can write to (the pod
 * sees it through a read-only bind), so nothing the writer works through can
 * change under it; files are still created with O_EXCL|O_NOFOLLOW and
 * directories chowned without following links, as a second line.
 *
 * The calls are synchronous on purpose: they all act on the volume's own
 * tmpfs, where each takes microseconds, while an asynchronous call costs a
 * thread-pool round trip (and, on a busy node, a wait for the scheduler) that
 * is many times the work itself.
 */
export class AtomicWriter implements VolumeWriter {
  constructor(private readonly clock: Clock) {}

  writeAll(root: string, files: readonly VolumeFile[], owner: FileOwner): Promise<void> {
    return settle(() => {
      this.writeAllNow(root, files, owner);
    });
  }

  private writeAllNow(root: string, files: readonly VolumeFile[], owner: FileOwner): void {
    const dataDirName = this.newDataDirName();
    const dataDir = join(root, dataDirName);
    try {
      this.makeDirectory(dataDir, owner);
      for (const file of files) this.writeFile(dataDir, file, owner);
      rmSync(join(root, DATA_LINK_TMP), { force: true });
      symlinkSync(dataDirName, join(root, DATA_LINK_TMP));
      renameSync(join(root, DATA_LINK_TMP), join(root, DATA_LINK));
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw translateWriteError(error);
    }
    const visible = new Set(files.map((file) => file.segments[0] ?? ''));
    this.linkVisibleNames(root, visible);
    this.removeStaleEntries(root, visible, dataDirName);
  }

  private newDataDirName(): string {
    const stamp = this.clock.now().toISOString().replace(/[-:]/g, '').replace('T', '_').replace('Z', '');
    return `..${stamp}.${randomBytes(4).toString('hex')}`;
  }

  private makeDirectory(path: string, owner: FileOwner): void {
    mkdirSync(path, { mode: DIRECTORY_MODE });
    // lchown: never through a link, even in the driver's private tmpfs.
    if (owner.gid !== undefined) lchownSync(path, 0, owner.gid);
  }

  private writeFile(dataDir: string, file: VolumeFile, owner: FileOwner): void {
    let parent = dataDir;
    for (const segment of file.segments.slice(0, -1)) {
      parent = join(parent, segment);
      if (lstatSync(parent, { throwIfNoEntry: false }) === undefined) this.makeDirectory(parent, owner);
    }
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fd = openSync(join(dataDir, file.path), flags, file.mode);
    try {
      writeFileSync(fd, file.contents);
      // The process umask may have cleared bits at open(); set the exact mode.
      fchmodSync(fd, file.mode);
      if (owner.gid !== undefined) fchownSync(fd, 0, owner.gid);
    } finally {
      closeSync(fd);
    }
  }

  /** Each visible top-level name is a symlink into ..data; replaced atomically when it is anything else. */
  private linkVisibleNames(root: string, names: ReadonlySet<string>): void {
    for (const name of names) {
      const path = join(root, name);
      const wanted = join(DATA_LINK, name);
      if (readlinkOrUndefined(path) === wanted) continue;
      const temporary = join(root, `..link_tmp.${randomBytes(4).toString('hex')}`);
      symlinkSync(wanted, temporary);
      renameSync(temporary, path);
    }
  }

  private removeStaleEntries(root: string, visible: ReadonlySet<string>, currentDataDir: string): void {
    for (const entry of readdirSync(root)) {
      if (entry === DATA_LINK || entry === currentDataDir || visible.has(entry)) continue;
      const path = join(root, entry);
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat === undefined) continue;
      if (stat.isDirectory()) rmSync(path, { recursive: true, force: true });
      else {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    }
  }
}

function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function translateWriteError(error: unknown): unknown {
  if (errnoCode(error) === 'ENOSPC') {
    return resourceExhausted('the volume is full while writing its files; raise --max-volume-size or request fewer or smaller objects');
  }
  return error;
}
