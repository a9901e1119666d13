/**
 * vault-pki volumes through the whole driver, called over gRPC as the kubelet
 * does, against a real OpenBao with the PKI engine: the pod's
 * service-account token arrives in csi.storage.k8s.io/serviceAccount.tokens,
 * the certificate lands on a real tmpfs, and failures reach the kubelet as
 * gRPC codes with nothing left behind. OpenBao's raw audit log shows the key
 * never went to Vault, and the driver's log shows it never went there either.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, startHarness, type Harness } from '../../helpers/driver-harness.js';
import {
  createJwtIssuer,
  createJwtRole,
  createPkiRole,
  enableJwtAuth,
  enablePki,
  startOpenBao,
  writePolicy,
  type OpenBao,
} from '../../helpers/openbao.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, modeOf, visibleFiles } from '../../helpers/system.js';
import { openssl } from '../local-ca/helpers.js';
import { certificatesOf, keyMatches, pemBodyLines, readAuditLog } from './pki-helpers.js';

describe.skipIf(!IS_ROOT)(`vault-pki volumes (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let bao: OpenBao;
  let harness: Harness;
  let auditDir: string;
  let auditLog: string;
  let webToken: string;
  let rootPem: string;

  const volumeAttributes = {
    provider: 'pki',
    roleName: 'certs',
    'common-name': '${POD_NAME}.web.${POD_NAMESPACE}.svc',
    'dns-names': 'web.${POD_NAMESPACE}.svc,web.${POD_NAMESPACE}.svc.cluster.local',
    duration: '1h',
  };

  beforeAll(async () => {
    auditDir = mkdtempSync(join(tmpdir(), 'keymount-pki-audit-'));
    auditLog = join(auditDir, 'audit.log');
    bao = await startOpenBao({ auditLogFile: auditLog });
    const issuer = createJwtIssuer();
    await enableJwtAuth(bao, issuer);
    rootPem = await enablePki(bao, 'pki');
    await createPkiRole(bao, 'shop', {
      allowed_domains: ['shop.svc', 'shop.svc.cluster.local'],
      allow_subdomains: true,
      allow_bare_domains: true,
      key_type: 'any',
      max_ttl: '24h',
    });
    await writePolicy(bao, 'certs', 'path "pki/sign/shop" { capabilities = ["update"] }');
    await createJwtRole(bao, { name: 'certs', namespace: 'shop', serviceAccount: 'web', policies: ['certs'] });
    harness = await startHarness({
      providers: { pki: { type: 'vault-pki', settings: { address: bao.address, auth: { type: 'jwt', mountPath: 'jwt' }, pkiRole: 'shop', minDuration: '2s' } } },
    });
    webToken = issuer.sign({ namespace: 'shop', serviceAccount: 'web' });
  }, 180_000);

  afterAll(async () => {
    await harness.stop();
    await bao.stop();
    rmSync(auditDir, { recursive: true, force: true });
  });

  it('writes a certificate signed by Vault, for a key that never left the node, onto the pod\'s tmpfs', async () => {
    const volume = harness.newVolume('tls');
    await harness.publish(volume, volumeAttributes, { tokens: { vault: webToken }, namespace: 'shop', serviceAccount: 'web', podName: 'web-0', mountGroup: '2000' });
    const path = (name: string): string => join(volume.targetPath, name);
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    for (const name of ['ca.crt', 'tls.crt', 'tls.key']) {
      expect(modeOf(path(name))).toBe(0o440);
      expect(statSync(path(name)).gid).toBe(2000);
    }
    const verified = await openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], volume.targetPath);
    expect(verified).toContain('tls.crt: OK');
    const [leaf] = certificatesOf(readFileSync(path('tls.crt'), 'utf8'));
    if (leaf === undefined) throw new Error('tls.crt holds no certificate');
    expect(leaf.subject).toBe('CN=web-0.web.shop.svc');
    expect(leaf.subjectAltName).toBe('DNS:web.shop.svc, DNS:web.shop.svc.cluster.local');
    const keyPem = readFileSync(path('tls.key'), 'utf8');
    expect(keyMatches(leaf, keyPem)).toBe(true);
    expect(readFileSync(path('ca.crt'), 'utf8').trim()).toBe(new X509Certificate(rootPem).toString().trim());
    // The key reached neither Vault (its raw audit log) nor the driver's log; the pod's token is not in the log either.
    const audit = readAuditLog(auditLog).text;
    const log = harness.logLines.join('\n');
    expect(audit).toContain('"path":"pki/sign/shop"');
    for (const text of [audit, log]) {
      expect(text).not.toContain('PRIVATE KEY');
      for (const line of pemBodyLines(keyPem)) expect(text).not.toContain(line);
    }
    expect(log).not.toContain(webToken);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
    // Unpublishing revoked the pod's Vault token.
    expect(readAuditLog(auditLog).entries.some((entry) => entry.type === 'request' && entry.request?.path === 'auth/token/revoke-self')).toBe(true);
  });

  it('has Vault sign a renewal at renew-before by the driver\'s own timer, with no republish', async () => {
    const volume = harness.newVolume('tls');
    await harness.publish(volume, { ...volumeAttributes, duration: '3s', 'renew-before': '1s' }, { tokens: { vault: webToken } });
    const crt = join(volume.targetPath, 'tls.crt');
    const first = new X509Certificate(readFileSync(crt));
    await expect.poll(() => new X509Certificate(readFileSync(crt)).serialNumber, { timeout: 8000, interval: 100 }).not.toBe(first.serialNumber);
    const renewed = new X509Certificate(readFileSync(crt));
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    expect(keyMatches(renewed, readFileSync(join(volume.targetPath, 'tls.key'), 'utf8'))).toBe(true);
    expect(await openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], volume.targetPath)).toContain('tls.crt: OK');
    // The timer keeps renewing this short-lived certificate: an unpublish that meets a renewal is ABORTED, and retried as the kubelet does.
    await expect.poll(async () => (await harness.unpublish(volume).then(() => status.OK, (error: unknown) => (error as { code: number }).code)), { timeout: 5000, interval: 100 }).toBe(status.OK);
    expect(exists(volume.targetPath)).toBe(false);
  }, 20_000);

  it('refuses a name outside the PKI role with FAILED_PRECONDITION, Vault\'s reason and the fix, leaving nothing', async () => {
    const volume = harness.newVolume('tls');
    const error = await callError(
      harness.publish(volume, { ...volumeAttributes, 'dns-names': 'web.bank.svc' }, { tokens: { vault: webToken } }),
    );
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('web.bank.svc not allowed by this role');
    expect(error.details).toContain('"dns-names"');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses is-ca with INVALID_ARGUMENT before mounting anything', async () => {
    const volume = harness.newVolume('tls');
    const error = await callError(harness.publish(volume, { ...volumeAttributes, 'is-ca': 'true' }, { tokens: { vault: webToken } }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain('sign-intermediate');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('answers UNAVAILABLE while OpenBao is sealed, with nothing written or mounted', async () => {
    const volume = harness.newVolume('tls');
    await bao.seal();
    try {
      const error = await callError(harness.publish(volume, volumeAttributes, { tokens: { vault: webToken } }));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toContain('sealed');
      expect(exists(volume.targetPath)).toBe(false);
      expect(findmnt(volume.targetPath)).toBeUndefined();
    } finally {
      await bao.unseal();
    }
  });
});
