/**
 * Vault volumes through the whole driver, called over gRPC as the kubelet
 * does, against a real OpenBao: the pod's service-account token arrives in
 * csi.storage.k8s.io/serviceAccount.tokens, the files land on a real tmpfs,
 * and failures reach the kubelet as gRPC codes with nothing left behind.
 */
import { readFileSync, statSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, startHarness, type Harness } from '../../helpers/driver-harness.js';
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
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, modeOf, visibleFiles } from '../../helpers/system.js';
import { objects } from './helpers.js';

describe.skipIf(!IS_ROOT)(`vault volumes (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let bao: OpenBao;
  let rabbit: FakeRabbitMq;
  let issuer: JwtIssuer;
  let harness: Harness;
  let webToken: string;

  const kvObjects = objects(
    { objectName: 'db-user', secretPath: 'secret/data/db', secretKey: 'username' },
    { objectName: 'db-password', secretPath: 'secret/db', secretKey: 'password', filePermission: 0o400 },
    { objectName: 'config/db.json', secretPath: 'secret/data/db' },
  );

  beforeAll(async () => {
    [bao, rabbit] = await Promise.all([startOpenBao(), startFakeRabbitMq()]);
    issuer = createJwtIssuer();
    await enableJwtAuth(bao, issuer);
    await enableRabbitMq(bao, rabbit, { ttl: 600, maxTtl: 3600 });
    await bao.api('POST', 'secret/data/db', { data: { username: 'app', password: 'hunter2' } });
    await writePolicy(bao, 'db', 'path "secret/data/db" { capabilities = ["read"] }\npath "rabbitmq/creds/app" { capabilities = ["read"] }');
    await createJwtRole(bao, { name: 'db', namespace: 'shop', serviceAccount: 'web', policies: ['db'] });
    harness = await startHarness({
      providers: { vault: { type: 'vault', settings: { address: bao.address, auth: { type: 'jwt', mountPath: 'jwt' } } } },
    });
    webToken = issuer.sign({ namespace: 'shop', serviceAccount: 'web' });
  }, 180_000);

  afterAll(async () => {
    await harness.stop();
    await Promise.all([bao.stop(), rabbit.stop()]);
  });

  it("writes the pod's secrets onto its tmpfs with the modes asked for", async () => {
    const volume = harness.newVolume('db');
    await harness.publish(volume, { provider: 'vault', roleName: 'db', objects: kvObjects }, { tokens: { vault: webToken }, mountGroup: '2000' });
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual(['config', 'db-password', 'db-user']);
    expect(readFileSync(join(volume.targetPath, 'db-user'), 'utf8')).toBe('app');
    expect(readFileSync(join(volume.targetPath, 'db-password'), 'utf8')).toBe('hunter2');
    expect(JSON.parse(readFileSync(join(volume.targetPath, 'config/db.json'), 'utf8'))).toEqual({ username: 'app', password: 'hunter2' });
    expect(modeOf(join(volume.targetPath, 'db-password'))).toBe(0o400);
    expect(modeOf(join(volume.targetPath, 'db-user'))).toBe(0o440);
    expect(statSync(join(volume.targetPath, 'db-user')).gid).toBe(2000);
    // Tokens and values never reach the log.
    const log = harness.logLines.join('\n');
    expect(log).not.toContain('hunter2');
    expect(log).not.toContain(webToken);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses a pod whose service account the role is not bound to with PERMISSION_DENIED, leaving nothing', async () => {
    const volume = harness.newVolume('db');
    const otherToken = issuer.sign({ namespace: 'shop', serviceAccount: 'intruder' });
    const error = await callError(
      harness.publish(volume, { provider: 'vault', roleName: 'db', objects: kvObjects }, { tokens: { vault: otherToken }, serviceAccount: 'intruder' }),
    );
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toContain('role "db"');
    expect(error.details).toContain('shop/intruder');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('answers UNAVAILABLE while OpenBao is sealed, with nothing written or mounted', async () => {
    const volume = harness.newVolume('db');
    await bao.seal();
    try {
      const error = await callError(harness.publish(volume, { provider: 'vault', roleName: 'db', objects: kvObjects }, { tokens: { vault: webToken } }));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toContain('sealed');
      expect(exists(volume.targetPath)).toBe(false);
      expect(findmnt(volume.targetPath)).toBeUndefined();
    } finally {
      await bao.unseal();
    }
  });

  it('refuses bad objects and vault-csi-provider connection parameters with INVALID_ARGUMENT before mounting', async () => {
    const volume = harness.newVolume('db');
    const duplicate = await callError(
      harness.publish(
        volume,
        { provider: 'vault', roleName: 'db', objects: objects({ objectName: 'a', secretPath: 'secret/db' }, { objectName: 'a', secretPath: 'secret/db' }) },
        { tokens: { vault: webToken } },
      ),
    );
    expect(duplicate.code).toBe(status.INVALID_ARGUMENT);
    expect(duplicate.details).toContain('objectName "a" appears twice');
    const moved = await callError(
      harness.publish(volume, { provider: 'vault', roleName: 'db', objects: kvObjects, vaultAddress: 'https://evil.example' }, { tokens: { vault: webToken } }),
    );
    expect(moved.code).toBe(status.INVALID_ARGUMENT);
    expect(moved.details).toContain('"address"');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('revokes the dynamic secret of a volume when the kubelet unpublishes it', async () => {
    const volume = harness.newVolume('mq');
    const before = await listLeases(bao, 'rabbitmq/creds/app/');
    await harness.publish(
      volume,
      {
        provider: 'vault',
        roleName: 'db',
        objects: objects(
          { objectName: 'username', secretPath: 'rabbitmq/creds/app', secretKey: 'username' },
          { objectName: 'password', secretPath: 'rabbitmq/creds/app', secretKey: 'password' },
        ),
      },
      { tokens: { vault: webToken } },
    );
    const username = readFileSync(join(volume.targetPath, 'username'), 'utf8');
    expect(rabbit.users()).toContain(username);
    const [leaseId] = (await listLeases(bao, 'rabbitmq/creds/app/')).filter((lease) => !before.includes(lease));
    expect(await lookupLease(bao, leaseId ?? '')).toBeDefined();
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
    // The pod's token is revoked, and with it the lease (OpenBao revokes a token's leases in the background).
    const deadline = Date.now() + 5_000;
    while ((await lookupLease(bao, leaseId ?? '')) !== undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await lookupLease(bao, leaseId ?? '')).toBeUndefined();
    expect(rabbit.users()).not.toContain(username);
  });
});
