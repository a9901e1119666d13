/**
 * Where an object's secretPath really is. KV version 2 keeps secrets under
 * "<mount>/data/<name>", while users write both "secret/data/app" (the API
 * path, as vault-csi-provider needs) and "secret/app" (as `vault kv get`
 * takes). The mount is looked up (sys/internal/ui/mounts, as the Vault CLI
 * does), so both forms read the same secret; paths on other engines are sent
 * as written.
 */
import { permissionDenied, type Clock, type Sensitive } from '../../src/provider/contract.js';
import type { MountInfo, VaultApi } from './api.js';
import type { VaultCall } from './client.js';
import type { VaultObject } from './objects.js';
import { reservedPathReason } from './path-policy.js';

export type KvVersion = 1 | 2 | undefined;

const MAX_CACHED_PATHS = 1000;

export interface ResolvedSecret {
  readonly call: Omit<VaultCall, 'token'>;
  /** The API path read, not encoded (the KV v2 form where the mount is one). */
  readonly path: string;
  /** 1 or 2 on a KV mount, undefined elsewhere or when Vault did not say. */
  readonly kvVersion: KvVersion;
}

/** Mount layouts are not secret and change rarely: they are cached per instance for a few minutes. */
export class MountCache {
  private readonly entries = new Map<string, { info: MountInfo; atMs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  get(path: string): MountInfo | undefined {
    const entry = this.entries.get(path);
    if (entry === undefined || this.clock.now().getTime() - entry.atMs > this.ttlMs) return undefined;
    return entry.info;
  }

  set(path: string, info: MountInfo): void {
    // Pods choose the paths: never let their number grow the cache without bound.
    if (this.entries.size >= MAX_CACHED_PATHS) this.entries.clear();
    this.entries.set(path, { info, atMs: this.clock.now().getTime() });
  }
}

export async function resolveSecret(
  object: VaultObject,
  token: Sensitive<string>,
  api: VaultApi,
  mounts: MountCache,
  signal: AbortSignal,
): Promise<ResolvedSecret> {
  let info = mounts.get(object.secretPath);
  if (info === undefined) {
    // Encoded like the read itself: OpenBao decodes the path, so "%2e%2e" sent raw here would climb out of the lookup.
    info = await api.mountInfo(encodePath(object.secretPath), token, signal);
    if (info !== undefined) mounts.set(object.secretPath, info);
  }
  const kvVersion = kvVersionOf(info);
  const path = kvVersion === 2 && object.method === 'GET' && info !== undefined ? kv2DataPath(object.secretPath, info.path) : object.secretPath;
  // The mount's name comes from Vault: the path it yields is checked like the pod's own.
  const reason = reservedPathReason(path, false);
  if (reason !== undefined) throw permissionDenied(`secretPath "${object.secretPath}" resolves to a path no pod may reach: ${reason}`);
  const encoded = encodePath(path);
  return {
    path,
    call: {
      method: object.method,
      path: object.query === undefined ? encoded : `${encoded}?${object.query}`,
      ...(object.secretArgs !== undefined ? { body: object.secretArgs } : {}),
    },
    kvVersion,
  };
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function kvVersionOf(info: MountInfo | undefined): KvVersion {
  if (info === undefined || (info.type !== 'kv' && info.type !== 'generic')) return undefined;
  return info.version === '2' ? 2 : 1;
}

/** "secret/app" → "secret/data/app" on a KV v2 mount "secret/"; "secret/data/app" stays as it is. */
export function kv2DataPath(secretPath: string, mountPath: string): string {
  const mount = mountPath.endsWith('/') ? mountPath : `${mountPath}/`;
  if (!secretPath.startsWith(mount)) return secretPath;
  const name = secretPath.slice(mount.length);
  if (name === '' || name.startsWith('data/')) return secretPath;
  return `${mount}data/${name}`;
}
