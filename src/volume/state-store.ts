import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KeymountError, errnoCode } from '../errors.js';
import { settle } from '../storage/settle.js';
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

/**
 * One JSON file per volume under <state-dir>/volumes, named by a hash of the volume ID, written by rename.
 * Reads and writes are synchronous on purpose: the state dir is a tmpfs (/run), where each call takes
 * microseconds, while an asynchronous call costs thread-pool round trips worth many times that (bench/RESULTS.md).
 */
export class FileStateStore implements VolumeStateStore {
  private readonly directory: string;

  constructor(stateDir: string) {
    this.directory = join(stateDir, 'volumes');
  }

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
  }

  get(volumeId: string): Promise<VolumeRecord | undefined> {
    return settle(() => readRecord(this.pathOf(volumeId)));
  }

  put(record: VolumeRecord): Promise<void> {
    const path = this.pathOf(record.volumeId);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
      renameSync(temporary, path);
      return Promise.resolve();
    } catch (error) {
      try {
        rmSync(temporary, { force: true });
      } catch {
        // the error below is the one worth reporting
      }
      // The admin's problem, not the pod's: say where and why, and let the kubelet retry.
      return Promise.reject(
        new KeymountError('UNAVAILABLE', `keymount cannot write its state dir ${this.directory} (${errnoCode(error) ?? 'error'}); check --state-dir`, { cause: error }),
      );
    }
  }

  delete(volumeId: string): Promise<void> {
    return settle(() => {
      rmSync(this.pathOf(volumeId), { force: true });
    });
  }

  async list(): Promise<VolumeRecord[]> {
    const names = await readdir(this.directory).catch(() => [] as string[]);
    return names
      .filter((name) => name.endsWith('.json'))
      .map((name) => readRecord(join(this.directory, name)))
      .filter((record): record is VolumeRecord => record !== undefined);
  }

  private pathOf(volumeId: string): string {
    return join(this.directory, `${createHash('sha256').update(volumeId).digest('hex')}.json`);
  }
}

/** The record in a file, or undefined when there is none (one deleted between listing and reading included). */
function readRecord(path: string): VolumeRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as VolumeRecord;
}
