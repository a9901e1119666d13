/**
 * The core's check of what a provider returns: every path must stay inside the
 * volume (CVE-2020-8567 was a path traversal through object names), every mode
 * must be plain permission bits, and the set must fit the volume.
 */
import { resourceExhausted, KeymountError } from '../errors.js';
import { formatBytes } from '../config/units.js';
import type { ProviderFile } from '../provider/contract.js';
import { controlCharacterReason, excerpt } from '../untrusted-text.js';

export interface VolumeFile {
  /** Relative, normalised path segments ("certs/tls.crt" → ["certs", "tls.crt"]). */
  readonly segments: readonly string[];
  readonly path: string;
  readonly mode: number;
  readonly contents: Buffer;
}

export const MAX_PATH_SEGMENT_BYTES = 255;
/** More files than this in one volume is a runaway object list, not a real application's secrets. */
export const MAX_FILES_PER_VOLUME = 1000;
export const MAX_PATH_DEPTH = 8;
/** Names the atomic writer uses itself; a provider may not shadow them. */
const RESERVED_PREFIX = '..';

/**
 * Why a provider-supplied path is unsafe, or undefined when it is fine.
 * Only "/" separates directories; no control characters (a name is shown in
 * listings and logs). Callers quote the path with excerpt().
 */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  const control = controlCharacterReason(path);
  if (control !== undefined) return control;
  if (path.includes('\\')) return 'contains a backslash (only "/" separates directories)';
  if (path.startsWith('/')) return 'is absolute';
  const segments = path.split('/');
  if (segments.length > MAX_PATH_DEPTH) return `is deeper than ${MAX_PATH_DEPTH} directories`;
  for (const segment of segments) {
    if (segment === '') return 'has an empty path element';
    if (segment === '.' || segment === '..') return `contains "${segment}"`;
    if (segment.startsWith(RESERVED_PREFIX)) return 'starts an element with "..", which keymount reserves';
    if (Buffer.byteLength(segment) > MAX_PATH_SEGMENT_BYTES) return `has an element longer than ${MAX_PATH_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

export interface VolumeFileRules {
  readonly defaultMode: number;
  readonly maxTotalBytes: number;
}

/** Validates a provider's files and applies the default mode. Throws before anything is written. */
export function toVolumeFiles(providerName: string, files: readonly ProviderFile[], rules: VolumeFileRules): VolumeFile[] {
  // Providers are typed, but a provider's backend may hand back anything.
  const untrusted: unknown = files;
  if (!Array.isArray(untrusted)) throw providerFault(providerName, 'returned no list of files');
  if (files.length > MAX_FILES_PER_VOLUME) {
    throw resourceExhausted(`provider "${providerName}" returned ${files.length} files, over the limit of ${MAX_FILES_PER_VOLUME} per volume`);
  }
  const seen = new Set<string>();
  const directories = new Set<string>();
  let totalBytes = 0;
  const result = files.map((file): VolumeFile => {
    if (typeof file !== 'object' || file === null) throw providerFault(providerName, 'returned a file that is not an object');
    const shown = typeof file.path === 'string' ? excerpt(file.path) : JSON.stringify(file.path);
    const reason = typeof file.path === 'string' ? unsafePathReason(file.path) : 'is not a string';
    if (reason !== undefined) throw providerFault(providerName, `returned the file path ${shown}, which ${reason}`);
    if (seen.has(file.path)) throw providerFault(providerName, `returned the file path ${shown} twice`);
    seen.add(file.path);
    const mode = file.mode ?? rules.defaultMode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw providerFault(providerName, `returned mode ${String(mode)} for ${shown}; only permission bits 0000-0777 are allowed`);
    }
    if (!Buffer.isBuffer(file.contents)) throw providerFault(providerName, `returned no contents for ${shown}`);
    totalBytes += file.contents.byteLength;
    const segments = file.path.split('/');
    for (let depth = 1; depth < segments.length; depth++) directories.add(segments.slice(0, depth).join('/'));
    return { segments, path: file.path, mode, contents: file.contents };
  });
  for (const path of seen) {
    if (directories.has(path)) throw providerFault(providerName, `returned ${excerpt(path)} both as a file and as a directory`);
  }
  if (totalBytes > rules.maxTotalBytes) {
    throw resourceExhausted(
      `provider "${providerName}" returned ${totalBytes} bytes of files, over the volume size limit of ${formatBytes(rules.maxTotalBytes)} (--max-volume-size)`,
    );
  }
  return result;
}

/** A provider that returns unsafe data is a fault of its configuration or backend, not of the pod spec. */
function providerFault(providerName: string, detail: string): KeymountError {
  return new KeymountError('FAILED_PRECONDITION', `provider "${providerName}" ${detail}`);
}
