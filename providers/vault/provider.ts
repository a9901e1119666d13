/**
 * One configured `vault` instance: logs in as the pod (or, if the admin chose
 * so, as the driver), reads each requested object, and hands the core the
 * files. All or nothing: any object failing fails the fetch, and the leases
 * the fetch obtained are revoked.
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  KeymountError,
  Sensitive,
  UNCHANGED,
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderDependencies,
  type ProviderFile,
  type Unchanged,
} from '../../src/provider/contract.js';
import type { SecretResponse } from './api.js';
import { parseVaultAttributes, VAULT_ATTRIBUTE_KEYS, type VaultAttributes } from './attributes.js';
import type { VaultConnection } from './connection.js';
import { fileContents, secretValues, type SecretValues } from './contents.js';
import { resolveSecret, MountCache, type KvVersion } from './kv.js';
import { LeaseKeeper, type DynamicSecret } from './leases.js';
import type { VaultObject } from './objects.js';
import { notAllowed, type AllowedPaths } from './path-policy.js';
import type { CachedToken, TokenSource } from './token-cache.js';

export const VAULT_TYPE = 'vault';

interface Answer {
  readonly response: SecretResponse;
  readonly kvVersion: KvVersion;
  readonly dynamic: DynamicSecret | undefined;
}

/** Objects that share one Vault request (same method, path and arguments): one call serves them all, so a username and password come from the same lease. */
interface RequestGroup {
  readonly key: string;
  readonly objects: readonly VaultObject[];
}

export class VaultProvider implements Provider<VaultAttributes> {
  readonly type = VAULT_TYPE;
  readonly attributeKeys = VAULT_ATTRIBUTE_KEYS;
  private readonly leases: LeaseKeeper;
  private readonly mounts: MountCache;
  /** Keys the HMAC of object versions: stable within this process, meaningless outside it. */
  private readonly versionKey = randomBytes(32);

  constructor(
    private readonly instanceName: string,
    private readonly vault: VaultConnection,
    private readonly deps: ProviderDependencies,
    /** The admin's allow-list; present exactly when the instance uses the driver's own identity. */
    private readonly allowedPaths: AllowedPaths | undefined,
  ) {
    this.leases = new LeaseKeeper(vault.api, vault.tokens, deps.clock, deps.logger);
    this.mounts = new MountCache(deps.clock);
  }

  parseAttributes(attributes: Readonly<Record<string, string>>, _pod: PodIdentity): VaultAttributes {
    return parseVaultAttributes(attributes, {
      instanceName: this.instanceName,
      usesPodIdentity: this.vault.authenticator.usesPodIdentity,
      ...(this.allowedPaths !== undefined ? { allowedPaths: this.allowedPaths } : {}),
    });
  }

  async fetch(request: FetchRequest<VaultAttributes>, signal: AbortSignal): Promise<FetchResult | Unchanged> {
    signal.throwIfAborted();
    const { attributes } = request;
    const source = this.vault.authenticator.sourceFor({ pod: request.pod, tokens: request.tokens, roleName: attributes.roleName });
    try {
      return await this.fetchWith(source, request, signal);
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      // A cached token Vault refuses (revoked or expired out of band) would fail every pod until it expires: log in again, once.
      this.vault.tokens.invalidate(error.token);
      this.deps.logger.info({ instance: this.instanceName, identity: source.description }, 'vault: Vault refused the cached token; logging in again');
    }
    try {
      return await this.fetchWith(source, request, signal);
    } catch (error) {
      throw error instanceof TokenRefused ? error.refusal : error;
    }
  }

  private async fetchWith(source: TokenSource, request: FetchRequest<VaultAttributes>, signal: AbortSignal): Promise<FetchResult | Unchanged> {
    const { volumeId, attributes } = request;
    const token = await this.vault.tokens.acquire(source, volumeId, signal);
    const obtained: DynamicSecret[] = [];
    let answers: Map<string, Answer>;
    let result: FetchResult;
    try {
      const groups = groupByRequest(attributes.objects);
      const settled = await Promise.allSettled(groups.map(async (group) => [group.key, await this.answer(group, volumeId, token, obtained, attributes, signal)] as const));
      const failure = settled.find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
      answers = new Map(settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : [])));
      result = this.files(groups, answers);
      // A fetch the core stopped waiting for must not commit leases nobody will serve.
      signal.throwIfAborted();
    } catch (error) {
      await this.leases.abandon(volumeId, obtained);
      throw error;
    }
    const dynamic = new Map<string, DynamicSecret>();
    for (const [key, answer] of answers) if (answer.dynamic !== undefined) dynamic.set(key, answer.dynamic);
    this.leases.commit(volumeId, dynamic);
    const refreshAt = this.leases.refreshAt(volumeId);
    this.deps.logger.debug(
      { instance: this.instanceName, identity: source.description, objects: attributes.objects.length, leases: dynamic.size, obtained: obtained.length },
      'vault: fetched',
    );
    if (sameVersions(request.previousVersions, result.versions)) return refreshAt === undefined ? UNCHANGED : { ...UNCHANGED, refreshAt };
    return refreshAt === undefined ? result : { ...result, refreshAt };
  }

  async release(volumeId: string, signal: AbortSignal): Promise<void> {
    await this.leases.release(volumeId, signal);
    await this.vault.tokens.release(volumeId, signal);
  }

  close(): Promise<void> {
    this.leases.close();
    return Promise.resolve();
  }

  /** The group's response: a fresh lease the volume already holds, or a new Vault call. */
  private async answer(
    group: RequestGroup,
    volumeId: string,
    token: CachedToken,
    obtained: DynamicSecret[],
    attributes: VaultAttributes,
    signal: AbortSignal,
  ): Promise<Answer> {
    const reused = this.leases.reusable(volumeId, group.key);
    if (reused !== undefined) return { response: reused.response.reveal(), kvVersion: reused.kvVersion, dynamic: reused };
    const [object] = group.objects;
    if (object === undefined) throw new KeymountError('INTERNAL', 'vault: empty request group');
    const resolved = await resolveSecret(object, token.token, this.vault.api, this.mounts, signal);
    const names = group.objects.map((item) => `"${item.objectName}"`).join(', ');
    // The mount lookup may have turned "secret/app" into "secret/data/app": the path read must be on the list itself.
    if (this.allowedPaths !== undefined && !this.allowedPaths.allows(resolved.path)) {
      throw notAllowed(this.instanceName, this.allowedPaths, `object ${names}`, resolved.path);
    }
    const role = attributes.roleName === undefined ? '' : ` with role "${attributes.roleName}"`;
    const what = `${object.method === 'GET' ? 'reading' : 'calling POST on'} secretPath "${object.secretPath}" for object ${names}${role}`;
    const response = await this.vault.api.readSecret({ ...resolved.call, token: token.token }, signal, what).catch((error: unknown) => {
      throw error instanceof KeymountError && error.code === 'PERMISSION_DENIED' ? new TokenRefused(token, error) : error;
    });
    for (const warning of response.warnings) {
      this.deps.logger.debug({ instance: this.instanceName, secretPath: object.secretPath, warning }, 'vault: warning from Vault');
    }
    if (response.leaseId === '') return { response, kvVersion: resolved.kvVersion, dynamic: undefined };
    const now = this.deps.clock.now().getTime();
    const durationMs = response.leaseDurationSeconds * 1000;
    const dynamic: DynamicSecret = {
      requestKey: group.key,
      leaseId: response.leaseId,
      owner: token,
      response: new Sensitive(response),
      kvVersion: resolved.kvVersion,
      version: `lease:${this.digest(response.leaseId)}`,
      leaseDurationMs: durationMs,
      // A lease without a duration does not expire on its own.
      expiresAtMs: durationMs === 0 ? Infinity : now + durationMs,
      renewable: response.renewable,
      capped: false,
    };
    obtained.push(dynamic);
    return { response, kvVersion: resolved.kvVersion, dynamic };
  }

  private files(groups: readonly RequestGroup[], answers: ReadonlyMap<string, Answer>): FetchResult {
    const files: ProviderFile[] = [];
    const versions: Record<string, string> = {};
    for (const group of groups) {
      const answer = answers.get(group.key);
      if (answer === undefined) throw new KeymountError('INTERNAL', 'vault: a request group has no answer');
      let values: SecretValues | undefined;
      for (const object of group.objects) {
        values ??= secretValues(answer.response, answer.kvVersion, object.secretPath);
        const contents = fileContents(object, values);
        files.push({ path: object.objectName, contents, ...(object.filePermission !== undefined ? { mode: object.filePermission } : {}) });
        versions[object.objectName] =
          answer.dynamic?.version ??
          (values.kv2Version !== undefined ? `kv2:${values.kv2Version}` : `h:${this.digest(`${object.objectName}\0`, contents)}`);
      }
    }
    return { files, versions };
  }

  /** A short keyed digest: tells versions apart without revealing what they are of. */
  private digest(...parts: (string | Buffer)[]): string {
    const hmac = createHmac('sha256', this.versionKey);
    for (const part of parts) hmac.update(part);
    return hmac.digest('base64url').slice(0, 22);
  }
}

/** Vault answered 401/403 to a call made with `token`: fetch() logs in again once before reporting `refusal`. */
class TokenRefused extends Error {
  constructor(
    readonly token: CachedToken,
    readonly refusal: KeymountError,
  ) {
    super(refusal.message);
  }
}

function groupByRequest(objects: readonly VaultObject[]): RequestGroup[] {
  const groups = new Map<string, VaultObject[]>();
  for (const object of objects) {
    const key = JSON.stringify([object.method, object.secretPath, object.query ?? '', canonicalJson(object.secretArgs ?? null)]);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [object]);
    else group.push(object);
  }
  return [...groups].map(([key, members]) => ({ key, objects: members }));
}

/** JSON with object keys sorted, so equal arguments written in another order are one request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function sameVersions(previous: Readonly<Record<string, string>>, current: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(current);
  return keys.length > 0 && keys.length === Object.keys(previous).length && keys.every((key) => previous[key] === current[key]);
}
