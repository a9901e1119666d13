import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';

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
  readonly versions: Readonly<Record<string, string>>;
  readonly publishedAt: string | undefined;
  readonly notAfter: string | undefined;
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
    await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
    await rename(temporary, path);
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
