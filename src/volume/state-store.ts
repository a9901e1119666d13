import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { KeymountError, errnoCode } from '../errors.js';
import { settle } from '../storage/settle.js';
import type { PodIdentity } from '../provider/contract.js';

/**
 * The record format this version writes. 1: the volume's tmpfs is private to
 * the driver and bound read-only at the target. Records without a version
 * (0) come from keymount 0.1.0, whose tmpfs sat at the target itself.
 */
export const RECORD_VERSION = 1;

/**
 * What keymount remembers about a published volume, so a restarted driver
 * still answers idempotently. Never a token, a secret or file contents: only
 * where the volume is, what it was asked for (as a fingerprint) and what it did.
 */
export interface VolumeRecord {
  /** RECORD_VERSION when written by this version; 0 for a record of keymount 0.1.0. */
  readonly version: 0 | typeof RECORD_VERSION;
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

// Bounds as loose as what a publish accepts (src/csi/validate.ts): a record is checked, not trimmed.
const text = z.string().max(256 * 1024);
const timestamp = z.string().max(64).optional();
const recordSchema = z.strictObject({
  version: z.literal(RECORD_VERSION).optional(),
  volumeId: z.string().min(1).max(256),
  targetPath: z.string().min(1).max(4096),
  provider: z.string().max(63),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  phase: z.enum(['publishing', 'published']),
  createdTargetDir: z.boolean(),
  readOnly: z.boolean(),
  mountGroup: z.number().int().min(0).max(4_294_967_294).optional(),
  attributes: z.record(z.string().max(4096), text),
  pod: z.strictObject({ namespace: text, name: text, uid: text, serviceAccountName: text }),
  versions: z.record(z.string().max(1024), text),
  publishedAt: timestamp,
  lastFetchAt: timestamp,
  notAfter: timestamp,
  refreshAt: timestamp,
  failures: z.number().int().min(0),
  retryAfter: timestamp,
  lastError: z.string().max(8192).optional(),
});

/** Why a stored record was not used; the record file is then removed. */
export interface UnusableRecord {
  readonly file: string;
  readonly reason: string;
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

  /** `onUnusable` hears of each record that is malformed or filed under another volume's name (then deleted). */
  constructor(
    stateDir: string,
    private readonly onUnusable: (record: UnusableRecord) => void = () => undefined,
  ) {
    this.directory = join(stateDir, 'volumes');
  }

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
  }

  get(volumeId: string): Promise<VolumeRecord | undefined> {
    return settle(() => this.read(this.pathOf(volumeId)));
  }

  put(record: VolumeRecord): Promise<void> {
    const path = this.pathOf(record.volumeId);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      // A version-0 record keeps its format (no version field) until the volume is gone.
      const { version, ...fields } = record;
      writeFileSync(temporary, JSON.stringify(version === 0 ? fields : record), { mode: 0o600 });
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
      .map((name) => this.read(join(this.directory, name)))
      .filter((record): record is VolumeRecord => record !== undefined);
  }

  private pathOf(volumeId: string): string {
    return join(this.directory, fileNameOf(volumeId));
  }

  /**
   * The record in a file, or undefined when there is none (one deleted between listing and
   * reading included) or it is unusable: then it is removed, so it can never steer the driver.
   */
  private read(path: string): VolumeRecord | undefined {
    let content: string;
    try {
      content = readFileSync(path, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const record = parseRecord(content, path.slice(this.directory.length + 1));
    if (typeof record === 'string') {
      this.onUnusable({ file: path, reason: record });
      rmSync(path, { force: true });
      return undefined;
    }
    return record;
  }
}

function fileNameOf(volumeId: string): string {
  return `${createHash('sha256').update(volumeId).digest('hex')}.json`;
}

/** The record, or why it cannot be used. */
function parseRecord(content: string, fileName: string): VolumeRecord | string {
  let document: unknown;
  try {
    document = JSON.parse(content);
  } catch {
    return 'it is not JSON';
  }
  const parsed = recordSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `it does not match the record format (${issue ? `${issue.path.join('.') || 'record'}: ${issue.message}` : 'invalid'})`;
  }
  const { version, ...fields } = parsed.data;
  // Records are filed by a hash of their volume ID; one under another name was not written by keymount.
  if (fileNameOf(fields.volumeId) !== fileName) return 'its volume ID does not match its file name';
  return {
    ...fields,
    version: version ?? 0,
    mountGroup: fields.mountGroup,
    publishedAt: fields.publishedAt,
    lastFetchAt: fields.lastFetchAt,
    notAfter: fields.notAfter,
    refreshAt: fields.refreshAt,
    retryAfter: fields.retryAfter,
    lastError: fields.lastError,
  };
}
