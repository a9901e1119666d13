/**
 * Dynamic secrets with real OpenBao leases: RabbitMQ credentials from
 * OpenBao's rabbitmq engine (against a stand-in management API, which shows
 * when OpenBao deletes the user on revocation) and PKI certificates issued
 * with generate_lease. Leases are renewed while the volume lives, reused by
 * refreshes, replaced when they cannot be extended, and revoked at release
 * and when a fetch fails half-way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUnchanged, type Provider } from '../../../src/provider/contract.js';
import type { VaultAttributes } from '../../../providers/vault/index.js';
import {
  createJwtIssuer,
  createJwtRole,
  enableJwtAuth,
  enableRabbitMq,
  listLeases,
  lookupLease,
  startFakeRabbitMq,
  startOpenBao,
  writePolicy,
  type FakeRabbitMq,
  type JwtIssuer,
  type OpenBao,
} from '../../helpers/openbao.js';
import { asResult, createProvider, fetchRequest, filesOf, objects, pod, recordingEnvironment, rejection } from './helpers.js';

let bao: OpenBao;
let rabbit: FakeRabbitMq;
let issuer: JwtIssuer;
let provider: Provider<VaultAttributes>;
let jwt: string;

const LEASE_POLICY = [
  'path "rabbitmq/creds/app" { capabilities = ["read"] }',
  'path "short/creds/app" { capabilities = ["read"] }',
  'path "long/creds/app" { capabilities = ["read"] }',
  'path "pki/issue/web" { capabilities = ["update"] }',
  'path "secret/data/app" { capabilities = ["read"] }',
].join('\n');

const credentials = (mount = 'rabbitmq') =>
  objects(
    { objectName: 'username', secretPath: `${mount}/creds/app`, secretKey: 'username' },
    { objectName: 'password', secretPath: `${mount}/creds/app`, secretKey: 'password' },
  );

beforeAll(async () => {
  [bao, rabbit] = await Promise.all([startOpenBao(), startFakeRabbitMq()]);
  issuer = createJwtIssuer();
  await enableJwtAuth(bao, issuer);
  await enableRabbitMq(bao, rabbit, { ttl: 4, maxTtl: 600 });
  // Leases that renewal can extend only a little: they must be replaced.
  await enableRabbitMq(bao, rabbit, { ttl: 4, maxTtl: 5 }, 'short');
  // Leases that outlive every test: only a revocation removes them.
  await enableRabbitMq(bao, rabbit, { ttl: 600, maxTtl: 3600 }, 'long');
  await bao.api('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
  await bao.api('POST', 'pki/root/generate/internal', { common_name: 'keymount test root', ttl: '87600h' });
  await bao.api('POST', 'pki/roles/web', { allowed_domains: ['example.com'], allow_subdomains: true, max_ttl: '1h', generate_lease: true });
  await bao.api('POST', 'secret/data/app', { data: { user: 'alice' } });
  await writePolicy(bao, 'leases', LEASE_POLICY);
  // Revoking one lease by ID needs this; revoke-self (the pod's last volume) does not.
  await writePolicy(bao, 'revoke', 'path "sys/leases/revoke" { capabilities = ["update"] }');
  await createJwtRole(bao, { name: 'app', namespace: 'shop', serviceAccount: 'web', policies: ['leases'], ttl: '1h' });
  await createJwtRole(bao, { name: 'app-revoke', namespace: 'shop', serviceAccount: 'web', policies: ['leases', 'revoke'], ttl: '1h' });
  provider = (await createProvider({ address: bao.address, auth: { type: 'jwt' } })).provider;
  jwt = issuer.sign({ namespace: 'shop', serviceAccount: 'web', expiresIn: 3600 });
}, 180_000);

afterAll(async () => {
  await provider.close?.();
  await Promise.all([bao.stop(), rabbit.stop()]);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Token revocation revokes the token's leases in the background: wait (bounded) until the check holds. */
async function eventually(check: () => Promise<void> | void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** The RabbitMQ users OpenBao created since `mark` (an index into the fake's request log). */
function usersCreatedSince(mark: number): string[] {
  return rabbit.requests
    .slice(mark)
    .flatMap((line) => /^PUT \/api\/users\/(.+)$/.exec(line)?.[1] ?? [])
    .map(decodeURIComponent);
}

const alive = (users: readonly string[]): string[] => users.filter((user) => rabbit.users().includes(user)).sort();

describe('a renewable lease', () => {
  it('serves username and password from one lease, renews it, reuses it on refresh and revokes it at release', async () => {
    const volumeId = 'vol-renew';
    const request = (previousVersions: Record<string, string> = {}) =>
      fetchRequest(provider, { roleName: 'app', objects: credentials() }, { jwt, volumeId, pod: pod(), previousVersions });
    const mark = rabbit.requests.length;
    const leasesBefore = await listLeases(bao, 'rabbitmq/creds/app/');
    const first = asResult(await provider.fetch(request(), AbortSignal.timeout(10_000)));
    const files = filesOf(first);
    expect(usersCreatedSince(mark)).toEqual([files.username]);
    const [leaseId] = (await listLeases(bao, 'rabbitmq/creds/app/')).filter((lease) => !leasesBefore.includes(lease));
    expect(leaseId).toBeDefined();
    // The version names the lease without being its ID.
    expect(first.versions.username).toMatch(/^lease:/);
    expect(first.versions.username).not.toContain(leaseId?.split('/').at(-1) ?? '');
    expect(first.refreshAt).toBeInstanceOf(Date);

    // Granted for 4 s: without renewal it would be gone after 4.5 s.
    await sleep(4_500);
    const lease = await lookupLease(bao, leaseId ?? '');
    expect(lease?.ttl).toBeGreaterThan(0);

    const refresh = await provider.fetch(request(first.versions), AbortSignal.timeout(10_000));
    expect(isUnchanged(refresh)).toBe(true);
    expect(usersCreatedSince(mark)).toHaveLength(1);

    await provider.release?.(volumeId, AbortSignal.timeout(10_000));
    await eventually(async () => {
      expect(await lookupLease(bao, leaseId ?? '')).toBeUndefined();
      expect(rabbit.requests).toContain(`DELETE /api/users/${files.username ?? ''}`);
    });
  }, 30_000);

  it('replaces a lease that reached its max TTL with new credentials', async () => {
    const volumeId = 'vol-capped';
    const owner = pod();
    const request = (previousVersions: Record<string, string> = {}) =>
      fetchRequest(provider, { roleName: 'app', objects: credentials('short') }, { jwt, volumeId, pod: owner, previousVersions });
    const mark = rabbit.requests.length;
    const first = asResult(await provider.fetch(request(), AbortSignal.timeout(10_000)));
    // Granted 4 s, max_ttl 5 s: renewal gets it to 5 s at most, so at 4.2 s less than a third of 4 s is left.
    await sleep(4_200);
    const second = asResult(await provider.fetch(request(first.versions), AbortSignal.timeout(10_000)));
    expect(filesOf(second).username).not.toBe(filesOf(first).username);
    expect(second.versions.username).not.toBe(first.versions.username);
    expect(usersCreatedSince(mark)).toHaveLength(2);
    await provider.release?.(volumeId, AbortSignal.timeout(10_000));
  }, 30_000);
});

describe('shutdown', () => {
  it('stops renewing at close()', async () => {
    const { env, calls } = recordingEnvironment();
    const closing = (await createProvider({ address: bao.address, auth: { type: 'jwt' } }, env)).provider;
    await closing.fetch(fetchRequest(closing, { roleName: 'app', objects: credentials() }, { jwt }), AbortSignal.timeout(10_000));
    await closing.close?.();
    // A 4 s lease is renewed at 2 s; after close() nothing is sent any more.
    await sleep(2_500);
    expect(calls.filter((call) => call === 'POST sys/leases/renew')).toEqual([]);
    expect(calls.filter((call) => call.includes('revoke'))).toEqual([]);
  });
});

describe('revocation', () => {
  it('revokes a non-renewable PKI lease at release', async () => {
    const volumeId = 'vol-pki';
    const leasesBefore = await listLeases(bao, 'pki/issue/web/');
    const outcome = await provider.fetch(
      fetchRequest(
        provider,
        {
          roleName: 'app',
          objects: objects({ objectName: 'tls.crt', secretPath: 'pki/issue/web', method: 'POST', secretKey: 'certificate', secretArgs: { common_name: 'a.example.com', ttl: '10m' } }),
        },
        { jwt, volumeId },
      ),
      AbortSignal.timeout(10_000),
    );
    expect(filesOf(outcome)['tls.crt']).toContain('BEGIN CERTIFICATE');
    const [leaseId] = (await listLeases(bao, 'pki/issue/web/')).filter((lease) => !leasesBefore.includes(lease));
    expect(await lookupLease(bao, leaseId ?? '')).toBeDefined();
    await provider.release?.(volumeId, AbortSignal.timeout(10_000));
    await eventually(async () => {
      expect(await lookupLease(bao, leaseId ?? '')).toBeUndefined();
    });
  });

  it("revokes only the released volume's lease while the pod's other volume and another pod keep theirs", async () => {
    const shared = pod();
    const fetchFor = async (volumeId: string, owner = shared) =>
      filesOf(
        await provider.fetch(
          fetchRequest(provider, { roleName: 'app-revoke', objects: credentials('long') }, { jwt, volumeId, pod: owner }),
          AbortSignal.timeout(10_000),
        ),
      ).username;
    const userA = await fetchFor('vol-a');
    const userB = await fetchFor('vol-b');
    const userOtherPod = await fetchFor('vol-c', pod());
    const users = [userA, userB, userOtherPod].flatMap((user) => user ?? []);
    expect(alive(users)).toHaveLength(3);
    // vol-b still uses the pod's token: only vol-a's lease is revoked, at once (sys/leases/revoke).
    await provider.release?.('vol-a', AbortSignal.timeout(10_000));
    expect(alive(users)).toEqual([userB, userOtherPod].sort());
    await provider.release?.('vol-b', AbortSignal.timeout(10_000));
    await eventually(() => {
      expect(alive(users)).toEqual([userOtherPod]);
    });
    await provider.release?.('vol-c', AbortSignal.timeout(10_000));
    await eventually(() => {
      expect(alive(users)).toEqual([]);
    });
  }, 30_000);

  it('revokes the leases of a fetch that fails half-way (all or nothing)', async () => {
    const volumeId = 'vol-failed';
    const mark = rabbit.requests.length;
    const error = await rejection(
      provider.fetch(
        fetchRequest(
          provider,
          {
            roleName: 'app',
            objects: objects(
              { objectName: 'username', secretPath: 'long/creds/app', secretKey: 'username' },
              { objectName: 'missing', secretPath: 'secret/app', secretKey: 'nope' },
            ),
          },
          { jwt, volumeId },
        ),
        AbortSignal.timeout(10_000),
      ),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    // The pod's token cannot revoke one lease (no sys/leases/revoke), so it goes with the token when the core releases the volume.
    expect(usersCreatedSince(mark)).toHaveLength(1);
    await provider.release?.(volumeId, AbortSignal.timeout(10_000));
    await eventually(() => {
      expect(alive(usersCreatedSince(mark))).toEqual([]);
    });
  });

  it('revokes a failed fetch\'s lease at once when the token may revoke leases', async () => {
    const volumeId = 'vol-failed-revoke';
    const keeper = pod();
    const mark = rabbit.requests.length;
    // A first, good fetch keeps the token in use, so only a lease revocation can undo the second.
    await provider.fetch(
      fetchRequest(provider, { roleName: 'app-revoke', objects: objects({ objectName: 'u', secretPath: 'secret/app', secretKey: 'user' }) }, { jwt, volumeId, pod: keeper }),
      AbortSignal.timeout(10_000),
    );
    const error = await rejection(
      provider.fetch(
        fetchRequest(
          provider,
          {
            roleName: 'app-revoke',
            objects: objects({ objectName: 'username', secretPath: 'long/creds/app', secretKey: 'username' }, { objectName: 'missing', secretPath: 'secret/app', secretKey: 'nope' }),
          },
          { jwt, volumeId: 'vol-other', pod: keeper },
        ),
        AbortSignal.timeout(10_000),
      ),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(usersCreatedSince(mark)).toHaveLength(1);
    // Revoked before the fetch answered, while the pod's token lives on.
    expect(alive(usersCreatedSince(mark))).toEqual([]);
    await provider.release?.(volumeId, AbortSignal.timeout(10_000));
    await provider.release?.('vol-other', AbortSignal.timeout(10_000));
  });
});
