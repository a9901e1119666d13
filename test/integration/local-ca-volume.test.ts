/**
 * The built-in local-ca provider through the whole driver: a pod's volume
 * holds a certificate for its identity, its key and the CA, and openssl
 * accepts them.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, modeOf, visibleFiles } from '../helpers/system.js';

describe.skipIf(!IS_ROOT)(`local-ca volumes (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('issues a certificate for the pod that verifies against ca.crt', async () => {
    const volume = harness.newVolume('tls');
    await harness.publish(
      volume,
      { provider: 'local-ca', 'common-name': 'web.${POD_NAMESPACE}.svc', 'dns-names': 'web.${POD_NAMESPACE}.svc,web.${POD_NAMESPACE}.svc.cluster.local', duration: '1h' },
      { namespace: 'shop', podName: 'web-0', serviceAccount: 'web', mountGroup: '1234' },
    );
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const crtPath = join(volume.targetPath, 'tls.crt');
    const keyPath = join(volume.targetPath, 'tls.key');
    const caPath = join(volume.targetPath, 'ca.crt');
    for (const path of [crtPath, keyPath, caPath]) {
      expect(modeOf(path)).toBe(0o440);
      expect(statSync(path).gid).toBe(1234);
    }
    expect(execFileSync('openssl', ['verify', '-CAfile', caPath, crtPath], { encoding: 'utf8' })).toContain(': OK');
    const certificate = new X509Certificate(readFileSync(crtPath));
    expect(certificate.subject).toBe('CN=web.shop.svc');
    expect(certificate.subjectAltName).toBe('DNS:web.shop.svc, DNS:web.shop.svc.cluster.local');
    expect(certificate.checkPrivateKey(createPrivateKey(readFileSync(keyPath)))).toBe(true);
    const lifetimeMs = Date.parse(certificate.validTo) - Date.parse(certificate.validFrom);
    expect(lifetimeMs).toBeGreaterThan(59 * 60_000);
    expect(lifetimeMs).toBeLessThanOrEqual(62 * 60_000);
    expect(readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
  });

  it("gives a pod that asks for nothing its SPIFFE identity", async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'local-ca' }, { namespace: 'shop', serviceAccount: 'web' });
    const certificate = new X509Certificate(readFileSync(join(volume.targetPath, 'tls.crt')));
    expect(certificate.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
    await harness.unpublish(volume);
  });

  it('refuses a name outside the policy with PERMISSION_DENIED and mounts nothing', async () => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'local-ca', 'dns-names': 'api.bank.svc' }, { namespace: 'shop' }));
    expect(failure.code).toBe(status.PERMISSION_DENIED);
    expect(failure.details).toContain('api.bank.svc');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses an unknown template variable with INVALID_ARGUMENT', async () => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'local-ca', 'common-name': '${NODE_NAME}' }));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toContain('NODE_NAME');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('writes the key with the requested file names and encoding', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, {
      provider: 'local-ca',
      'key-algorithm': 'RSA',
      'key-encoding': 'PKCS1',
      'certificate-file': 'server.pem',
      'privatekey-file': 'server-key.pem',
      'ca-file': 'root.pem',
    });
    expect(visibleFiles(volume.targetPath)).toEqual(['root.pem', 'server-key.pem', 'server.pem']);
    expect(readFileSync(join(volume.targetPath, 'server-key.pem'), 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    await harness.unpublish(volume);
  });
});
