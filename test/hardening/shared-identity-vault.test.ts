/**
 * Issue #11, class 5: a vault instance that reads with the driver's own
 * identity (auth.type token or approle) must not lend that identity to pods.
 * A real OpenBao with a raw file audit device shows what reached it: no pod
 * path reaches the token endpoints (lookup-self would hand the pod the
 * driver's token, revoke-self would break the instance for every pod), nothing
 * outside the admin's allow-list is read, the driver's token stays valid, and a
 * token revoked out of band is replaced by exactly one new login.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider } from '../../src/provider/contract.js';
import type { VaultAttributes } from '../../providers/vault/index.js';
import { createPkiRole, enablePki, startOpenBao, writePolicy, type OpenBao } from '../helpers/openbao.js';
import { createProvider, fetchRequest, filesOf, objects, rejection } from '../providers/vault/helpers.js';
import { createPkiProvider } from '../providers/vault/pki-helpers.js';

interface AuditEntry {
  readonly type: string;
  readonly request?: { readonly path?: string; readonly operation?: string; readonly client_token_accessor?: string };
  readonly response?: { readonly auth?: { readonly accessor?: string } };
  readonly error?: string;
}

let bao: OpenBao;
let dir: string;
let auditLog: string;
let roleId: string;
let secretIdFile: string;

const SHARED = ['secret/data/shared/*'];

/** Audit entries written after `from` (a line count taken earlier). */
function auditSince(from: number): AuditEntry[] {
  return auditLines()
    .slice(from)
    .map((line) => JSON.parse(line) as AuditEntry);
}
function auditLines(): string[] {
  return readFileSync(auditLog, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
}
const requestsTo = (entries: readonly AuditEntry[], path: string): AuditEntry[] =>
  entries.filter((entry) => entry.type === 'request' && entry.request?.path === path);
const loginAccessors = (entries: readonly AuditEntry[]): string[] =>
  entries
    .filter((entry) => entry.type === 'response' && entry.request?.path === 'auth/approle/login' && entry.error === undefined)
    .map((entry) => entry.response?.auth?.accessor ?? '');

function approleSettings(allow: readonly string[] = SHARED): Record<string, unknown> {
  return { address: bao.address, auth: { type: 'approle', roleId, secretIdFile, sharedIdentity: { acknowledged: true, allow } } };
}

async function readObject(provider: Provider<VaultAttributes>, object: Record<string, unknown>): Promise<Record<string, string>> {
  const request = fetchRequest(provider, { objects: objects(object) });
  return filesOf(await provider.fetch(request, AbortSignal.timeout(15_000)));
}

/** parseAttributes and fetch, as a publish runs them: the KeymountError either throws. */
async function attempt(provider: Provider<VaultAttributes>, object: Record<string, unknown>): Promise<{ code: string; message: string }> {
  return rejection(Promise.resolve().then(() => readObject(provider, object)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keymount-shared-identity-'));
  auditLog = join(dir, 'audit.log');
  bao = await startOpenBao({ auditLogFile: auditLog });
  await bao.api('POST', 'secret/data/shared/db', { data: { password: 'shared-pass' } });
  await bao.api('POST', 'secret/data/private/admin', { data: { password: 'admin-pass' } });
  // The driver's Vault identity reads every secret; the default policy adds lookup-self, renew-self and revoke-self.
  await writePolicy(bao, 'keymount-driver', 'path "secret/data/*" { capabilities = ["read", "create", "update"] }');
  await bao.api('POST', 'sys/auth/approle', { type: 'approle' });
  await bao.api('POST', 'auth/approle/role/keymount', { token_policies: ['keymount-driver'], token_ttl: '1h' });
  roleId = ((await bao.api('GET', 'auth/approle/role/keymount/role-id')).data as { role_id: string }).role_id;
  const secretId = ((await bao.api('POST', 'auth/approle/role/keymount/secret-id')).data as { secret_id: string }).secret_id;
  secretIdFile = join(dir, 'secret-id');
  writeFileSync(secretIdFile, secretId, { mode: 0o600 });
}, 180_000);

afterAll(async () => {
  await bao?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('start-up', () => {
  it('refuses token and approle instances without the acknowledgement and an allow-list, naming the instance and setting', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'hvs.placeholder');
    const failure = async (auth: Record<string, unknown>): Promise<string> =>
      createProvider({ address: bao.address, auth }).then(
        () => 'started',
        (error: unknown) => (error as Error).message,
      );
    const unacknowledged = await failure({ type: 'token', tokenFile });
    expect(unacknowledged).toContain('vault instance "vault": invalid settings');
    expect(unacknowledged).toContain('auth.sharedIdentity.acknowledged');
    expect(await failure({ type: 'approle', roleId, secretIdFile, sharedIdentity: { acknowledged: true } })).toContain('auth.sharedIdentity.allow: is required');
    expect(await failure({ type: 'token', tokenFile, sharedIdentity: { acknowledged: true, allow: [] } })).toContain('auth.sharedIdentity.allow');
    expect(await failure({ type: 'token', tokenFile, acknowledgeSharedIdentity: true })).toContain('was replaced by sharedIdentity');
    expect(await failure({ type: 'token', tokenFile, sharedIdentity: { acknowledged: true, allow: ['auth/token/*'] } })).toContain('can never match');
    expect(await failure({ type: 'token', tokenFile, sharedIdentity: { acknowledged: true, allow: ['/secret/*'] } })).toContain('Vault path pattern');
  });
});

describe('a pod of a shared-identity (approle) instance', () => {
  const hostile: [string, Record<string, unknown>][] = [
    ["the driver's token (lookup-self)", { secretPath: 'auth/token/lookup-self' }],
    ["the driver's token, as /v1/…", { secretPath: '/v1/auth/token/lookup-self' }],
    ['revoke-self', { secretPath: 'auth/token/revoke-self', method: 'POST' }],
    ['revoke-self without a body', { secretPath: 'auth/token/revoke-self', method: 'POST', secretArgs: {} }],
    ['percent-encoded slashes', { secretPath: 'auth%2Ftoken%2Flookup-self' }],
    ['double percent-encoding', { secretPath: 'auth%252Ftoken%252Flookup-self' }],
    ['encoded dot segments inside the allow-list', { secretPath: 'secret/data/shared/%2e%2e/%2e%2e/%2e%2e/auth/token/lookup-self' }],
    ['encoded dot segments to another secret', { secretPath: 'secret/data/shared/%2E%2E/private/admin' }],
    ['another case', { secretPath: 'AUTH/token/lookup-self' }],
    ['a namespace prefix', { secretPath: 'root/auth/token/lookup-self' }],
    ['the lease endpoints', { secretPath: 'sys/leases/lookup', method: 'POST', secretArgs: { lease_id: 'x' } }],
    ['the identity store', { secretPath: 'identity/entity/id' }],
    ['a secret outside the allow-list', { secretPath: 'secret/data/private/admin' }],
    ['the short KV form outside the allow-list', { secretPath: 'secret/private/admin' }],
    ['a write inside the allow-list', { secretPath: 'secret/data/shared/db', method: 'POST', secretArgs: { data: { password: 'pwned' } } }],
    ['a query on the token endpoint', { secretPath: 'auth/token/lookup-self?x=1' }],
  ];

  it.each(hostile)('gets PERMISSION_DENIED for %s, and OpenBao sees nothing of it', async (_name, object) => {
    const { provider } = await createProvider(approleSettings());
    const before = auditLines().length;
    const error = await attempt(provider, { objectName: 'loot', ...object });
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('provider instance "vault"');
    expect(error.message).toMatch(/auth\.sharedIdentity\.allow|never reachable|secretArgs/);
    // Refused before any backend call: not even the login or the mount lookup happened.
    expect(auditSince(before)).toEqual([]);
    await provider.close?.();
  });

  it("leaves the driver's token valid and never reaches lookup-self, revoke-self or a secret outside the list", async () => {
    const before = auditLines().length;
    const { provider } = await createProvider(approleSettings());
    for (const [, object] of hostile) await attempt(provider, { objectName: 'loot', ...object });
    expect(await readObject(provider, { objectName: 'db', secretPath: 'secret/data/shared/db', secretKey: 'password' })).toEqual({ db: 'shared-pass' });
    for (const [, object] of hostile) await attempt(provider, { objectName: 'loot', ...object });
    // The token still serves the next pod: no second login, and OpenBao says it is valid.
    expect(await readObject(provider, { objectName: 'db', secretPath: 'secret/shared/db', secretKey: 'password' })).toEqual({ db: 'shared-pass' });
    const entries = auditSince(before);
    const accessors = loginAccessors(entries);
    expect(accessors).toHaveLength(1);
    for (const path of ['auth/token/lookup-self', 'auth/token/revoke-self', 'secret/data/private/admin', 'sys/leases/lookup', 'identity/entity/id']) {
      expect(requestsTo(entries, path)).toEqual([]);
    }
    expect(entries.filter((entry) => entry.type === 'request' && entry.request?.operation !== 'read' && entry.request?.path !== 'auth/approle/login')).toEqual([]);
    const state = (await bao.api('POST', 'auth/token/lookup-accessor', { accessor: accessors[0] })).data as { ttl: number; policies: string[] };
    expect(state.ttl).toBeGreaterThan(0);
    expect(state.policies).toContain('keymount-driver');
    expect(requestsTo(entries, 'secret/data/shared/db')).toHaveLength(2);
    await provider.close?.();
  });

  it('is held to the path actually read when the mount turns out not to be KV version 2', async () => {
    await bao.api('POST', 'sys/mounts/kv1', { type: 'kv', options: { version: '1' } });
    await bao.api('POST', 'kv1/app', { password: 'v1-pass' });
    // "kv1/app" could be KV v2 "kv1/data/app" (allowed) until the mount lookup says it is read as "kv1/app" (not allowed).
    const { provider } = await createProvider(approleSettings(['kv1/data/*']));
    const before = auditLines().length;
    const error = await attempt(provider, { objectName: 'app', secretPath: 'kv1/app', secretKey: 'password' });
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('auth.sharedIdentity.allow');
    expect(requestsTo(auditSince(before), 'kv1/app')).toEqual([]);
    await provider.close?.();
  });
});

describe('a pod of an instance that logs in as the pod', () => {
  it('cannot name auth/, sys/, identity/, token or lease endpoints either', async () => {
    const { provider } = await createProvider({ address: bao.address, auth: { type: 'jwt' } });
    for (const secretPath of ['auth/token/lookup-self', 'sys/leases/revoke', 'identity/entity/id', 'team-a/auth/token/revoke-self', 'kv/%2e%2e/sys/mounts']) {
      const error = await rejection(Promise.resolve().then(() => provider.parseAttributes({ roleName: 'app', objects: objects({ objectName: 'x', secretPath }) }, {
        namespace: 'shop', name: 'web-0', uid: 'u', serviceAccountName: 'web',
      })));
      expect(error.code, secretPath).toBe('PERMISSION_DENIED');
      expect(error.message).toContain('provider instance "vault"');
    }
    await provider.close?.();
  });
});

describe('a token Vault refuses', () => {
  it('is dropped: the next fetch logs in again once and succeeds', async () => {
    const { provider } = await createProvider(approleSettings());
    const object = { objectName: 'db', secretPath: 'secret/data/shared/db', secretKey: 'password' };
    const before = auditLines().length;
    expect(await readObject(provider, object)).toEqual({ db: 'shared-pass' });
    const [first] = loginAccessors(auditSince(before));
    // The admin (or anyone holding it) revokes the cached token out of band.
    await bao.api('POST', 'auth/token/revoke-accessor', { accessor: first });
    const revokedAt = auditLines().length;
    expect(await readObject(provider, object)).toEqual({ db: 'shared-pass' });
    const after = auditSince(revokedAt);
    const logins = loginAccessors(after);
    expect(logins).toHaveLength(1);
    expect(logins[0]).not.toBe(first);
    // One refused read with the revoked token (OpenBao logs no accessor for it), then one with the new.
    const reads = requestsTo(after, 'secret/data/shared/db').map((entry) => entry.request?.client_token_accessor);
    expect(reads).toHaveLength(2);
    expect(reads[0]).not.toBe(logins[0]);
    expect(reads[1]).toBe(logins[0]);
    await provider.close?.();
  });

  it('gives PERMISSION_DENIED after exactly one new login when the refusal is permanent', async () => {
    await bao.api('POST', 'secret/data/shared/locked', { data: { password: 'x' } });
    await writePolicy(bao, 'keymount-driver', 'path "secret/data/*" { capabilities = ["read"] }\npath "secret/data/shared/locked" { capabilities = ["deny"] }');
    try {
      const { provider } = await createProvider(approleSettings());
      const before = auditLines().length;
      expect(await readObject(provider, { objectName: 'db', secretPath: 'secret/data/shared/db', secretKey: 'password' })).toEqual({ db: 'shared-pass' });
      const error = await attempt(provider, { objectName: 'locked', secretPath: 'secret/data/shared/locked', secretKey: 'password' });
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toContain('secret/data/shared/locked');
      const entries = auditSince(before);
      expect(loginAccessors(entries)).toHaveLength(2);
      expect(requestsTo(entries, 'secret/data/shared/locked')).toHaveLength(2);
      await provider.close?.();
    } finally {
      await writePolicy(bao, 'keymount-driver', 'path "secret/data/*" { capabilities = ["read", "create", "update"] }');
    }
  });

  it('with auth.type token, is read again from tokenFile, so a rotated token is picked up', async () => {
    const create = async (): Promise<{ token: string; accessor: string }> => {
      const auth = (await bao.api('POST', 'auth/token/create', { policies: ['keymount-driver'], ttl: '1h' })).auth as { client_token: string; accessor: string };
      return { token: auth.client_token, accessor: auth.accessor };
    };
    const old = await create();
    const tokenFile = join(dir, 'driver-token');
    writeFileSync(tokenFile, old.token, { mode: 0o600 });
    const { provider } = await createProvider({ address: bao.address, auth: { type: 'token', tokenFile, sharedIdentity: { acknowledged: true, allow: SHARED } } });
    const object = { objectName: 'db', secretPath: 'secret/data/shared/db', secretKey: 'password' };
    expect(await readObject(provider, object)).toEqual({ db: 'shared-pass' });
    const fresh = await create();
    writeFileSync(tokenFile, fresh.token, { mode: 0o600 });
    await bao.api('POST', 'auth/token/revoke-accessor', { accessor: old.accessor });
    const revokedAt = auditLines().length;
    expect(await readObject(provider, object)).toEqual({ db: 'shared-pass' });
    const reads = requestsTo(auditSince(revokedAt), 'secret/data/shared/db').map((entry) => entry.request?.client_token_accessor);
    expect(reads).toHaveLength(2);
    expect(reads[1]).toBe(fresh.accessor);
    await provider.close?.();
  });

  it('on a vault-pki instance, is dropped too: the next signing logs in again once and succeeds', async () => {
    await enablePki(bao, 'pki');
    await createPkiRole(bao, 'web', { allowed_domains: ['shop.svc'], allow_subdomains: true, require_cn: false, max_ttl: '24h', key_type: 'any' });
    await writePolicy(bao, 'keymount-driver', 'path "secret/data/*" { capabilities = ["read", "create", "update"] }\npath "pki/sign/web" { capabilities = ["update"] }');
    const { provider } = await createPkiProvider({
      address: bao.address,
      pkiRole: 'web',
      auth: { type: 'approle', roleId, secretIdFile, sharedIdentity: { acknowledged: true } },
    });
    const sign = async (): Promise<void> => {
      const request = fetchRequest(provider, { 'dns-names': 'web.shop.svc', duration: '1h' });
      await provider.fetch(request, AbortSignal.timeout(15_000));
    };
    const before = auditLines().length;
    await sign();
    const [first] = loginAccessors(auditSince(before));
    await bao.api('POST', 'auth/token/revoke-accessor', { accessor: first });
    const revokedAt = auditLines().length;
    await sign();
    const after = auditSince(revokedAt);
    expect(loginAccessors(after)).toHaveLength(1);
    expect(requestsTo(after, 'pki/sign/web')).toHaveLength(2);
  });
});
