/**
 * Issue 11, class 4 through the real driver (gRPC, real tmpfs): instances
 * restricted to namespaces, hostile subjects refused before anything is
 * mounted, and what is issued checked in the bytes the pod reads.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../../providers/x509-common/index.js';
import { callError, startHarness, type Harness } from '../../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join } from '../../helpers/system.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe.skipIf(!IS_ROOT)(`local-ca policy through the driver (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      providers: {
        'team-ca': { type: 'local-ca', settings: { namespaces: ['shop', 'team-*'], policy: { minDuration: '10m' } } },
        'open-ca': { type: 'local-ca', settings: {} },
      },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('refuses a pod from a namespace outside the instance\'s namespaces with PERMISSION_DENIED, before parsing', async () => {
    const volume = harness.newVolume();
    for (const namespace of ['bank', 'team', 'shop-evil', 'xteam-a']) {
      // A hostile subject from an outside namespace is not even parsed: the namespace is refused first.
      const failure = await callError(
        harness.publish(volume, { provider: 'team-ca', 'literal-subject': `CN=x${'+OU=x'.repeat(50_000)}` }, { namespace }),
      );
      expect(failure.code).toBe(status.PERMISSION_DENIED);
      expect(failure.details).toContain('provider instance "team-ca"');
      expect(failure.details).toContain(`namespace "${namespace}"`);
      expect(failure.details).toContain('namespaces');
      expect(failure.details.length).toBeLessThan(400);
    }
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('issues to a pod in an allowed namespace exactly what it asked for', async () => {
    const volume = harness.newVolume();
    await harness.publish(
      volume,
      { provider: 'team-ca', 'common-name': 'web.team-a.svc', 'dns-names': 'web.${POD_NAMESPACE}.svc', duration: '15m' },
      { namespace: 'team-a' },
    );
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    const certificate = new X509Certificate(readFileSync(join(volume.targetPath, 'tls.crt')));
    expect(certificate.subject).toBe('CN=web.team-a.svc');
    expect(certificate.subjectAltName).toBe('DNS:web.team-a.svc');
    expect(certificate.keyUsage?.sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(16 * 60_000);
    const keyUsage = new x509.X509Certificate(certificate.raw).getExtension(x509.KeyUsagesExtension);
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    await harness.unpublish(volume);
  });

  it('refuses a duration under the instance\'s minimum', async () => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'team-ca', duration: '2s', 'renew-before': '1s' }));
    expect(failure.code).toBe(status.PERMISSION_DENIED);
    expect(failure.details).toContain('policy.minDuration');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses the hostile subjects of issue 11 on an instance open to every namespace', async () => {
    const cases: readonly [Record<string, string>, number, string][] = [
      [{ 'literal-subject': `CN=x${'+OU=x'.repeat(50_000)}` }, status.INVALID_ARGUMENT, 'over the limit'],
      [{ 'literal-subject': '2.5.4.03=db.shop.svc' }, status.INVALID_ARGUMENT, 'leading zero'],
      [{ 'literal-subject': 'CN=web.shop.svc,2.5.4.3=db.shop.svc', 'dns-names': 'web.shop.svc' }, status.INVALID_ARGUMENT, '2 CN'],
      [{ 'literal-subject': 'CN=db.shop.svc.cluster.local,O=system:masters' }, status.PERMISSION_DENIED, 'policy.commonNames'],
      [{ 'literal-subject': '1.2.840.113549.1.9.1=ceo@bank.example' }, status.PERMISSION_DENIED, 'policy.emailSans'],
      [{ 'ext-key-usages': '2.5.29.37.0' }, status.PERMISSION_DENIED, 'policy.allowedKeyUsages'],
      [{ 'ext-key-usages': 'ocsp signing' }, status.PERMISSION_DENIED, 'policy.allowedKeyUsages'],
      [{ 'key-usages': 'code signing' }, status.PERMISSION_DENIED, 'policy.allowedKeyUsages'],
      [{ duration: '2s' }, status.PERMISSION_DENIED, 'policy.minDuration'],
    ];
    for (const [attributes, code, expected] of cases) {
      const volume = harness.newVolume();
      const failure = await callError(harness.publish(volume, { provider: 'open-ca', ...attributes }, { namespace: 'bank' }));
      expect({ attributes: Object.keys(attributes), code: failure.code }).toEqual({ attributes: Object.keys(attributes), code });
      expect(failure.details).toContain(expected);
      expect(failure.details.length).toBeLessThan(500);
      expect(exists(volume.targetPath)).toBe(false);
    }
  });
});
