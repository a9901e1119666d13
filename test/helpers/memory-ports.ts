/**
 * In-memory implementations of every side-effect port the volume manager uses
 * (mounter, private mounts, target directories, volume writer, state store),
 * so the lifecycle runs as a normal user, without mounts, in milliseconds.
 * They share one model of the node: a mount table of stacked entries, each
 * naming the in-memory filesystem it shows, and a set of directories. A bind
 * shows the same filesystem as its source, so a volume's files are visible at
 * its target exactly as through a real read-only bind.
 *
 * Every port can be made to fail on demand (`faults.failNext(op)`), and logs
 * each call so a test can check that nothing was touched.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { KeymountError, failedPrecondition } from '../../src/errors.js';
import type { Clock } from '../../src/provider/contract.js';
import type { FileOwner, VolumeWriter } from '../../src/storage/atomic-writer.js';
import { TMPFS_FLAGS, type MountEntry, type Mounter, type TmpfsOptions } from '../../src/storage/mounter.js';
import type { PrivateMounts } from '../../src/storage/private-mounts.js';
import type { TargetDirectories } from '../../src/storage/target-directory.js';
import type { VolumeFile } from '../../src/storage/volume-files.js';
import type { VolumeRecord, VolumeStateStore } from '../../src/volume/state-store.js';

/** One-shot failures a test arms before the call that should fail. */
export class Faults<Operation extends string> {
  /** Per operation, the failures to come: each after letting `skip` more calls through. */
  private readonly armed = new Map<Operation, { skip: number; error: Error }[]>();

  /** The next call of `operation` fails with `error` (an INTERNAL KeymountError naming the operation by default). */
  failNext(operation: Operation, error?: Error): void {
    this.failAfter(operation, 0, error);
  }

  /** The call of `operation` after `skip` successful ones fails. */
  failAfter(operation: Operation, skip: number, error: Error = new KeymountError('INTERNAL', `injected failure of ${operation}`)): void {
    this.armed.set(operation, [...(this.armed.get(operation) ?? []), { skip, error }]);
  }

  /** Throws the armed failure of `operation`, if its turn has come. */
  check(operation: Operation): void {
    const queue = this.armed.get(operation);
    const next = queue?.[0];
    if (queue === undefined || next === undefined) return;
    if (next.skip > 0) {
      next.skip--;
      return;
    }
    queue.shift();
    if (queue.length === 0) this.armed.delete(operation);
    throw next.error;
  }
}

/** A file as the in-memory writer stored it. */
export interface StoredFile {
  readonly mode: number;
  readonly gid: number | undefined;
  readonly contents: Buffer;
}

/** One line of the in-memory mount table: the mount point and the filesystem it shows. */
export interface MemoryMountEntry extends MountEntry {
  /** The in-memory filesystem this mount shows; a bind shows its source's. */
  readonly filesystemId: number;
}

export type MounterOperation = 'mountTmpfs' | 'bindReadOnly' | 'unmount';

/** A mount table with stacked mounts (later entries on top), like /proc/self/mountinfo. */
export class MemoryMounter implements Mounter {
  readonly faults = new Faults<MounterOperation>();
  /** Every call that changed the table, in order ("mountTmpfs /path", …). */
  readonly calls: string[] = [];
  private readonly table: MemoryMountEntry[] = [];
  /** The files of each filesystem, by filesystem ID. */
  private readonly filesystems = new Map<number, Map<string, StoredFile>>();
  private nextFilesystemId = 1;

  /** Whether a directory exists to mount on; memoryPorts() wires it to the directory ports. */
  directoryExists: (path: string) => boolean = () => true;

  mountTmpfs(target: string, options: TmpfsOptions): Promise<void> {
    return attempt(() => {
      this.calls.push(`mountTmpfs ${target}`);
      this.faults.check('mountTmpfs');
      this.requireDirectory(target);
      const flags = ['rw', ...TMPFS_FLAGS, `size=${options.sizeBytes}`, `mode=${options.mode.toString(8)}`];
      if (options.gid !== undefined) flags.push(`gid=${options.gid}`);
      this.push({ mountPoint: target, fsType: 'tmpfs', source: options.source, options: flags });
    });
  }

  bindReadOnly(source: string, target: string): Promise<void> {
    return attempt(() => {
      this.calls.push(`bindReadOnly ${source} ${target}`);
      this.faults.check('bindReadOnly');
      const shown = this.topmost(source);
      if (shown === undefined) throw new KeymountError('INTERNAL', `mount failed: ${source} is not a mount point`);
      this.requireDirectory(target);
      this.table.push({ ...shown, mountPoint: target, options: ['ro', ...TMPFS_FLAGS] });
    });
  }

  unmount(target: string): Promise<void> {
    return attempt(() => {
      this.calls.push(`unmount ${target}`);
      this.faults.check('unmount');
      const index = this.table.findLastIndex((entry) => entry.mountPoint === target);
      if (index < 0) throw new KeymountError('INTERNAL', `umount failed: ${target}: not mounted`);
      // The kernel refuses to unmount a mount that has mounts inside it.
      if (this.table.slice(index + 1).some((entry) => entry.mountPoint.startsWith(`${target}/`))) {
        throw new KeymountError('INTERNAL', `umount failed: ${target}: target is busy`);
      }
      this.table.splice(index, 1);
    });
  }

  findMount(target: string, _fromTable?: 'fromTable'): Promise<MountEntry | undefined> {
    // The table always answers, so source and options are always known.
    return Promise.resolve(this.topmost(target));
  }

  hasMountsBelow(directory: string): Promise<boolean> {
    return Promise.resolve(this.table.some((entry) => entry.mountPoint.startsWith(`${directory}/`)));
  }

  /** Mounts something keymount did not make (another driver's volume, an attacker's mount). */
  addForeignMount(mountPoint: string, fsType: string, source: string, options: readonly string[] = ['rw']): void {
    this.push({ mountPoint, fsType, source, options });
  }

  /** The topmost mount at exactly this path. */
  topmost(path: string): MemoryMountEntry | undefined {
    return this.table.findLast((entry) => entry.mountPoint === path);
  }

  /** Every mount at exactly this path, bottom first. */
  mountsAt(path: string): MemoryMountEntry[] {
    return this.table.filter((entry) => entry.mountPoint === path);
  }

  /** Every mount point in the table, in mount order. */
  get mountPoints(): string[] {
    return this.table.map((entry) => entry.mountPoint);
  }

  /** The files the path shows (through its topmost mount), or undefined when nothing is mounted there. */
  filesAt(path: string): ReadonlyMap<string, StoredFile> | undefined {
    const mount = this.topmost(path);
    return mount === undefined ? undefined : this.filesystems.get(mount.filesystemId);
  }

  /** Replaces the files of the filesystem mounted at `root`; false when nothing is mounted there. */
  replaceFiles(root: string, files: ReadonlyMap<string, StoredFile>): boolean {
    const mount = this.topmost(root);
    if (mount === undefined) return false;
    this.filesystems.set(mount.filesystemId, new Map(files));
    return true;
  }

  private requireDirectory(path: string): void {
    // A path with a mount on it is a directory too (the mount's root).
    if (!this.directoryExists(path) && this.topmost(path) === undefined) {
      throw new KeymountError('INTERNAL', `mount failed: mount point ${path} does not exist`);
    }
  }

  private push(entry: MountEntry): void {
    const filesystemId = this.nextFilesystemId++;
    this.filesystems.set(filesystemId, new Map());
    this.table.push({ ...entry, filesystemId });
  }
}

/** The volumes' private mount points under /state/mounts, answering from the in-memory mount table. */
export class MemoryPrivateMounts implements PrivateMounts {
  readonly directories = new Set<string>();
  readonly faults = new Faults<'create' | 'remove'>();

  constructor(
    private readonly mounter: MemoryMounter,
    private readonly directory = '/state/mounts',
  ) {}

  pathOf(volumeId: string): string {
    return posix.join(this.directory, createHash('sha256').update(volumeId).digest('hex'));
  }

  create(volumeId: string): Promise<void> {
    return attempt(() => {
      this.faults.check('create');
      this.directories.add(this.pathOf(volumeId));
    });
  }

  remove(volumeId: string): Promise<void> {
    return attempt(() => {
      this.faults.check('remove');
      const path = this.pathOf(volumeId);
      if (this.mounter.topmost(path) !== undefined) throw new KeymountError('INTERNAL', `rmdir ${path}: EBUSY`);
      this.directories.delete(path);
    });
  }

  isOwnTmpfs(volumeId: string): boolean {
    const path = this.pathOf(volumeId);
    return this.directories.has(path) && this.mounter.topmost(path)?.fsType === 'tmpfs';
  }

  showsVolume(volumeId: string, target: string): boolean {
    if (!this.isOwnTmpfs(volumeId)) return false;
    const volume = this.mounter.topmost(this.pathOf(volumeId));
    const shown = this.mounter.topmost(target);
    return volume !== undefined && shown !== undefined && shown.filesystemId === volume.filesystemId;
  }
}

/** The kubelet's target directories: which exist, which hold entries of their own, which are symlinks. */
export class MemoryTargetDirectories implements TargetDirectories {
  readonly directories = new Set<string>();
  readonly symlinks = new Set<string>();
  /** Directories something wrote into while nothing was mounted on them. */
  readonly nonEmpty = new Set<string>();
  readonly faults = new Faults<'create' | 'remove'>();
  readonly calls: string[] = [];

  constructor(private readonly mounter: MemoryMounter) {}

  inspect(target: string): Promise<'missing' | 'directory'> {
    return attempt(() => {
      if (this.symlinks.has(target)) throw failedPrecondition(`target path ${target} is a symbolic link; keymount mounts only on real directories`);
      return this.directories.has(target) ? 'directory' : 'missing';
    });
  }

  create(target: string): Promise<void> {
    return attempt(() => {
      this.calls.push(`create ${target}`);
      this.faults.check('create');
      this.directories.add(target);
    });
  }

  remove(target: string): Promise<boolean> {
    return attempt(() => {
      this.calls.push(`remove ${target}`);
      this.faults.check('remove');
      if (!this.directories.has(target)) return true;
      // A mount point is busy; a directory with entries is never removed recursively.
      if (this.mounter.topmost(target) !== undefined || this.nonEmpty.has(target)) return false;
      this.directories.delete(target);
      return true;
    });
  }
}

/** Writes a volume's whole file set into the in-memory filesystem mounted at the root, in one step like the atomic writer. */
export class MemoryVolumeWriter implements VolumeWriter {
  readonly faults = new Faults<'writeAll'>();
  /** Every file set written, by root, latest last. */
  readonly writes = new Map<string, ReadonlyMap<string, StoredFile>[]>();

  constructor(private readonly mounter: MemoryMounter) {}

  writeAll(root: string, files: readonly VolumeFile[], owner: FileOwner): Promise<void> {
    return attempt(() => {
      this.faults.check('writeAll');
      const set = new Map(files.map((file): [string, StoredFile] => [file.path, { mode: file.mode, gid: owner.gid, contents: Buffer.from(file.contents) }]));
      if (!this.mounter.replaceFiles(root, set)) throw new KeymountError('INTERNAL', `in-memory writer: nothing is mounted at ${root}`);
      this.writes.set(root, [...(this.writes.get(root) ?? []), set]);
    });
  }
}

export type StateOperation = 'get' | 'put' | 'delete' | 'list';

/** Records by volume ID, copied in and out so a test cannot alias the store's copy. */
export class MemoryStateStore implements VolumeStateStore {
  readonly faults = new Faults<StateOperation>();
  private readonly records = new Map<string, VolumeRecord>();

  get(volumeId: string): Promise<VolumeRecord | undefined> {
    return attempt(() => {
      this.faults.check('get');
      const record = this.records.get(volumeId);
      return record === undefined ? undefined : structuredClone(record);
    });
  }

  put(record: VolumeRecord): Promise<void> {
    return attempt(() => {
      this.faults.check('put');
      this.records.set(record.volumeId, structuredClone(record));
    });
  }

  delete(volumeId: string): Promise<void> {
    return attempt(() => {
      this.faults.check('delete');
      this.records.delete(volumeId);
    });
  }

  list(): Promise<VolumeRecord[]> {
    return attempt(() => {
      this.faults.check('list');
      return [...this.records.values()].map((record) => structuredClone(record));
    });
  }

  /** The stored record, for assertions (undefined when none). */
  peek(volumeId: string): VolumeRecord | undefined {
    return this.records.get(volumeId);
  }

  get size(): number {
    return this.records.size;
  }
}

/**
 * The clock of the lifecycle tests: it reads Date, which vitest's fake timers
 * (vi.useFakeTimers) move together with the refresh timers' setTimeout.
 */
export const fakeTimeClock: Clock = { now: () => new Date() };

/** Every in-memory port, wired to one mount table. */
export interface MemoryPorts {
  readonly mounter: MemoryMounter;
  readonly privateMounts: MemoryPrivateMounts;
  readonly targets: MemoryTargetDirectories;
  readonly writer: MemoryVolumeWriter;
  readonly state: MemoryStateStore;
}

export function memoryPorts(): MemoryPorts {
  const mounter = new MemoryMounter();
  const privateMounts = new MemoryPrivateMounts(mounter);
  const targets = new MemoryTargetDirectories(mounter);
  mounter.directoryExists = (path) => privateMounts.directories.has(path) || targets.directories.has(path);
  return { mounter, privateMounts, targets, writer: new MemoryVolumeWriter(mounter), state: new MemoryStateStore() };
}

/** Runs a synchronous step as a port call: its throw becomes a rejection, as from a real port. */
function attempt<T>(step: () => T): Promise<T> {
  try {
    return Promise.resolve(step());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
