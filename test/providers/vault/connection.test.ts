/**
 * The admin's side of a vault instance: settings validation at start-up, TLS
 * against an OpenBao serving its own generated CA, namespaces, and the
 * driver-identity logins (token, approle) an admin must opt into.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_PROVIDER_TYPES } from '../../../src/provider/built-in.js';
import { startOpenBao, writePolicy, type OpenBao } from '../../helpers/openbao.js';
import { createProvider, fetchRequest, filesOf, objects, recordingEnvironment, rejection } from './helpers.js';

/** What the driver's identity may read in these tests: the secrets they seed. */
const SHARED_IDENTITY = { acknowledged: true, allow: ['secret/data/*', 'kv/data/*'] };

let dir: string;
const file = (name: string, contents: string): string => {
  const path = join(dir, name);
  writeFileSync(path, contents, { mode: 0o600 });
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keymount-vault-settings-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function startupError(settings: Record<string, unknown>): Promise<string> {
  try {
    await createProvider(settings);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected create() to refuse the settings');
}

describe('settings', () => {
  it('is a built-in provider type', () => {
    expect(BUILT_IN_PROVIDER_TYPES.map((type) => type.type)).toContain('vault');
  });

  it('names every missing, unknown or malformed setting', async () => {
    const message = await startupError({ adress: 'https://vault:8200' });
    expect(message).toContain('vault instance "vault": invalid settings');
    expect(message).toContain('unknown setting "adress"');
    expect(message).toContain('address: is required');
    expect(message).toContain('auth: is required');
    expect(await startupError({ address: 'vault:8200', auth: { type: 'jwt' } })).toContain('address: must be an http:// or https:// URL');
    expect(await startupError({ address: 'https://v', auth: { type: 'oidc' } })).toContain('auth.type must be one of');
    expect(await startupError({ address: 'https://v', auth: { type: 'jwt', mountPath: '/auth/jwt' } })).toContain('auth.mountPath');
    expect(await startupError({ address: 'https://v', auth: { type: 'jwt', role: 'x' } })).toContain('unknown setting "auth.role"');
    expect(await startupError({ address: 'http://v', caFile: '/ca.pem', auth: { type: 'jwt' } })).toContain('only apply to https://');
    expect(await startupError({ address: 'https://v', clientCertFile: '/c.pem', auth: { type: 'jwt' } })).toContain('set together');
    expect(await startupError({ address: 'https://v', skipVerify: true, caFile: '/ca.pem', auth: { type: 'jwt' } })).toContain('skipVerify');
    expect(await startupError({ address: 'https://v', requestTimeout: '10', auth: { type: 'jwt' } })).toContain('requestTimeout');
  });

  it("makes the admin acknowledge the driver's shared identity for token and approle", async () => {
    const tokenFile = file('token', 'hvs.test');
    expect(await startupError({ address: 'https://v', auth: { type: 'token', tokenFile } })).toContain('sharedIdentity: {acknowledged: true, allow: [...]}');
    expect(await startupError({ address: 'https://v', auth: { type: 'approle', secretIdFile: tokenFile, sharedIdentity: SHARED_IDENTITY } })).toContain(
      'exactly one of roleId and roleIdFile',
    );
  });

  it('refuses unreadable TLS and credential files at start-up', async () => {
    expect(await startupError({ address: 'https://v', caFile: join(dir, 'missing.pem'), auth: { type: 'jwt' } })).toContain('caFile: cannot read');
    expect(await startupError({ address: 'https://v', auth: { type: 'token', tokenFile: join(dir, 'nope'), sharedIdentity: SHARED_IDENTITY } })).toContain(
      'auth.tokenFile',
    );
    expect(await startupError({ address: 'https://v', auth: { type: 'token', tokenFile: file('empty', '\n'), sharedIdentity: SHARED_IDENTITY } })).toContain(
      'is empty',
    );
  });
});

describe('against an OpenBao with TLS and a namespace', () => {
  let bao: OpenBao;
  let readerToken: string;

  beforeAll(async () => {
    bao = await startOpenBao({ tls: true });
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice' } });
    await writePolicy(bao, 'reader', 'path "secret/data/app" { capabilities = ["read"] }');
    readerToken = (((await bao.api('POST', 'auth/token/create', { policies: ['reader'], ttl: '1h' })).auth as { client_token: string }).client_token);
    await bao.api('POST', 'sys/namespaces/team-a');
    await bao.api('POST', 'team-a/sys/mounts/kv', { type: 'kv', options: { version: '2' } });
    await bao.api('POST', 'team-a/kv/data/app', { data: { user: 'team-a-user' } });
  }, 180_000);

  afterAll(async () => {
    await bao.stop();
  });

  const readUser = async (settings: Record<string, unknown>, path = 'secret/app') => {
    const { provider, logs } = await createProvider(settings);
    const request = fetchRequest(provider, { objects: objects({ objectName: 'user', secretPath: path, secretKey: 'user' }) });
    try {
      return { files: filesOf(await provider.fetch(request, AbortSignal.timeout(10_000))), logs, provider };
    } finally {
      await provider.close?.();
    }
  };
  const tokenAuth = () => ({ type: 'token', tokenFile: file('reader-token', `${readerToken}\n`), sharedIdentity: SHARED_IDENTITY });

  it('verifies the server with caFile and reads with the driver token', async () => {
    const { files } = await readUser({ address: bao.address, caFile: bao.caFile, auth: tokenAuth() });
    expect(files).toEqual({ user: 'alice' });
  });

  it('checks the certificate against tlsServerName', async () => {
    expect((await readUser({ address: bao.address, caFile: bao.caFile, tlsServerName: 'localhost', auth: tokenAuth() })).files).toEqual({ user: 'alice' });
    const { provider } = await createProvider({ address: bao.address, caFile: bao.caFile, tlsServerName: 'vault.elsewhere.example', auth: tokenAuth() });
    const error = await rejection(
      provider.fetch(fetchRequest(provider, { objects: objects({ objectName: 'user', secretPath: 'secret/app' }) }), AbortSignal.timeout(10_000)),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('TLS');
  });

  it('refuses a server it cannot verify, naming caFile', async () => {
    const { provider } = await createProvider({ address: bao.address, auth: tokenAuth() });
    const error = await rejection(
      provider.fetch(fetchRequest(provider, { objects: objects({ objectName: 'user', secretPath: 'secret/app' }) }), AbortSignal.timeout(10_000)),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('caFile');
  });

  it('connects without verification only with skipVerify, and warns loudly', async () => {
    const { files, logs } = await readUser({ address: bao.address, skipVerify: true, auth: tokenAuth() });
    expect(files).toEqual({ user: 'alice' });
    expect(logs.some((line) => line.level === 'warn' && line.message.includes('does NOT verify'))).toBe(true);
  });

  it('reads inside the instance namespace', async () => {
    const token = ((await bao.api('POST', 'team-a/auth/token/create', { policies: ['default'], ttl: '1h' })).auth as { client_token: string }).client_token;
    await bao.api('POST', 'team-a/sys/policies/acl/default', { policy: 'path "kv/data/app" { capabilities = ["read"] }\npath "auth/token/lookup-self" { capabilities = ["read"] }' });
    const settings = {
      address: bao.address,
      caFile: bao.caFile,
      namespace: 'team-a',
      auth: { type: 'token', tokenFile: file('team-token', token), sharedIdentity: SHARED_IDENTITY },
    };
    expect((await readUser(settings, 'kv/app')).files).toEqual({ user: 'team-a-user' });
  });

  it('logs in with the AppRole of the driver and never revokes its token at release', async () => {
    await bao.api('POST', 'sys/auth/approle', { type: 'approle' });
    await bao.api('POST', 'auth/approle/role/keymount', { token_policies: ['reader'], token_ttl: '1h' });
    const roleId = ((await bao.api('GET', 'auth/approle/role/keymount/role-id')).data as { role_id: string }).role_id;
    const secretId = ((await bao.api('POST', 'auth/approle/role/keymount/secret-id')).data as { secret_id: string }).secret_id;
    const settings = {
      address: bao.address,
      caFile: bao.caFile,
      auth: { type: 'approle', roleId, secretIdFile: file('secret-id', secretId), sharedIdentity: SHARED_IDENTITY },
    };
    const { env, calls } = recordingEnvironment();
    const { provider } = await createProvider(settings, env);
    const request = fetchRequest(provider, { objects: objects({ objectName: 'user', secretPath: 'secret/app', secretKey: 'user' }) });
    expect(filesOf(await provider.fetch(request, AbortSignal.timeout(10_000)))).toEqual({ user: 'alice' });
    await provider.release?.(request.volumeId, AbortSignal.timeout(10_000));
    // Another pod's volume reuses the same driver token: no second login, and the first release revoked nothing.
    const second = fetchRequest(provider, { objects: objects({ objectName: 'user', secretPath: 'secret/app', secretKey: 'user' }) });
    expect(filesOf(await provider.fetch(second, AbortSignal.timeout(10_000)))).toEqual({ user: 'alice' });
    expect(calls.filter((call) => call === 'POST auth/approle/login')).toHaveLength(1);
    expect(calls.filter((call) => call.includes('revoke'))).toEqual([]);
    await provider.close?.();
  });
});
