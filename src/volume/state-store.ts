import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeymountError, errnoCode } from '../errors.js';
import type { PodIdentity } from '../provider/contract.js';

/**
 * What keymount remembers about a published volume, so a restarted driver
 * still answers idempotently. Never a token, a secret or file contents: only
 * where the volume is, what it was asked for (as a fingerprint) and what it did.
 */
export interface VolumeRecord {
  readonly volumeId: string;
  readonly targetPath: string;
  /** The provider instance serving the volume. */
  readonly provider: string;
  /** sha256 over the arguments that must match for a repeated publish to be the same request. */
  readonly fingerprint: string;
  /** "publishing" until the files are in place; a leftover one marks an interrupted publish. */
  readonly phase: 'publishing' | 'published';
  /** Whether keymount created the target directory (and so removes it on unpublish). */
  readonly createdTargetDir: boolean;
  readonly readOnly: boolean;
  /** The CSI volume_mount_group the volume was published with. */
  readonly mountGroup: number | undefined;
  /** The pod's volume attributes and pod info (volume_context without tokens), to refresh after a restart. */
  readonly attributes: Readonly<Record<string, string>>;
  /** Who the volume is for (no tokens: those come with each republish and stay in memory). */
  readonly pod: PodIdentity;
  readonly versions: Readonly<Record<string, string>>;
  readonly publishedAt: string | undefined;
  /** The last successful fetch, changed or not: the start of the refresh interval. */
  readonly lastFetchAt: string | undefined;
  /** When the content stops being valid (certificate notAfter). */
  readonly notAfter: string | undefined;
  /** When the provider asked to be called again on its own (certificate renewal). */
  readonly refreshAt: string | undefined;
  /** Consecutive failed refreshes, and when the next try is allowed. */
  readonly failures: number;
  readonly retryAfter: string | undefined;
  /** The last refresh failure's message (a user-facing message: never a secret). */
  readonly lastError: string | undefined;
}

export interface VolumeStateStore {
  get(volumeId: string): Promise<VolumeRecord | undefined>;
  put(record: VolumeRecord): Promise<void>;
  delete(volumeId: string): Promise<void>;
  list(): Promise<VolumeRecord[]>;
}

/** One JSON file per volume under <state-dir>/volumes, named by a hash of the volume ID, written by rename. */
export class FileStateStore implements VolumeStateStore {
  private readonly directory: string;

  constructor(stateDir: string) {
    this.directory = join(stateDir, 'volumes');
  }

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
  }

  async get(volumeId: string): Promise<VolumeRecord | undefined> {
    return this.read(this.pathOf(volumeId));
  }

  async put(record: VolumeRecord): Promise<void> {
    const path = this.pathOf(record.volumeId);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      // The admin's problem, not the pod's: say where and why, and let the kubelet retry.
      throw new KeymountError('UNAVAILABLE', `keymount cannot write its state dir ${this.directory} (${errnoCode(error) ?? 'error'}); check --state-dir`, { cause: error });
    }
  }

  async delete(volumeId: string): Promise<void> {
    await rm(this.pathOf(volumeId), { force: true });
  }

  async list(): Promise<VolumeRecord[]> {
    const names = await readdir(this.directory).catch(() => [] as string[]);
    const records = await Promise.all(
      names.filter((name) => name.endsWith('.json')).map((name) => this.read(join(this.directory, name))),
    );
    return records.filter((record): record is VolumeRecord => record !== undefined);
  }

  private pathOf(volumeId: string): string {
    return join(this.directory, `${createHash('sha256').update(volumeId).digest('hex')}.json`);
  }

  private async read(path: string): Promise<VolumeRecord | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    return JSON.parse(text) as VolumeRecord;
  }
}
