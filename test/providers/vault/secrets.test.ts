/**
 * The vault provider against a real OpenBao dev server: pods log in with
 * their own (test-signed) service-account JWT, read KV v2 and v1 secrets and
 * POST endpoints, and get the right error code when something is wrong.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUnchanged, type Provider } from '../../../src/provider/contract.js';
import type { VaultAttributes } from '../../../providers/vault/index.js';
import {
  createJwtIssuer,
  createJwtRole,
  enableJwtAuth,
  startOpenBao,
  writePolicy,
  type JwtIssuer,
  type OpenBao,
} from '../../helpers/openbao.js';
import { asResult, createProvider, fetchRequest, filesOf, objects, pod, recordingEnvironment, rejection } from './helpers.js';

const BINARY = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);

let bao: OpenBao;
let issuer: JwtIssuer;
let provider: Provider<VaultAttributes>;
let calls: string[];
let webJwt: string;

const settings = (): Record<string, unknown> => ({ address: bao.address, auth: { type: 'jwt', mountPath: 'jwt' } });

beforeAll(async () => {
  bao = await startOpenBao();
  issuer = createJwtIssuer();
  await enableJwtAuth(bao, issuer);
  await bao.api('POST', 'secret/data/app', {
    data: { user: 'alice', password: 's3cret', cert_b64: BINARY.toString('base64'), key_hex: BINARY.toString('hex'), port: 5432, bad_b64: 'no%base64' },
  });
  await bao.api('POST', 'sys/mounts/kv1', { type: 'kv', options: { version: '1' } });
  await bao.api('POST', 'kv1/legacy', { api_key: 'k1-value', region: 'eu' });
  await bao.api('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
  await bao.api('POST', 'pki/root/generate/internal', { common_name: 'keymount test root', ttl: '87600h' });
  await bao.api('POST', 'pki/roles/web', { allowed_domains: ['example.com'], allow_subdomains: true, max_ttl: '1h' });
  await writePolicy(
    bao,
    'app',
    [
      'path "secret/data/app" { capabilities = ["read"] }',
      'path "secret/data/missing" { capabilities = ["read"] }',
      'path "kv1/legacy" { capabilities = ["read"] }',
      'path "pki/issue/web" { capabilities = ["update"] }',
    ].join('\n'),
  );
  await createJwtRole(bao, { name: 'app', namespace: 'shop', serviceAccount: 'web', policies: ['app'] });
  await createJwtRole(bao, { name: 'other', namespace: 'shop', serviceAccount: 'other', policies: ['app'] });
  const recording = recordingEnvironment();
  calls = recording.calls;
  provider = (await createProvider(settings(), recording.env)).provider;
  webJwt = issuer.sign({ namespace: 'shop', serviceAccount: 'web' });
}, 180_000);

afterAll(async () => {
  await provider.close?.();
  await bao.stop();
});

const fetchAs = (attributes: Record<string, string>, options: Parameters<typeof fetchRequest>[2] = {}) =>
  provider.fetch(fetchRequest(provider, attributes, { jwt: webJwt, ...options }), AbortSignal.timeout(20_000));

describe('KV version 2', () => {
  it('writes one key per object, from the API path and from the path `vault kv get` takes', async () => {
    const outcome = await fetchAs({
      roleName: 'app',
      objects: objects(
        { objectName: 'user', secretPath: 'secret/data/app', secretKey: 'user' },
        { objectName: 'db/password', secretPath: 'secret/app', secretKey: 'password', filePermission: 0o400 },
      ),
    });
    expect(filesOf(outcome)).toEqual({ user: 'alice', 'db/password': 's3cret' });
    const modes = Object.fromEntries(asResult(outcome).files.map((file) => [file.path, file.mode]));
    expect(modes).toEqual({ user: undefined, 'db/password': 0o400 });
    expect(asResult(outcome).versions).toEqual({ user: 'kv2:1', 'db/password': 'kv2:1' });
  });

  it('writes the whole secret as JSON without secretKey', async () => {
    const outcome = await fetchAs({ roleName: 'app', objects: objects({ objectName: 'app.json', secretPath: 'secret/app' }) });
    expect(JSON.parse(filesOf(outcome)['app.json'] ?? '')).toEqual({
      user: 'alice',
      password: 's3cret',
      cert_b64: BINARY.toString('base64'),
      key_hex: BINARY.toString('hex'),
      port: 5432,
      bad_b64: 'no%base64',
    });
  });

  it('reads an older version with ?version= and answers UNCHANGED while versions stay', async () => {
    await bao.api('POST', 'secret/data/versioned', { data: { value: 'one' } });
    await bao.api('POST', 'secret/data/versioned', { data: { value: 'two' } });
    await writePolicy(bao, 'versioned', 'path "secret/data/versioned" { capabilities = ["read"] }');
    await createJwtRole(bao, { name: 'versioned', namespace: 'shop', serviceAccount: 'web', policies: ['versioned'] });
    const attributes = {
      roleName: 'versioned',
      objects: objects(
        { objectName: 'old', secretPath: 'secret/data/versioned?version=1', secretKey: 'value' },
        { objectName: 'new', secretPath: 'secret/versioned', secretKey: 'value' },
      ),
    };
    const first = asResult(await fetchAs(attributes));
    expect(filesOf(first)).toEqual({ old: 'one', new: 'two' });
    expect(first.versions).toEqual({ old: 'kv2:1', new: 'kv2:2' });
    expect(isUnchanged(await fetchAs(attributes, { previousVersions: first.versions }))).toBe(true);
    await bao.api('POST', 'secret/data/versioned', { data: { value: 'three' } });
    const third = await fetchAs(attributes, { previousVersions: first.versions });
    expect(filesOf(third)).toEqual({ old: 'one', new: 'three' });
  });

  it('refuses a deleted secret with FAILED_PRECONDITION', async () => {
    await bao.api('POST', 'secret/data/gone', { data: { value: 'x' } });
    await bao.api('DELETE', 'secret/data/gone');
    await writePolicy(bao, 'gone', 'path "secret/data/gone" { capabilities = ["read"] }');
    await createJwtRole(bao, { name: 'gone', namespace: 'shop', serviceAccount: 'web', policies: ['gone'] });
    const error = await rejection(fetchAs({ roleName: 'gone', objects: objects({ objectName: 'v', secretPath: 'secret/gone', secretKey: 'value' }) }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('secretPath "secret/gone"');
  });
});

describe('KV version 1 and other engines', () => {
  it('reads a key and the whole secret from a KV v1 mount', async () => {
    const outcome = asResult(
      await fetchAs({
        roleName: 'app',
        objects: objects(
          { objectName: 'api-key', secretPath: 'kv1/legacy', secretKey: 'api_key' },
          { objectName: 'legacy.json', secretPath: '/v1/kv1/legacy' },
        ),
      }),
    );
    expect(filesOf(outcome)['api-key']).toBe('k1-value');
    expect(JSON.parse(filesOf(outcome)['legacy.json'] ?? '')).toEqual({ api_key: 'k1-value', region: 'eu' });
    // No KV v2 version to go by: a keyed digest that does not reveal the value.
    expect(outcome.versions['api-key']).toMatch(/^h:[A-Za-z0-9_-]{22}$/);
  });

  it('POSTs secretArgs and serves several objects from one response', async () => {
    const before = calls.filter((call) => call === 'POST pki/issue/web').length;
    const outcome = filesOf(
      await fetchAs({
        roleName: 'app',
        objects: objects(
          { objectName: 'tls.crt', secretPath: 'pki/issue/web', method: 'POST', secretKey: 'certificate', secretArgs: { common_name: 'web.example.com', ttl: '10m' } },
          { objectName: 'tls.key', secretPath: 'pki/issue/web', method: 'post', secretKey: 'private_key', secretArgs: { ttl: '10m', common_name: 'web.example.com' } },
        ),
      }),
    );
    const certificate = new X509Certificate(outcome['tls.crt'] ?? '');
    expect(certificate.subject).toContain('CN=web.example.com');
    expect(certificate.checkPrivateKey(createPrivateKey(outcome['tls.key'] ?? ''))).toBe(true);
    expect(calls.filter((call) => call === 'POST pki/issue/web').length - before).toBe(1);
  });

  it('refuses arguments the engine rejects as INVALID_ARGUMENT with its reason', async () => {
    const error = await rejection(
      fetchAs({
        roleName: 'app',
        objects: objects({ objectName: 'tls.crt', secretPath: 'pki/issue/web', method: 'POST', secretKey: 'certificate', secretArgs: { common_name: 'evil.test' } }),
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/evil\.test/);
  });
});

describe('encodings and values', () => {
  it('decodes base64 and hex values to their bytes and writes numbers as JSON', async () => {
    const outcome = asResult(
      await fetchAs({
        roleName: 'app',
        objects: objects(
          { objectName: 'b64', secretPath: 'secret/app', secretKey: 'cert_b64', encoding: 'base64' },
          { objectName: 'hex', secretPath: 'secret/app', secretKey: 'key_hex', encoding: 'HEX' },
          { objectName: 'port', secretPath: 'secret/app', secretKey: 'port' },
          { objectName: 'raw', secretPath: 'secret/app', secretKey: 'cert_b64', encoding: 'utf-8' },
        ),
      }),
    );
    const byPath = new Map(outcome.files.map((file) => [file.path, file.contents]));
    expect(byPath.get('b64')).toEqual(BINARY);
    expect(byPath.get('hex')).toEqual(BINARY);
    expect(byPath.get('port')?.toString()).toBe('5432');
    expect(byPath.get('raw')?.toString()).toBe(BINARY.toString('base64'));
  });

  it('refuses a value that is not the declared encoding, naming path and key but not the value', async () => {
    const error = await rejection(
      fetchAs({ roleName: 'app', objects: objects({ objectName: 'x', secretPath: 'secret/app', secretKey: 'bad_b64', encoding: 'base64' }) }),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('"bad_b64"');
    expect(error.message).toContain('secretPath "secret/app"');
    expect(error.message).not.toContain('no%base64');
  });

  it('refuses a missing key with FAILED_PRECONDITION naming path and key, listing key names only', async () => {
    const error = await rejection(
      fetchAs({
        roleName: 'app',
        objects: objects({ objectName: 'user', secretPath: 'secret/app', secretKey: 'user' }, { objectName: 'token', secretPath: 'secret/app', secretKey: 'api_token' }),
      }),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('has no key "api_token"');
    expect(error.message).toContain('secretPath "secret/app"');
    expect(error.message).toContain('"password"');
    expect(error.message).not.toContain('s3cret');
    expect(error.message).not.toContain('alice');
  });

  it('refuses a path with no secret with FAILED_PRECONDITION', async () => {
    const error = await rejection(fetchAs({ roleName: 'app', objects: objects({ objectName: 'm', secretPath: 'secret/missing', secretKey: 'k' }) }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('secretPath "secret/missing"');
    expect(error.message).toContain('404');
  });
});

describe('identity', () => {
  it("refuses a pod whose service account the role is not bound to with PERMISSION_DENIED", async () => {
    const jwt = issuer.sign({ namespace: 'shop', serviceAccount: 'other' });
    const error = await rejection(
      fetchAs(
        { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) },
        { jwt, pod: pod({ serviceAccountName: 'other' }) },
      ),
    );
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('role "app"');
    expect(error.message).toContain('shop/other');
    expect(error.message).toMatch(/subject|sub/);
  });

  it('logs in the same way with auth type kubernetes, at the mount the admin names', async () => {
    const kubernetes = (await createProvider({ address: bao.address, auth: { type: 'kubernetes', mountPath: 'jwt' } })).provider;
    const request = fetchRequest(kubernetes, { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) }, { jwt: webJwt });
    expect(filesOf(await kubernetes.fetch(request, AbortSignal.timeout(10_000)))).toEqual({ p: 's3cret' });
    await kubernetes.release?.(request.volumeId, AbortSignal.timeout(10_000));
  });

  it('refuses an unknown role and a path outside the policy with PERMISSION_DENIED', async () => {
    const unknownRole = await rejection(fetchAs({ roleName: 'nope', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) }));
    expect(unknownRole.code).toBe('PERMISSION_DENIED');
    expect(unknownRole.message).toContain('"nope"');
    const outside = await rejection(fetchAs({ roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/data/elsewhere', secretKey: 'k' }) }));
    expect(outside.code).toBe('PERMISSION_DENIED');
    expect(outside.message).toContain('secretPath "secret/data/elsewhere"');
    expect(outside.message).toContain('permission denied');
  });

  it('refuses a token signed by another key with PERMISSION_DENIED', async () => {
    const forged = createJwtIssuer().sign({ namespace: 'shop', serviceAccount: 'web' });
    const error = await rejection(fetchAs({ roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) }, { jwt: forged }));
    expect(error.code).toBe('PERMISSION_DENIED');
  });

  it('needs the pod token for the audience, and says how to get it', async () => {
    const error = await rejection(
      fetchAs({ roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) }, { audience: 'other-audience' }),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('tokenRequests');
    expect(error.message).toContain('"vault"');
  });

  it('logs in once per pod and role, never sharing a token between pods of one service account', async () => {
    const attributes = { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) };
    const logins = (): number => calls.filter((call) => call === 'POST auth/jwt/login').length;
    const first = pod();
    const before = logins();
    await fetchAs(attributes, { pod: first });
    await fetchAs(attributes, { pod: first });
    expect(logins() - before).toBe(1);
    await fetchAs(attributes, { pod: pod() });
    expect(logins() - before).toBe(2);
  });

  it('renews a token whose TTL runs low, and logs in again once it cannot be renewed', async () => {
    await createJwtRole(bao, { name: 'short', namespace: 'shop', serviceAccount: 'web', policies: ['app'], ttl: '3s', maxTtl: '5s' });
    const attributes = { roleName: 'short', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) };
    const owner = pod();
    const count = (path: string): number => calls.filter((call) => call === `POST ${path}`).length;
    const [logins, renewals] = [count('auth/jwt/login'), count('auth/token/renew-self')];
    await fetchAs(attributes, { pod: owner });
    // 2.2 s into a 3 s TTL: less than a third left, so the next fetch renews first.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(filesOf(await fetchAs(attributes, { pod: owner }))).toEqual({ p: 's3cret' });
    expect([count('auth/jwt/login') - logins, count('auth/token/renew-self') - renewals]).toEqual([1, 1]);
    // The max TTL (5 s) caps the renewal: once it runs low again a new login replaces the token.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(filesOf(await fetchAs(attributes, { pod: owner }))).toEqual({ p: 's3cret' });
    expect(count('auth/jwt/login') - logins).toBe(2);
  }, 20_000);

  it("revokes the pod's token when its last volume is released", async () => {
    const accessors = async (): Promise<number> => {
      const answer = await bao.api('LIST', 'auth/token/accessors');
      return ((answer.data as { keys: string[] }).keys).length;
    };
    const attributes = { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) };
    const owner = pod();
    const before = await accessors();
    await fetchAs(attributes, { pod: owner, volumeId: 'vol-a' });
    await fetchAs(attributes, { pod: owner, volumeId: 'vol-b' });
    expect(await accessors()).toBe(before + 1);
    await provider.release?.('vol-a', AbortSignal.timeout(10_000));
    expect(await accessors()).toBe(before + 1);
    await provider.release?.('vol-b', AbortSignal.timeout(10_000));
    expect(await accessors()).toBe(before);
  });
});

describe('an unavailable server', () => {
  it('answers UNAVAILABLE naming the seal, after retrying, while OpenBao is sealed', async () => {
    const fresh = (await createProvider(settings())).provider;
    await bao.seal();
    try {
      const started = Date.now();
      const error = await rejection(
        fresh.fetch(
          fetchRequest(fresh, { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app', secretKey: 'password' }) }, { jwt: webJwt }),
          AbortSignal.timeout(20_000),
        ),
      );
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.message).toContain('sealed');
      // Retried with backoff (250 ms + 1 s) before giving up.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_200);
    } finally {
      await bao.unseal();
    }
  });

  it('answers UNAVAILABLE when nothing listens at the address', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => {
          resolve(typeof address === 'object' && address !== null ? address.port : 0);
        });
      });
    });
    const offline = (await createProvider({ address: `http://127.0.0.1:${closedPort}`, auth: { type: 'jwt' } })).provider;
    const error = await rejection(
      offline.fetch(fetchRequest(offline, { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app' }) }, { jwt: webJwt }), AbortSignal.timeout(20_000)),
    );
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('stops waiting as soon as the signal aborts, even when the server never answers', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const hanging = (await createProvider({ address: `http://127.0.0.1:${port}`, auth: { type: 'jwt' } })).provider;
      const started = Date.now();
      const error = await rejection(
        hanging.fetch(fetchRequest(hanging, { roleName: 'app', objects: objects({ objectName: 'p', secretPath: 'secret/app' }) }, { jwt: webJwt }), AbortSignal.timeout(300)),
      );
      expect(error.code).toBe('DEADLINE_EXCEEDED');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      silent.close();
    }
  });
});
